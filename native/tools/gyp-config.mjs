#!/usr/bin/env node
// Prints build settings for binding.gyp (node-gyp build of the same sources as CMakeLists.txt):
//   include | libdir | libs | sources | defines | pch-flags
// Values are space-separated, as gyp's `<!@(...)` command expansion expects.
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findTorch, torchPaths } from './find-torch.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const what = process.argv[2]
const torch = findTorch()
if (!torch) {
  console.error('vrft-native: no libtorch found (set LIBTORCH or Torch_DIR); see README')
  process.exit(1)
}
const p = torchPaths(torch.dir)

function walk(dir) {
  const out = []
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const f = join(dir, e.name)
    if (e.isDirectory()) out.push(...walk(f))
    else if (e.name.endsWith('.cpp')) out.push(f)
  }
  return out
}

switch (what) {
  case 'include': {
    const inc = [...p.include, join(root, 'native')]
    console.log(inc.join(' '))
    break
  }
  case 'libdir':
    console.log(p.libdir)
    break
  case 'libs':
    console.log([`-L${p.libdir}`, `-Wl,-rpath,${p.libdir}`, ...p.libs.map((l) => `-l${l}`)].join(' '))
    break
  case 'sources': {
    const dirs = ['common', 'io', 'model', 'rl', 'dist', 'napi'].map((d) => join(root, 'native', d)).filter(existsSync)
    console.log(dirs.flatMap(walk).map((f) => relative(root, f)).sort().join(' '))
    break
  }
  case 'defines': {
    const gloo = existsSync(join(p.prefix, 'include/torch/csrc/distributed/c10d/ProcessGroupGloo.hpp'))
    // (the libtorch folder is not passed as a string define: gyp's command expansion drops the quotes)
    const d = [`VRFT_CUDA=${p.cuda ? 1 : 0}`]
    // the definitions libtorch's CMake target carries (INTERFACE_COMPILE_DEFINITIONS)
    if (gloo) d.push('VRFT_HAVE_GLOO=1', 'USE_DISTRIBUTED', 'USE_C10D_GLOO', 'USE_RPC', 'USE_TENSORPIPE')
    console.log(d.join(' '))
    break
  }
  default:
    console.error(`usage: gyp-config.mjs include|libdir|libs|sources|defines (received ${what})`)
    process.exit(2)
}
