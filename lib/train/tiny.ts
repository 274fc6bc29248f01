/**
 * The tiny Qwen2-VL-architecture model of the built-in demo: a preset small enough to train on a CPU in
 * minutes, created by the model helper's `initModel` (lib/model/init-model.ts) with the real Qwen
 * tokenizer. INTEGRATION POINT: the import below is resolved at run time so this file compiles before
 * init-model.ts exists; the expected export is `initModel(options)` writing config.json, weights and
 * tokenizer files into `options.outDir`.
 */
import { VrftError } from '../errors.js'

/** Size of the demo model (Qwen2-VL layout; vocabulary = the Qwen tokenizer's). */
export const TINY_PRESET = Object.freeze({
  preset: 'tiny',
  hiddenSize: 64,
  intermediateSize: 128,
  numLayers: 2,
  numHeads: 4,
  numKvHeads: 2,
  visionDepth: 2,
  visionWidth: 64,
  visionHeads: 4,
})

type InitModule = { initModel?: (o: Record<string, unknown>) => Promise<unknown> }

/** Write a freshly initialized tiny model into `dir`. */
export async function createTinyModel(dir: string, seed: number): Promise<void> {
  const spec = '../model/init-model.js'
  let mod: InitModule
  try {
    mod = (await import(spec)) as InitModule
  } catch (e) {
    throw new VrftError('ERR_NOT_READY', `The model initializer (lib/model/init-model.ts) is not available: ${(e as Error).message}`, {}, { cause: e })
  }
  if (typeof mod.initModel !== 'function') throw new VrftError('ERR_NOT_READY', 'lib/model/init-model.ts does not export initModel')
  await mod.initModel({ outDir: dir, ...TINY_PRESET, seed })
}
