/**
 * The high-level library API: load a checkpoint, chat with it (text + images), get text, token ids and the
 * parsed `<think>`/`<answer>`, and dispose it. Everything heavy runs off the JS thread (tokenizers in
 * Rust's pool, decoding in libvips, the model on a libuv worker); calls on one model are serialized.
 *
 *   import { loadModel } from 'vrft-native'
 *   await using model = await loadModel('./checkpoints/qwen2-vl-2b-rft')
 *   const r = await model.chat([{ role: 'user', content: [
 *     { type: 'image', image: 'cat.jpg' }, { type: 'text', text: detectionPrompt('cat') }] }], { task: 'detection' })
 *   r.text; r.ids; r.answer.detection
 *
 * `generateBatch` is the batched entry the server uses: many requests, one native generate call.
 */
import { VrftError, expectArg } from './errors.js'
import type { Task } from './sample.js'
import type { GenerationModel } from './generate.js'
import { padLeft, prepareInputs, type ChatMessage, type ModelInputs } from './model/chat.js'
import { generateIds } from './native/generate.js'
import { extractAnswer, extractThink, parseClassificationCompletion, parseDetectionCompletion, parseGroundingCompletion, type DetectionParse } from './rewards/parse.js'
import type { Box } from './rewards/boxes.js'
import type { BatchGenerationModel, FinishReason, GenerationOutput, GenerationRequest } from './serve/types.js'
import { applyStop } from './serve/openai.js'
import type { PreprocessorConfig } from './model/preprocess.js'
import { openModel as openModelFolder } from './model/load.js'
import { GENERATION_DEFAULTS as G } from './train/defaults.js'

export type { ChatMessage, ChatContentPart } from './model/chat.js'
export type { ImageSource } from './model/images.js'

/** Options of {@link loadModel}. */
export interface LoadModelOptions {
  /** `cpu` (default), `cuda` or `cuda:N`. */
  device?: string
  /** Weights dtype. Default float32 on CPU, bfloat16 on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** tokenizer.json (or a folder) to use, or `'builtin'` for the bundled Qwen tokenizer. Default: the model folder's (ERR_TOKENIZER_MISSING without one). */
  tokenizer?: string
  /** Image-processor overrides (e.g. `{ maxPixels: 401408 }`) on top of preprocessor_config.json. */
  preprocessor?: Partial<PreprocessorConfig>
}

/** Options of {@link VisionLanguageModel.chat}. */
export interface ChatOptions {
  /** Most new tokens. Default 256. */
  maxTokens?: number
  /** 0 = greedy (default: answers are reproducible). */
  temperature?: number
  /** Nucleus mass in (0, 1]. Default 1 (off). */
  topP?: number
  /** Keep the k most likely tokens; 0 = off (default). */
  topK?: number
  /** Completions to sample. Default 1. */
  n?: number
  /** Sampler seed (same seed, prompt and options → same samples). */
  seed?: number
  /** Cut completions at the first of these strings. */
  stop?: string[]
  /** Also parse the answer for this task (detection boxes, grounding box, class label). */
  task?: Task
  /** Refuse prompts longer than this many tokens (image pads included) with ERR_PROMPT_TOO_LONG. */
  maxPromptTokens?: number
  /** Cancel the call (rejects with ERR_ABORTED). */
  signal?: AbortSignal
}

/** The parsed parts of a completion (lib/rewards/parse.ts rules). */
export interface ParsedAnswer {
  /** `<think>` body trimmed, or null. */
  think: string | null
  /** `<answer>` body trimmed, or null. */
  answer: string | null
  /** With `task: 'detection'`: boxes with confidences, `none`, or `malformed` with a reason. */
  detection?: DetectionParse
  /** With `task: 'grounding'`: the first box, or null. */
  grounding?: Box | null
  /** With `task: 'classification'`: the answered class (the whole text when there is no `<answer>`). */
  label?: string
}

/** One completion. */
export interface ChatChoice {
  text: string
  /** Completion token ids (the final eos id included when it stopped on one). */
  ids: number[]
  finishReason: FinishReason
  answer: ParsedAnswer
}

