/**
 * The GRPO/SFT loop with an in-memory fake policy (test/train-fake.ts): step order, advantages per
 * group, metrics fields, samples.jsonl, plots, checkpoints + latest, resume == straight run, μ > 1,
 * stop/abandon signals. Pure TS, no addon. Run: npx tap test/train-loop.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { computeAdvantages } from '../lib/rewards/advantages.js'
import { rewardSet, type NamedReward } from '../lib/rewards/scorer.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { GRPOTrainer, type GrpoSettings } from '../lib/train/grpo.js'
import { arraySource, type StepRecord } from '../lib/train/loop.js'
import type { Sample } from '../lib/sample.js'
import { SFTTrainer } from '../lib/train/sft.js'
import { FakePolicy, fakeDecoder, fakeEncode, fakeSamples } from './train-fake.js'
import { plotRun } from '../lib/app/plot.js'

const tmp = () => tempDir('vrft-train-')
const data = arraySource(fakeSamples(10))
const evalData = arraySource(fakeSamples(6))
const base: Partial<GrpoSettings> = { promptsPerStep: 3, numGenerations: 4, maxSteps: 4, saveEvery: 2, evalEvery: 0, sampleEvery: 2, maxCompletionLength: 8 }

function trainer(policy: FakePolicy, runDir: string | undefined, settings: Partial<GrpoSettings> = {}, extra: Record<string, unknown> = {}) {
  return new GRPOTrainer({
    policy, decoder: fakeDecoder, encode: fakeEncode, train: data, rewards: rewardSet('classification'), eosTokenIds: [0],
    settings: { ...base, ...settings }, ...(runDir ? { runDir } : {}), progress: false, config: { test: true }, plot: plotRun, ...extra,
  })
}

const stable = (r: StepRecord) => ({ ...r, seconds: undefined, time: undefined, tokensPerSecond: undefined })

t.test('one step: order of calls, advantages per group, metrics fields', async (t) => {
  const log: string[] = []
  const policy = new FakePolicy()
  const origGen = policy.generate.bind(policy)
  const origStep = policy.grpoStep.bind(policy)
  policy.generate = async (p, o) => { log.push('generate'); return origGen(p, o) }
  policy.grpoStep = async (r, a, o) => { log.push('step'); return origStep(r, a, o) }
  const rewards: NamedReward[] = [
    ...rewardSet('classification'),
    { name: 'async', weight: 0.5, fn: async (c) => { log.push('reward'); await new Promise((r) => setTimeout(r, 1)); return c.length > 30 ? 1 : 0 } },
  ]
  const tr = new GRPOTrainer({ policy, decoder: fakeDecoder, encode: fakeEncode, train: data, rewards, eosTokenIds: [0], settings: { ...base, maxSteps: 1 }, progress: false })
  const res = await tr.train()
  t.same(log.filter((x, i) => i === 0 || x !== log[i - 1]), ['generate', 'reward', 'step'], 'generate → rewards (awaited) → update')
  const call = policy.calls.find((c) => c.kind === 'grpoStep')!
  const ro = call.rollouts!
  t.equal(ro.length, 12, '3 prompts × G 4 rollouts')
  const rec = res.records[0]!
  // Recompute rewards from the sampled tokens and compare the advantages the policy got.
  const texts = await Promise.all(ro.map((r) => fakeDecoder.decode([r.token])))
  const samples = rec.indices.flatMap((i) => Array(4).fill(fakeSamples(10)[i]))
  const totals = await Promise.all(texts.map(async (c, i) => {
    let s = 0
    for (const r of rewards) s += r.weight * (await r.fn(c, samples[i]))
    return s
  }))
  const adv = computeAdvantages(totals, 4)
  ro.forEach((r, i) => t.ok(Math.abs(r.advantage - adv[i]!) < 1e-9, `advantage ${i} per group`))
  for (let g = 0; g < 12; g += 4) t.ok(Math.abs(ro.slice(g, g + 4).reduce((a, r) => a + r.advantage, 0)) < 1e-6, `group ${g / 4} sums to 0`)
  t.same(ro.map((r) => r.prompt), rec.indices.flatMap((i) => [i, i, i, i]), 'rollouts grouped prompt by prompt in batch order')
  const gen = policy.calls[0]!.opts as { numGenerations: number; maxNewTokens: number; temperature: number }
  t.equal(gen.numGenerations, 4)
  t.equal(gen.maxNewTokens, 8)
  t.equal(gen.temperature, 1)
  for (const k of ['loss', 'kl', 'clipFraction', 'gradNorm', 'lr', 'tokensPerSecond', 'zeroStdGroups', 'finished', 'position']) t.type((rec as never)[k], 'number', k)
  t.same(Object.keys(rec.rewards).sort(), ['accuracy', 'async', 'format'])
  for (const k of ['generation', 'decode', 'rewards', 'logprobs', 'update', 'total']) t.type(rec.seconds[k as keyof StepRecord['seconds']], 'number', `seconds.${k}`)
  t.equal(rec.position, 3)
  t.ok(rec.completionLength.min <= rec.completionLength.mean && rec.completionLength.mean <= rec.completionLength.max)
})

t.test('run files: metrics, samples, config, plots, checkpoints, latest', async (t) => {
  const dir = tmp()
  const res = await trainer(new FakePolicy(), dir).train()
  t.equal(res.step, 4)
  const m = readJsonl<StepRecord>(join(dir, 'metrics.jsonl'))
  t.same(m.map((r) => r.step), [1, 2, 3, 4])
  t.same(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), { test: true })
  const s = readJsonl<{ step: number; promptId: string; completion: string; rewards: Record<string, number>; total: number }>(join(dir, 'samples.jsonl'))
  t.same([...new Set(s.map((x) => x.step))], [1, 2, 4], 'samples at step 1 and every 2 steps')
  t.equal(s.length, 3 * 12)
  t.match(s[0], { promptId: /^s-\d+$/, completion: String, rewards: { accuracy: Number, format: Number }, total: Number })
  t.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoint-4')
  t.same(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-2', 'checkpoint-4'])
  for (const f of ['model/config.json', 'state/state.json', 'trainer_state.json']) t.ok(existsSync(join(dir, 'checkpoint-4', f)), f)
  t.match(JSON.parse(readFileSync(join(dir, 'checkpoint-4', 'trainer_state.json'), 'utf8')), { kind: 'grpo', step: 4, position: 12, seed: 42 })
  t.same(res.plots.map((p) => p.split('/').pop()).sort(), ['kl.png', 'length.png', 'loss.png', 'reward.png'])
  for (const p of res.plots) {
    const meta = await sharp(p).metadata()
    t.equal(meta.format, 'png')
    t.ok(meta.width! > 100 && meta.height! > 100)
  }
  t.notOk(readdirSync(dir).some((n) => n.includes('.tmp')), 'no temporary files left')
})

t.test('keepCheckpoints prunes old ones only after the new one is complete', async (t) => {
  const dir = tmp()
  await trainer(new FakePolicy(), dir, { maxSteps: 6, saveEvery: 1, keepCheckpoints: 2 }).train()
  t.same(readdirSync(dir).filter((n) => n.startsWith('checkpoint-')).sort(), ['checkpoint-5', 'checkpoint-6'])
})

t.test('resume: 4 steps straight == 2 steps + resume + 2 steps', async (t) => {
  const a = tmp()
  await trainer(new FakePolicy(), a).train()
  // An interrupted run: 2 steps, then a new trainer and a new policy resume from its checkpoint.
  const c = tmp()
  const first = trainer(new FakePolicy(), c, { maxSteps: 2 })
  await first.train()
  const second = trainer(new FakePolicy(), c, { maxSteps: 4 })
  const from = await second.resume()
  t.match(from, /checkpoint-2$/)
  t.equal(second.step, 2)
  t.equal(second.position, 6)
  await second.train()
  const ma = readJsonl<StepRecord>(join(a, 'metrics.jsonl'))
  const mc = readJsonl<StepRecord>(join(c, 'metrics.jsonl'))
  t.same(mc.map((r) => r.step), [1, 2, 3, 4])
  t.same(mc.map((r) => r.indices), ma.map((r) => r.indices), 'same data indices')
  t.same(mc.map(stable), ma.map(stable), 'same metrics')
  t.same(readJsonl(join(c, 'samples.jsonl')).map((x) => (x as { completion: string }).completion), readJsonl(join(a, 'samples.jsonl')).map((x) => (x as { completion: string }).completion))
})

t.test('resume drops log lines of steps after the checkpoint (kill -9 after step 3)', async (t) => {
  const dir = tmp()
  await trainer(new FakePolicy(), dir, { maxSteps: 3, saveEvery: 2 }, { plots: false }).train()
  // Simulate a crash after step 3 before its save: remove the final checkpoint-3 and its pointer.
  const { rmSync, writeFileSync } = await import('node:fs')
  rmSync(join(dir, 'checkpoint-3'), { recursive: true })
  writeFileSync(join(dir, 'latest'), 'checkpoint-2\n')
  const tr = trainer(new FakePolicy(), dir, { maxSteps: 4 })
  await tr.resume()
  t.equal(tr.step, 2)
  t.same(readJsonl<StepRecord>(join(dir, 'metrics.jsonl')).map((r) => r.step), [1, 2])
  await tr.train()
  t.same(readJsonl<StepRecord>(join(dir, 'metrics.jsonl')).map((r) => r.step), [1, 2, 3, 4])
})

t.test('μ > 1: several updates per rollout batch, clipped, with old log-probs', async (t) => {
  const policy = new FakePolicy()
  await trainer(policy, undefined, { maxSteps: 1, numIterations: 2 }).train()
  const steps = policy.calls.filter((c) => c.kind === 'grpoStep')
  t.equal(steps.length, 2)
  for (const s of steps) {
    t.equal((s.opts as { clipped: boolean }).clipped, true)
    t.ok(s.rollouts!.every((r) => r.hasOld))
  }
})

t.test('stop signal: finishes the current step, saves, ends normally', async (t) => {
  const dir = tmp()
  const ac = new AbortController()
  const tr = trainer(new FakePolicy(), dir, { maxSteps: 10, saveEvery: 0 }, { signal: ac.signal })
  const events: string[] = []
  for await (const ev of tr.run()) {
    events.push(ev.type)
    if (ev.type === 'step' && ev.record.step === 2) ac.abort()
  }
  t.same(events, ['step', 'step', 'checkpoint', 'stopped', 'done'])
  t.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoint-2')
})

t.test('abandon signal: aborts the step in flight, keeps the last complete one', async (t) => {
  const dir = tmp()
  const ac = new AbortController()
  const policy = new FakePolicy()
  policy.delayMs = 200
  const tr = trainer(policy, dir, { maxSteps: 10, saveEvery: 0 }, { abandonSignal: ac.signal, plots: false })
  const events: string[] = []
  for await (const ev of tr.run()) {
    events.push(ev.type)
    if (ev.type === 'step' && ev.record.step === 1) setTimeout(() => ac.abort(), 50)
  }
  t.same(events, ['step', 'checkpoint', 'stopped', 'done'])
  t.equal(tr.step, 1)
  t.equal(readFileSync(join(dir, 'latest'), 'utf8').trim(), 'checkpoint-1')
  t.same(readJsonl(join(dir, 'metrics.jsonl')).length, 1)
})

t.test('evaluation every N steps writes eval.jsonl with accuracy', async (t) => {
  const dir = tmp()
  const res = await trainer(new FakePolicy(), dir, { maxSteps: 4, evalEvery: 2 }, { eval: evalData }).train()
  const ev = readJsonl<{ step: number; score: number; report: { task: string; accuracy: number } }>(join(dir, 'eval.jsonl'))
  t.same(ev.map((e) => e.step), [0, 2, 4])
  t.equal(ev[0]!.report.task, 'classification')
  t.ok(ev.every((e) => e.score >= 0 && e.score <= 1))
  t.equal(res.evaluations.length, 3)
  t.ok(res.plots.some((p) => p.endsWith('eval.png')))
})

t.test('SFT trainer: same data order, sftStep per batch, checkpoints, resume', async (t) => {
  const dir = tmp()
  const policy = new FakePolicy()
  const mk = (p: FakePolicy, maxSteps: number) => new SFTTrainer({
    policy: p, decoder: fakeDecoder, encode: fakeEncode, train: data, eosTokenIds: [0], runDir: dir, progress: false, plot: plotRun,
    encodeTarget: async () => Int32Array.from([1, 2, 3]), settings: { promptsPerStep: 3, maxSteps, saveEvery: 2, evalEvery: 0 },
  })
  await mk(policy, 2).train()
  const p2 = new FakePolicy()
  const tr = mk(p2, 4)
  await tr.resume()
  t.equal(p2.step, 2, 'optimizer state restored')
  await tr.train()
  const m = readJsonl<{ step: number; indices: number[]; loss: number; tokens: number }>(join(dir, 'metrics.jsonl'))
  t.same(m.map((r) => r.step), [1, 2, 3, 4])
  t.equal(m[0]!.tokens, 9)
  // Same data order as a GRPO run with the same seed and batch size.
  const g = await trainer(new FakePolicy(), undefined, { maxSteps: 4 }).train()
  t.same(m.map((r) => r.indices), g.records.map((r) => r.indices))
  t.match(JSON.parse(readFileSync(join(dir, 'checkpoint-4', 'trainer_state.json'), 'utf8')), { kind: 'sft', step: 4 })
})

t.test('SFT trainer, data parallel: each rank trains on its share of every step and encodes only that share', async (t) => {
  const run = async (dist: { rank: number; worldSize: number } | undefined, encode = fakeEncode) => {
    const policy = new FakePolicy()
    const encoded: number[] = []
    const r = await new SFTTrainer({
      policy, decoder: fakeDecoder, train: data, eosTokenIds: [0], progress: false, plots: false, ...(dist ? { dist } : {}),
      encode: async (x) => { const p = await encode(x); encoded.push(p.inputIds[1]!); return p },
      encodeTarget: async () => Int32Array.from([1, 2, 3]), settings: { promptsPerStep: 4, maxSteps: 3, evalEvery: 0 },
    }).train()
    return { steps: policy.calls.filter((c) => c.kind === 'sftStep').map((c) => c.prompts), encoded, step: r.step }
  }
  const one = await run(undefined)
  const r0 = await run({ rank: 0, worldSize: 2 })
  const r1 = await run({ rank: 1, worldSize: 2 })
  t.equal(one.steps.length, 3)
  one.steps.forEach((all, i) => {
    t.same(r0.steps[i], all!.slice(0, 2), `step ${i + 1}: rank 0 takes the first half`)
    t.same(r1.steps[i], all!.slice(2), `step ${i + 1}: rank 1 takes the second half`)
  })
  t.same(r1.encoded, r1.steps.flat(), 'rank 1 encodes only its own prompts')
  // a prompt over maxPromptLength in the step: every rank takes the whole batch as one process would (skipping it)
  const longFive = async (x: Sample) => { const p = await fakeEncode(x); return x.id === 's-5' ? { ...p, inputIds: Int32Array.from({ length: 5000 }, () => 9999) } : p }
  const oneSkip = await run(undefined, longFive)
  const r1Skip = await run({ rank: 1, worldSize: 2 }, longFive)
  t.ok(oneSkip.encoded.includes(9999), 'the long prompt comes up')
  oneSkip.steps.forEach((all, i) => t.same(r1Skip.steps[i], all!.slice(2), `step ${i + 1} with the skipped prompt: rank 1 takes the second half`))
})

t.test('prompts longer than maxPromptLength are skipped, never truncated', async (t) => {
  const res = await trainer(new FakePolicy(), undefined, { maxSteps: 1, maxPromptLength: 2 }).train().catch((e: { code: string }) => e)
  t.match(res, { code: 'ERR_PROMPT_TOO_LONG' })
})
