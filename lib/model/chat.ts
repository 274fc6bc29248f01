/**
 * Qwen2-VL / Qwen3-VL chat template, prompt ids and batched model inputs.
 *
 * renderChat() writes the template of the Qwen2-VL processor (default system turn when the first message
 * is not a system message, none for Qwen3-VL: chatOptionsFor; `<|vision_start|><|image_pad|><|vision_end|>` per image; optional
 * `<|im_start|>assistant\n` generation prompt). encodeChat() tokenizes it and expands each
 * `<|image_pad|>` into t·h·w/merge² pads — expanding ids equals encoding the expanded string because
 * added tokens split the text. prepareInputs() does a whole batch: images preprocessed, prompts
 * left-padded with the tokenizer's pad id, attention mask — everything the native forward/generate takes.
 *
 * Errors: ERR_CHAT_MESSAGES (bad message shape), ERR_IMAGE_MISSING (image part without an image),
 * ERR_IMAGE_COUNT (placeholders ≠ images), plus the image errors of preprocess.ts.
 */
import { VrftError, describeValue } from '../errors.js'
import type { ModelArch } from '../native/binding.js'
import type { ImageSource } from './images.js'
import { DEFAULT_PREPROCESSOR_CONFIG, type PreprocessOptions, type PreprocessorConfig, preprocessImage } from './preprocess.js'
import { QWEN_SPECIAL_TOKENS, type QwenTokenizer } from './tokenizer.js'

/** A piece of a message: text or an image. */
export type ChatContentPart = { type: 'text'; text: string } | { type: 'image'; image: ImageSource }

/** One chat turn. */
export interface ChatMessage {
  role: 'system' | 'user' | 'assistant'
  content: string | ChatContentPart[]
}

/** System turn the Qwen2-VL template adds when the first message is not a system message. */
export const DEFAULT_SYSTEM_PROMPT = 'You are a helpful assistant.'

/** The per-image placeholder of the template (before expansion). */
export const IMAGE_PLACEHOLDER = `${QWEN_SPECIAL_TOKENS.visionStart}${QWEN_SPECIAL_TOKENS.imagePad}${QWEN_SPECIAL_TOKENS.visionEnd}`

/** Options of {@link renderChat}. */
export interface RenderChatOptions {
  /** Append `<|im_start|>assistant\n`. Default true. */
  addGenerationPrompt?: boolean
  /** System text used when the first message is not a system message; null leaves it out. Default "You are a helpful assistant." */
  defaultSystemPrompt?: string | null
}

/**
 * The template options of a model family: Qwen2-VL / Qwen2.5-VL add the default system turn; Qwen3-VL's
 * template has none (`defaultSystemPrompt: null`). Every entry point renders prompts with these
 * (ModelFolder.chat), so a Qwen3-VL prompt is the one its processor writes.
 */
export function chatOptionsFor(arch: ModelArch): RenderChatOptions {
  return arch === 'qwen3-vl' ? { defaultSystemPrompt: null } : {}
}

function msgError(msg: string, where: string): VrftError {
  return new VrftError('ERR_CHAT_MESSAGES', `${msg} (${where})`, { where })
}

