/**
 * Model config parsing: every Qwen2-VL / Qwen2.5-VL / Qwen3-VL config.json layout (LLM fields at the top level or
 * under `text_config`; M-RoPE in `rope_scaling` or `rope_parameters`; `in_chans` or `in_channels`) is
 * validated with zod and turned into one flat, trusted {@link ModelConfig} that native code copies as is.
 * Errors are `VrftError('ERR_CONFIG')` naming the field, what was expected and what was found.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { z } from 'zod'
import { VrftError, describeValue } from '../errors.js'

// The flat config types are part of the native binding contract (lib/native/binding.ts); re-exported here.
import type { ModelArch, ModelConfig, VisionSettings } from '../native/binding.js'
export type { ModelArch, VisionSettings, ModelConfig } from '../native/binding.js'

const int = z.number().int()
const posInt = int.min(1)
const tokenId = int.min(0)

const ropeSchema = z.object({
  mrope_section: z.array(posInt).length(3),
  rope_theta: z.number().positive().optional(),
}).loose()

const textSchema = z.object({
  vocab_size: posInt,
  hidden_size: posInt,
  intermediate_size: posInt,
  num_hidden_layers: posInt,
  num_attention_heads: posInt,
  num_key_value_heads: posInt,
  head_dim: posInt.optional(),
  rms_norm_eps: z.number().positive(),
  rope_theta: z.number().positive().optional(),
  rope_scaling: ropeSchema.nullable().optional(),
  rope_parameters: ropeSchema.nullable().optional(),
  tie_word_embeddings: z.boolean().optional(),
}).loose()

const commonVision = {
  depth: posInt,
  num_heads: posInt,
  hidden_act: z.enum(['quick_gelu', 'silu', 'gelu', 'gelu_pytorch_tanh']).optional(),
  patch_size: posInt.optional(),
  spatial_patch_size: posInt.optional(),
  temporal_patch_size: posInt.optional(),
  spatial_merge_size: posInt.optional(),
  in_chans: posInt.optional(),
  in_channels: posInt.optional(),
}
const visionV2 = z.object({ ...commonVision, embed_dim: posInt, mlp_ratio: z.number().positive().optional(), hidden_size: posInt.optional() }).loose()
const visionV25 = z.object({
  ...commonVision,
  hidden_size: posInt,
  intermediate_size: posInt,
  out_hidden_size: posInt.optional(),
  window_size: posInt.optional(),
  fullatt_block_indexes: z.array(int.min(0)).optional(),
  tokens_per_second: z.number().positive().optional(),
}).loose()

const visionV3 = z.object({
  ...commonVision,
  hidden_size: posInt,
  intermediate_size: posInt,
  out_hidden_size: posInt.optional(),
  num_position_embeddings: posInt,
  deepstack_visual_indexes: z.array(int.min(0)).optional(),
}).loose()

const topSchema = z.object({
  model_type: z.enum(['qwen2_vl', 'qwen2_5_vl', 'qwen3_vl']),
  text_config: z.record(z.string(), z.unknown()).optional(),
  vision_config: z.record(z.string(), z.unknown()),
  image_token_id: tokenId.optional(),
  video_token_id: tokenId.optional(),
  vision_start_token_id: tokenId.optional(),
  vision_end_token_id: tokenId.optional(),
  eos_token_id: z.union([tokenId, z.array(tokenId)]).nullable().optional(),
  pad_token_id: tokenId.nullable().optional(),
}).loose()

function configError(field: string, expected: string, found: unknown, source: string): VrftError {
  return new VrftError('ERR_CONFIG', `Expected ${expected} for ${field} but found ${describeValue(found)} (in ${source})`,
    { field, source })
}

function valueAt(obj: unknown, path: ReadonlyArray<PropertyKey>): unknown {
  let v: unknown = obj
  for (const k of path) {
    if (typeof v !== 'object' || v === null) return undefined
    v = (v as Record<PropertyKey, unknown>)[k]
  }
  return v
}

function parseWith<T>(schema: z.ZodType<T>, value: unknown, prefix: string, source: string): T {
  const r = schema.safeParse(value)
  if (r.success) return r.data
  const issue = r.error.issues[0]!
  const field = [prefix, ...issue.path.map(String)].filter(Boolean).join('.')
  const found = valueAt(value, issue.path)
  let expected: string
  switch (issue.code) {
    case 'invalid_type': expected = `a ${issue.expected}`; break
    case 'too_small': expected = issue.origin === 'array' ? `an array of ${issue.minimum} entries` : `a value >= ${issue.minimum}`; break
    case 'too_big': expected = issue.origin === 'array' ? `an array of ${issue.maximum} entries` : `a value <= ${issue.maximum}`; break
    case 'invalid_value': expected = `one of ${issue.values.map((x) => JSON.stringify(x)).join(', ')}`; break
    default: expected = issue.message
  }
  throw configError(field || 'config', expected, found, source)
}

/** The LLM fields: from `text_config` when present, else the top level; a field in both must agree. */
function textFields(raw: Record<string, unknown>, source: string): Record<string, unknown> {
  const nested = raw.text_config as Record<string, unknown> | undefined
  if (!nested) return raw
  const merged: Record<string, unknown> = { ...nested }
  for (const k of Object.keys(textSchema.shape)) {
    if (!(k in raw) || raw[k] === undefined) continue
    if (!(k in nested)) merged[k] = raw[k]
    else if (JSON.stringify(raw[k]) !== JSON.stringify(nested[k]) && k !== 'rope_scaling' && k !== 'rope_parameters')
      throw configError(k, `the same value at the top level and in text_config (${JSON.stringify(nested[k])})`, raw[k], source)
  }
  return merged
}

