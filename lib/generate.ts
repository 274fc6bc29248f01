/**
 * Text generation from chat messages and images: render the Qwen2-VL chat template, preprocess the images,
 * tokenize, left-pad (lib/model/chat.ts prepareInputs), run the native batched generate (shared prefill,
 * KV cache, G samples per prompt) and decode the completions. Also teacher-forced log-probs of given
 * completions after chat prompts. Token-level entry points are in lib/native/generate.ts.
 *
 *   const out = await generate(model, [[{ role: 'user', content: [{ type: 'image', image: 'cat.png' },
 *     { type: 'text', text: 'What is this?' }] }]], { maxNewTokens: 64, temperature: 0 })
 *   out.samples[0][0].text
 */
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { VrftError, expectArg } from './errors.js'
import { type ChatMessage, type ModelInputs, prepareInputs } from './model/chat.js'
import { type PreprocessorConfig, loadPreprocessorConfig } from './model/preprocess.js'
import { type QwenTokenizer, defaultTokenizerPath, loadTokenizer } from './model/tokenizer.js'
import { native } from './native/binding.js'
import {
  type CompletionLogprobsOptions, type GenerateIdsOptions, type GenerateIdsResult, type NativeModelHandle, type PromptBatch,
  completionLogprobs, generateIds,
} from './native/generate.js'

/**
 * What generation needs from a loaded model. The Model object of lib/model (native handle + tokenizer +
 * preprocessor settings + generation config) provides these fields.
 */
export interface GenerationModel {
  /** The native model handle (modelLoad). */
  handle: NativeModelHandle
  tokenizer: QwenTokenizer
  preprocessor: PreprocessorConfig
  /** Stop ids: generation_config.json eos_token_id (the tokenizer's `special.stopIds`). */
  eosIds: readonly number[]
  /** Padding id for prompts and finished rows (the tokenizer's `special.pad`). */
  padId: number
}

/** Options of {@link generate}: sampling (see GenerateIdsOptions) plus decoding. */
export interface GenerateOptions extends Omit<GenerateIdsOptions, 'eosIds' | 'padId'> {
  /** Override the model's stop ids. */
  eosIds?: readonly number[]
  /** Leave special tokens (<|im_end|> ...) out of the text. Default true. */
  skipSpecialTokens?: boolean
}

/** One generated sample. */
export interface GeneratedSample {
  text: string
  /** Completion ids (eos included when generated). */
  ids: number[]
  /** Log-prob of each id at temperature 1. */
  logprobs: number[]
  /** Log-prob of each id at the sampling temperature (when sampling with temperature ≠ 1). */
  logprobsAtTemperature?: number[]
  /** True when it ended with an eos id, false when it hit maxNewTokens. */
  finished: boolean
}

/** Result of {@link generate}. */
export interface GenerateOutput {
  /** samples[p][g]: sample g of prompt p. */
  samples: GeneratedSample[][]
  /** The unpadded prompt ids of each prompt. */
  promptIds: number[][]
  /** The model inputs the prompts were turned into. */
  inputs: ModelInputs
  /** Seconds spent on prefill (image encoding included) and on decoding. */
  timing: { prefillSeconds: number; decodeSeconds: number }
}

/** The PromptBatch of prepared model inputs. */
export function promptBatchOf(inputs: ModelInputs): PromptBatch {
  return {
    inputIds: inputs.inputIds,
    attentionMask: inputs.attentionMask,
    batchSize: inputs.batchSize,
    pixelValues: inputs.pixelValues.length ? inputs.pixelValues : undefined,
    imageGridThw: inputs.imageGridThw.length ? inputs.imageGridThw : undefined,
  }
}

/** The unpadded prompt ids of each row of left-padded inputs. */
export function promptIdsOf(inputs: ModelInputs): number[][] {
  const out: number[][] = []
  for (let b = 0; b < inputs.batchSize; b++) {
    const row = inputs.inputIds.subarray(b * inputs.seqLen, (b + 1) * inputs.seqLen)
    out.push(Array.from(row.subarray(inputs.seqLen - inputs.promptLengths[b]!)))
  }
  return out
}

