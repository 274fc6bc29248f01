// Faults while saving: a kill -9 in the middle of a checkpoint write leaves the previous file intact and
// loadable; a full disk (simulated with a file-size limit, RLIMIT_FSIZE) fails the save with a clear
// ERR_IO_WRITE and keeps the previous file. (SIGINT/SIGTERM during training: test/cli-train.test.ts.)
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../lib/native/binding.js'

const n = native()
const worker = join(import.meta.dirname, 'helpers', 'save-worker.mjs')
const dir = tempDir('vrft-faults-')

async function writeGood(path: string, fill: number): Promise<void> {
  const data = new Uint8Array(1024).fill(fill)
  await n.safetensorsWrite(path, [{ name: 'w', dtype: 'U8', shape: [1024], data }])
}

async function readFill(path: string): Promise<{ len: number; fill: number }> {
  const r = await n.safetensorsReadTensor(path, 'w')
  return { len: r.data.length, fill: r.data[0]! }
}

t.test('kill -9 during a checkpoint write leaves the previous checkpoint intact', async (t) => {
  const path = join(dir, 'ckpt.safetensors')
  await writeGood(path, 42)
  for (let attempt = 0; attempt < 3; attempt++) {
    const child = spawn(process.execPath, [worker, 'loop', path, '96'], { stdio: ['ignore', 'pipe', 'inherit'] })
    await new Promise<void>((res) => child.stdout.once('data', () => res()))
    // wait until a temporary file exists (a write is in flight), then kill -9
    const t0 = Date.now()
    while (!readdirSync(dir).some((f) => f.includes('.tmp-')) && Date.now() - t0 < 20000) await new Promise((r) => setTimeout(r, 5))
    child.kill('SIGKILL')
    await new Promise((r) => child.once('exit', r))
    // the target is always a complete file: the old one or one complete rewrite, never a torn one
    const r = await readFill(path)
    t.ok((r.len === 1024 && r.fill === 42) || (r.len === 96 * 2 ** 20 && r.fill === 7), `attempt ${attempt}: complete file (${r.len} bytes)`)
    const h = await n.safetensorsHeader(path)
    t.equal(h.tensors.length, 1)
  }
})

t.test('a full disk fails the save with ERR_IO_WRITE and keeps the previous checkpoint', async (t) => {
  const path = join(dir, 'full.safetensors')
  await writeGood(path, 9)
  // RLIMIT_FSIZE of 512 KiB (the writer catches SIGXFSZ): writes past it fail with EFBIG, like a full disk.
  const env = { ...process.env }
  delete env.NODE_OPTIONS  // the child is plain node: no test-runner hooks writing files under the limit
  const r = spawnSync('bash', ['-c', `trap '' XFSZ; ulimit -f 512; exec "${process.execPath}" "${worker}" once "${path}" 4 5`], { encoding: 'utf8', env })
  const last = r.stdout.trim().split('\n').pop() ?? ''
  t.ok(last.startsWith('{'), `the writer reported its outcome (status ${r.status}, signal ${r.signal}, error ${r.error?.message}, stderr: ${r.stderr.slice(-500)})`)
  const out = JSON.parse(last || '{}') as { ok: boolean; code?: string; message?: string }
  t.equal(out.ok, false)
  t.equal(out.code, 'ERR_IO_WRITE')
  t.match(out.message!, /cannot write .*full\.safetensors: File too large/)
  t.same(await readFill(path), { len: 1024, fill: 9 }, 'previous checkpoint intact')
  t.notOk(readdirSync(dir).some((f) => f.startsWith('full.safetensors.tmp')), 'no temporary file left behind')
  t.ok(existsSync(path))
})

t.test('a weight stored with a non-float dtype is ERR_WEIGHTS_DTYPE naming it', async (t) => {
  const { initModel } = await import('../lib/model/init-model.js')
  const { NativeModel } = await import('../lib/model/native-model.js')
  const m = join(dir, 'tiny-dtype')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: m, seed: 4 })
  const file = join(m, 'model.safetensors')
  const h = await n.safetensorsHeader(file)
  const tensors = []
  for (const e of h.tensors) {
    const x = await n.safetensorsReadTensor(file, e.name)
    // store one float weight as I32 (same byte count: 4 bytes per element)
    tensors.push(e.name === 'model.norm.weight' ? { name: e.name, dtype: 'I32' as const, shape: x.shape, data: x.data } : { name: e.name, ...x })
  }
  await n.safetensorsWrite(file, tensors)
  await t.rejects(NativeModel.load(m), { code: 'ERR_WEIGHTS_DTYPE', message: /floating-point dtype .* model\.norm\.weight .* found I32/ })
  t.ok((await n.safetensorsHeader(file)).tensors.length > 10, 'process keeps working')
})