/** What {@link VisionLanguageModel.chat} returns: the first completion's fields, and all of them. */
export interface ChatResult extends ChatChoice {
  /** Every completion (n of them); `choices[0]` is the one whose fields are above. */
  choices: ChatChoice[]
  /** Prompt length in tokens, image pads included. */
  promptTokens: number
}

/** Parse a completion's think/answer (and task-specific answer). */
export function parseAnswer(text: string, task?: Task): ParsedAnswer {
  const out: ParsedAnswer = { think: extractThink(text), answer: extractAnswer(text) }
  if (task === 'detection') out.detection = parseDetectionCompletion(text)
  else if (task === 'grounding') out.grounding = parseGroundingCompletion(text)
  else if (task === 'classification') out.label = parseClassificationCompletion(text)
  return out
}

/** A loaded Qwen2-VL / Qwen2.5-VL model. Create with {@link loadModel}; dispose when done. */
export class VisionLanguageModel implements AsyncDisposable, BatchGenerationModel {
  /** Folder it was loaded from. */
  readonly dir: string
  /** Tokenizer, preprocessor settings, stop ids and native handle (what lib/generate.ts needs). */
  readonly inner: GenerationModel
  private readonly release: () => void
  private tail: Promise<unknown> = Promise.resolve()
  private pending = 0
  private state: 'open' | 'closing' | 'closed' = 'open'

  /** @internal use {@link loadModel} (or {@link wrapModel} for a model loaded elsewhere). */
  constructor(dir: string, inner: GenerationModel, release: () => void) {
    this.dir = dir
    this.inner = inner
    this.release = release
  }

  /** True after dispose(). */
  get disposed(): boolean {
    return this.state !== 'open'
  }

  /** Chat: one conversation in, `n` completions out (greedy unless `temperature` > 0). */
  async chat(messages: ChatMessage[], opts: ChatOptions = {}): Promise<ChatResult> {
    expectArg(typeof opts === 'object' && opts !== null, 'an options object', 'options', opts)
    const req: GenerationRequest = {
      messages,
      n: opts.n ?? G.numGenerations,
      maxTokens: opts.maxTokens ?? G.maxNewTokens,
      temperature: opts.temperature ?? G.temperature,
      topP: opts.topP ?? G.topP,
      seed: opts.seed,
      stop: opts.stop ?? [],
      maxPromptTokens: opts.maxPromptTokens ?? Number.MAX_SAFE_INTEGER,
    }
    expectArg(Number.isInteger(req.n) && req.n >= 1, 'an integer >= 1', 'n', req.n)
    expectArg(Array.isArray(req.stop) && req.stop.every((s) => typeof s === 'string' && s.length > 0), 'an array of non-empty strings', 'stop', req.stop)
    const [out] = await this.generateBatch([req], { topK: opts.topK, signal: opts.signal })
    if (out instanceof Error) throw out
    const choices = out!.choices.map((c) => ({ ...c, answer: parseAnswer(c.text, opts.task) }))
    return { ...choices[0]!, choices, promptTokens: out!.promptTokens }
  }

  /**
   * Generate for many requests in one native call. The requests must share temperature, top-p and seed
   * (the server's queue groups them so). Prompts are prepared one by one, so a bad image or an
   * over-long prompt fails only its own request (an Error in its slot). Each request keeps its own `n`,
   * `maxTokens` (the call runs to the largest) and stop strings.
   */
  async generateBatch(batch: readonly GenerationRequest[], opts: { topK?: number; signal?: AbortSignal } = {}): Promise<Array<GenerationOutput | Error>> {
    expectArg(Array.isArray(batch) && batch.length > 0, 'a non-empty array of requests', 'batch', batch)
    const head = batch[0]!
    for (const r of batch) {
      if (r.temperature !== head.temperature || r.topP !== head.topP || r.seed !== head.seed) {
        throw new VrftError('ERR_INVALID_ARG', 'Expected one temperature, top_p and seed for every request of a batch but they differ')
      }
    }
    return this.exclusive(() => this.runBatch(batch, opts))
  }