function checkModel(model: GenerationModel): void {
  expectArg(typeof model === 'object' && model !== null && 'handle' in model && typeof model.tokenizer === 'object',
    'a loaded model {handle, tokenizer, preprocessor, eosIds, padId}', 'model', model)
}

/**
 * Generate `numSamples` completions for each conversation (a batch of chat prompts, each with its images)
 * in one native call, and decode them.
 */
export async function generate(model: GenerationModel, conversations: ChatMessage[][], opts: GenerateOptions = {}): Promise<GenerateOutput> {
  checkModel(model)
  const inputs = await prepareInputs(model.tokenizer, conversations, { preprocessor: model.preprocessor, padId: model.padId })
  const eosIds = opts.eosIds ?? model.eosIds
  const r: GenerateIdsResult = await generateIds(model.handle, promptBatchOf(inputs), { ...opts, eosIds, padId: model.padId })
  const skip = opts.skipSpecialTokens ?? true
  const texts = await Promise.all(r.completions.map((ids) => model.tokenizer.decode(ids, { skipSpecialTokens: skip })))
  const samples: GeneratedSample[][] = []
  for (let p = 0; p < r.numPrompts; p++) {
    const row: GeneratedSample[] = []
    for (let g = 0; g < r.numSamples; g++) {
      const i = p * r.numSamples + g
      row.push({
        text: texts[i]!,
        ids: r.completions[i]!,
        logprobs: r.logprobs[i]!,
        logprobsAtTemperature: r.logprobsAtTemperature?.[i],
        finished: r.finished[i]!,
      })
    }
    samples.push(row)
  }
  return {
    samples,
    promptIds: promptIdsOf(inputs),
    inputs,
    timing: { prefillSeconds: r.raw.prefillSeconds, decodeSeconds: r.raw.decodeSeconds },
  }
}

/**
 * Teacher-forced per-token log-probs of `completions` (token ids; completions.length = conversations.length
 * × G, prompt-major) after the chat prompts. Returns one array per completion.
 */
export async function logprobs(model: GenerationModel, conversations: ChatMessage[][], completions: readonly (readonly number[])[], opts: CompletionLogprobsOptions = {}): Promise<{ logprobs: number[][]; entropies?: number[][] }> {
  checkModel(model)
  const inputs = await prepareInputs(model.tokenizer, conversations, { preprocessor: model.preprocessor, padId: model.padId })
  const r = await completionLogprobs(model.handle, promptBatchOf(inputs), completions, opts)
  return { logprobs: r.logprobs, entropies: r.entropies }
}

/** Options of {@link loadGenerationModel}. */
export interface LoadGenerationModelOptions {
  /** Weights dtype. Default 'float32' on the CPU, 'bfloat16' on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** 'cpu' (default) or 'cuda[:i]'. */
  device?: string
  /** tokenizer.json or a folder holding it. Default: the model directory's, else the bundled Qwen one. */
  tokenizer?: string
}

/** A loaded model ready for {@link generate}; call dispose() to free the weights. */
export interface LoadedGenerationModel extends GenerationModel {
  dir: string
  dispose(): void
}

type RawConfig = Record<string, any>

/**
 * The flat native config of a Hugging Face config.json (either layout: LLM fields at top level or under
 * text_config; rope_scaling or rope_parameters). Stopgap until lib/model/config.ts (the model module's
 * validating parser) is available to import; errors here are ERR_CONFIG.
 */
