// Shared helpers of the model tests: golden fixture paths, unpacking a tiny checkpoint into a temp dir,
// reading golden arrays, and error metrics.
import { tempDir } from './tmp.js'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { readNpy, type NpyArray } from '../lib/model/npy.js'

export const GOLDENS = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'goldens')
export const MODELS = ['qwen2vl-tiny', 'qwen25vl-tiny'] as const
export type GoldenModel = typeof MODELS[number]
export const IMAGES = ['img0_noise_200x300', 'img1_shapes_480x640'] as const

/** Unpack a tiny golden checkpoint (config.json + model.safetensors) into a fresh temp dir. */
export function unpackCheckpoint(model: GoldenModel, configFile = 'config.json'): string {
  const dir = tempDir(`vrft-${model}-`)
  const src = join(GOLDENS, 'ckpt', model)
  writeFileSync(join(dir, 'model.safetensors'), gunzipSync(readFileSync(join(src, 'model.safetensors.gz'))))
  copyFileSync(join(src, configFile), join(dir, 'config.json'))
  copyFileSync(join(src, 'generation_config.json'), join(dir, 'generation_config.json'))
  return dir
}

export interface CaseMeta {
  input_ids: number[] | number[][]
  attention_mask?: number[][]
  image_grid_thw: number[][]
  position_ids: number[][] | number[][][]
  rope_deltas: number[]
  fixed_positions?: number[]
  T: number
  logits?: { argmax_last?: number }
  argmax_last?: number | number[]
  [k: string]: unknown
}

export function caseDir(model: GoldenModel, c: string): string { return join(GOLDENS, 'cases', model, c) }
export function readMeta(model: GoldenModel, c: string): CaseMeta {
  return JSON.parse(readFileSync(join(caseDir(model, c), 'meta.json'), 'utf8')) as CaseMeta
}
export function caseArray(model: GoldenModel, c: string, name: string): NpyArray { return readNpy(join(caseDir(model, c), name)) }
export function pixelValues(img: string): NpyArray { return readNpy(join(GOLDENS, 'preproc', img, 'pixel_values.npy.gz')) }

/** max |a − b| / max |b| over the given values (b = the golden). */
export function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let num = 0, den = 0
  if (a.length !== b.length) return Infinity
  for (let i = 0; i < a.length; i++) {
    num = Math.max(num, Math.abs(a[i]! - b[i]!))
    den = Math.max(den, Math.abs(b[i]!))
  }
  return num / (den || 1)
}

/** Every stride-th entry of each row of a (rows × V) array. */
export function strided(a: ArrayLike<number>, rows: number, V: number, stride: number): Float32Array {
  const n = Math.ceil(V / stride)
  const out = new Float32Array(rows * n)
  for (let r = 0; r < rows; r++) for (let j = 0; j < n; j++) out[r * n + j] = a[r * V + j * stride]!
  return out
}

/** Row-major flattening of nested number arrays. */
export function flat(x: unknown): number[] {
  return Array.isArray(x) ? x.flatMap((e) => flat(e)) : [x as number]
}
