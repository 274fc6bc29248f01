/**
 * Gradient checkpointing (per decoder layer and vision block): the same gradients for every trainable tensor
 * (≤ 1e-5 relative) with and without it, for full fine-tuning and LoRA; and a lower peak memory, measured as
 * the growth of the RSS high-water mark over one long-sequence step in child processes (one per mode).
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nativeAvailable } from '../lib/native/binding.js'
import type { NativeBatch, NativeGrpoOptions, TrainerSettings } from '../lib/train/trainer-settings.js'
import { img0Pixels, makeTrainer, relErr, smallRandomModel, tb, tempDir } from './grpo-helpers.js'

const opts: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: false, details: false }

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const { dir, config } = await smallRandomModel(7)
  // img0's golden patches: grid 1×14×22 -> 77 image tokens (id 300) between vision start/end (302/303)
  const prompt = Int32Array.from([1, 2, 302, ...new Array(77).fill(300), 303, 5, 6])
  const batch: NativeBatch = {
    prompts: [{ inputIds: prompt, pixelValues: img0Pixels(), imageGridThw: [1, 14, 22] }, { inputIds: Int32Array.from([7, 8, 9]) }],
    rollouts: [[10, 11, 12], [13, 14], [15, 16, 17, 18], [19]].map((x, i) => ({ prompt: i % 2, tokens: Int32Array.from(x), advantage: [1, -1, 0.5, -0.5][i] })),
  }

  // One update first (so LoRA's B is non-zero and A gets gradients too), shared through the saved state so
  // that both runs start from bit-identical weights.
  const grads = async (settings: TrainerSettings, state: string, first: boolean) => {
    const tr = await makeTrainer(dir, { reference: true, lr: 1e-2, ...settings }, config)
    if (first) {
      await tb().trainerGrpoStep(tr.trainer, batch, { ...opts, update: true })
      await tb().trainerSaveState(tr.trainer, state)
    } else {
      await tb().trainerLoadState(tr.trainer, state)
    }
    await tb().trainerGrpoStep(tr.trainer, batch, opts)
    const out = new Map<string, Float32Array>()
    for (const p of tb().trainerParameters(tr.trainer)) if (p.trainable) out.set(p.name, tb().trainerGrad(tr.trainer, p.name).data)
    tr.dispose()
    return out
  }

  const cases: Array<[string, TrainerSettings]> = [['full fine-tuning', {}], ['LoRA', { lora: { rank: 4, targets: ['q_proj', 'v_proj', 'fc1', 'qkv'] } }]]
  for (const [name, extra] of cases) {
    t.test(`${name}: checkpointed gradients equal plain ones`, async (t) => {
      const state = join(tempDir('ckpt-state'), 'state')
      const plain = await grads({ ...extra }, state, true)
      const ckpt = await grads({ ...extra, gradientCheckpointing: true }, state, false)
      t.ok(plain.size > 0)
      t.same([...ckpt.keys()], [...plain.keys()])
      const bad: string[] = []
      let nonzero = 0
      for (const [k, g] of plain) {
        if (g.some((x) => x !== 0)) nonzero++
        if (relErr(ckpt.get(k)!, g) > 1e-5 && g.some((x) => x !== 0)) bad.push(`${k}: ${relErr(ckpt.get(k)!, g)}`)
      }
      t.same(bad, [], 'every gradient within 1e-5 relative')
      t.equal(nonzero, plain.size, `every gradient is non-zero (${nonzero}/${plain.size})`)
    })
  }

  t.test('checkpointing lowers the peak memory of a long-sequence step', async (t) => {
    const big = await smallRandomModel(8, { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 8, num_attention_heads: 8 })
    const cfgPath = join(tempDir('cfg'), 'config.json')
    writeFileSync(cfgPath, JSON.stringify(big.config))
    const worker = join(import.meta.dirname, 'grpo-mem-worker.mjs')
    const run = (mode: string) => JSON.parse(execFileSync(process.execPath, [worker, big.dir, cfgPath, mode, '768'], { encoding: 'utf8', env: process.env }).trim().split('\n').pop()!)
    const off = run('off')
    const on = run('on')
    t.comment(`peak RSS growth: plain ${(off.growth / 2 ** 20).toFixed(0)} MiB, checkpointed ${(on.growth / 2 ** 20).toFixed(0)} MiB`)
    t.ok(off.growth > 100 * 2 ** 20, 'the plain step keeps > 100 MiB of activations')
    t.ok(on.growth < 0.6 * off.growth, 'checkpointing keeps well under 60% of that')
  })
}