export function nativeConfigOf(raw: RawConfig): RawConfig {
  const t: RawConfig = raw.text_config ?? raw
  const v: RawConfig = raw.vision_config ?? {}
  const q25 = String(raw.model_type ?? '').startsWith('qwen2_5_vl')
  const rope: RawConfig = t.rope_scaling ?? t.rope_parameters ?? raw.rope_scaling ?? raw.rope_parameters ?? {}
  const need = (o: RawConfig, k: string, where: string): number => {
    const x = o[k]
    if (typeof x !== 'number') throw new VrftError('ERR_CONFIG', `Expected a number for ${where}${k} in config.json but found ${JSON.stringify(x)}`)
    return x
  }
  const H = need(t, 'hidden_size', '')
  const heads = need(t, 'num_attention_heads', '')
  const pick = (k: string) => raw[k] ?? t[k]
  return {
    arch: q25 ? 'qwen2.5-vl' : 'qwen2-vl',
    vocabSize: need(t, 'vocab_size', ''),
    hiddenSize: H,
    intermediateSize: need(t, 'intermediate_size', ''),
    numLayers: need(t, 'num_hidden_layers', ''),
    numHeads: heads,
    numKvHeads: t.num_key_value_heads ?? heads,
    headDim: t.head_dim ?? H / heads,
    rmsNormEps: t.rms_norm_eps ?? 1e-6,
    ropeTheta: t.rope_theta ?? rope.rope_theta ?? 1e6,
    mropeSection: rope.mrope_section ?? [16, 24, 24],
    tieWordEmbeddings: raw.tie_word_embeddings ?? t.tie_word_embeddings ?? false,
    imageTokenId: pick('image_token_id') ?? 151655,
    videoTokenId: pick('video_token_id') ?? 151656,
    visionStartTokenId: pick('vision_start_token_id') ?? 151652,
    visionEndTokenId: pick('vision_end_token_id') ?? 151653,
    vision: {
      depth: need(v, 'depth', 'vision_config.'),
      width: q25 ? need(v, 'hidden_size', 'vision_config.') : need(v, 'embed_dim', 'vision_config.'),
      numHeads: need(v, 'num_heads', 'vision_config.'),
      intermediate: q25 ? need(v, 'intermediate_size', 'vision_config.') : need(v, 'embed_dim', 'vision_config.') * (v.mlp_ratio ?? 4),
      act: v.hidden_act ?? (q25 ? 'silu' : 'quick_gelu'),
      patchSize: v.patch_size ?? 14,
      temporalPatchSize: v.temporal_patch_size ?? 2,
      spatialMergeSize: v.spatial_merge_size ?? 2,
      inChannels: v.in_channels ?? v.in_chans ?? 3,
      outHidden: q25 ? (v.out_hidden_size ?? H) : (v.hidden_size ?? H),
      windowSize: v.window_size ?? 112,
      fullattBlockIndexes: v.fullatt_block_indexes ?? [],
      tokensPerSecond: v.tokens_per_second ?? 2,
    },
  }
}

interface ModelLoadBinding {
  modelLoad(dir: string, config: RawConfig, o?: { dtype?: string; device?: string }): Promise<NativeModelHandle>
  modelDispose(h: NativeModelHandle): void
}

/** Load a model directory (weights, tokenizer, preprocessor and generation settings) for generation. */
export async function loadGenerationModel(dir: string, opts: LoadGenerationModelOptions = {}): Promise<LoadedGenerationModel> {
  expectArg(typeof dir === 'string' && dir.length > 0, 'a model directory', 'model', dir)
  let raw: RawConfig
  try {
    raw = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8')) as RawConfig
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Expected a readable JSON config.json in ${dir}: ${(e as Error).message}`, { dir }, { cause: e })
  }
  const device = opts.device ?? 'cpu'
  const dtype = opts.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32')
  const tokPath = opts.tokenizer ?? (existsSync(join(dir, 'tokenizer.json')) ? dir : defaultTokenizerPath())
  const tokenizer = loadTokenizer(tokPath)
  const [preprocessor, handle] = await Promise.all([
    loadPreprocessorConfig(dir),
    (native() as unknown as ModelLoadBinding).modelLoad(dir, nativeConfigOf(raw), { dtype, device }),
  ])
  return {
    dir, handle, tokenizer, preprocessor, eosIds: tokenizer.special.stopIds, padId: tokenizer.special.pad,
    dispose: () => (native() as unknown as ModelLoadBinding).modelDispose(handle),
  }
}