/**
 * Validate a parsed config.json and return the flat config.
 * @param raw the parsed JSON
 * @param source where it came from (for error messages)
 */
export function parseModelConfig(raw: unknown, source = 'config.json'): ModelConfig {
  const top = parseWith(topSchema, raw, '', source)
  const rawObj = raw as Record<string, unknown>
  const arch: ModelArch = top.model_type === 'qwen2_vl' ? 'qwen2-vl' : top.model_type === 'qwen2_5_vl' ? 'qwen2.5-vl' : 'qwen3-vl'
  const textRaw = textFields(rawObj, source)
  const prefix = rawObj.text_config ? 'text_config' : ''
  const t = parseWith(textSchema, textRaw, prefix, source)
  const rope = t.rope_parameters ?? t.rope_scaling
  if (!rope) throw configError(`${prefix ? prefix + '.' : ''}rope_scaling`, 'an object with mrope_section (rope_scaling or rope_parameters)', undefined, source)
  const ropeTheta = t.rope_theta ?? rope.rope_theta
  if (ropeTheta === undefined) throw configError('rope_theta', 'a positive number (rope_theta or rope_parameters.rope_theta)', undefined, source)
  if (t.rope_theta !== undefined && rope.rope_theta !== undefined && t.rope_theta !== rope.rope_theta)
    throw configError('rope_parameters.rope_theta', `the same value as rope_theta (${t.rope_theta})`, rope.rope_theta, source)
  const headDim = t.head_dim ?? t.hidden_size / t.num_attention_heads
  if (!Number.isInteger(headDim)) throw configError('num_attention_heads', `a divisor of hidden_size ${t.hidden_size}`, t.num_attention_heads, source)
  if (t.num_attention_heads % t.num_key_value_heads !== 0)
    throw configError('num_key_value_heads', `a divisor of num_attention_heads ${t.num_attention_heads}`, t.num_key_value_heads, source)
  const sec = rope.mrope_section as [number, number, number]
  if (sec[0] + sec[1] + sec[2] !== headDim / 2)
    throw configError('mrope_section', `3 entries summing to head_dim/2 = ${headDim / 2}`, JSON.stringify(sec), source)

  const id = (k: 'image_token_id' | 'video_token_id' | 'vision_start_token_id' | 'vision_end_token_id', required: boolean): number => {
    const v = top[k] ?? (textRaw[k] as number | undefined)
    if (v === undefined || v === null) {
      if (required) throw configError(k, 'a token id (special token ids are read from config.json, never assumed)', undefined, source)
      return -1
    }
    if (!Number.isInteger(v) || v < 0 || v >= t.vocab_size) throw configError(k, `a token id below vocab_size ${t.vocab_size}`, v, source)
    return v
  }

  const vraw = top.vision_config
  let vision: VisionSettings
  if (arch === 'qwen2-vl') {
    const v = parseWith(visionV2, vraw, 'vision_config', source)
    if (v.hidden_size !== undefined && v.hidden_size !== t.hidden_size)
      throw configError('vision_config.hidden_size', `the LLM hidden_size ${t.hidden_size} (the merger output)`, v.hidden_size, source)
    vision = {
      depth: v.depth, width: v.embed_dim, numHeads: v.num_heads, intermediate: Math.round(v.embed_dim * (v.mlp_ratio ?? 4)),
      act: v.hidden_act ?? 'quick_gelu', patchSize: v.patch_size ?? v.spatial_patch_size ?? 14,
      temporalPatchSize: v.temporal_patch_size ?? 2, spatialMergeSize: v.spatial_merge_size ?? 2,
      inChannels: v.in_channels ?? v.in_chans ?? 3, outHidden: t.hidden_size, windowSize: 112, fullattBlockIndexes: [],
      tokensPerSecond: 2,
    }
  } else if (arch === 'qwen3-vl') {
    const v = parseWith(visionV3, vraw, 'vision_config', source)
    if (v.out_hidden_size !== undefined && v.out_hidden_size !== t.hidden_size)
      throw configError('vision_config.out_hidden_size', `the LLM hidden_size ${t.hidden_size}`, v.out_hidden_size, source)
    const side = Math.round(Math.sqrt(v.num_position_embeddings))
    if (side * side !== v.num_position_embeddings)
      throw configError('vision_config.num_position_embeddings', 'a square number (a side × side grid)', v.num_position_embeddings, source)
    vision = {
      depth: v.depth, width: v.hidden_size, numHeads: v.num_heads, intermediate: v.intermediate_size,
      act: v.hidden_act ?? 'gelu_pytorch_tanh', patchSize: v.patch_size ?? v.spatial_patch_size ?? 16,
      temporalPatchSize: v.temporal_patch_size ?? 2, spatialMergeSize: v.spatial_merge_size ?? 2,
      inChannels: v.in_channels ?? v.in_chans ?? 3, outHidden: t.hidden_size, windowSize: 112, fullattBlockIndexes: [],
      tokensPerSecond: 2, numPositionEmbeddings: v.num_position_embeddings,
      deepstackVisualIndexes: v.deepstack_visual_indexes ?? [],
    }
    const ds = vision.deepstackVisualIndexes!
    const bad = ds.find((i) => i >= v.depth)
    if (bad !== undefined) throw configError('vision_config.deepstack_visual_indexes', `indexes below depth ${v.depth}`, bad, source)
    if (ds.length > t.num_hidden_layers)
      throw configError('vision_config.deepstack_visual_indexes', `at most num_hidden_layers (${t.num_hidden_layers}) entries`, JSON.stringify(ds), source)
  } else {
    const v = parseWith(visionV25, vraw, 'vision_config', source)
    if (v.out_hidden_size !== undefined && v.out_hidden_size !== t.hidden_size)
      throw configError('vision_config.out_hidden_size', `the LLM hidden_size ${t.hidden_size}`, v.out_hidden_size, source)
    vision = {
      depth: v.depth, width: v.hidden_size, numHeads: v.num_heads, intermediate: v.intermediate_size,
      act: v.hidden_act ?? 'silu', patchSize: v.patch_size ?? v.spatial_patch_size ?? 14,
      temporalPatchSize: v.temporal_patch_size ?? 2, spatialMergeSize: v.spatial_merge_size ?? 2,
      inChannels: v.in_channels ?? v.in_chans ?? 3, outHidden: t.hidden_size, windowSize: v.window_size ?? 112,
      fullattBlockIndexes: v.fullatt_block_indexes ?? [7, 15, 23, 31], tokensPerSecond: v.tokens_per_second ?? 2,
    }
    const unit = vision.patchSize * vision.spatialMergeSize
    if (vision.windowSize % unit !== 0) throw configError('vision_config.window_size', `a multiple of ${unit}`, vision.windowSize, source)
    const bad = vision.fullattBlockIndexes.find((i) => i >= vision.depth)
    if (bad !== undefined) throw configError('vision_config.fullatt_block_indexes', `indexes below depth ${vision.depth}`, bad, source)
  }
  if (vision.width % vision.numHeads !== 0 || (vision.width / vision.numHeads) % 4 !== 0)
    throw configError('vision_config.num_heads', `a divisor of the vision width ${vision.width} leaving a head size divisible by 4`, vision.numHeads, source)

  const eos = top.eos_token_id ?? (textRaw.eos_token_id as number | number[] | undefined) ?? []
  return {
    arch,
    vocabSize: t.vocab_size,
    hiddenSize: t.hidden_size,
    intermediateSize: t.intermediate_size,
    numLayers: t.num_hidden_layers,
    numHeads: t.num_attention_heads,
    numKvHeads: t.num_key_value_heads,
    headDim,
    rmsNormEps: t.rms_norm_eps,
    ropeTheta,
    mropeSection: [sec[0], sec[1], sec[2]],
    // Qwen3-VL's model class reads the top-level flag (the hub's text_config may carry a stale copy)
    tieWordEmbeddings: (arch === 'qwen3-vl' ? (rawObj.tie_word_embeddings as boolean | undefined) ?? t.tie_word_embeddings
      : t.tie_word_embeddings ?? (rawObj.tie_word_embeddings as boolean | undefined)) ?? false,
    imageTokenId: id('image_token_id', true),
    videoTokenId: id('video_token_id', false),
    visionStartTokenId: id('vision_start_token_id', true),
    visionEndTokenId: id('vision_end_token_id', true),
    eosTokenIds: Array.isArray(eos) ? eos : [eos],
    padTokenId: top.pad_token_id ?? null,
    vision,
  }
}

/** Read and validate `<dir>/config.json` (or another file name in `dir`). */
export function readModelConfig(dir: string, file = 'config.json'): ModelConfig {
  const path = join(dir, file)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Expected a readable ${file} in ${dir} but could not read it: ${(e as Error).message}`, { path }, { cause: e })
  }
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Expected valid JSON in ${path} but parsing failed: ${(e as Error).message}`, { path }, { cause: e })
  }
  return parseModelConfig(raw, path)
}
