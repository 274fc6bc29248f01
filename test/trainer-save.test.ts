/**
 * Saving: a trained model saved in HF format reloads with identical logits and the source's key names,
 * dtypes and non-weight files; a LoRA adapter is written in PEFT format and, merged, gives the logits of the
 * live adapted policy; stopping after step k and resuming from the saved state gives the same parameters at
 * step k + n as an uninterrupted run. Every directory write is atomic (no temporary left behind).
 */
import type { NativeModelObject } from '../lib/native/binding.js'
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { native, nativeAvailable } from '../lib/native/binding.js'
import type { NativeBatch, NativeGrpoOptions } from '../lib/train/trainer-settings.js'
import { makeTrainer, maxAbs, mb, smallRandomModel, tb, tempDir } from './grpo-helpers.js'

const grpo: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: true, details: false }
const batchAt = (k: number): NativeBatch => ({
  prompts: [{ inputIds: Int32Array.from([1, 2, 3, 4 + k]) }, { inputIds: Int32Array.from([9, 8]) }],
  rollouts: [[5, 6, 7], [8, 9], [10 + k], [11, 12, 13]].map((x, i) => ({ prompt: i % 2, tokens: Int32Array.from(x), advantage: [1, -1, 0.5 - k * 0.1, -0.5][i] })),
})