/** Check the shape of a conversation; throws ERR_CHAT_MESSAGES / ERR_IMAGE_MISSING naming the bad spot. */
export function validateMessages(messages: unknown, where = 'messages'): asserts messages is ChatMessage[] {
  if (!Array.isArray(messages) || messages.length === 0) throw msgError(`Expected a non-empty array of chat messages but received ${describeValue(messages)}`, where)
  messages.forEach((m: unknown, i) => {
    const at = `${where}[${i}]`
    if (typeof m !== 'object' || m === null) throw msgError(`Expected a message object {role, content} but received ${describeValue(m)}`, at)
    const { role, content } = m as { role?: unknown; content?: unknown }
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw msgError(`Expected role "system", "user" or "assistant" but received ${describeValue(role)}`, at)
    if (typeof content === 'string') return
    if (!Array.isArray(content)) throw msgError(`Expected content to be a string or an array of parts but received ${describeValue(content)}`, at)
    content.forEach((p: unknown, j) => {
      const pat = `${at}.content[${j}]`
      const part = p as { type?: unknown; text?: unknown; image?: unknown }
      if (typeof p !== 'object' || p === null) throw msgError(`Expected a content part {type, ...} but received ${describeValue(p)}`, pat)
      if (part.type === 'text') {
        if (typeof part.text !== 'string') throw msgError(`Expected a string for text but received ${describeValue(part.text)}`, pat)
      } else if (part.type === 'image') {
        const img = part.image
        if (img === undefined || img === null || img === '') {
          throw new VrftError('ERR_IMAGE_MISSING', `Expected an image (Buffer, file path or data URL) in the image part but received ${describeValue(img)} (${pat})`, { where: pat })
        }
        if (typeof img !== 'string' && !(img instanceof Uint8Array)) throw msgError(`Expected a Buffer, file path or data URL for image but received ${describeValue(img)}`, pat)
      } else {
        throw msgError(`Expected part type "text" or "image" but received ${describeValue(part.type)}`, pat)
      }
    })
  })
}

/**
 * Render a conversation with Qwen2-VL's chat template. Returns the text (one unexpanded placeholder per
 * image) and the images in order of appearance.
 */
export function renderChat(messages: ChatMessage[], opts: RenderChatOptions = {}): { text: string; images: ImageSource[] } {
  validateMessages(messages)
  const system = opts.defaultSystemPrompt === undefined ? DEFAULT_SYSTEM_PROMPT : opts.defaultSystemPrompt
  const { imStart, imEnd } = QWEN_SPECIAL_TOKENS
  const images: ImageSource[] = []
  let text = ''
  if (messages[0]!.role !== 'system' && system !== null) text += `${imStart}system\n${system}${imEnd}\n`
  for (const m of messages) {
    text += `${imStart}${m.role}\n`
    if (typeof m.content === 'string') {
      text += m.content
    } else {
      for (const p of m.content) {
        if (p.type === 'text') text += p.text
        else {
          text += IMAGE_PLACEHOLDER
          images.push(p.image)
        }
      }
    }
    text += `${imEnd}\n`
  }
  if (opts.addGenerationPrompt ?? true) text += `${imStart}assistant\n`
  return { text, images }
}

/**
 * Replace the i-th `imagePadId` in `ids` by `counts[i]` copies. Throws ERR_IMAGE_COUNT when the number of
 * placeholders differs from the number of images.
 */
export function expandImagePads(ids: readonly number[], counts: readonly number[], imagePadId: number): number[] {
  const found = ids.reduce((n, id) => n + (id === imagePadId ? 1 : 0), 0)
  if (found !== counts.length) {
    throw new VrftError('ERR_IMAGE_COUNT', `Expected one image per image placeholder but the prompt has ${found} placeholder(s) and ${counts.length} image(s)`, { placeholders: found, images: counts.length })
  }
  const out: number[] = []
  let k = 0
  for (const id of ids) {
    if (id === imagePadId) {
      const n = counts[k++]!
      for (let j = 0; j < n; j++) out.push(imagePadId)
    } else out.push(id)
  }
  return out
}

/** Tokenize a rendered prompt and expand its image placeholders to `imageTokenCounts[i]` pads each. */
export async function encodePrompt(tokenizer: QwenTokenizer, text: string, imageTokenCounts: readonly number[]): Promise<number[]> {
  return expandImagePads(await tokenizer.encode(text), imageTokenCounts, tokenizer.special.imagePad)
}

