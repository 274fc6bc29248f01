// Shared fixtures of the Qwen3-VL tests: the golden folder (test/fixtures/goldens/qwen3vl, a copy of
// /work/shared/goldens/qwen3vl) and its checkpoint unpacked into a temp dir. Not a test file.
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gunzipSync } from 'node:zlib'
import { tempDir } from './tmp.js'

export const Q3 = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'goldens', 'qwen3vl')
export const Q3_CASE = join(Q3, 'cases', 'img0_noise_200x300')

/** The golden checkpoint (config, preprocessor config, safetensors) in a fresh temp dir. */
export function qwen3Dir(): string {
  const dir = tempDir('vrft-qwen3vl-')
  writeFileSync(join(dir, 'model.safetensors'), gunzipSync(readFileSync(join(Q3, 'ckpt', 'model.safetensors.gz'))))
  for (const f of ['config.json', 'preprocessor_config.json']) copyFileSync(join(Q3, 'ckpt', f), join(dir, f))
  return dir
}

/** case.json of the golden case. */
export function qwen3Case(): any {
  return JSON.parse(readFileSync(join(Q3_CASE, 'case.json'), 'utf8'))
}
