/**
 * Typed contract and thin, validating wrappers of the native generation and log-prob bindings
 * (native/napi/generate.cpp over native/rl/generate.h and logprobs.h). They work on token ids and pixel
 * values; lib/generate.ts adds chat messages, images and text on top.
 *
 * - generateIds(): a batch of P prompts × G samples in one native call (one shared prefill per prompt, a
 *   preallocated KV cache, eos / max-new-tokens stopping, greedy or temperature / top-k / top-p sampling
 *   from a generator seeded per call), cancellable with an AbortSignal (rejects with ERR_ABORTED).
 * - completionLogprobs(): teacher-forced per-token log-probs (optionally entropies) of completions after
 *   prompts, with the LM head chunked over token rows (never rows × vocabulary float32 logits at once).
 * Bad arguments throw/reject with ERR_INVALID_ARG.
 */
import { NATIVE_CALL_DEFAULTS } from '../defaults.js'
import { InvalidArgumentError, VrftError, expectArg, hasCode } from '../errors.js'
import {
  native, type EncodedPrompt, type GenerateMode, type GenerateNativeOptions, type GenerateNativeResult, type NativeAbortFlag,
  type NativeBinding, type NativeModelObject, type NativeSampling,
} from './binding.js'

export type { GenerateMode, GenerateNativeOptions, GenerateNativeResult, LogprobsNativeOptions, LogprobsNativeResult } from './binding.js'
import type { LogprobsNativeResult } from './binding.js'

/** The native Model object (`NativeModel.handle`). */
export type NativeModelHandle = NativeModelObject

/** The generation part of the binding contract (the whole contract is {@link NativeBinding} in binding.ts). */
export type GenerateBinding = NativeBinding

/** The addon (kept for callers of the former per-module accessors). */
export function generateBinding(): NativeBinding {
  return native()
}

/** A batch of left-padded prompts with their images, as lib/model/chat.ts `prepareInputs` builds it. */
export interface PromptBatch {
  /** (batch, T) row-major token ids, left-padded. */
  inputIds: Int32Array | readonly number[]
  batchSize: number
  /** (batch, T) 1 = real token, 0 = padding. Default: all 1. */
  attentionMask?: Int32Array | readonly number[]
  /** Patch rows of every image, prompt 0's first: one Float32Array, or one per image. */
  pixelValues?: Float32Array | readonly Float32Array[]
  /** [t, h, w] per image, same order. */
  imageGridThw?: readonly (readonly [number, number, number])[]
}

/** Left-pads encoded prompts into one PromptBatch (padding ids `padId`, masked out), images in prompt order. */
export function leftPaddedBatch(prompts: readonly EncodedPrompt[], padId = 0): PromptBatch {
  const T = Math.max(...prompts.map((p) => p.inputIds.length))
  const ids = new Int32Array(prompts.length * T).fill(padId)
  const mask = new Int32Array(prompts.length * T)
  prompts.forEach((p, i) => {
    const off = i * T + (T - p.inputIds.length)
    ids.set(p.inputIds, off)
    mask.fill(1, off, (i + 1) * T)
  })
  const pixels = prompts.flatMap((p) => p.pixelValues)
  const grids = prompts.flatMap((p) => p.imageGridThw)
  return { inputIds: ids, batchSize: prompts.length, attentionMask: mask, ...(pixels.length ? { pixelValues: pixels, imageGridThw: grids } : {}) }
}

