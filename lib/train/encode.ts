/**
 * Samples → model inputs for training: a user turn with the image first and the problem text after it
 * (as the reference trainer builds it), the model family's chat template (Qwen2-VL: default system turn; Qwen3-VL: none), the image
 * preprocessed with the run's min/max pixels, image pads expanded. Results are cached (LRU by sample id, question and image)
 * because the same few-shot samples come back every epoch. Targets for SFT are the target text's ids
 * followed by `<|im_end|>`.
 */
import { createHash } from 'node:crypto'
import type { ImageSource as DataImage, Sample } from '../sample.js'
import { encodePrompt, renderChat, type RenderChatOptions } from '../model/chat.js'
import type { ImageSource } from '../model/images.js'
import { preprocessImage, type PreprocessorConfig } from '../model/preprocess.js'
import type { QwenTokenizer } from '../model/tokenizer.js'
import type { PromptEncoder } from './loop.js'
import type { TargetEncoder } from './sft.js'
import type { EncodedPrompt } from './types.js'

/** A data set image as the preprocessing code takes it (path or bytes). */
export function toModelImage(img: DataImage): ImageSource {
  return 'bytes' in img ? Buffer.from(img.bytes.buffer, img.bytes.byteOffset, img.bytes.byteLength) : img.path
}

/** Options of {@link makePromptEncoder}. */
export interface PromptEncoderOptions {
  /** Cached prompts (default 512). */
  cacheSize?: number
  /** System text; null leaves the system turn out (default: the template's). */
  systemPrompt?: string | null
  /** The model family's template options (lib/model/load.ts `ModelFolder.chat`); systemPrompt wins over them. */
  chat?: RenderChatOptions
}

/** An image's identity for the prompt cache: its path, or a digest of its bytes (cheap beside decoding it). */
function imageKey(img: DataImage): string {
  return 'bytes' in img ? createHash('sha1').update(img.bytes).digest('base64') : `path:${img.path}`
}

/** A cached sample → EncodedPrompt function (cached by id, question and image). */
export function makePromptEncoder(tokenizer: QwenTokenizer, preprocessor: PreprocessorConfig, opts: PromptEncoderOptions = {}): PromptEncoder {
  const cache = new Map<string, Promise<EncodedPrompt>>()
  const max = opts.cacheSize ?? 512
  const encode = async (s: Sample): Promise<EncodedPrompt> => {
    const { text } = renderChat(
      [{ role: 'user', content: [{ type: 'image', image: toModelImage(s.image) }, { type: 'text', text: s.problem }] }],
      { ...opts.chat, ...(opts.systemPrompt === undefined ? {} : { defaultSystemPrompt: opts.systemPrompt }) },
    )
    const img = await preprocessImage(toModelImage(s.image), preprocessor)
    const ids = await encodePrompt(tokenizer, text, [img.numImageTokens])
    return { inputIds: Int32Array.from(ids), pixelValues: [img.pixelValues], imageGridThw: [img.imageGridThw] }
  }
  return (s) => {
    // keyed by what the encoding depends on, not the id alone: two samples may share an id (a user's own
    // lists, variants of one scene) with different images or questions
    const key = `${s.id}\0${s.problem}\0${imageKey(s.image)}`
    let p = cache.get(key)
    if (p) {
      cache.delete(key)
      cache.set(key, p)
      return p
    }
    p = encode(s)
    p.catch(() => cache.delete(key))
    cache.set(key, p)
    if (cache.size > max) cache.delete(cache.keys().next().value!)
    return p
  }
}

/** SFT targets: ids of `text(sample)` (default: the solution) + `<|im_end|>`. */
export function makeTargetEncoder(tokenizer: QwenTokenizer, text: (s: Sample) => string = (s) => s.solution): TargetEncoder {
  return async (s) => Int32Array.from([...(await tokenizer.encode(text(s))), tokenizer.special.imEnd])
}