  private async runBatch(batch: readonly GenerationRequest[], opts: { topK?: number; signal?: AbortSignal }): Promise<Array<GenerationOutput | Error>> {
    const m = this.inner
    const results: Array<GenerationOutput | Error> = new Array(batch.length)
    const prepared: Array<{ i: number; inputs: ModelInputs }> = []
    await Promise.all(batch.map(async (r, i) => {
      try {
        const inputs = await prepareInputs(m.tokenizer, [r.messages], { ...m.chat, preprocessor: m.preprocessor, padId: m.padId })
        const len = inputs.promptLengths[0]!
        if (len > r.maxPromptTokens) {
          throw new VrftError('ERR_PROMPT_TOO_LONG', `The prompt has ${len} tokens (images included); the limit is ${r.maxPromptTokens}. Shorten the text or send smaller images`, { promptTokens: len })
        }
        prepared.push({ i, inputs })
      } catch (e) {
        results[i] = e instanceof Error ? e : new Error(String(e))
      }
    }))
    if (prepared.length === 0) return results
    prepared.sort((a, b) => a.i - b.i)
    const ns = prepared.map((p) => batch[p.i]!.n)
    const sameN = ns.every((n) => n === ns[0])
    // Equal n: G = n with one shared prefill per prompt. Mixed n: each prompt repeated n times, G = 1.
    const rows = sameN ? prepared : prepared.flatMap((p) => Array.from({ length: batch[p.i]!.n }, () => p))
    const seqs = rows.map((p) => rowIds(p.inputs))
    const padded = padLeft(seqs, m.padId)
    const maxTokens = Math.max(...prepared.map((p) => batch[p.i]!.maxTokens))
    const owners = prepared.flatMap((p) => Array.from({ length: batch[p.i]!.n }, (_, c) => ({ req: batch[p.i]!, choice: c })))
    const streamer = owners.some((o) => o.req.onText) ? new TextStreamer(owners, m.tokenizer, new Set(m.eosIds)) : undefined
    // Stop strings end their rows while generating; once every row has ended the native call is aborted.
    const stopper = owners.some((o) => o.req.stop.length > 0) ? new StopWatcher(owners, m.tokenizer, new Set(m.eosIds), opts.signal) : undefined
    const pixelValues = rows.flatMap((p) => p.inputs.pixelValues)
    const imageGridThw = rows.flatMap((p) => p.inputs.imageGridThw)
    const onTokens = streamer || stopper ? (tokens: Int32Array) => { streamer?.push(tokens); stopper?.push(tokens) } : undefined
    const g = await generateIds(m.handle, {
      inputIds: padded.inputIds,
      attentionMask: padded.attentionMask,
      batchSize: padded.batchSize,
      pixelValues: pixelValues.length ? pixelValues : undefined,
      imageGridThw: imageGridThw.length ? imageGridThw : undefined,
    }, {
      maxNewTokens: maxTokens,
      numGenerations: sameN ? ns[0]! : 1,
      temperature: batch[0]!.temperature,
      topP: batch[0]!.topP,
      topK: opts.topK ?? G.topK,
      seed: batch[0]!.seed,
      eosIds: m.eosIds,
      padId: m.padId,
      signal: stopper ? stopper.signal : opts.signal,
      ...(onTokens ? { onTokens } : {}),
    }).catch((e: unknown) => {
      if (stopper?.allEnded && !opts.signal?.aborted && (e as { code?: string })?.code === 'ERR_ABORTED') return stopper.result()
      throw e
    }).finally(() => streamer?.close())
    await stopper?.settled() // stop strings found in the last steps still cut their rows
    let row = 0
    await Promise.all(prepared.map((p) => {
      const r = batch[p.i]!
      const first = row
      row += r.n
      return Promise.all(Array.from({ length: r.n }, async (_, c) => {
        let ids = g.completions[first + c]!
        let finished = g.finished[first + c]!
        if (ids.length > r.maxTokens) { // the call ran to the batch's largest maxTokens
          ids = ids.slice(0, r.maxTokens)
          finished = false
        }
        const cut = stopper?.cutAt(first + c)
        if (cut !== undefined && cut < ids.length) ids = ids.slice(0, cut) // usage counts up to the stop string
        const s = applyStop(await m.tokenizer.decode(ids, { skipSpecialTokens: true }), r.stop)
        return { text: s.text, ids, finishReason: (finished || s.cut ? 'stop' : 'length') as FinishReason }
      })).then((choices) => {
        results[p.i] = { choices, promptTokens: p.inputs.promptLengths[0]! }
      })
    }))
    return results
  }

  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.state !== 'open') return Promise.reject(new VrftError('ERR_MODEL_DISPOSED', `Expected a loaded model but the model from ${this.dir} was disposed`))
    this.pending++
    const run = this.tail.then(fn)
    this.tail = run.then(() => undefined, () => undefined).finally(() => {
      if (--this.pending === 0 && this.state === 'closing') this.close()
    })
    return run
  }

  private close(): void {
    if (this.state === 'closed') return
    this.state = 'closed'
    this.release()
  }

  /**
   * Free the native weights. Idempotent. Calls already running finish first (the memory is freed
   * after them); new calls reject with ERR_MODEL_DISPOSED.
   */
  dispose(): void {
    if (this.state !== 'open') return
    this.state = 'closing'
    if (this.pending === 0) this.close()
  }

  /** `await using model = await loadModel(dir)`: waits for running calls, then disposes. */
  async [Symbol.asyncDispose](): Promise<void> {
    this.dispose()
    await this.tail
  }
}