/** Sampling and stopping options of {@link generateIds}. */
export interface GenerateIdsOptions {
  /** Default NATIVE_CALL_DEFAULTS.maxNewTokens. */
  maxNewTokens?: number
  /** Completions per prompt (G). Default NATIVE_CALL_DEFAULTS.numGenerations (training passes its resolved G). */
  numGenerations?: number
  /** @deprecated The former name of {@link numGenerations}; used when numGenerations is absent. */
  numSamples?: number
  /** 0 = greedy. Default NATIVE_CALL_DEFAULTS.temperature. */
  temperature?: number
  /** Nucleus mass in (0, 1]. Default NATIVE_CALL_DEFAULTS.topP (off). */
  topP?: number
  /** Keep the k most likely tokens; 0 = off. Default NATIVE_CALL_DEFAULTS.topK. */
  topK?: number
  /** Stop ids (generation_config.json eos_token_id). Default none: always max_new_tokens. */
  eosIds?: readonly number[]
  /** Written after a row's end. Default the first eos id, else 0. */
  padId?: number
  /**
   * Seed of the per-call torch generator: the same seed, inputs, options, batch and machine give the same
   * samples. Default: random. Ignored when greedy.
   */
  seed?: number
  /** Default NATIVE_CALL_DEFAULTS.mode. The others are the benchmark baselines. */
  mode?: GenerateMode
  /** Cancels the call: it rejects with ERR_ABORTED (checked once per generated token). */
  signal?: AbortSignal
  /**
   * Streaming: called on the JS thread with each step's token of every row (prompt-major; the pad id for
   * rows already finished) and the step index. Calls are queued by the generating thread and may still
   * arrive shortly after the promise resolves; the result's ids are the authority. A throwing listener
   * does not stop generation (its error is reported as uncaught).
   */
  onTokens?: (tokens: Int32Array, step: number) => void
}

/** Result of {@link generateIds}: per row (prompt-major, G rows per prompt). */
export interface GenerateIdsResult {
  numPrompts: number
  numGenerations: number
  /** Completion ids per row, cut at its length (eos included when generated). */
  completions: number[][]
  /** Log-prob of each completion token at temperature 1 (same lengths as completions). */
  logprobs: number[][]
  /** Log-probs at the sampling temperature, when sampling with temperature ≠ 1. */
  logprobsAtTemperature?: number[][]
  /** Whether each row ended with an eos id (false: max_new_tokens reached). */
  finished: boolean[]
  /** The raw native result. */
  raw: GenerateNativeResult
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x)

function flatGrids(g: PromptBatch['imageGridThw']): number[] | undefined {
  if (g === undefined) return undefined
  expectArg(Array.isArray(g) && g.every((x) => Array.isArray(x) && x.length === 3 && x.every((v) => isInt(v) && v > 0)),
    'an array of [t, h, w] positive integer triples', 'imageGridThw', g)
  return g.flat()
}

function flatPixels(p: PromptBatch['pixelValues']): Float32Array | undefined {
  if (p === undefined) return undefined
  if (p instanceof Float32Array) return p
  expectArg(Array.isArray(p) && p.every((x) => x instanceof Float32Array), 'a Float32Array or an array of them', 'pixelValues', p)
  const n = p.reduce((a, x) => a + x.length, 0)
  const out = new Float32Array(n)
  let o = 0
  for (const x of p) {
    out.set(x, o)
    o += x.length
  }
  return out
}

function promptFields(p: PromptBatch): Pick<GenerateNativeOptions, 'inputIds' | 'batch' | 'attentionMask' | 'pixelValues' | 'imageGridThw'> {
  expectArg(typeof p === 'object' && p !== null, 'a prompt batch {inputIds, batchSize, ...}', 'prompts', p)
  expectArg(isInt(p.batchSize) && p.batchSize > 0, 'a positive integer', 'batchSize', p.batchSize)
  expectArg(p.inputIds instanceof Int32Array || Array.isArray(p.inputIds), 'an Int32Array or number[]', 'inputIds', p.inputIds)
  expectArg(p.inputIds.length > 0 && p.inputIds.length % p.batchSize === 0, `batchSize (${p.batchSize}) rows of equal length`, 'inputIds', p.inputIds)
  if (p.attentionMask !== undefined) {
    expectArg(p.attentionMask.length === p.inputIds.length, `${p.inputIds.length} mask values`, 'attentionMask', p.attentionMask)
  }
  return {
    inputIds: p.inputIds instanceof Int32Array ? p.inputIds : Array.from(p.inputIds),
    batch: p.batchSize,
    attentionMask: p.attentionMask === undefined ? undefined : p.attentionMask instanceof Int32Array ? p.attentionMask : Array.from(p.attentionMask),
    pixelValues: flatPixels(p.pixelValues),
    imageGridThw: flatGrids(p.imageGridThw),
  }
}

