/**
 * Shared fixtures of the GRPO / trainer tests: golden tiny checkpoint (gunzipped into a temp dir), the GRPO
 * golden (grpo/qwen2vl-tiny), .npy reading, the flat native config, tiny random models made with the model
 * binding, and a trainer over a freshly loaded model. The GRPO golden is test/fixtures/grpo/qwen2vl-tiny (a
 * copy of /work/shared/goldens/grpo/qwen2vl-tiny); checkpoint and pixels come from test/fixtures/goldens (the
 * model helper's copy), else /work/shared/goldens. Not a test file (tap runs test/**\/*.test.ts only).
 */
import { tempDir as sharedTempDir } from './tmp.js'
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { native } from '../lib/native/binding.js'
import type { NativeModelHandle } from '../lib/native/generate.js'
import { resolveTrainerSettings, trainerBinding, type NativeTrainerHandle, type TrainerSettings } from '../lib/train/trainer-settings.js'

const here = dirname(fileURLToPath(import.meta.url))
/** Golden checkpoint + preprocessed pixels: the model helper's test/fixtures/goldens copy, else the source. */
export const GOLDENS = [join(here, 'fixtures', 'goldens'), '/work/shared/goldens']
  .find((d) => existsSync(join(d, 'ckpt', 'qwen2vl-tiny')) && existsSync(join(d, 'preproc', 'img0_noise_200x300'))) ?? join(here, 'fixtures', 'goldens')
/** The GRPO golden (copied as is into test/fixtures/grpo/qwen2vl-tiny), else the source. */
export const GRPO_GOLDEN = [join(here, 'fixtures', 'grpo', 'qwen2vl-tiny'), '/work/shared/goldens/grpo/qwen2vl-tiny']
  .find((d) => existsSync(join(d, 'grpo.json'))) ?? join(here, 'fixtures', 'grpo', 'qwen2vl-tiny')

type Json = Record<string, any>

interface ModelBinding {
  modelLoad(dir: string, config: Json, o?: { dtype?: string; device?: string }): Promise<NativeModelHandle>
  modelDispose(h: NativeModelHandle): void
  modelForward(h: NativeModelHandle, o: Json): Promise<{ logits: Float32Array; logitsShape: number[] }>
  modelWriteRandom(dir: string, config: Json, o: { seed: number; dtype: string; maxShardBytes?: number }): Promise<void>
}
export const mb = (): ModelBinding => native() as unknown as ModelBinding
export const tb = trainerBinding

/** A fresh temp directory, removed when the test file ends. */
export function tempDir(tag: string): string {
  return sharedTempDir(`vrft-${tag}-`)
}

/** The golden qwen2vl-tiny checkpoint directory (config, generation/preprocessor config, safetensors). */
export function tinyDir(): string {
  const dir = join(tmpdir(), `vrft-grpo-test-${process.getuid?.() ?? 0}`, 'qwen2vl-tiny')
  const st = join(dir, 'model.safetensors')
  if (!existsSync(st)) {
    mkdirSync(dir, { recursive: true })
    const src = join(GOLDENS, 'ckpt', 'qwen2vl-tiny')
    for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json']) copyFileSync(join(src, f), join(dir, f))
    writeFileSync(`${st}.${process.pid}.tmp`, gunzipSync(readFileSync(join(src, 'model.safetensors.gz'))))
    renameSync(`${st}.${process.pid}.tmp`, st)
  }
  return dir
}

/** The flat native config of a nested (text_config) Qwen2-VL config.json. */
export function flatConfig(cfg: Json): Json {
  const t = cfg.text_config ?? cfg
  const v = cfg.vision_config
  return {
    arch: 'qwen2-vl',
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
      depth: v.depth, width: v.embed_dim, numHeads: v.num_heads, intermediate: v.embed_dim * v.mlp_ratio, act: v.hidden_act,
      patchSize: v.patch_size, temporalPatchSize: v.temporal_patch_size, spatialMergeSize: v.spatial_merge_size,
      inChannels: v.in_channels, outHidden: v.hidden_size, windowSize: 112, fullattBlockIndexes: [], tokensPerSecond: 2,
    },
  }
}

