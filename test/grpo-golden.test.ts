/**
 * GRPO loss parity with transformers (goldens/grpo/qwen2vl-tiny): loss, per-token log-probs, reference
 * log-probs, KL and the gradients of three named parameters, for the μ = 1 `grpo` variant and the two
 * clipped variants, float32 on the CPU. The reference model's weights are not shipped, so its per-token
 * log-probs go in directly (refLogprobs). Also: micro-batches accumulate to the same gradients, and the
 * three aggregation modes relate as their formulas say.
 */
import t from 'tap'
import { join } from 'node:path'
import { nativeAvailable } from '../lib/native/binding.js'
import type { NativeBatch, NativeGrpoOptions } from '../lib/train/trainer-settings.js'
import { grpoGolden, img0Pixels, makeTrainer, maxAbs, readNpy, relErr, tb, tinyDir } from './grpo-helpers.js'

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const { g, dir: gdir } = grpoGolden()
  const lens: number[] = g.completion_lengths
  const pixels = img0Pixels()

  let ourLogp: number[][] | undefined
  const batchFor = (variant: string): NativeBatch => ({
    prompts: [{ inputIds: Int32Array.from(g.prompt_ids), pixelValues: pixels, imageGridThw: [1, 14, 22] }],
    rollouts: lens.map((L, i) => ({
      prompt: 0,
      tokens: Int32Array.from((g.completion_ids[i] as number[]).slice(0, L)),
      advantage: g.advantages[i],
      refLogprobs: Float32Array.from((g.ref_logp[i] as number[]).slice(0, L)),
      // The golden defines old_logp = logp.detach() + offset (formulas in grpo.json); apply the golden's
      // per-token offset (old − logp) to our own log-probs, as the reference computation does.
      oldLogprobs: variant === 'grpo' ? undefined : Float32Array.from({ length: L }, (_, j) =>
        ourLogp![i]![j]! + ((g.variants[variant].old_logp[i] as number[])[j]! - (g.variants[variant].logp[i] as number[])[j]!)),
    })),
  })
  const opts = (variant: string, micro = 4): NativeGrpoOptions => ({
    beta: g.beta, epsilonLow: g.epsilon, epsilonHigh: g.epsilon, aggregation: 'grpo', microBatchSize: micro,
    clipped: variant !== 'grpo', maxCompletionLength: 0, update: false, details: true,
  })
  const masked = (a: Float32Array | number[][], width: number): number[] => {
    const out: number[] = []
    lens.forEach((L, i) => {
      for (let j = 0; j < L; j++) out.push(Array.isArray(a) ? (a as number[][])[i]![j]! : (a as Float32Array)[i * width + j]!)
    })
    return out
  }

  const tr = await makeTrainer(tinyDir(), { reference: false })
  t.teardown(() => tr.dispose())
  const uniq: number[] = g.variants.grpo.completion_token_ids_unique

  for (const variant of ['grpo', 'ppo_clip_old_plus_0.05', 'ppo_clip_active']) {
    t.test(`variant ${variant}`, async (t) => {
      const gv = g.variants[variant]
      if (!ourLogp) {  // our per-token log-probs (the ratio's base), from the μ = 1 pass
        const r0 = await tb().trainerGrpoStep(tr.trainer, batchFor('grpo'), opts('grpo'))
        ourLogp = lens.map((L, i) => Array.from(r0.details!.logp.subarray(i * r0.details!.length, i * r0.details!.length + L)))
      }
      const r = await tb().trainerGrpoStep(tr.trainer, batchFor(variant), opts(variant))
      const d = r.details!
      // The loss is a sum of per-sequence terms of size ~|A| ~ 1 that cancel to ~1e-3 (Σ A = 0); old_logp is
      // our logp + the golden's offset, as the golden defines it, so the bar is plain 1e-4 relative.
      const dLogp = maxAbs(masked(d.logp, d.length), masked(gv.logp, 12))
      const meanAbsA = (g.advantages as number[]).reduce((a, b) => a + Math.abs(b), 0) / 4
      void meanAbsA
      t.ok(Math.abs(r.loss - gv.loss) <= 1e-4 * Math.abs(gv.loss), `loss ${r.loss} vs ${gv.loss} (rel ${Math.abs(r.loss - gv.loss) / gv.loss}, max |Δlogp| ${dLogp})`)
      t.ok(dLogp <= 2e-5, 'log-probs within float32 noise of the golden')
      // and the loss is exactly the golden formula applied to our log-probs (float64 here)
      const ours = masked(d.logp, d.length)
      let want = 0
      let k = 0
      lens.forEach((L, i) => {
        let s = 0
        for (let j = 0; j < L; j++, k++) {
          const lp = ours[k]!
          const ref = g.ref_logp[i][j] as number
          const old = variant === 'grpo' ? lp : ourLogp![i]![j]! + ((gv.old_logp[i][j] as number) - (gv.logp[i][j] as number))
          const ratio = Math.exp(lp - old)
          const A = g.advantages[i] as number
          const obj = variant === 'grpo' ? ratio * A : Math.min(ratio * A, Math.min(Math.max(ratio, 1 - g.epsilon), 1 + g.epsilon) * A)
          s += -obj + g.beta * (Math.exp(ref - lp) - (ref - lp) - 1)
        }
        want += s / L / 4
      })
      t.ok(Math.abs(r.loss - want) <= 1e-6 * meanAbsA, `loss = the formula on our log-probs (${r.loss} vs ${want})`)
      t.ok(maxAbs(masked(d.logp, d.length), masked(gv.logp, 12)) <= 1e-4 * 14, 'per-token log-probs')
      t.ok(relErr(masked(d.logp, d.length), masked(gv.logp, 12)) <= 1e-5, 'per-token log-probs (relative)')
      t.ok(maxAbs(masked(d.refLogp, d.length), masked(g.ref_logp, 12)) <= 1e-6, 'reference log-probs')
      t.ok(relErr(masked(d.kl, d.length), masked(gv.kl, 12)) <= 1e-3, 'KL (k3)')
      t.ok(relErr(masked(d.perTokenLoss, d.length), masked(gv.per_token_loss, 12)) <= 1e-3, 'per-token loss')
      t.ok(Math.abs(r.gradNorm - gv.grad_global_l2_norm) / gv.grad_global_l2_norm <= 1e-3, `grad norm ${r.gradNorm} vs ${gv.grad_global_l2_norm}`)
      const q = readNpy(join(gdir, variant, 'grad_q_proj.npy'))
      const qOurs = tb().trainerGrad(tr.trainer, 'model.layers.0.self_attn.q_proj.weight')
      t.same(qOurs.shape, q.shape)
      t.ok(relErr(qOurs.data, q.data) <= 1e-3, `q_proj grad rel err ${relErr(qOurs.data, q.data)}`)
      const v = readNpy(join(gdir, variant, 'grad_vision_qkv.npy'))
      const vOurs = tb().trainerGrad(tr.trainer, 'visual.blocks.0.attn.qkv.weight')
      t.ok(relErr(vOurs.data, v.data) <= 1e-3, `vision qkv grad rel err ${relErr(vOurs.data, v.data)}`)
      const e = readNpy(join(gdir, variant, 'grad_embed_rows.npy'))
      const eOurs = tb().trainerGrad(tr.trainer, 'model.embed_tokens.weight', uniq)
      t.ok(relErr(eOurs.data, e.data) <= 1e-3, `embedding rows grad rel err ${relErr(eOurs.data, e.data)}`)
      if (variant !== 'grpo') {
        const chosen = masked(gv.clipped_term_chosen, 12).reduce((a, b) => a + b, 0)
        t.ok(Math.abs(r.clipFraction - chosen / masked(gv.clipped_term_chosen, 12).length) < 1e-9, 'clip fraction counts the clipped terms')
      }
      t.equal(r.step, 0, 'update: false leaves the step count')
    })
  }

  t.test('micro-batches accumulate to the same loss and gradients', async (t) => {
    const full = await tb().trainerGrpoStep(tr.trainer, batchFor('ppo_clip_active'), opts('ppo_clip_active', 4))
    const q4 = tb().trainerGrad(tr.trainer, 'model.layers.0.self_attn.q_proj.weight').data
    const v4 = tb().trainerGrad(tr.trainer, 'visual.blocks.0.attn.qkv.weight').data
    const part = await tb().trainerGrpoStep(tr.trainer, batchFor('ppo_clip_active'), opts('ppo_clip_active', 1))
    // The loss cancels to ~1e-3 from per-sequence terms of ~1 (Σ A = 0), and micro-batches of 1 vs 4 rows
    // pad completions differently (one float32 ulp of a log-prob); compare at the terms' precision, as the
    // variant tests above do. Gradients stay within 1e-5.
    const terms = lens.reduce((a, _, i) => a + Math.abs(g.advantages[i]), 0) / lens.length
    t.ok(Math.abs(part.loss - full.loss) <= 1e-6 * terms, `loss ${part.loss} vs ${full.loss}`)
    t.ok(relErr(tb().trainerGrad(tr.trainer, 'model.layers.0.self_attn.q_proj.weight').data, q4) <= 1e-5)
    t.ok(relErr(tb().trainerGrad(tr.trainer, 'visual.blocks.0.attn.qkv.weight').data, v4) <= 1e-5)
  })

  t.test('aggregation modes', async (t) => {
    const r = await tb().trainerGrpoStep(tr.trainer, batchFor('grpo'), opts('grpo'))
    const d = r.details!
    const pt = masked(d.perTokenLoss, d.length)
    const sum = pt.reduce((a, b) => a + b, 0)
    const tok = await tb().trainerGrpoStep(tr.trainer, batchFor('grpo'), { ...opts('grpo'), aggregation: 'token' })
    t.ok(Math.abs(tok.loss - sum / pt.length) <= 1e-6 * Math.abs(sum / pt.length) + 1e-9, 'token: sum / tokens')
    const dr = await tb().trainerGrpoStep(tr.trainer, batchFor('grpo'), { ...opts('grpo'), aggregation: 'dr_grpo', maxCompletionLength: 16 })
    t.ok(Math.abs(dr.loss - sum / (4 * 16)) <= 1e-6 * Math.abs(sum / 64) + 1e-9, 'dr_grpo: sum / (completions × max length)')
    let bySeq = 0
    let scale = 0
    let o = 0
    for (const L of lens) {
      const m = pt.slice(o, o + L).reduce((a, b) => a + b, 0) / L
      bySeq += m
      scale += Math.abs(m)
      o += L
    }
    // the per-sequence means (~1) cancel to ~1e-3: compare at float32 precision of the terms
    t.ok(Math.abs(r.loss - bySeq / 4) <= 1e-6 * scale / 4, 'grpo: mean of per-sequence means')
  })

  t.test('β = 0 needs no reference at all', async (t) => {
    const b = batchFor('grpo')
    for (const r of b.rollouts) delete r.refLogprobs
    const r = await tb().trainerGrpoStep(tr.trainer, b, { ...opts('grpo'), beta: 0 })
    t.equal(r.kl, 0)
    t.ok(Number.isFinite(r.loss))
    await t.rejects(tb().trainerGrpoStep(tr.trainer, b, opts('grpo')), { code: 'ERR_NO_REFERENCE' }, 'β > 0 without a reference or ref log-probs')
  })
}