function abortedError(signal: AbortSignal): VrftError {
  return new VrftError('ERR_ABORTED', 'generation was aborted', undefined, { cause: signal.reason })
}

/**
 * Runs a native generation that takes an abort flag: the flag is set when `signal` aborts, and the call's
 * ERR_ABORTED becomes an error carrying the signal's reason. Without a signal, `run` gets no flag.
 */
export async function withAbort<T>(signal: AbortSignal | undefined, run: (flag: NativeAbortFlag | undefined) => Promise<T>): Promise<T> {
  if (signal === undefined) return run(undefined)
  expectArg(signal instanceof AbortSignal, 'an AbortSignal', 'signal', signal)
  if (signal.aborted) throw abortedError(signal)
  const b = generateBinding()
  const flag = b.generateAbortFlag()
  const onAbort = () => b.generateAbortSet(flag)
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    return await run(flag)
  } catch (e) {
    if (hasCode(e, 'ERR_ABORTED')) throw abortedError(signal)
    throw e
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}

/** Validated, defaulted native options of generateIds (exported for tests and the CLI). */
export function resolveGenerateOptions(o: GenerateIdsOptions): Omit<NativeSampling, 'abortFlag' | 'onTokens'> {
  expectArg(typeof o === 'object' && o !== null, 'an options object', 'options', o)
  const D = NATIVE_CALL_DEFAULTS
  const maxNewTokens = o.maxNewTokens ?? D.maxNewTokens
  const numGenerations = o.numGenerations ?? o.numSamples ?? D.numGenerations
  const temperature = o.temperature ?? D.temperature
  const topP = o.topP ?? D.topP
  const topK = o.topK ?? D.topK
  const eosIds = [...(o.eosIds ?? [])]
  expectArg(isInt(maxNewTokens) && maxNewTokens >= 1, 'an integer >= 1', 'maxNewTokens', maxNewTokens)
  expectArg(isInt(numGenerations) && numGenerations >= 1, 'an integer >= 1', 'numGenerations', numGenerations)
  expectArg(typeof temperature === 'number' && Number.isFinite(temperature) && temperature >= 0, 'a number >= 0 (0 = greedy)', 'temperature', temperature)
  expectArg(typeof topP === 'number' && topP > 0 && topP <= 1, 'a number in (0, 1]', 'topP', topP)
  expectArg(isInt(topK) && topK >= 0, 'an integer >= 0', 'topK', topK)
  expectArg(eosIds.every((e) => isInt(e) && e >= 0), 'an array of token ids', 'eosIds', o.eosIds)
  const padId = o.padId ?? eosIds[0] ?? 0
  expectArg(isInt(padId) && padId >= 0, 'a token id', 'padId', padId)
  if (o.seed !== undefined) expectArg(isInt(o.seed) && o.seed >= 0 && o.seed <= Number.MAX_SAFE_INTEGER, 'a non-negative safe integer', 'seed', o.seed)
  const mode = o.mode ?? D.mode
  expectArg(mode === 'cache' || mode === 'nocache' || mode === 'per_sample_prefill', "'cache', 'nocache' or 'per_sample_prefill'", 'mode', mode)
  return { maxNewTokens, numGenerations, temperature, greedy: temperature === 0, topP, topK, eosIds, padId, ...(o.seed !== undefined ? { seed: o.seed } : {}), mode }
}

function rowsOf<T extends Int32Array | Float32Array>(a: T, rows: number, steps: number, lengths: Int32Array): number[][] {
  const out: number[][] = []
  for (let r = 0; r < rows; r++) out.push(Array.from(a.subarray(r * steps, r * steps + lengths[r]!)))
  return out
}

/**
 * Generate G completions for each of a batch of prompts in one native call. Rows are prompt-major:
 * row r is sample r mod G of prompt ⌊r / G⌋.
 */
