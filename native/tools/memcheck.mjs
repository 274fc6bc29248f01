#!/usr/bin/env node
// `npm run test:memcheck`: builds the native-only test driver (vrft_core_test, native/tests/) and runs it
// under valgrind memcheck: any invalid read/write, use of uninitialized memory or definite leak fails.
// Suppressions (native/tools/valgrind.supp) cover only one-time allocations inside libgomp/OpenBLAS/
// libtorch's static initializers, which are reachable-by-design and not ours; each is explained there.
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { findTorch } from './find-torch.mjs'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const out = process.env.VRFT_BUILD_DIR ?? join(root, 'build')
const torch = findTorch()
if (!torch) {
  console.error('memcheck: no libtorch found')
  process.exit(1)
}
// The addon's build folder is already configured by cmake-js (npm install); turn the test driver on there
// and build only it (the core library is reused).
if (!existsSync(join(out, 'CMakeCache.txt'))) {
  const b = spawnSync(process.execPath, [join(root, 'native/tools/build-native.mjs')], { stdio: 'inherit', cwd: root })
  if (b.status !== 0) process.exit(b.status ?? 1)
}
let r = spawnSync('cmake', ['-DVRFT_CORE_TESTS=ON', `-DTorch_DIR=${torch.dir}`, out], { stdio: 'inherit', cwd: out })
if (r.status === 0) r = spawnSync('cmake', ['--build', out, '--target', 'vrft_core_test', '--parallel', process.env.VRFT_BUILD_JOBS ?? '2'], { stdio: 'inherit', cwd: out })
if (r.status !== 0) process.exit(r.status ?? 1)
const exe = [join(out, 'vrft_core_test'), join(out, 'Release', 'vrft_core_test')].find(existsSync)
if (!exe) {
  console.error('memcheck: vrft_core_test was not built')
  process.exit(1)
}
const valgrind = spawnSync('which', ['valgrind'], { encoding: 'utf8' }).stdout.trim()
if (!valgrind) {
  console.error('memcheck: valgrind is not installed (apt-get install valgrind)')
  process.exit(1)
}
r = spawnSync(valgrind, ['--error-exitcode=9', '--leak-check=full', '--errors-for-leak-kinds=definite',
  '--show-leak-kinds=definite', `--suppressions=${join(root, 'native/tools/valgrind.supp')}`, '--num-callers=30', exe],
{ stdio: 'inherit', env: { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', VRFT_NUM_THREADS: '1' } })
if (r.status === 9) console.error('memcheck: valgrind found errors (see above)')
process.exit(r.status ?? 1)
