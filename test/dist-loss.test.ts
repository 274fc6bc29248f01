// The dapo loss type normalizes by the token count of the whole optimizer step, every micro-batch and every
// rank: 1 rank × micro-batch 4, 1 rank × micro-batch 1 and 2 ranks × micro-batch 2 (Gloo on loopback) give the
// same gradient. The ranks' shards hold different token counts (11 vs 4), so a per-rank or per-micro-batch
// token mean (bnpo) gives a different gradient for the same split — shown too, so the check can fail.
import { tempDir } from './tmp.js'
import t from 'tap'
import { join } from 'node:path'
import { initModel } from '../lib/model/init-model.js'
import { spawnRanks } from './helpers/dist-run.js'

const worker = join(import.meta.dirname, 'helpers', 'dist-loss-worker.ts')
interface Out { rank: number; loss: number; tokens: number; gradNorm: number; grads: Record<string, number[]> }

async function run(world: number, dir: string, lossType: string, micro: number): Promise<Out[]> {
  const rs = await spawnRanks(worker, [dir, lossType, String(micro)], world)
  for (const r of rs) if (r.code !== 0) throw new Error(`worker failed (${r.code}): ${r.err.slice(-2000)}`)
  return rs.map((r) => JSON.parse(r.out.trim().split('\n').pop()!) as Out)
}

/** max |a − b| / max |a| over every compared tensor. */
function relDiff(a: Out, b: Out): number {
  let num = 0, den = 0
  for (const [k, x] of Object.entries(a.grads)) {
    const y = b.grads[k]!
    for (let i = 0; i < x.length; i++) { num = Math.max(num, Math.abs(x[i]! - y[i]!)); den = Math.max(den, Math.abs(x[i]!)) }
  }
  return num / den
}

t.test('dapo: 1 rank × micro-batch 4 == 1 rank × micro-batch 1 == 2 ranks × micro-batch 2 (same gradient)', async (t) => {
  const dir = tempDir('vrft-dist-loss-')
  const model = join(dir, 'tiny')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 3 })
  const [one] = await run(1, model, 'dapo', 4)
  const [oneMb1] = await run(1, model, 'dapo', 1)
  const two = await run(2, model, 'dapo', 2)
  t.equal(one!.tokens, 15, 'one rank sees all 15 tokens')
  t.same(two.map((r) => r.tokens), [11, 4], 'the two ranks hold different token counts')
  t.ok(one!.gradNorm > 0, `non-zero gradient (${one!.gradNorm})`)
  const dMb = relDiff(one!, oneMb1!)
  t.ok(dMb <= 1e-5, `micro-batch 4 vs 1 on one rank: max rel diff ${dMb.toExponential(2)}`)
  for (const r of two) {
    const d = relDiff(one!, r)
    t.ok(d <= 1e-5, `2 ranks × 2 (rank ${r.rank}) vs 1 rank × 4: max rel diff ${d.toExponential(2)}`)
  }
  t.same(two[0]!.grads, two[1]!.grads, 'both ranks hold the same (all-reduced) gradient')
  t.ok(Math.abs(two[0]!.gradNorm - one!.gradNorm) <= 1e-5 * one!.gradNorm, `grad norm ${two[0]!.gradNorm} vs ${one!.gradNorm}`)
  // The same split with bnpo (a token mean per micro-batch, then averaged) weighs the shards differently.
  const [bOne] = await run(1, model, 'bnpo', 4)
  const bTwo = await run(2, model, 'bnpo', 2)
  const dB = relDiff(bOne!, bTwo[0]!)
  t.ok(dB > 1e-2, `bnpo is split-dependent (max rel diff ${dB.toExponential(2)}): the comparison above can fail`)
  const dDapoBnpo = relDiff(one!, bOne!)
  t.ok(dDapoBnpo <= 1e-5, `on one micro-batch of one rank bnpo = dapo (${dDapoBnpo.toExponential(2)})`)
})

t.test('SFT: the mean over every rank\'s target tokens — 2 ranks × micro-batch 2 == 1 rank × micro-batch 4 (same gradient)', async (t) => {
  const dir = tempDir('vrft-dist-sft-')
  const model = join(dir, 'tiny')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 4 })
  const [one] = await run(1, model, 'sft', 4)
  const two = await run(2, model, 'sft', 2)
  t.same(two.map((r) => r.tokens), [11, 4], 'the two ranks hold different token counts (a per-rank token mean would weigh them differently)')
  t.ok(one!.gradNorm > 0, `non-zero gradient (${one!.gradNorm})`)
  for (const r of two) {
    const d = relDiff(one!, r)
    t.ok(d <= 1e-5, `2 ranks × 2 (rank ${r.rank}) vs 1 rank × 4: max rel diff ${d.toExponential(2)}`)
  }
  t.same(two[0]!.grads, two[1]!.grads, 'both ranks hold the same (all-reduced) gradient')
  // each rank's loss is its share of the step's token mean: their mean is the one-rank loss
  const mean = (two[0]!.loss + two[1]!.loss) / 2
  t.ok(Math.abs(mean - one!.loss) <= 1e-5 * Math.abs(one!.loss), `mean of the ranks' losses ${mean} vs one rank ${one!.loss}`)
})
