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
import { expectArg } from './errors.js'
import { type ChatMessage, type ModelInputs, type RenderChatOptions, prepareInputs } from './model/chat.js'
import { openModel } from './model/load.js'
import type { PreprocessorConfig } from './model/preprocess.js'
import type { QwenTokenizer } from './model/tokenizer.js'
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
  /** Stop ids (lib/model/load.ts `ModelFolder.eosIds`: one rule for every entry point). */
  eosIds: readonly number[]
  /** Padding id for prompts and finished rows (the tokenizer's `special.pad`). */
  padId: number
  /** Chat-template options of the model family (lib/model/load.ts `ModelFolder.chat`); default Qwen2-VL's. */
  chat?: RenderChatOptions
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
 * Generate `numGenerations` completions for each conversation (a batch of chat prompts, each with its images)
 * in one native call, and decode them.
 */
export async function generate(model: GenerationModel, conversations: ChatMessage[][], opts: GenerateOptions = {}): Promise<GenerateOutput> {
  checkModel(model)
  const inputs = await prepareInputs(model.tokenizer, conversations, { ...model.chat, preprocessor: model.preprocessor, padId: model.padId })
  const eosIds = opts.eosIds ?? model.eosIds
  const r: GenerateIdsResult = await generateIds(model.handle, promptBatchOf(inputs), { ...opts, eosIds, padId: model.padId })
  const skip = opts.skipSpecialTokens ?? true
  const texts = await Promise.all(r.completions.map((ids) => model.tokenizer.decode(ids, { skipSpecialTokens: skip })))
  const samples: GeneratedSample[][] = []
  for (let p = 0; p < r.numPrompts; p++) {
    const row: GeneratedSample[] = []
    for (let g = 0; g < r.numGenerations; g++) {
      const i = p * r.numGenerations + g
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
  const inputs = await prepareInputs(model.tokenizer, conversations, { ...model.chat, preprocessor: model.preprocessor, padId: model.padId })
  const r = await completionLogprobs(model.handle, promptBatchOf(inputs), completions, opts)
  return { logprobs: r.logprobs, entropies: r.entropies }
}

/** Options of {@link loadGenerationModel}. */
export interface LoadGenerationModelOptions {
  /** Weights dtype. Default 'float32' on the CPU, 'bfloat16' on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** 'cpu' (default) or 'cuda[:i]'. */
  device?: string
  /** tokenizer.json or a folder holding it, or `'builtin'` (the bundled Qwen one). Default: the model directory's (ERR_TOKENIZER_MISSING without one). */
  tokenizer?: string
}

/** A loaded model ready for {@link generate}; call dispose() to free the weights. */
export interface LoadedGenerationModel extends GenerationModel {
  dir: string
  dispose(): void
}

/**
 * Load a model directory or a hub id from the local cache (weights, tokenizer, preprocessor and
 * generation settings) for generation, through the one loader (lib/model/load.ts).
 */
export async function loadGenerationModel(dir: string, opts: LoadGenerationModelOptions = {}): Promise<LoadedGenerationModel> {
  expectArg(typeof opts === 'object' && opts !== null, 'an options object', 'options', opts)
  return openModel(dir, {
    ...(opts.tokenizer !== undefined ? { tokenizer: opts.tokenizer } : {}),
    ...(opts.device ? { device: opts.device } : {}), ...(opts.dtype ? { dtype: opts.dtype } : {}),
  })
}
