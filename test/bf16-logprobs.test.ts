// bfloat16 compute against float32 on the tiny Qwen2-VL golden checkpoint: the per-token log-probs of the
// training path (trainerLogprobs: image prompt + completions, shared prefix, chunked LM head, float32
// log-softmax) of the same weights loaded as bfloat16 and as float32 agree within a stated tolerance —
// 0.05 nats per token at most, 0.01 on average (bfloat16 keeps 8 significant bits: relative 2^-9 per
// rounding, through 2 layers and a 151936-word head) — and the bfloat16 run is not secretly float32 (the
// two differ). Also LoRA on a bfloat16 model: the adapters train with float32 master weights.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../lib/native/binding.js'
import { parseModelConfig } from '../lib/model/config.js'
import { resolveTrainerSettings, trainerBinding } from '../lib/train/trainer-settings.js'
import { IMAGES, flat, pixelValues, readMeta, unpackCheckpoint } from './model-helpers.js'

const n = native()
const tb = trainerBinding()
const dir = unpackCheckpoint('qwen2vl-tiny')
const cfg = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')))
const meta = readMeta('qwen2vl-tiny', IMAGES[0])
const batch = {
  prompts: [{ inputIds: Int32Array.from(flat(meta.input_ids)), pixelValues: pixelValues(IMAGES[0]).data as Float32Array, imageGridThw: flat(meta.image_grid_thw) }],
  rollouts: [0, 1, 2].map((r) => ({ prompt: 0, tokens: Int32Array.from({ length: 12 }, (_, j) => (r * 7919 + j * 104729) % 151000), advantage: r - 1 })),
}

async function logprobs(dtype: 'float32' | 'bfloat16', lora = false): Promise<Float32Array> {
  const model = await n.modelLoad(dir, cfg, { dtype, device: 'cpu' })
  const tr = await tb.trainerCreate(model, resolveTrainerSettings({ lr: 1e-3, reference: false, ...(lora ? { lora: { rank: 4 } } : {}) }, dir))
  try {
    return (await tb.trainerLogprobs(tr, batch, { reference: false, microBatchSize: 2 })).logp
  } finally {
    tb.trainerDispose(tr)
    n.modelDispose(model)
  }
}

t.test('bf16 log-probs within 0.05 nats (max) and 0.01 (mean) of float32', async (t) => {
  const a = await logprobs('float32'), b = await logprobs('bfloat16')
  t.equal(a.length, b.length)
  let max = 0, sum = 0
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!)
    max = Math.max(max, d)
    sum += d
  }
  const mean = sum / a.length
  t.comment(`|logp(bf16) - logp(f32)|: max ${max.toExponential(3)}, mean ${mean.toExponential(3)} over ${a.length} tokens (logp ~ ${a[0]!.toFixed(2)})`)
  t.ok(b.every(Number.isFinite), 'finite')
  t.ok(max <= 0.05, `max ${max.toExponential(3)} <= 0.05`)
  t.ok(mean <= 0.01, `mean ${mean.toExponential(3)} <= 0.01`)
  t.ok(max > 0, 'the bf16 run differs from float32 (it did compute in bfloat16)')
})

t.test('LoRA on a bfloat16 model: float32 masters for the adapters, a step moves them', async (t) => {
  const model = await n.modelLoad(dir, cfg, { dtype: 'bfloat16', device: 'cpu' })
  const tr = await tb.trainerCreate(model, resolveTrainerSettings({ lr: 1e-2, reference: false, lora: { rank: 4 } }, dir))
  try {
    const names = tb.trainerParameters(tr).filter((p) => p.trainable).map((p) => p.name)
    t.ok(names.length > 0 && names.every((x) => /lora/i.test(x)), `only adapters train (${names.length}: ${names.slice(0, 2).join(', ')} ...)`)
    const bName = names.find((x) => /lora_B/i.test(x)) ?? names[0]!
    const before = Float32Array.from(tb.trainerParameter(tr, bName))
    const rep = await tb.trainerGrpoStep(tr, batch, { beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 3, clipped: false, maxCompletionLength: 0, update: true, details: false })
    t.notOk(rep.skipped, 'the step ran')
    const after = tb.trainerParameter(tr, bName)
    t.ok(after.some((x, i) => x !== before[i]), `${bName} moved`)
    // a master moved by lr·(adam step) ~ 1e-2 keeps digits bfloat16 cannot hold: the float32 master holds them
    const notBf16 = after.filter((x) => {
      const f = new Float32Array([x]), u = new Uint32Array(f.buffer)
      return (u[0]! & 0xffff) !== 0
    }).length
    t.ok(notBf16 > 0, `the adapter read back carries float32 bits (${notBf16} of ${after.length} values are not bfloat16-representable)`)
  } finally {
    tb.trainerDispose(tr)
    n.modelDispose(model)
  }
})
