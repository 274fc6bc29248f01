/**
 * The tiny Qwen2-VL-architecture model of the built-in demo (~9.9M parameters, most of them the
 * 151,936 × 64 tied embedding of the real Qwen vocabulary), written by the model helper's `initModel`
 * (lib/model/init-model.ts) together with the Qwen tokenizer files.
 */
import { initModel } from '../model/init-model.js'

/** What the demo initializes (part of its warm-start cache key). */
export const TINY_PRESET = Object.freeze({ arch: 'qwen2-vl' as const, size: 'tiny' as const })

/** Write a freshly initialized tiny model into `dir`. */
export async function createTinyModel(dir: string, seed: number): Promise<void> {
  await initModel({ ...TINY_PRESET, out: dir, seed })
}
