/**
 * A real RL sanity check on a tiny random model through `NativePolicy` (generation from the gen helper's
 * binding, advantages from lib/rewards/advantages.ts, the native GRPO step): with reward 1 for completions
 * that contain a chosen token and 0 otherwise, a few dozen GRPO steps raise that token's frequency in
 * samples far above its start.
 */
import t from 'tap'
import type { ModelConfig } from '../lib/model/config.js'
import { nativeAvailable } from '../lib/native/binding.js'
import { computeAdvantages } from '../lib/rewards/advantages.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import type { EncodedPrompt, SamplingOptions, StepOptions } from '../lib/train/types.js'
import { smallRandomModel } from './grpo-helpers.js'

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  t.test('GRPO raises the frequency of the rewarded token', async (t) => {
    const { dir, config } = await smallRandomModel(21)
    const policy = await NativePolicy.create({ modelDir: dir, config: config as unknown as ModelConfig, train: { lr: 2e-2, schedule: 'constant', seed: 1 } })
    t.teardown(() => policy.dispose())
    const prompts: EncodedPrompt[] = [[1, 2, 3], [4, 5, 6, 7], [8, 9]].map((ids) => ({ inputIds: Int32Array.from(ids), pixelValues: [], imageGridThw: [] }))
    const G = 8
    const sampling: SamplingOptions = { numGenerations: G, maxNewTokens: 6, temperature: 1, topP: 1, topK: 0, eosTokenIds: [310] }
    const step: StepOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'grpo', microBatchSize: 12, clipped: false, maxCompletionLength: 6 }
    // The rewarded token: one that some (not many) initial samples contain, so that groups see rewards early.
    const initial = await policy.generate(prompts, { ...sampling, numGenerations: 32, seed: 1000 })
    const counts = new Map<number, number>()
    for (const c of initial.completions) for (const id of new Set(c.tokens)) if (id !== 310) counts.set(id, (counts.get(id) ?? 0) + 1)
    const [target] = [...counts].sort((a, b) => Math.abs(a[1] / initial.completions.length - 0.06) - Math.abs(b[1] / initial.completions.length - 0.06))[0]!
    const freq = (cs: ReadonlyArray<{ tokens: Int32Array }>) => cs.filter((c) => c.tokens.includes(target)).length / cs.length
    const start = freq(initial.completions)
    let steps = 0
    for (; steps < 40; steps++) {
      const r = await policy.generate(prompts, { ...sampling, seed: steps })
      const cs = r.completions
      t.equal(cs.length, prompts.length * G)
      const rewards = cs.map((c) => (c.tokens.includes(target) ? 1 : 0))
      const adv = computeAdvantages(rewards, G)
      const m = await policy.grpoStep(r, adv, step)
      t.equal(m.skipped, false)
      if (freq(cs) > 0.8 && steps >= 10) break
    }
    const end = freq((await policy.generate(prompts, { ...sampling, numGenerations: 32, seed: 2000 })).completions)
    t.comment(`completions containing token ${target}: ${(start * 100).toFixed(1)}% before, ${(end * 100).toFixed(1)}% after ${steps} steps`)
    t.ok(start < 0.2, 'rare at the start')
    t.ok(end > 0.6 && end > start + 0.4, 'frequent after training')
    t.equal(policy.info().step, Math.min(steps + 1, 40))
  })
}
