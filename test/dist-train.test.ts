// Data-parallel GRPO over Gloo on loopback: 2 ranks x batch b give the same parameters after 3 steps as
// 1 rank x batch 2b with the same seed and data (float32 tolerance).
import { tempDir } from './tmp.js'
import t from 'tap'
import { join } from 'node:path'
import { initModel } from '../lib/model/init-model.js'
import { spawnRanks } from './helpers/dist-run.js'

const worker = join(import.meta.dirname, 'helpers', 'dist-train-worker.ts')
const run = (world: number, dir: string) => spawnRanks(worker, [dir], world)

t.test('2 ranks x b == 1 rank x 2b after 3 GRPO steps', async (t) => {
  const dir = tempDir('vrft-dist-')
  const model = join(dir, 'tiny')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 3 })
  const one = await run(1, model)
  const two = await run(2, model)
  for (const r of [...one, ...two]) t.equal(r.code, 0, r.err.slice(-2000))
  const parse = (r: { out: string }) => JSON.parse(r.out.trim().split('\n').pop()!) as { sums: Record<string, [number, number]>; allreduce: number }
  const ref = parse(one[0]!)
  const r0 = parse(two[0]!), r1 = parse(two[1]!)
  t.ok(r0.allreduce > 0, `all-reduce time measured: ${r0.allreduce.toFixed(4)} s`)
  let worst = 0
  for (const [name, [s, q]] of Object.entries(ref.sums)) {
    for (const other of [r0, r1]) {
      const [s2, q2] = other.sums[name]!
      worst = Math.max(worst, Math.abs(q2 - q) / Math.max(1e-6, Math.abs(q)), Math.abs(s2 - s) / Math.max(1, Math.abs(s)))
    }
  }
  t.ok(Object.keys(ref.sums).length > 10, 'compared every trainable tensor')
  t.ok(worst < 1e-4, `max relative difference of parameter sums ${worst.toExponential(2)}`)
  t.same(r0.sums, r1.sums, 'the two ranks hold bit-identical parameters')
})
