#!/usr/bin/env node
// Builds the native addon with cmake-js (run by `npm install`; `npm run build:native` forces a rebuild).
// Finds a prebuilt libtorch in this order: LIBTORCH / Torch_DIR from the environment; the libtorch inside
// an installed Python `torch` (torch.utils.cmake_prefix_path); a system libtorch (Debian/Ubuntu
// libtorch-dev, /usr/lib/<triplet>/cmake/Torch). If none is found on Debian/Ubuntu as root, installs
// libtorch-dev + libopenblas0-pthread (+ libgloo-dev, nlohmann-json3-dev, cmake, g++), saying so.
// Environment: LIBTORCH, Torch_DIR, VRFT_SKIP_NATIVE_BUILD=1, VRFT_BUILD_JOBS, VRFT_ASAN=1, VRFT_BUILD_DIR.
import { execFileSync, spawnSync } from 'node:child_process'
import { findTorch } from './find-torch.mjs'
import { existsSync, realpathSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const force = process.argv.includes('--force')
const say = (m) => console.error(`vrft-native: ${m}`)

if (process.env.VRFT_SKIP_NATIVE_BUILD === '1') {
  say('VRFT_SKIP_NATIVE_BUILD=1: not building the native addon')
  process.exit(0)
}

function tryRun(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim()
  } catch {
    return null
  }
}

function isDebianRoot() {
  return process.platform === 'linux' && existsSync('/etc/debian_version') &&
    typeof process.getuid === 'function' && process.getuid() === 0 && !!tryRun('which', ['apt-get'])
}

function aptInstall(pkgs) {
  say(`installing ${pkgs.join(' ')} with apt-get (running as root on Debian/Ubuntu)`)
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' }
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env })
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { stdio: 'inherit', env })
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', ...pkgs], { stdio: 'inherit', env })
  }
  if (r.status !== 0) throw new Error(`apt-get install ${pkgs.join(' ')} failed`)
}

const HOW_TO = `No libtorch was found. vrft-native needs a prebuilt libtorch (it never builds PyTorch):
  - CPU or CUDA zip from the PyTorch website: unzip it and set LIBTORCH=/path/to/libtorch
  - or an installed Python torch (pip install torch): found automatically via torch.utils.cmake_prefix_path
  - or Debian/Ubuntu: apt-get install libtorch-dev libopenblas0-pthread libgloo-dev nlohmann-json3-dev
  - or set Torch_DIR to the folder holding TorchConfig.cmake
then run: npm run build:native`

function checkBlas() {
  // Debian's libtorch uses whatever libblas.so.3 the alternatives system points to; the reference BLAS is ~15x slower.
  for (const trip of ['x86_64-linux-gnu', 'aarch64-linux-gnu']) {
    const link = `/usr/lib/${trip}/libblas.so.3`
    if (!existsSync(link)) continue
    const real = realpathSync(link)
    if (real.includes('/blas/') && !real.includes('openblas')) {
      console.error('\n' + '!'.repeat(78))
      say(`WARNING: libblas.so.3 resolves to the REFERENCE BLAS (${real}).`)
      say('Matrix products will be ~15x slower. Fix: apt-get install libopenblas0-pthread')
      console.error('!'.repeat(78) + '\n')
    } else {
      say(`BLAS: ${real}`)
    }
  }
}

function main() {
  let torch = findTorch()
  const needHeaders = !existsSync('/usr/include/nlohmann/json.hpp') && !existsSync('/usr/local/include/nlohmann/json.hpp')
  if ((!torch || needHeaders) && isDebianRoot()) {
    const pkgs = ['cmake', 'g++', 'nlohmann-json3-dev']
    if (!torch) pkgs.push('libtorch-dev', 'libopenblas0-pthread', 'libgloo-dev')
    aptInstall(pkgs)
    torch = torch ?? findTorch()
  }
  if (!torch) {
    console.error(HOW_TO)
    process.exit(1)
  }
  say(`libtorch: ${torch.dir} (found via ${torch.how})`)
  if (torch.how === 'system libtorch') checkBlas()
  const out = process.env.VRFT_BUILD_DIR ?? join(root, 'build')
  const addon = join(out, 'Release', 'vrft_native.node')
  const jobs = process.env.VRFT_BUILD_JOBS ?? String(Math.max(1, os.availableParallelism?.() ?? os.cpus().length))
  const cmakeJs = join(root, 'node_modules', 'cmake-js', 'bin', 'cmake-js')
  const args = [cmakeJs, 'build', '-d', root, '-O', out, '-p', jobs, '-m', `--CDTorch_DIR=${torch.dir}`]
  if (process.env.VRFT_ASAN === '1') args.push('--CDVRFT_ASAN=ON', '-B', 'RelWithDebInfo')
  if (force) say('forced rebuild')
  const r = spawnSync(process.execPath, args, { stdio: 'inherit', cwd: root })
  if (r.status !== 0) {
    say('native build failed (see above). `vrft-native doctor` explains what it needs.')
    process.exit(r.status ?? 1)
  }
  if (!existsSync(addon) && !existsSync(join(out, 'RelWithDebInfo', 'vrft_native.node'))) {
    say(`build finished but ${addon} is missing`)
    process.exit(1)
  }
  say(`built ${addon}`)
}

main()
