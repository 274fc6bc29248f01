// Faults while saving a training checkpoint (model + optimizer state + trainer_state.json):
// kill -9 in the middle of a save leaves the previous checkpoint intact and resumable; a full disk
// (RLIMIT_FSIZE) fails the save with ERR_IO_WRITE, keeps the previous checkpoint and leaves no temp dir.
import { tempDir } from './tmp.js'
import t, { type Test } from 'tap'
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'
import { findCheckpoint, readTrainerState } from '../lib/train/checkpoint.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import { initModel } from '../lib/model/init-model.js'
import { native } from '../lib/native/binding.js'

const worker = join(import.meta.dirname, 'helpers', 'ckpt-worker.ts')
const dir = tempDir('vrft-ckpt-faults-')
const model = join(dir, 'tiny')

async function resumable(t: Test, runDir: string): Promise<number> {
  const ck = findCheckpoint(runDir, true)
  t.ok(ck, 'a checkpoint is found')
  const st = readTrainerState(ck!)
  const policy = await NativePolicy.create({ modelDir: join(ck!, 'model') })  // the saved model loads
  await policy.loadState(join(ck!, 'state'))                                   // and its optimizer state
  policy.dispose()
  t.ok((await native().checkpointInfo(join(ck!, 'model'))).tensors.length > 10, 'model weights readable')
  return st.step
}

t.before(async () => { await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 2 }) })

t.test('kill -9 during a checkpoint save: the previous checkpoint stays intact and resumable', async (t) => {
  const runDir = join(dir, 'run-kill')
  const child = spawn(process.execPath, [...process.execArgv, worker, 'loop', runDir, model], { stdio: ['ignore', 'pipe', 'inherit'] })
  let saved = 0
  child.stdout.on('data', (d: Buffer) => { saved = Math.max(saved, ...String(d).trim().split('\n').map((l) => Number(l.split(' ')[1]))) })
  while (saved < 2) await new Promise((r) => setTimeout(r, 20))
  // wait for a save in flight (its temp dir exists), then kill -9
  const t0 = Date.now()
  while (!readdirSync(runDir).some((f) => f.includes('.tmp-')) && Date.now() - t0 < 30000) await new Promise((r) => setTimeout(r, 2))
  child.kill('SIGKILL')
  await new Promise((r) => child.once('exit', r))
  const step = await resumable(t as unknown as Test, runDir)
  t.ok(step >= 2, `resumable at step ${step}`)
})

t.test('a full disk fails the save with ERR_IO_WRITE and keeps the previous checkpoint', async (t) => {
  const runDir = join(dir, 'run-full')
  const ok = spawnSync(process.execPath, [...process.execArgv, worker, 'once', runDir, model, '1'], { encoding: 'utf8' })
  t.same(JSON.parse(ok.stdout.trim().split('\n').pop()!), { ok: true }, ok.stderr.slice(-500))
  // A 2 MiB file-size limit (RLIMIT_FSIZE, set with prlimit once the saver is loaded) behaves like a full disk.
  const child = spawn(process.execPath, [...process.execArgv, worker, 'wait', runDir, model, '2'], { stdio: ['pipe', 'pipe', 'pipe'] })
  let stdout = '', stderr = ''
  child.stderr.on('data', (d) => { stderr += d })
  await new Promise<void>((res) => child.stdout.on('data', (d) => { stdout += d; if (stdout.includes('ready')) res() }))
  const lim = spawnSync('prlimit', ['--pid', String(child.pid), '--fsize=2097152:2097152'], { encoding: 'utf8' })
  t.equal(lim.status, 0, `prlimit: ${lim.stderr}`)
  child.stdin.write('go\n')
  const [status, signal] = await new Promise<[number | null, string | null]>((res) => child.once('exit', (c, s) => res([c, s])))
  const r = { stdout, stderr, status, signal }
  const last = r.stdout.trim().split('\n').pop() ?? ''
  t.ok(last.startsWith('{'), `the saver reported (status ${r.status}, signal ${r.signal}, stderr ${r.stderr.slice(-300)})`)
  const out = JSON.parse(last || '{}') as { ok: boolean; code?: string; message?: string }
  t.equal(out.ok, false)
  t.equal(out.code, 'ERR_IO_WRITE')
  t.match(out.message ?? '', /File too large/)
  t.equal(await resumable(t as unknown as Test, runDir), 1, 'checkpoint 1 is still the latest and loads')
  t.notOk(readdirSync(runDir).some((f) => f.includes('.tmp-')), 'no temporary directory left behind')
})