async function logits(model: NativeModelObject, ids: number[]): Promise<Float32Array> {
  const r = await mb().modelForward(model, { inputIds: Int32Array.from(ids), batch: 1, logits: 'all' })
  return r.logits
}

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const { dir, config } = await smallRandomModel(11)
  const probe = [1, 2, 3, 4, 5, 6, 7, 8]

  t.test('HF directory: identical logits after reload, same keys/dtypes, files copied', async (t) => {
    const tr = await makeTrainer(dir, { lr: 1e-2, schedule: 'constant' }, config)
    t.teardown(() => tr.dispose())
    for (let k = 0; k < 2; k++) await tb().trainerGrpoStep(tr.trainer, batchAt(k), grpo)
    const out = join(tempDir('save'), 'ckpt')
    await tb().trainerSaveModel(tr.trainer, out)
    await tb().trainerSaveModel(tr.trainer, out) // over an existing checkpoint
    t.same(readdirSync(dirname(out)), ['ckpt'], 'no temporary or previous directory left')
    for (const f of ['config.json', 'generation_config.json']) t.equal(readFileSync(join(out, f), 'utf8'), readFileSync(join(dir, f), 'utf8'), `${f} copied`)
    const n = native()
    const a = await n.checkpointInfo(dir)
    const b = await n.checkpointInfo(out)
    t.same(b.tensors.map((x) => [x.name, x.dtype, x.shape]).sort(), a.tensors.map((x) => [x.name, x.dtype, x.shape]).sort(), 'same names, dtypes, shapes')
    const live = await logits(tr.model, probe)
    const re = await mb().modelLoad(out, config, { dtype: 'float32', device: 'cpu' })
    t.teardown(() => mb().modelDispose(re))
    t.equal(maxAbs(await logits(re, probe), live), 0, 'identical logits')
    const orig = await mb().modelLoad(dir, config, { dtype: 'float32', device: 'cpu' })
    t.ok(maxAbs(await logits(orig, probe), live) > 1e-3, 'and training did change them')
    mb().modelDispose(orig)
  })

  t.test('LoRA: PEFT adapter; merged checkpoint = live adapted policy', async (t) => {
    const tr = await makeTrainer(dir, { lr: 1e-2, schedule: 'constant', lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj', 'down_proj'] } }, config)
    t.teardown(() => tr.dispose())
    for (let k = 0; k < 3; k++) await tb().trainerGrpoStep(tr.trainer, batchAt(k), grpo)
    const root = tempDir('lora')
    await tb().trainerSaveModel(tr.trainer, join(root, 'adapter'))
    await tb().trainerSaveModel(tr.trainer, join(root, 'merged'), { merge: true })
    const cfg = JSON.parse(readFileSync(join(root, 'adapter', 'adapter_config.json'), 'utf8'))
    t.match(cfg, { peft_type: 'LORA', r: 4, lora_alpha: 8, lora_dropout: 0, target_modules: ['q_proj', 'v_proj', 'down_proj'] })
    const st = join(root, 'adapter', 'adapter_model.safetensors')
    const hdr = await native().safetensorsHeader(st)
    t.equal(hdr.tensors.length, 2 * 3 * 2)
    const key = 'base_model.model.model.layers.1.self_attn.q_proj'
    const A = await native().safetensorsReadTensor(st, `${key}.lora_A.weight`, 'F32')
    const B = await native().safetensorsReadTensor(st, `${key}.lora_B.weight`, 'F32')
    t.same(A.shape, [4, 32])
    t.same(B.shape, [32, 4])
    // W_merged = W + (alpha / r) · B · A, checked on one module from the files alone
    const f32 = (r: { data: Uint8Array }) => new Float32Array(r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength))
    const base = f32(await native().safetensorsReadTensor(join(dir, 'model.safetensors'), 'model.layers.1.self_attn.q_proj.weight', 'F32'))
    const merged = f32(await native().safetensorsReadTensor(join(root, 'merged', 'model.safetensors'), 'model.layers.1.self_attn.q_proj.weight', 'F32'))
    const a = f32(A)
    const b = f32(B)
    let worst = 0
    let delta = 0
    for (let o = 0; o < 32; o++) {
      for (let i = 0; i < 32; i++) {
        let s = 0
        for (let r = 0; r < 4; r++) s += b[o * 4 + r]! * a[r * 32 + i]!
        worst = Math.max(worst, Math.abs(base[o * 32 + i]! + 2 * s - merged[o * 32 + i]!))
        delta = Math.max(delta, Math.abs(s))
      }
    }
    t.ok(delta > 1e-4, 'the adapter moved')
    t.ok(worst < 1e-6, `merged = W + (α/r)·B·A (max error ${worst})`)
    const re = await mb().modelLoad(join(root, 'merged'), config, { dtype: 'float32', device: 'cpu' })
    t.teardown(() => mb().modelDispose(re))
    const live = await logits(tr.model, probe)
    t.ok(maxAbs(await logits(re, probe), live) < 1e-5, 'merged checkpoint logits = live adapted policy logits')
  })

  t.test('resume after k steps = uninterrupted run', async (t) => {
    const settings = { lr: 5e-3, schedule: 'linear' as const, warmupSteps: 1, totalSteps: 6, seed: 3 }
    const k = 2
    const n = 3
    const a = await makeTrainer(dir, settings, config)
    const lrA: number[] = []
    const state = join(tempDir('state'), 'state')
    for (let s = 0; s < k + n; s++) {
      if (s === k) await tb().trainerSaveState(a.trainer, state)
      lrA.push((await tb().trainerGrpoStep(a.trainer, batchAt(s), grpo)).lr)
    }
    t.ok(existsSync(join(state, 'trainer_state.json')) && existsSync(join(state, 'state.safetensors')))
    const b = await makeTrainer(dir, settings, config)
    await tb().trainerLoadState(b.trainer, state)
    t.equal(tb().trainerInfo(b.trainer).step, k)
    const lrB: number[] = []
    for (let s = k; s < k + n; s++) lrB.push((await tb().trainerGrpoStep(b.trainer, batchAt(s), grpo)).lr)
    t.same(lrB, lrA.slice(k), 'the schedule continues')
    const diff: string[] = []
    for (const p of tb().trainerParameters(a.trainer)) {
      const x = tb().trainerParameter(a.trainer, p.name)
      const y = tb().trainerParameter(b.trainer, p.name)
      if (maxAbs(x, y) !== 0) diff.push(`${p.name}: ${maxAbs(x, y)}`)
    }
    t.same(diff, [], 'identical parameters at step k + n')
    a.dispose()
    b.dispose()
    t.throws(() => tb().trainerLoadState(b.trainer, state), { code: 'ERR_TRAINER_DISPOSED' }, 'a disposed trainer refuses calls')
    const c = await makeTrainer(dir, { ...settings, freezeVision: true }, config)
    await t.rejects(tb().trainerLoadState(c.trainer, state), { code: 'ERR_STATE' }, 'a state for other trainable tensors is refused')
    c.dispose()
  })
}