/** Left-pad sequences to the longest: (B, T) ids with `padId` in front, and a 0/1 attention mask. */
export function padLeft(seqs: readonly (readonly number[])[], padId: number): { inputIds: Int32Array; attentionMask: Int32Array; batchSize: number; seqLen: number } {
  const batchSize = seqs.length
  const seqLen = seqs.reduce((m, s) => Math.max(m, s.length), 0)
  const inputIds = new Int32Array(batchSize * seqLen).fill(padId) // (B, T)
  const attentionMask = new Int32Array(batchSize * seqLen) // (B, T)
  seqs.forEach((s, b) => {
    const off = b * seqLen + (seqLen - s.length)
    inputIds.set(s, off)
    attentionMask.fill(1, off, (b + 1) * seqLen)
  })
  return { inputIds, attentionMask, batchSize, seqLen }
}

/** Everything the native forward / generate needs for a batch of prompts. */
export interface ModelInputs {
  /** (B, T) row-major token ids, left-padded with `padId`. */
  inputIds: Int32Array
  /** (B, T) 1 for real tokens, 0 for padding. */
  attentionMask: Int32Array
  batchSize: number
  seqLen: number
  padId: number
  /** Unpadded length of each prompt. */
  promptLengths: number[]
  /** One (N_i, 3·T·P·P) float32 array per image, in batch order then order of appearance. */
  pixelValues: Float32Array[]
  /** [t, h, w] per image, same order. */
  imageGridThw: [number, number, number][]
  /** `<|image_pad|>` count per image, same order. */
  imageTokenCounts: number[]
  /** How many images each prompt has. */
  imagesPerPrompt: number[]
}

/** Options of {@link prepareInputs}. */
export interface PrepareInputsOptions extends RenderChatOptions {
  /** Image-processor settings (see loadPreprocessorConfig). Default: class defaults. */
  preprocessor?: PreprocessorConfig
  /** Decoding / resize options passed to preprocessImage. */
  imageOptions?: PreprocessOptions
  /** Padding id; default the tokenizer's pad id. */
  padId?: number
}

/**
 * Build model inputs for a batch of conversations: render, preprocess images, tokenize, expand image pads,
 * left-pad. One conversation gives a batch of 1.
 */
export async function prepareInputs(tokenizer: QwenTokenizer, conversations: ChatMessage[][], opts: PrepareInputsOptions = {}): Promise<ModelInputs> {
  if (!Array.isArray(conversations) || conversations.length === 0) {
    throw new VrftError('ERR_CHAT_MESSAGES', `Expected a non-empty array of conversations but received ${describeValue(conversations)}`)
  }
  const cfg = opts.preprocessor ?? DEFAULT_PREPROCESSOR_CONFIG
  conversations.forEach((c, i) => validateMessages(c, `conversations[${i}]`))
  const rendered = conversations.map((c) => renderChat(c, opts))
  const [images, encoded] = await Promise.all([
    Promise.all(rendered.flatMap((r) => r.images).map((img) => preprocessImage(img, cfg, opts.imageOptions))),
    tokenizer.encodeBatch(rendered.map((r) => r.text)),
  ])
  const seqs: number[][] = []
  let k = 0
  for (let b = 0; b < rendered.length; b++) {
    const n = rendered[b]!.images.length
    const counts = images.slice(k, k + n).map((im) => im.numImageTokens)
    k += n
    try {
      seqs.push(expandImagePads(encoded[b]!, counts, tokenizer.special.imagePad))
    } catch (e) {
      if (e instanceof VrftError) throw new VrftError(e.code, `${e.message} (conversations[${b}])`, e.details, { cause: e })
      throw e
    }
  }
  const padId = opts.padId ?? tokenizer.special.pad
  const padded = padLeft(seqs, padId)
  return {
    ...padded,
    padId,
    promptLengths: seqs.map((s) => s.length),
    pixelValues: images.map((im) => im.pixelValues),
    imageGridThw: images.map((im) => im.imageGridThw),
    imageTokenCounts: images.map((im) => im.numImageTokens),
    imagesPerPrompt: rendered.map((r) => r.images.length),
  }
}
