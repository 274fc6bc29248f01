/**
 * The JS-side variants of issue #20 in the GRPO loop, with the in-memory fake policy (test/train-fake.ts; no
 * addon): dynamic sampling (informative groups only, more rounds up to --max-sampling-rounds, data position and
 * metrics), GDPO advantages reaching the update, the truncation mask, the overlong component, and the objective
 * options passed through to the policy's step.
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { decoupledAdvantages } from '../lib/rewards/advantages.js'
import { rewardSet } from '../lib/rewards/scorer.js'
import { GRPOTrainer, type GrpoSettings } from '../lib/train/grpo.js'
import { arraySource } from '../lib/train/loop.js'
import type { StepOptions } from '../lib/train/types.js'
import { FakePolicy, fakeDecoder, fakeEncode, fakeSamples } from './train-fake.js'
import { plotRun } from '../lib/app/plot.js'

const data = arraySource(fakeSamples(30))
const base: Partial<GrpoSettings> = { promptsPerStep: 3, numGenerations: 4, maxSteps: 2, saveEvery: 0, evalEvery: 0, sampleEvery: 0, maxCompletionLength: 8 }
const trainer = (policy: FakePolicy, settings: Partial<GrpoSettings>, runDir?: string) => new GRPOTrainer({
  policy, decoder: fakeDecoder, encode: fakeEncode, train: data, rewards: rewardSet('classification'), eosTokenIds: [0],
  settings: { ...base, ...settings }, progress: false, ...(runDir ? { runDir, plot: plotRun } : {}),
})
const steps = (p: FakePolicy) => p.calls.filter((c) => c.kind === 'grpoStep')

t.test('dynamic sampling: only informative groups, more rounds until full or the bound', async (t) => {
  const policy = new FakePolicy()
  const dir = tempDir('vrft-dyn-')
  const res = await trainer(policy, { dynamicSampling: true, maxSamplingRounds: 4 }, dir).train()
  let position = 0
  for (const [k, rec] of res.records.entries()) {
    const ds = rec.dynamicSampling!
    t.ok(ds.rounds >= 1 && ds.rounds <= 4, `step ${rec.step}: ${ds.rounds} rounds`)
    t.equal(rec.indices.length, 3 * ds.rounds, 'every sampled prompt recorded')
    position += 3 * ds.rounds
    t.equal(rec.position, position, 'the data position advances by every round')
    const ro = steps(policy)[k]!.rollouts!
    t.equal(ro.length, 4 * ds.groups, 'the update sees the kept groups')
    t.ok(ds.groups <= 3 && (ds.groups === 3 || ds.rounds === 4), 'full, or the round bound was reached')
    for (let g = 0; g < ro.length; g += 4) {
      const adv = ro.slice(g, g + 4).map((r) => r.advantage)
      t.ok(adv.some((a) => a !== 0), `group ${g / 4}: rewards differ (advantages ${adv.map((a) => a.toFixed(2))})`)
    }
    t.ok(Math.abs(ds.filteredFraction - (1 - ds.groups / (3 * ds.rounds))) < 1e-12)
  }
  t.equal(policy.calls.filter((c) => c.kind === 'generate').length, res.records.reduce((a, r) => a + r.dynamicSampling!.rounds, 0), 'one generate per round')
  t.ok(existsSync(join(dir, 'plots', 'sampling.png')), 'plots/sampling.png')
})

t.test('dynamic sampling with no informative group: the bound, then the last round as it is', async (t) => {
  const policy = new FakePolicy()
  policy.logits = [0, 0, 0, 60]  // always answer 3 ("circle", no format): every group's rewards equal
  const res = await trainer(policy, { dynamicSampling: true, maxSamplingRounds: 2, maxSteps: 1 }).train()
  const ds = res.records[0]!.dynamicSampling!
  t.same(ds, { ...ds, rounds: 2, groups: 0, filteredFraction: 1 })
  t.equal(steps(policy)[0]!.rollouts!.length, 12, 'trains on the last round (3 groups × 4)')
  t.ok(steps(policy)[0]!.rollouts!.every((r) => r.advantage === 0))
})

t.test('a policy without selectGroups is refused for dynamic sampling', async (t) => {
  const policy = new FakePolicy() as FakePolicy & { selectGroups?: unknown }
  Object.defineProperty(policy, 'selectGroups', { value: undefined })
  await t.rejects(trainer(policy as FakePolicy, { dynamicSampling: true }).train(), { code: 'ERR_POLICY', message: /selectGroups/ })
})

t.test('objective options reach the step; truncation mask; overlong component; GDPO advantages', async (t) => {
  const policy = new FakePolicy()
  let seen: StepOptions | undefined
  const orig = policy.grpoStep.bind(policy)
  policy.grpoStep = async (r, a, o) => { seen = o; return orig(r, a, o) }
  const res = await trainer(policy, {
    maxSteps: 1, lossType: 'dapo', importanceSamplingLevel: 'sequence', topEntropyQuantile: 0.5, rolloutCorrection: 'tis', tisCap: 3,
    maskTruncatedCompletions: true, overlongBuffer: 8, overlongPenalty: 0.5, rewardNormalization: 'normalize_then_sum',
  }).train()
  t.match(seen, { lossType: 'dapo', importanceSamplingLevel: 'sequence', topEntropyQuantile: 0.5, rolloutCorrection: 'tis', tisCap: 3 })
  const ro = steps(policy)[0]!.rollouts!
  // the fake's answer 4 ("circle") is its unfinished (truncated) completion
  t.same(Array.from(seen!.inLoss!), ro.map((r) => (r.token === 4 ? 0 : 1)), 'inLoss = finished')
  const rec = res.records[0]!
  t.ok(Math.abs(rec.truncatedMasked! - ro.filter((r) => r.token === 4).length / 12) < 1e-12)
  // one-token completions with a buffer of 8 under a limit of 8: 1 token into the buffer → −0.5/8
  t.ok(Math.abs(rec.rewards.overlong!.mean - -0.5 / 8) < 1e-12, `overlong mean ${rec.rewards.overlong!.mean}`)
  // GDPO: the advantages the step got are the decoupled ones over the components (incl. overlong, weight 1)
  const texts = await Promise.all(ro.map((r) => fakeDecoder.decode([r.token])))
  const samples = rec.indices.flatMap((i) => Array(4).fill(fakeSamples(30)[i]))
  const comps = await Promise.all(rewardSet('classification').map(async (r) => ({ values: await Promise.all(texts.map((x, i) => r.fn(x, samples[i]))), weight: r.weight })))
  comps.push({ values: ro.map(() => -0.5 / 8), weight: 1 })
  const want = decoupledAdvantages(comps, 4)
  t.ok(ro.every((r, i) => Math.abs(r.advantage - want[i]!) < 1e-9), 'advantages = GDPO of the components')
})
