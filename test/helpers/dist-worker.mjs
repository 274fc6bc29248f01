// A rank for test/dist.test.ts: joins the c10d group from RANK/WORLD_SIZE/MASTER_ADDR/MASTER_PORT, runs the
// scenario named in argv[2], prints one JSON line per result. Loads the addon like lib/native/binding.ts.
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..')
const n = createRequire(import.meta.url)(process.env.VRFT_NATIVE_ADDON ?? join(root, 'build/Release/vrft_native.node'))
const rank = Number(process.env.RANK), world = Number(process.env.WORLD_SIZE)
const out = (o) => process.stdout.write(JSON.stringify({ rank, ...o }) + '\n')
try {
  await n.distInit({ rank, worldSize: world, masterAddr: process.env.MASTER_ADDR, masterPort: Number(process.env.MASTER_PORT), timeoutMs: Number(process.env.VRFT_DIST_TIMEOUT_MS ?? 20000) })
  out({ joined: true })
  const all = await n.distAllgather(rank * 10 + 1)
  out({ allgather: all })
  const mean = await n.distAllreduceMean(new Float64Array([rank, 2 * rank, 5]))
  out({ mean: Array.from(mean) })
  if (process.argv[2] === 'die' && rank === 1) {
    out({ dying: true })
    process.kill(process.pid, 'SIGKILL')
  }
  if (process.argv[2] === 'die') {
    await new Promise((r) => setTimeout(r, 1500))
    for (let i = 0; i < 100; i++) await n.distAllreduceMean(new Float64Array([1]))
  }
  await n.distBarrier()
  n.distShutdown()
  out({ done: true })
} catch (e) {
  out({ error: e.code, message: e.message })
  process.exitCode = 3
}