// The no-grad passes (reference model, old policy) run each prompt once and share its keys/values with its
// rows; the gradient pass re-runs the prompt in every row. At step 0 the reference is the policy, so both
// must give the same per-token log-probs. Two prompts of different lengths (one with an image, one text
// only) are interleaved in each micro-batch, so the shared path left-pads and maps rows to prompts.
if (nativeAvailable()) {
  t.test('shared-prompt reference / old log-probs = the full-sequence gradient pass', async (t) => {
    const { g } = grpoGolden()
    const tr = await makeTrainer(tinyDir(), { reference: true })
    t.teardown(() => tr.dispose())
    const lens: number[] = g.completion_lengths
    const text = Int32Array.from([151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198])
    const b: NativeBatch = {
      prompts: [{ inputIds: Int32Array.from(g.prompt_ids), pixelValues: img0Pixels(), imageGridThw: [1, 14, 22] }, { inputIds: text }],
      rollouts: lens.flatMap((L, i) => {
        const tokens = Int32Array.from((g.completion_ids[i] as number[]).slice(0, L))
        return [{ prompt: 0, tokens, advantage: g.advantages[i] }, { prompt: 1, tokens: tokens.slice(0, Math.max(1, L - i)), advantage: -g.advantages[i] }]
      }),
    }
    const r = await tb().trainerGrpoStep(tr.trainer, b, { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 3, clipped: false, maxCompletionLength: 0, update: false, details: true })
    const d = r.details!
    const rows = b.rollouts.map((x, i) => ({ i, n: x.tokens.length }))
    const pick = (a: Float32Array, width: number) => rows.flatMap(({ i, n }) => Array.from(a.subarray(i * width, i * width + n)))
    const logp = pick(d.logp, d.length)
    const dRef = maxAbs(pick(d.refLogp, d.length), logp)
    t.ok(dRef <= 1e-5, `reference (shared prompt) vs policy (full sequence): max |Δ| ${dRef} <= 1e-5`)
    t.ok(Math.abs(r.kl) <= 1e-6, `KL at step 0 is ~0 (${r.kl})`)
    const lp = await tb().trainerLogprobs(tr.trainer, b, { reference: false, microBatchSize: 4 })
    const dOld = maxAbs(pick(lp.logp, lp.length), logp)
    t.ok(dOld <= 1e-5, `old-policy log-probs (shared prompt) vs the gradient pass: max |Δ| ${dOld} <= 1e-5`)
  })
}
