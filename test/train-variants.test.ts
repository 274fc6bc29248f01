/**
 * Every objective option of issue #20 in a real 3-step GRPO run (runTrain, the tiny Qwen2-VL, a 4-image
 * classification set, 2 prompts × G 4, 10 tokens): the run finishes, metrics.jsonl carries the metrics the option
 * adds and the charts show them. Mean token entropy and the rollout/training |Δlogp| are logged every step in
 * every run; the float32 figure is printed (README "Objective options" quotes it). Also: a rollout made of groups
 * of two generate rounds (dynamic sampling's selectGroups) trains like the same groups sent as an explicit batch.
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSyntheticSet } from '../lib/data/synthetic.js'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { runTrain } from '../lib/app/commands.js'
import { resolveTrainConfig } from '../lib/train/config.js'
import type { StepRecord } from '../lib/train/loop.js'
import { createTinyModel } from '../lib/app/tiny.js'
import { NativePolicy } from '../lib/train/native-policy.js'

const why = !nativeAvailable() ? 'the native addon is not built'
  : typeof (native() as unknown as Record<string, unknown>).trainerRolloutsSelect !== 'function' ? 'the addon predates trainerRolloutsSelect (rebuild it)' : undefined

if (why) {
  t.fail(`native objective variants: ${why}`)
} else {
  const dir = tempDir('vrft-variants-')
  const model = join(dir, 'tiny')
  let data = ''
  t.before(async () => {
    await createTinyModel(model, 0)
    const samples = await makeSyntheticSet({ task: 'classification', count: 4, seed: 1 })
    const d = join(dir, 'data')
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'data.jsonl'), samples.map((s, i) => {
      writeFileSync(join(d, `${i}.png`), (s.image as { bytes: Uint8Array }).bytes)
      return JSON.stringify({ image: `${i}.png`, problem: s.problem, solution: s.solution, task: s.task })
    }).join('\n') + '\n')
    data = join(d, 'data.jsonl')
  })

  interface Asserts { ok(v: unknown, msg?: string): void; equal(a: unknown, b: unknown, msg?: string): void; comment(msg: string): void }
  type Check = (t: Asserts, m: StepRecord[]) => void
  const cases: Array<[string, Record<string, unknown>, string[], Check?]> = [
    ['defaults (grpo, token level)', {}, ['entropy', 'agreement'], (t, m) => {
      const worst = Math.max(...m.map((x) => x.rolloutLogpDiff!.max))
      t.comment(`float32 rollout vs training |Δlogp| per token: mean ${Math.max(...m.map((x) => x.rolloutLogpDiff!.mean)).toExponential(2)}, max ${worst.toExponential(2)}`)
      t.ok(worst < 1e-4, `float32: the sampler's and the training pass's log-probs agree (max |Δ| ${worst.toExponential(2)})`)
    }],
    ['--loss-type bnpo', { lossType: 'bnpo', microBatchSize: 4 }, []],
    ['--loss-type dr_grpo', { lossType: 'dr_grpo' }, []],
    ['--loss-type dapo', { lossType: 'dapo', microBatchSize: 3 }, []],
    ['--importance-sampling-level sequence (μ 2, GSPO ε)', { importanceSamplingLevel: 'sequence', numIterations: 2, epsilon: 3e-4, epsilonHigh: 4e-4 }, []],
    ['--importance-sampling-level sequence_token (μ 2)', { importanceSamplingLevel: 'sequence_token', numIterations: 2, epsilon: 3e-4, epsilonHigh: 4e-4 }, []],
    ['--dynamic-sampling --max-sampling-rounds 2', { dynamicSampling: true, maxSamplingRounds: 2, overlongBuffer: 6 }, ['sampling'], (t, m) => {
      for (const x of m) {
        t.ok(x.dynamicSampling && x.dynamicSampling.rounds >= 1 && x.dynamicSampling.rounds <= 2, `rounds ${x.dynamicSampling?.rounds}`)
        t.ok(x.dynamicSampling!.filteredFraction >= 0 && x.dynamicSampling!.filteredFraction <= 1)
        t.ok(x.dynamicSampling!.extraGenerationSeconds >= 0)
        t.equal(x.indices.length, 2 * x.dynamicSampling!.rounds, 'every sampled prompt is recorded')
      }
    }],
    ['--mask-truncated-completions', { maskTruncatedCompletions: true }, ['sampling'], (t, m) => {
      for (const x of m) t.ok(Math.abs(x.truncatedMasked! - (1 - x.finished)) < 1e-12, `masked fraction ${x.truncatedMasked} = unfinished ${1 - x.finished}`)
    }],
    ['--overlong-buffer 6 --overlong-penalty 0.5', { overlongBuffer: 6, overlongPenalty: 0.5 }, [], (t, m) => {
      for (const x of m) t.ok(x.rewards.overlong && x.rewards.overlong.mean <= 0 && x.rewards.overlong.mean >= -0.5, `overlong component ${x.rewards.overlong?.mean}`)
    }],
    ['--reward-normalization normalize_then_sum', { rewardNormalization: 'normalize_then_sum', overlongBuffer: 6 }, []],
    ['--top-entropy-quantile 0.3', { topEntropyQuantile: 0.3 }, [], (t, m) => {
      for (const x of m) t.ok(x.entropyKept! > 0.2 && x.entropyKept! < 0.5, `kept fraction ${x.entropyKept}`)
    }],
    ['--rollout-correction tis --tis-cap 1.5', { rolloutCorrection: 'tis', tisCap: 1.5 }, [], (t, m) => {
      for (const x of m) t.ok(x.tisMean! > 0.9 && x.tisMean! <= 1.5, `mean TIS weight ${x.tisMean}`)
    }],
  ]
  for (const [name, opts, charts, extra] of cases) {
    t.test(`${name}: 3 steps`, async (t) => {
      const run = join(dir, `run-${name.replace(/[^a-z0-9]+/gi, '-')}`)
      const cfg = resolveTrainConfig({
        model, data, output: run, maxSteps: 3, promptsPerStep: 2, numGenerations: 4, maxCompletionLength: 10, saveEvery: 0, evalEvery: 0,
        sampleEvery: 0, learningRate: 1e-4, maxPixels: 12544, quiet: true, device: 'cpu', ...opts,
      })
      for (const [k, v] of Object.entries(opts)) t.same((cfg as Record<string, unknown>)[k], v, `config ${k}`)
      const r = await runTrain(cfg, { handleSignals: false, log: () => {} })
      t.equal(r.step, 3)
      const m = readJsonl<StepRecord>(join(run, 'metrics.jsonl'))
      t.same(m.map((x) => x.step), [1, 2, 3])
      for (const x of m) {
        t.ok(Number.isFinite(x.loss) && Number.isFinite(x.gradNorm), `step ${x.step}: loss ${x.loss}`)
        // (a run that masks truncated completions may leave no token in the loss: the untrained tiny model never says eos)
        if (x.truncatedMasked === 1) t.ok(x.entropy === 0 && x.loss === 0, `every completion masked: no token in the loss (loss ${x.loss})`)
        else t.ok(x.entropy! > 0 && x.entropy! < Math.log(151936) + 1e-3, `mean token entropy ${x.entropy} logged`)
        t.ok(x.rolloutLogpDiff && x.rolloutLogpDiff.mean >= 0 && x.rolloutLogpDiff.max >= x.rolloutLogpDiff.mean, 'rollout/training |Δlogp| logged')
        t.ok(Number.isFinite(x.tisMean) && Number.isFinite(x.entropyKept))
      }
      for (const c of ['reward', 'loss', 'entropy', 'agreement', ...charts]) t.ok(existsSync(join(run, 'plots', `${c}.png`)), `plots/${c}.png`)
      extra?.({ ok: (v, msg) => t.ok(v, msg ?? ''), equal: (a, b, msg) => t.equal(a, b, msg ?? ''), comment: (msg) => t.comment(msg) }, m)
    })
  }

  t.test('selectGroups: groups of two generate rounds train like the same groups sent as an explicit batch', async (t) => {
    const policy = await NativePolicy.create({ modelDir: model, train: { lr: 0, seed: 1, maxGradNorm: 0 } })
    t.teardown(() => policy.dispose())
    const prompts = [0, 1, 2, 3].map((k) => ({ inputIds: Int32Array.from([151644, 872, 198, 9707 + k, 151645, 198, 151644, 77091, 198]), pixelValues: [], imageGridThw: [] }))
    const sampling = { numGenerations: 2, maxNewTokens: 6, temperature: 1, topP: 1, topK: 0, eosTokenIds: [151645] }
    const r1 = await policy.generate(prompts.slice(0, 2), { ...sampling, seed: 1 })
    const r2 = await policy.generate(prompts.slice(2, 4), { ...sampling, seed: 2 })
    const sel = policy.selectGroups([{ rollouts: r1, groups: [1] }, { rollouts: r2, groups: [0, 1] }])
    t.same(sel.completions.map((c) => c.promptIndex), [0, 0, 1, 1, 2, 2])
    t.same(sel.completions.map((c) => Array.from(c.tokens)), [...r1.completions.slice(2, 4), ...r2.completions].map((c) => Array.from(c.tokens)))
    const adv = [0.5, -0.5, 1, -1, 0.25, -0.25]
    const opts = { beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'dapo' as const, microBatchSize: 6, clipped: false, maxCompletionLength: 6 }
    const a = await policy.grpoStep(sel, adv, opts)
    const promptOf = [prompts[1]!, prompts[2]!, prompts[3]!]
    const b = await policy.grpoStepBatch(sel.completions.map((c, i) => ({ prompt: promptOf[c.promptIndex]!, tokens: c.tokens, advantage: adv[i]!, oldLogprobs: c.logprobs })), opts)
    t.equal(a.tokens, sel.completions.reduce((s, c) => s + c.tokens.length, 0))
    t.ok(Math.abs(a.loss - b.loss) <= 1e-6 * Math.max(1, Math.abs(b.loss)), `loss ${a.loss} vs ${b.loss}`)
    t.ok(Math.abs(a.gradNorm - b.gradNorm) <= 1e-5 * b.gradNorm, `grad norm ${a.gradNorm} vs ${b.gradNorm}`)
    t.throws(() => policy.selectGroups([{ rollouts: r1, groups: [2] }]), { message: /groups between 0 and 1/ })
    // inLoss: a completion left out of the loss counts nowhere (dapo: neither in the sum nor in the token count)
    const batch = sel.completions.map((c, i) => ({ prompt: promptOf[c.promptIndex]!, tokens: c.tokens, advantage: adv[i]!, oldLogprobs: c.logprobs }))
    const masked = await policy.grpoStepBatch(batch.map((r, i) => (i === 2 ? { ...r, inLoss: false } : r)), opts)
    const without = await policy.grpoStepBatch(batch.filter((_, i) => i !== 2), opts)
    t.equal(masked.tokens, without.tokens, `tokens in the loss ${masked.tokens}`)
    t.ok(Math.abs(masked.loss - without.loss) <= 1e-6 * Math.max(1, Math.abs(without.loss)), `masked ${masked.loss} vs left out ${without.loss}`)
    const viaStep = await policy.grpoStep(sel, adv, { ...opts, inLoss: [1, 1, 0, 1, 1, 1] })
    t.ok(Math.abs(viaStep.loss - without.loss) <= 1e-6 * Math.max(1, Math.abs(without.loss)), `trainerStep inLoss: ${viaStep.loss}`)
  })
}