function rowIds(inputs: ModelInputs): number[] {
  return Array.from(inputs.inputIds.subarray(inputs.seqLen - inputs.promptLengths[0]!))
}

/**
 * Load a model folder (config.json, *.safetensors, tokenizer.json — ERR_TOKENIZER_MISSING when absent,
 * unless `tokenizer: 'builtin'` — generation_config.json, preprocessor_config.json) or a hub id from the
 * local Hugging Face cache, through the one loader (lib/model/load.ts).
 */
export async function loadModel(dir: string, opts: LoadModelOptions = {}): Promise<VisionLanguageModel> {
  const { model, dispose } = await openModel(dir, opts)
  return new VisionLanguageModel(dir, model, dispose)
}

/** Wrap a model loaded by other means (lib/generate.ts `GenerationModel`) in the high-level API. */
export function wrapModel(model: GenerationModel, opts: { dir?: string; dispose?: () => void } = {}): VisionLanguageModel {
  return new VisionLanguageModel(opts.dir ?? '(in memory)', model, opts.dispose ?? (() => {}))
}

// ------------------------------------------------------------------------------------------ loading
async function openModel(dir: string, opts: LoadModelOptions): Promise<{ model: GenerationModel; dispose: () => void }> {
  expectArg(typeof opts === 'object' && opts !== null, 'an options object', 'options', opts)
  const m = await openModelFolder(dir, {
    ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}), ...(opts.preprocessor ? { preprocessor: opts.preprocessor } : {}),
    ...(opts.device ? { device: opts.device } : {}), ...(opts.dtype ? { dtype: opts.dtype } : {}),
  })
  return { model: m, dispose: m.dispose }
}

/**
 * Ends rows at their request's stop strings while the native loop runs: per row (of a request with stop
 * strings) the ids so far are decoded after each step; the first step whose text holds a stop string is
 * where the row ends (`cutAt`: the completion's tokens, up to and including the one that completed the
 * stop string). When every row of the call has ended — stop string, eos or its own max_tokens — the call
 * is aborted (`signal`), and `result()` rebuilds what the native call would have returned from the ids
 * seen so far. Detection runs behind the native loop by the time a decode takes; that only costs steps.
 */
class StopWatcher {
  private readonly ids: number[][]
  private readonly ended: boolean[]
  private readonly eosSeen: boolean[]
  private readonly cut: Array<number | undefined>
  private readonly ac = new AbortController()
  private chain: Promise<void> = Promise.resolve()
  /** True once every row has ended (then the call is aborted). */
  allEnded = false
  /** Abort signal for the native call: the caller's, or all rows ended. */
  readonly signal: AbortSignal

  constructor(
    private readonly owners: ReadonlyArray<{ req: GenerationRequest; choice: number }>,
    private readonly tokenizer: { decode(ids: ArrayLike<number>, o?: { skipSpecialTokens?: boolean }): Promise<string> },
    private readonly eos: ReadonlySet<number>,
    outer?: AbortSignal,
  ) {
    this.ids = owners.map(() => [])
    this.ended = owners.map(() => false)
    this.eosSeen = owners.map(() => false)
    this.cut = owners.map(() => undefined)
    this.signal = outer ? AbortSignal.any([outer, this.ac.signal]) : this.ac.signal
  }

