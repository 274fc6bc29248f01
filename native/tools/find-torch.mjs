// Finds a prebuilt libtorch (shared by the cmake-js build, the node-gyp build and `vrft-native doctor`).
// Order: Torch_DIR / LIBTORCH from the environment; the libtorch inside an installed Python `torch`;
// a system libtorch (Debian/Ubuntu libtorch-dev: /usr/lib/<triplet>/cmake/Torch).
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'

function tryRun(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function systemTorchDirs() {
  const out = []
  for (const base of ['/usr/lib', '/usr/local/lib', '/usr/lib64']) {
    if (existsSync(join(base, 'cmake/Torch/TorchConfig.cmake'))) out.push(join(base, 'cmake/Torch'))
    let entries = []
    try { entries = readdirSync(base) } catch { continue }
    for (const e of entries) {
      const d = join(base, e, 'cmake/Torch')
      if (existsSync(join(d, 'TorchConfig.cmake'))) out.push(d)
    }
  }
  return out
}

export function findTorch() {
  if (process.env.Torch_DIR) return { dir: process.env.Torch_DIR, how: 'Torch_DIR' }
  if (process.env.LIBTORCH) {
    const d = join(process.env.LIBTORCH, 'share/cmake/Torch')
    if (!existsSync(join(d, 'TorchConfig.cmake'))) {
      throw new Error(`LIBTORCH=${process.env.LIBTORCH} has no share/cmake/Torch/TorchConfig.cmake: expected the root of an unzipped libtorch`)
    }
    return { dir: d, how: 'LIBTORCH' }
  }
  for (const py of ['python3', 'python']) {
    const p = tryRun(py, ['-c', 'import torch.utils; print(torch.utils.cmake_prefix_path)'])
    if (p && existsSync(join(p, 'Torch/TorchConfig.cmake'))) return { dir: join(p, 'Torch'), how: `Python torch (${py})` }
  }
  const sys = systemTorchDirs()
  if (sys.length) return { dir: sys[0], how: 'system libtorch' }
  return null
}


/** Include dirs, library dir and libraries of the libtorch at `torchDir` (for node-gyp). */
export function torchPaths(torchDir) {
  const prefix = resolve(torchDir, '..', '..', '..', '..')
  const include = [join(prefix, 'include'), join(prefix, 'include/torch/csrc/api/include')]
  let libdir = join(prefix, 'lib')
  if (!existsSync(join(libdir, 'libtorch.so')) && !existsSync(join(libdir, 'libtorch.dylib'))) libdir = resolve(torchDir, '..', '..')
  const libs = ['torch', 'torch_cpu', 'c10']
  const cuda = existsSync(join(libdir, 'libtorch_cuda.so'))
  if (cuda) libs.push('torch_cuda', 'c10_cuda')
  return { prefix, include, libdir, libs, cuda }
}
