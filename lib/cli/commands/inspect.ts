/**
 * `vrft-native inspect FILE|DIR`: tensors, dtypes, shapes and parameter count of a safetensors file or a
 * checkpoint directory (single file or shards).
 */
import type { CommandModule } from 'yargs'
import { existsSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { native, type TensorEntry } from '../../native/binding.js'
import { VrftError } from '../../errors.js'
import { readModelConfig } from '../../model/config.js'
import type { ModelArch } from '../../native/binding.js'

export interface InspectResult {
  path: string
  files: string[]
  tensors: Array<TensorEntry & { file?: string }>
  parameters: number
  bytes: number
  dtypes: Record<string, number>
  /** A directory with a valid config.json: its architecture (qwen2-vl, qwen2.5-vl, qwen3-vl). */
  arch?: ModelArch
}

/** Reads the headers of a safetensors file or checkpoint directory. */
export async function inspect(path: string): Promise<InspectResult> {
  let st
  try {
    st = statSync(path)
  } catch {
    throw new VrftError('ERR_IO_READ', `expected a safetensors file or checkpoint directory but ${path} does not exist`)
  }
  const n = native()
  let files: string[]
  let tensors: Array<TensorEntry & { file?: string }>
  let bytes: number
  if (st.isDirectory()) {
    const ck = await n.checkpointInfo(path)
    files = ck.files
    tensors = ck.tensors
    bytes = ck.totalBytes
  } else {
    const h = await n.safetensorsHeader(path)
    files = [path]
    tensors = h.tensors
    bytes = h.fileSize
  }
  tensors.sort((a, b) => a.name.localeCompare(b.name, 'en', { numeric: true }))
  const dtypes: Record<string, number> = {}
  let parameters = 0
  for (const t of tensors) {
    const count = t.shape.reduce((a, b) => a * b, 1)
    parameters += count
    dtypes[t.dtype] = (dtypes[t.dtype] ?? 0) + count
  }
  let arch: ModelArch | undefined
  if (st.isDirectory() && existsSync(join(path, 'config.json'))) {
    try { arch = readModelConfig(path).arch } catch { arch = undefined }  // tensors of any folder are listed; the arch only when its config parses
  }
  return { path, files, tensors, parameters, bytes, dtypes, ...(arch ? { arch } : {}) }
}

export const inspectCommand: CommandModule<object, { path: string; json: boolean }> = {
  command: 'inspect <path>',
  describe: 'List tensors, dtypes, shapes and the parameter count of a safetensors file or checkpoint directory',
  builder: (y) => y
    .positional('path', { type: 'string', demandOption: true, describe: 'a .safetensors file or a checkpoint directory' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }),
  handler: async (argv) => {
    const r = await inspect(argv.path)
    if (argv.json) {
      console.log(JSON.stringify(r))
      return
    }
    const w = Math.max(...r.tensors.map((t) => t.name.length), 4)
    for (const t of r.tensors) console.log(`${t.name.padEnd(w)}  ${t.dtype.padEnd(4)}  [${t.shape.join(', ')}]`)
    console.log(`${r.tensors.length} tensors in ${r.files.length} file(s), ${r.parameters.toLocaleString('en-US')} parameters, ${(r.bytes / 1e6).toFixed(1)} MB`)
    if (r.arch) console.log(`architecture: ${r.arch} (config.json)`)
    console.log(`by dtype: ${Object.entries(r.dtypes).map(([k, v]) => `${k} ${v.toLocaleString('en-US')}`).join(', ')}`)
  },
}
