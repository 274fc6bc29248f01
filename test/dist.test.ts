// c10d over Gloo on loopback: rendezvous, all-gather, averaged all-reduce, and a rank that dies makes the
// others fail with an error naming it within the timeout (no hang). Clear errors for bad rank/world size.
import t from 'tap'
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { native } from '../lib/native/binding.js'

const worker = join(import.meta.dirname, 'helpers', 'dist-worker.mjs')

async function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port
      s.close(() => res(p))
    })
  })
}

interface Line { rank: number; [k: string]: unknown }
function runRanks(world: number, scenario: string, port: number, timeoutMs = 20000) {
  return Promise.all(Array.from({ length: world }, (_, rank) => new Promise<{ code: number | null; signal: string | null; lines: Line[]; ms: number }>((res) => {
    const t0 = Date.now()
    const p = spawn(process.execPath, [worker, scenario], {
      env: { ...process.env, RANK: String(rank), WORLD_SIZE: String(world), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), VRFT_DIST_TIMEOUT_MS: String(timeoutMs) },
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    let buf = ''
    p.stdout.on('data', (d) => { buf += d })
    p.on('exit', (code, signal) => res({ code, signal, ms: Date.now() - t0, lines: buf.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line) }))
  })))
}

t.test('two ranks rendezvous, all-gather and average', async (t) => {
  const r = await runRanks(2, 'ok', await freePort())
  for (const x of r) {
    t.equal(x.code, 0, `rank exit ${JSON.stringify(x.lines)}`)
    t.same(x.lines.find((l) => l.allgather)?.allgather, [1, 11])
    t.same(x.lines.find((l) => l.mean)?.mean, [0.5, 1, 5])
    t.ok(x.lines.some((l) => l.done))
  }
})

t.test('a rank that dies ends the other with an error naming it, within the timeout', async (t) => {
  const r = await runRanks(2, 'die', await freePort(), 8000)
  t.equal(r[1]!.signal, 'SIGKILL')
  const survivor = r[0]!
  t.equal(survivor.code, 3, 'survivor exits with an error, does not hang')
  const err = survivor.lines.find((l) => l.error)
  t.ok(err, JSON.stringify(survivor.lines))
  t.equal(err!.error, 'ERR_DIST_RANK_DIED')
  t.match(err!.message as string, /rank\(s\) 1 stopped responding/)
  t.ok(survivor.ms < 30000, `survivor ended after ${survivor.ms} ms`)
})

t.test('bad rank / world size / missing peers are clear errors', async (t) => {
  const n = native() as unknown as { distInit(o: object): Promise<void>; distInfo(): { initialized: boolean } }
  t.throws(() => n.distInit({ rank: 2, worldSize: 2 }), { code: 'ERR_INVALID_ARG', message: /rank < worldSize/ })
  t.throws(() => n.distInit({ rank: 0, worldSize: 0 }), { code: 'ERR_INVALID_ARG' })
  // rank 1 of 2 with no rank 0 anywhere: rendezvous times out with a clear message
  const port = await freePort()
  await t.rejects(n.distInit({ rank: 1, worldSize: 2, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 1500 }), { code: 'ERR_DIST_RENDEZVOUS', message: /is rank 0 running/ })
  t.equal(n.distInfo().initialized, false)
})

t.test('backend choice: gloo or nccl, NCCL only in builds that have it, VRFT_DIST_BACKEND validated', async (t) => {
  const { distBackend } = await import('../lib/train/distributed.js')
  const n = native() as unknown as { distInit(o: object): Promise<void>; distInfo(): { initialized: boolean; ncclAvailable: boolean } }
  const nccl = n.distInfo().ncclAvailable
  t.equal(typeof nccl, 'boolean')
  const port = await freePort()
  await t.rejects(n.distInit({ rank: 0, worldSize: 2, masterPort: port, backend: 'mpi', timeoutMs: 1000 }), { message: /Expected backend 'gloo' or 'nccl' but received 'mpi'/ })
  if (!nccl) {
    await t.rejects(n.distInit({ rank: 0, worldSize: 2, masterPort: port, backend: 'nccl', timeoutMs: 1000 }), { code: 'ERR_DIST_UNAVAILABLE', message: /NCCL/ })
    t.equal(distBackend(true, {}), 'gloo', 'a CUDA rank falls back to Gloo in a build without NCCL')
  } else {
    t.equal(distBackend(true, {}), 'nccl', 'a CUDA rank uses NCCL when the build has it')
  }
  t.equal(distBackend(false, {}), 'gloo', 'CPU ranks use Gloo')
  t.equal(distBackend(true, { VRFT_DIST_BACKEND: 'gloo' }), 'gloo', 'the variable overrides')
  t.throws(() => distBackend(false, { VRFT_DIST_BACKEND: 'nccl2' }), { code: 'ERR_DIST_ENV', message: /gloo or nccl but received "nccl2"/ })
  t.equal(n.distInfo().initialized, false)
})
