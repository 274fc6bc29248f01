#!/usr/bin/env node
// Prints build settings for binding.gyp (node-gyp build of the same sources as CMakeLists.txt):
//   include | libdir | libs | sources | defines | openmp-cflags | openmp-libs
// Values are space-separated, as gyp's `<!@(...)` command expansion expects.
import { existsSync, readFileSync, readdirSync } from 'node:fs'
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

function usesOpenMP() {
  for (const dir of p.include) {
    const f = join(dir, 'ATen', 'Config.h')
    if (existsSync(f)) return /define AT_PARALLEL_OPENMP 1/.test(readFileSync(f, 'utf8'))
  }
  return false
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
  // OpenMP, as in CMakeLists.txt: at::parallel_for is a header template, so with libtorch's OpenMP backend our
  // own parallel loops need -fopenmp, linked against the libgomp libtorch uses (bundled in pip/zip builds)
  case 'openmp-cflags':
    console.log(usesOpenMP() ? '-fopenmp' : '')
    break
  case 'openmp-libs': {
    if (!usesOpenMP()) { console.log(''); break }
    const bundled = readdirSync(p.libdir).filter((f) => /^libgomp.*\.so/.test(f)).sort()[0]
    console.log(bundled ? join(p.libdir, bundled) : '-fopenmp')
    break
  }
  default:
    console.error(`usage: gyp-config.mjs include|libdir|libs|sources|defines|openmp-cflags|openmp-libs (received ${what})`)
    process.exit(2)
}
