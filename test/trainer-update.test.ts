/**
 * One optimizer step changes every trainable parameter and no frozen one (frozen vision tower, LoRA); the
 * non-finite guard skips an update whose loss is NaN without touching any weight; the SFT step lowers the
 * cross-entropy it reports; schedules give the HF learning rates.
 */
import type { NativeTrainerObject } from '../lib/native/binding.js'
import t from 'tap'
import { nativeAvailable } from '../lib/native/binding.js'
import type { NativeBatch, NativeGrpoOptions } from '../lib/train/trainer-settings.js'
import { img0Pixels, makeTrainer, smallRandomModel, tb, tinyDir } from './grpo-helpers.js'

const grpo: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: true, details: false }

function snapshot(trainer: NativeTrainerObject): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>()
  for (const p of tb().trainerParameters(trainer)) out.set(p.name, tb().trainerParameter(trainer, p.name))
  return out
}
const changed = (a: Float32Array, b: Float32Array) => a.some((x, i) => x !== b[i])

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  // A prompt with the golden image (77 image tokens) and 4 completions with non-zero advantages.
  const pad = 151655
  const prompt = Int32Array.from([151644, 8948, 198, 151652, ...new Array(77).fill(pad), 151653, 151645, 198])
  const batch: NativeBatch = {
    prompts: [{ inputIds: prompt, pixelValues: img0Pixels(), imageGridThw: [1, 14, 22] }],
    rollouts: [[27, 9217, 41157], [151667, 40, 1490, 825, 5562], [785, 2168], [13, 151645]].map((ids, i) => ({
      prompt: 0, tokens: Int32Array.from(ids), advantage: [1, -0.5, 0.8, -1.3][i],
    })),
  }

  t.test('frozen vision tower: every trainable tensor changes, no frozen one does', async (t) => {
    const tr = await makeTrainer(tinyDir(), { lr: 1e-3, freezeVision: true, schedule: 'constant' })
    t.teardown(() => tr.dispose())
    const params = tb().trainerParameters(tr.trainer)
    const frozen = params.filter((p) => !p.trainable).map((p) => p.name)
    t.ok(frozen.length > 0 && frozen.every((n) => n.startsWith('visual.') && !n.startsWith('visual.merger.')), 'vision blocks and patch embedding frozen')
    t.ok(params.some((p) => p.trainable && p.name.startsWith('visual.merger.')), 'the merger still trains')
    const before = snapshot(tr.trainer)
    const r = await tb().trainerGrpoStep(tr.trainer, batch, grpo)
    t.equal(r.skipped, false)
    t.equal(r.step, 1)
    t.ok(r.gradNorm > 0 && Number.isFinite(r.gradNorm))
    const after = snapshot(tr.trainer)
    const notChanged = params.filter((p) => p.trainable && !changed(before.get(p.name)!, after.get(p.name)!)).map((p) => p.name)
    t.same(notChanged, [], 'every trainable tensor changed')
    const frozenChanged = frozen.filter((n) => changed(before.get(n)!, after.get(n)!))
    t.same(frozenChanged, [], 'no frozen tensor changed')
  })

  t.test('non-finite guard: a NaN loss skips the update and never reaches the weights', async (t) => {
    const tr = await makeTrainer(tinyDir(), { lr: 1e-3, schedule: 'constant', reference: false })
    t.teardown(() => tr.dispose())
    const before = snapshot(tr.trainer)
    const bad: NativeBatch = {
      prompts: batch.prompts,
      rollouts: batch.rollouts.map((r, i) => ({ ...r, oldLogprobs: new Float32Array(r.tokens.length).fill(i === 1 ? NaN : -5) })),
    }
    const r = await tb().trainerGrpoStep(tr.trainer, bad, { ...grpo, beta: 0, clipped: true })
    t.equal(r.skipped, true)
    t.equal(r.skippedTotal, 1)
    t.equal(r.step, 0)
    t.notOk(Number.isFinite(r.loss), 'the loss was non-finite')
    const after = snapshot(tr.trainer)
    t.same([...before.keys()].filter((n) => changed(before.get(n)!, after.get(n)!)), [], 'no tensor changed')
    const ok = await tb().trainerGrpoStep(tr.trainer, batch, { ...grpo, beta: 0 })
    t.equal(ok.skipped, false, 'the next finite step updates')
    t.equal(ok.step, 1)
    t.same(tb().trainerInfo(tr.trainer), { step: 1, skipped: 1, calls: 2, lr: 1e-3, trainable: tb().trainerInfo(tr.trainer).trainable, lora: false })
  })

  t.test('LoRA: only the adapters train; the base weights stay', async (t) => {
    const { dir, config } = await smallRandomModel(3)
    const tr = await makeTrainer(dir, { lr: 1e-2, schedule: 'constant', lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] } }, config)
    t.teardown(() => tr.dispose())
    const params = tb().trainerParameters(tr.trainer)
    const trainable = params.filter((p) => p.trainable).map((p) => p.name)
    t.equal(trainable.length, 2 * 2 * 2, 'A and B for q_proj and v_proj of 2 layers')
    t.ok(trainable.every((n) => /^base_model\.model\.model\.layers\.\d\.self_attn\.[qv]_proj\.lora_[AB]\.weight$/.test(n)), 'PEFT names')
    const before = snapshot(tr.trainer)
    const b: NativeBatch = { prompts: [{ inputIds: Int32Array.from([1, 2, 3, 4]) }], rollouts: [[5, 6, 7], [8, 9], [10], [11, 12, 13]].map((x, i) => ({ prompt: 0, tokens: Int32Array.from(x), advantage: [1, -1, 0.5, -0.5][i] })) }
    // The first step moves only B (A gets no gradient while B = 0); the second moves A too.
    await tb().trainerGrpoStep(tr.trainer, b, grpo)
    await tb().trainerGrpoStep(tr.trainer, b, grpo)
    const after = snapshot(tr.trainer)
    t.same(trainable.filter((n) => !changed(before.get(n)!, after.get(n)!)), [], 'every adapter tensor changed')
    t.same(params.filter((p) => !p.trainable && changed(before.get(p.name)!, after.get(p.name)!)).map((p) => p.name), [], 'no base tensor changed')
  })

  t.test('an image-pad id sampled inside a completion is text, not an image slot', async (t) => {
    const { dir, config } = await smallRandomModel(6)
    const tr = await makeTrainer(dir, { lr: 1e-3, reference: false }, config)
    t.teardown(() => tr.dispose())
    const b: NativeBatch = { prompts: [{ inputIds: Int32Array.from([1, 2, 3]) }], rollouts: [{ prompt: 0, tokens: Int32Array.from([300, 5, 300]), advantage: 1 }, { prompt: 0, tokens: Int32Array.from([7]), advantage: -1 }] }
    const r = await tb().trainerGrpoStep(tr.trainer, b, { ...grpo, beta: 0, details: true })
    t.equal(r.skipped, false)
    t.ok([0, 1, 2].every((j) => Number.isFinite(r.details!.logp[j]!) && r.details!.logp[j]! < 0), 'finite log-probs')
  })

  t.test('SFT step lowers its cross-entropy', async (t) => {
    const { dir, config } = await smallRandomModel(4)
    const tr = await makeTrainer(dir, { lr: 1e-2, schedule: 'constant', reference: false }, config)
    t.teardown(() => tr.dispose())
    const b: NativeBatch = { prompts: [{ inputIds: Int32Array.from([1, 2, 3]) }, { inputIds: Int32Array.from([4, 5]) }], rollouts: [{ prompt: 0, tokens: Int32Array.from([7, 8, 9]) }, { prompt: 1, tokens: Int32Array.from([10, 11]) }] }
    const first = await tb().trainerSftStep(tr.trainer, b, { microBatchSize: 1, update: true })
    t.ok(first.loss > 4 && first.loss < 8, `random-init cross-entropy near ln(320) = 5.77 (got ${first.loss})`)
    let last = first
    for (let i = 0; i < 5; i++) last = await tb().trainerSftStep(tr.trainer, b, { microBatchSize: 2, update: true })
    t.ok(last.loss < first.loss - 1, `loss fell from ${first.loss} to ${last.loss}`)
    t.equal(last.tokens, 5)
  })

  t.test('schedules: linear decay with warmup, cosine', async (t) => {
    const { dir, config } = await smallRandomModel(5)
    const b: NativeBatch = { prompts: [{ inputIds: Int32Array.from([1, 2]) }], rollouts: [{ prompt: 0, tokens: Int32Array.from([3]) }] }
    const lrs = async (settings: object) => {
      const tr = await makeTrainer(dir, { lr: 1, reference: false, ...settings }, config)
      const out: number[] = []
      for (let i = 0; i < 5; i++) out.push((await tb().trainerSftStep(tr.trainer, b, { microBatchSize: 1, update: true })).lr)
      tr.dispose()
      return out
    }
    t.same(await lrs({ schedule: 'linear', warmupSteps: 2, totalSteps: 6 }), [0, 0.5, 1, 0.75, 0.5])
    const cos = await lrs({ schedule: 'cosine', totalSteps: 4 })
    const want = [1, 0.5 * (1 + Math.cos(Math.PI / 4)), 0.5, 0.5 * (1 + Math.cos(3 * Math.PI / 4)), 0]
    t.ok(cos.every((x, i) => Math.abs(x - want[i]!) < 1e-12), `cosine ${cos}`)
    t.same(await lrs({ schedule: 'constant' }), [1, 1, 1, 1, 1])
  })
}