  push(tokens: Int32Array): void {
    const check: Array<[number, number[]]> = []
    this.owners.forEach((o, r) => {
      if (this.ended[r] || r >= tokens.length) return
      const ids = this.ids[r]!
      ids.push(tokens[r]!)
      if (this.eos.has(tokens[r]!)) { this.eosSeen[r] = true; this.ended[r] = true } else if (ids.length >= o.req.maxTokens) this.ended[r] = true
      if (o.req.stop.length > 0 && !this.eosSeen[r]) check.push([r, ids.slice()])
    })
    if (check.length) this.chain = this.chain.then(() => this.look(check)).catch(() => undefined)
    this.maybeAbort()
  }

  private async look(check: ReadonlyArray<[number, number[]]>): Promise<void> {
    for (const [r, ids] of check) {
      if (this.cut[r] !== undefined) continue
      const text = await this.tokenizer.decode(ids, { skipSpecialTokens: true })
      if (applyStop(text, this.owners[r]!.req.stop).cut) {
        this.cut[r] = ids.length
        this.ended[r] = true
      }
    }
    this.maybeAbort()
  }

  private maybeAbort(): void {
    if (!this.allEnded && this.ended.every(Boolean)) {
      this.allEnded = true
      this.ac.abort(new VrftError('ERR_ABORTED', 'every row has ended (stop strings)'))
    }
  }

  /** Resolves when every queued check has run. */
  settled(): Promise<void> {
    return this.chain
  }

  /** Tokens of row r up to its stop string (undefined: no stop string seen). */
  cutAt(r: number): number | undefined {
    return this.cut[r]
  }

  /** What generateIds would have returned, from the ids seen (after an abort because every row ended). */
  result(): { completions: number[][]; finished: boolean[] } {
    return { completions: this.ids.map((x, r) => x.slice(0, this.cut[r] ?? x.length)), finished: this.eosSeen.slice() }
  }
}

/**
 * Turns the native per-step tokens into text deltas for the requests that stream (`onText`): per row, the
 * ids so far (up to its request's maxTokens, through its first eos) are decoded and the new text is passed
 * on, holding back text that ends inside a multi-byte character. Deltas of a row always concatenate to a
 * prefix of its final text; after `close()` nothing more is emitted (the server sends the rest).
 */
class TextStreamer {
  private readonly ids: number[][]
  private readonly sent: string[]
  private readonly ended: boolean[]
  private chain: Promise<void> = Promise.resolve()
  private closed = false

  constructor(
    private readonly owners: ReadonlyArray<{ req: GenerationRequest; choice: number }>,
    private readonly tokenizer: { decode(ids: ArrayLike<number>, o?: { skipSpecialTokens?: boolean }): Promise<string> },
    private readonly eos: ReadonlySet<number>,
  ) {
    this.ids = owners.map(() => [])
    this.sent = owners.map(() => '')
    this.ended = owners.map((o) => !o.req.onText)
  }

  push(tokens: Int32Array): void {
    if (this.closed) return
    const changed: Array<[number, number[]]> = []
    this.owners.forEach((o, r) => {
      if (this.ended[r] || r >= tokens.length) return
      const ids = this.ids[r]!
      ids.push(tokens[r]!)
      if (this.eos.has(tokens[r]!) || ids.length >= o.req.maxTokens) this.ended[r] = true
      changed.push([r, ids.slice()])
    })
    if (changed.length) this.chain = this.chain.then(() => this.emit(changed)).catch(() => undefined)
  }

  private async emit(changed: ReadonlyArray<[number, number[]]>): Promise<void> {
    for (const [r, ids] of changed) {
      const text = await this.tokenizer.decode(ids, { skipSpecialTokens: true })
      if (this.closed || text.endsWith('\uFFFD') || !text.startsWith(this.sent[r]!)) continue
      const delta = text.slice(this.sent[r]!.length)
      if (!delta) continue
      this.sent[r] = text
      const o = this.owners[r]!
      o.req.onText!(o.choice, delta)
    }
  }

  /** Deliver what is queued, then stop. */
  async close(): Promise<void> {
    await this.chain
    this.closed = true
  }
}
