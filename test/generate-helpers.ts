/**
 * Shared fixtures of the generation / log-prob tests: the golden tiny checkpoints (gunzipped once into a
 * temp dir), their golden cases, golden pixel values, and loading a tiny model through the native binding.
 * Goldens come from test/fixtures/goldens (+ images from test/fixtures/preproc, tokens.json from
 * test/fixtures/tokens) when present, else /work/shared/goldens (the source of truth).
 * Not a test file itself (tap runs test/**\/*.test.ts only).
 */
import { copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { gunzipSync } from 'node:zlib'
import { defaultTokenizerPath } from '../lib/model/tokenizer.js'
import { join, dirname } from 'node:path'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import type { ModelHandle } from '../lib/native/model.js'
import { NativeModel } from '../lib/model/native-model.js'
import type { PromptBatch } from '../lib/native/generate.js'

const here = dirname(fileURLToPath(import.meta.url))
export const GOLDENS = [join(here, 'fixtures', 'goldens'), '/work/shared/goldens'].find((d) => existsSync(join(d, 'ckpt')))
  ?? join(here, 'fixtures', 'goldens')

/** A golden input image (test/fixtures/preproc/<name>/original.png, else goldens/images/<name>.png). */
export function goldenImage(name: string): string {
  const local = join(here, 'fixtures', 'preproc', name, 'original.png')
  return existsSync(local) ? local : join(GOLDENS, 'images', `${name}.png`)
}

/** The goldens' tokens.json (prompt strings and ids). */
export function goldenTokens(): Json {
  const local = join(here, 'fixtures', 'tokens', 'tokens.json')
  return JSON.parse(readFileSync(existsSync(local) ? local : join(GOLDENS, 'tokens.json'), 'utf8'))
}

export type TinyName = 'qwen2vl-tiny' | 'qwen25vl-tiny'

/** A checkpoint directory (config.json, generation_config.json, model.safetensors) for a golden model. */
export function tinyCheckpointDir(name: TinyName): string {
  const dir = join(tmpdir(), `vrft-gen-test-${process.getuid?.() ?? 0}`, name)
  const st = join(dir, 'model.safetensors')
  if (!existsSync(st)) {
    mkdirSync(dir, { recursive: true })
    const src = join(GOLDENS, 'ckpt', name)
    for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json']) copyFileSync(join(src, f), join(dir, f))
    const tmp = `${st}.${process.pid}.tmp`
    writeFileSync(tmp, gunzipSync(readFileSync(join(src, 'model.safetensors.gz'))))
    renameSync(tmp, st) // atomic: parallel test processes never see a partial file
  }
  // A model folder brings its tokenizer (ERR_TOKENIZER_MISSING otherwise): the goldens were made with the
  // Qwen tokenizer, which is the bundled one (test/tokenizer.test.ts checks they agree).
  const tok = join(dir, 'tokenizer.json')
  if (!existsSync(tok)) {
    const tmp = `${tok}.${process.pid}.tmp`
    copyFileSync(defaultTokenizerPath(), tmp)
    renameSync(tmp, tok)
  }
  return dir
}

type Json = Record<string, any>

const loaded = new Map<string, Promise<NativeModel>>()

/** Load (once per process) a golden tiny model in float32 on the CPU (the model module's loader). */
export async function loadTiny(name: TinyName): Promise<ModelHandle> {
  let p = loaded.get(name)
  if (!p) {
    p = NativeModel.load(tinyCheckpointDir(name), { dtype: 'float32', device: 'cpu' })
    loaded.set(name, p)
  }
  return (await p).handle
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
