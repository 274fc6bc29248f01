#!/usr/bin/env node
// Builds the addon with node-gyp from binding.gyp (cmake-js is the primary build). node-gyp always builds
// into ./build of its working folder, so it runs in a staging folder build-gyp/ (links to the sources) and
// never touches cmake-js's build/. CI runs it so this build never rots;
// `VRFT_NATIVE_ADDON=build-gyp/build/Release/vrft_native.node` loads its result.
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, rmSync, symlinkSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const stage = join(root, 'build-gyp')
mkdirSync(stage, { recursive: true })
for (const f of ['binding.gyp', 'native', 'node_modules', 'package.json']) {
  const link = join(stage, f)
  rmSync(link, { force: true, recursive: false })
  symlinkSync(join(root, f), link)
}
const local = join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const bundled = join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const nodeGyp = existsSync(local) ? local : bundled
const args = [nodeGyp, 'rebuild', `--jobs=${process.env.VRFT_BUILD_JOBS ?? String(os.availableParallelism?.() ?? os.cpus().length)}`]
// Use the headers of the running Node when they are installed beside it (no download).
const nodedir = process.env.npm_config_nodedir ?? resolve(dirname(process.execPath), '..')
if (existsSync(join(nodedir, 'include', 'node', 'node_api.h'))) args.push(`--nodedir=${nodedir}`)
const r = spawnSync(process.execPath, args, { cwd: stage, stdio: 'inherit' })
if (r.status !== 0) process.exit(r.status ?? 1)
console.error(`vrft-native: node-gyp build at ${join(stage, 'build', 'Release', 'vrft_native.node')}`)