export function configOf(dir: string): Json {
  return flatConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')))
}

/** A small random Qwen2-VL (vocab 320, hidden 32, 2 layers, 2-block vision tower; `text` overrides text_config) in a new dir. */
export async function smallRandomModel(seed = 1, text: Json = {}): Promise<{ dir: string; config: Json }> {
  const dir = tempDir('rand')
  const cfg = {
    model_type: 'qwen2_vl', image_token_id: 300, video_token_id: 301, vision_start_token_id: 302, vision_end_token_id: 303,
    text_config: {
      vocab_size: 320, hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 2,
      rms_norm_eps: 1e-6, rope_theta: 1e6, rope_scaling: { type: 'default', mrope_section: [1, 1, 2] }, tie_word_embeddings: true, ...text,
    },
    vision_config: { depth: 2, embed_dim: 16, hidden_act: 'quick_gelu', hidden_size: 32, in_channels: 3, mlp_ratio: 2, num_heads: 2, patch_size: 14, spatial_merge_size: 2, temporal_patch_size: 2 },
  }
  cfg.vision_config.hidden_size = cfg.text_config.hidden_size  // the merger's output is the LLM width
  writeFileSync(join(dir, 'config.json'), JSON.stringify(cfg))
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [310], pad_token_id: 311 }))
  const config = flatConfig(cfg)
  await mb().modelWriteRandom(dir, config, { seed, dtype: 'float32' })
  return { dir, config }
}

/** Loads `dir` (float32 on the CPU unless `load` says otherwise) and creates a trainer over it. */
export async function makeTrainer(dir: string, settings: TrainerSettings, config?: Json, load: { dtype: string; device: string } = { dtype: 'float32', device: 'cpu' }): Promise<{ model: NativeModelHandle; trainer: NativeTrainerHandle; dispose(): void }> {
  const model = await mb().modelLoad(dir, config ?? configOf(dir), load)
  const trainer = await tb().trainerCreate(model, resolveTrainerSettings(settings, dir))
  return {
    model, trainer, dispose() {
      tb().trainerDispose(trainer)
      mb().modelDispose(model)
    },
  }
}

/** Reads a little-endian float32 .npy (optionally gzipped). */
export function readNpy(path: string): { data: Float32Array; shape: number[] } {
  let raw = readFileSync(path)
  if (path.endsWith('.gz')) raw = gunzipSync(raw)
  const major = raw[6]!
  const hlen = major >= 2 ? raw.readUInt32LE(8) : raw.readUInt16LE(8)
  const start = (major >= 2 ? 12 : 10) + hlen
  const header = raw.subarray(major >= 2 ? 12 : 10, start).toString('latin1')
  if (!header.includes("'<f4'")) throw new Error(`expected a float32 .npy in ${path} but the header is ${header}`)
  const shape = (/'shape': \(([^)]*)\)/.exec(header)![1]!).split(',').map((s) => s.trim()).filter(Boolean).map(Number)
  const body = raw.subarray(start)
  const copy = new Uint8Array(body.length)
  copy.set(body)
  return { data: new Float32Array(copy.buffer), shape }
}

/** The GRPO golden: grpo.json and the directory of its .npy files. */
export function grpoGolden(): { g: Json; dir: string } {
  const dir = GRPO_GOLDEN
  return { g: JSON.parse(readFileSync(join(dir, 'grpo.json'), 'utf8')), dir }
}

/** Golden pixel values of img0 (float32 [308, 1176]). */
export function img0Pixels(): Float32Array {
  return readNpy(join(GOLDENS, 'preproc', 'img0_noise_200x300', 'pixel_values.npy.gz')).data
}

/** ‖a − b‖ / ‖b‖. */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity
  let d = 0
  let n = 0
  for (let i = 0; i < a.length; i++) {
    d += (a[i]! - b[i]!) ** 2
    n += b[i]! ** 2
  }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-30)
}

/** max |a − b|. */
export function maxAbs(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Infinity
  let m = 0
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!))
  return m
}
