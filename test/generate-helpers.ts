/**
 * Shared fixtures of the generation / log-prob tests: the golden tiny checkpoints (gunzipped once into a
 * temp dir), their golden cases, golden pixel values, and loading a tiny model through the native binding.
 * Goldens come from test/fixtures/goldens when present, else /work/shared/goldens (the source of truth).
 * Not a test file itself (tap runs test/**\/*.test.ts only).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { join, dirname } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { native } from '../lib/native/binding.js'
import type { NativeModelHandle, PromptBatch } from '../lib/native/generate.js'

const here = dirname(fileURLToPath(import.meta.url))
export const GOLDENS = [join(here, 'fixtures', 'goldens'), '/work/shared/goldens'].find((d) => existsSync(join(d, 'ckpt')))
  ?? join(here, 'fixtures', 'goldens')

export type TinyName = 'qwen2vl-tiny' | 'qwen25vl-tiny'

/** A checkpoint directory (config.json, generation_config.json, model.safetensors) for a golden model. */
export function tinyCheckpointDir(name: TinyName): string {
  const dir = join(tmpdir(), `vrft-gen-test-${process.getuid?.() ?? 0}`, name)
  const st = join(dir, 'model.safetensors')
  if (!existsSync(st)) {
    mkdirSync(dir, { recursive: true })
    const src = join(GOLDENS, 'ckpt', name)
    for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json']) copyFileSync(join(src, f), join(dir, f))
    writeFileSync(st + '.tmp', gunzipSync(readFileSync(join(src, 'model.safetensors.gz'))))
    copyFileSync(st + '.tmp', st)
  }
  return dir
}

type Json = Record<string, any>

/**
 * The flat native config of a golden config.json (nested text_config layout only). lib/model/config.ts
 * (the model helper's parser, for every layout) is the real one; this covers the two tiny goldens.
 */
export function flatConfig(cfg: Json): Json {
  const t = cfg.text_config ?? cfg
  const v = cfg.vision_config
  const q25 = cfg.model_type === 'qwen2_5_vl'
  return {
    arch: q25 ? 'qwen2.5-vl' : 'qwen2-vl',
    vocabSize: t.vocab_size,
    hiddenSize: t.hidden_size,
    intermediateSize: t.intermediate_size,
    numLayers: t.num_hidden_layers,
    numHeads: t.num_attention_heads,
    numKvHeads: t.num_key_value_heads,
    headDim: t.head_dim ?? t.hidden_size / t.num_attention_heads,
    rmsNormEps: t.rms_norm_eps,
    ropeTheta: t.rope_theta,
    mropeSection: t.rope_scaling.mrope_section,
    tieWordEmbeddings: t.tie_word_embeddings ?? cfg.tie_word_embeddings ?? false,
    imageTokenId: cfg.image_token_id,
    videoTokenId: cfg.video_token_id,
    visionStartTokenId: cfg.vision_start_token_id,
    visionEndTokenId: cfg.vision_end_token_id,
    vision: {
      depth: v.depth,
      width: q25 ? v.hidden_size : v.embed_dim,
      numHeads: v.num_heads,
      intermediate: q25 ? v.intermediate_size : v.embed_dim * v.mlp_ratio,
      act: v.hidden_act,
      patchSize: v.patch_size,
      temporalPatchSize: v.temporal_patch_size,
      spatialMergeSize: v.spatial_merge_size,
      inChannels: v.in_channels,
      outHidden: q25 ? v.out_hidden_size : v.hidden_size,
      windowSize: v.window_size ?? 112,
      fullattBlockIndexes: v.fullatt_block_indexes ?? [],
      tokensPerSecond: v.tokens_per_second ?? 2,
    },
  }
}

interface ModelBinding {
  modelLoad(dir: string, config: Json, o?: { dtype?: string; device?: string }): Promise<NativeModelHandle>
  modelDispose(h: NativeModelHandle): void
}

const loaded = new Map<string, Promise<NativeModelHandle>>()

/** Load (once per process) a golden tiny model in float32 on the CPU. */
export function loadTiny(name: TinyName): Promise<NativeModelHandle> {
  let p = loaded.get(name)
  if (!p) {
    const dir = tinyCheckpointDir(name)
    const cfg = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    p = (native() as unknown as ModelBinding).modelLoad(dir, flatConfig(cfg), { dtype: 'float32', device: 'cpu' })
    loaded.set(name, p)
  }
  return p
}

/** A golden case's meta.json. */
export function caseMeta(model: TinyName, c: string): Json {
  return JSON.parse(readFileSync(join(GOLDENS, 'cases', model, c, 'meta.json'), 'utf8'))
}

/** Golden pixel values (float32 [patches, 1176]) of a preprocessed image. */
export function goldenPixels(img: string): Float32Array {
  const raw = gunzipSync(readFileSync(join(GOLDENS, 'preproc', img, 'pixel_values.npy.gz')))
  const headerLen = raw.readUInt16LE(8)
  const start = 10 + headerLen
  const body = raw.subarray(start)
  const copy = new Uint8Array(body.length)
  copy.set(body)
  return new Float32Array(copy.buffer, 0, body.length / 4)
}

/** The prompt batch of a single-image golden case (golden ids + golden pixel values). */
export function casePrompt(model: TinyName, img: string): { prompt: PromptBatch; meta: Json } {
  const meta = caseMeta(model, img)
  return {
    meta,
    prompt: {
      inputIds: Int32Array.from(meta.input_ids as number[]),
      batchSize: 1,
      pixelValues: goldenPixels(img),
      imageGridThw: meta.image_grid_thw,
    },
  }
}

export const IMAGES = ['img0_noise_200x300', 'img1_shapes_480x640'] as const
export const EOS = [151645, 151643]
export const PAD = 151643