export async function generateIds(model: NativeModelHandle, prompts: PromptBatch, opts: GenerateIdsOptions = {}): Promise<GenerateIdsResult> {
  const fields = promptFields(prompts)
  const o = resolveGenerateOptions(opts)
  if (opts.onTokens !== undefined) expectArg(typeof opts.onTokens === 'function', 'a function', 'onTokens', opts.onTokens)
  const raw = await withAbort(opts.signal, (flag) =>
    generateBinding().generate(model, { ...fields, ...o, ...(flag ? { abortFlag: flag } : {}), ...(opts.onTokens ? { onTokens: opts.onTokens } : {}) }))
  const eos = new Set(o.eosIds)
  const completions = rowsOf(raw.ids, raw.rows, raw.steps, raw.lengths)
  return {
    numPrompts: fields.batch,
    numGenerations: o.numGenerations,
    completions,
    logprobs: rowsOf(raw.logp, raw.rows, raw.steps, raw.lengths),
    logprobsAtTemperature: raw.logpTemp ? rowsOf(raw.logpTemp, raw.rows, raw.steps, raw.lengths) : undefined,
    finished: completions.map((c) => c.length > 0 && eos.has(c[c.length - 1]!)),
    raw,
  }
}

/** Options of {@link completionLogprobs}. */
export interface CompletionLogprobsOptions {
  /** Token rows per LM-head call: logits memory ≈ chunk × vocabulary × 4 bytes. Default NATIVE_CALL_DEFAULTS.logprobsChunk. */
  chunk?: number
  /** Also return per-token entropies. Default false. */
  entropy?: boolean
  /** Divide logits by it before the log-softmax. Default NATIVE_CALL_DEFAULTS.temperature. */
  temperature?: number
  /**
   * Run each prompt once and share its keys/values with its G completions (default true). false re-runs
   * the prompt in every completion row, as a gradient pass must: the benchmark baseline.
   */
  sharePrefix?: boolean
}

/** Result of {@link completionLogprobs}: one array per completion, cut at its length. */
export interface CompletionLogprobsResult {
  logprobs: number[][]
  entropies?: number[][]
  raw: LogprobsNativeResult
}

/**
 * Teacher-forced log-probs of `completions` (one array of ids per row; B = P·G rows, row r after prompt
 * ⌊r / G⌋) after the prompts: logprobs[r][j] = log softmax(logits / temperature)[completions[r][j]].
 */
export async function completionLogprobs(model: NativeModelHandle, prompts: PromptBatch, completions: readonly (readonly number[])[], opts: CompletionLogprobsOptions = {}): Promise<CompletionLogprobsResult> {
  const fields = promptFields(prompts)
  expectArg(Array.isArray(completions) && completions.length > 0 && completions.every((c) => Array.isArray(c) && c.every((x) => isInt(x) && x >= 0)),
    'a non-empty array of token id arrays', 'completions', completions)
  if (completions.length % fields.batch !== 0) {
    throw new InvalidArgumentError(`Expected a multiple of ${fields.batch} completions (G per prompt) but received ${completions.length}`)
  }
  const chunk = opts.chunk ?? NATIVE_CALL_DEFAULTS.logprobsChunk
  const temperature = opts.temperature ?? NATIVE_CALL_DEFAULTS.temperature
  expectArg(isInt(chunk) && chunk >= 1, 'an integer >= 1', 'chunk', chunk)
  expectArg(typeof temperature === 'number' && temperature > 0 && Number.isFinite(temperature), 'a number > 0', 'temperature', temperature)
  const B = completions.length
  const L = Math.max(1, ...completions.map((c) => c.length))
  const ids = new Int32Array(B * L)
  const mask = new Int32Array(B * L)
  completions.forEach((c, r) => {
    ids.set(c, r * L)
    mask.fill(1, r * L, r * L + c.length)
  })
  const raw = await generateBinding().logprobs(model, {
    ...fields, completionIds: ids, completionRows: B, completionMask: mask, chunk, entropy: opts.entropy ?? false, temperature,
    sharePrefix: opts.sharePrefix ?? NATIVE_CALL_DEFAULTS.sharePrefix,
  })
  const lens = Int32Array.from(completions.map((c) => c.length))
  return {
    logprobs: rowsOf(raw.logp, B, L, lens),
    entropies: raw.entropy ? rowsOf(raw.entropy, B, L, lens) : undefined,
    raw,
  }
}

