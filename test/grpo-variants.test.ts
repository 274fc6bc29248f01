/**
 * The objective variants of issue #20 against an independent float64 reference written here: for every loss type
 * (grpo, bnpo, dr_grpo, dapo) × importance-sampling level (token, sequence, sequence_token) × unclipped/clipped,
 * and with entropy masking and TIS, the native loss (rl::grpo_loss through the grpoLossCheck hook) and its
 * gradient with respect to the log-probs equal the formula (README "Objective options") on random inputs with
 * masks and padding: ≤ 1e-6 relative on the float64 path, ≤ 1e-4 on float32. The reference's gradient is a
 * central finite difference of the reference loss (stop-gradients held fixed). Plus the JS-side pieces: the
 * overlong penalty, GDPO advantages, the dynamic-sampling group filter.
 */
import t from 'tap'
import { native, nativeAvailable, type NativeGrpoOptions } from '../lib/native/binding.js'
import { computeAdvantages, decoupledAdvantages } from '../lib/rewards/advantages.js'
import { informativeGroups, overlongPenalty } from '../lib/train/variants.js'
import { mulberry32 } from '../lib/train/order.js'

type Level = 'token' | 'sequence' | 'sequence_token'
type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo'

interface Case {
  B: number; L: number
  logp: Float64Array; old: Float64Array; ref: Float64Array; entropy: Float64Array; rollout: Float64Array
  mask: Float64Array; adv: Float64Array
}

function makeCase(seed: number): Case {
  const rnd = mulberry32(seed)
  const B = 5, L = 7
  const lens = [7, 3, 0, 5, 1]  // a full row, padded rows, an empty (masked-out) row
  const n = B * L
  const u = (lo: number, hi: number) => lo + (hi - lo) * rnd()
  const logp = Float64Array.from({ length: n }, () => u(-3, -0.05))
  const mask = Float64Array.from({ length: n }, (_, k) => (k % L < lens[Math.floor(k / L)]! ? 1 : 0))
  // padding holds garbage that must not matter
  for (let k = 0; k < n; k++) if (!mask[k]) logp[k] = u(-50, 50)
  return {
    B, L, logp, mask,
    old: Float64Array.from(logp, (x) => x + u(-0.35, 0.35)),
    ref: Float64Array.from(logp, (x) => x + u(-0.5, 0.5)),
    entropy: Float64Array.from({ length: n }, () => u(0, 4)),
    rollout: Float64Array.from(logp, (x) => x + u(-0.6, 0.6)),
    adv: Float64Array.from({ length: B }, () => u(-1.5, 1.5)),
  }
}

interface Opts { lossType: LossType; level: Level; clipped: boolean; beta: number; epsLow: number; epsHigh: number; q: number; tis: boolean; cap: number }
interface Norm { completions: number; tokens: number; microBatches: number; maxLen: number }

/** torch.quantile's linear interpolation. */
function quantile(v: number[], q: number): number {
  const s = [...v].sort((a, b) => a - b)
  const pos = q * (s.length - 1)
  const lo = Math.floor(pos), hi = Math.ceil(pos)
  return s[lo]! + (s[hi]! - s[lo]!) * (pos - lo)
}

/** The reference loss at log-probs `lp`, with every stop-gradient evaluated at `sg` (the unperturbed log-probs). */
function refLoss(c: Case, lp: Float64Array, sg: Float64Array, o: Opts, n: Norm): { loss: number; kept: number[] } {
  const { B, L, mask: m } = c
  const ents: number[] = []
  for (let k = 0; k < B * L; k++) if (m[k]) ents.push(c.entropy[k]!)
  const thr = o.q < 1 && ents.length ? quantile(ents, 1 - o.q) : -Infinity
  const kept: number[] = []
  let total = 0
  let tokAll = 0, sumAll = 0
  for (let i = 0; i < B; i++) {
    let len = 0
    for (let t = 0; t < L; t++) len += m[i * L + t]!
    const old = (k: number) => (o.clipped ? c.old[k]! : sg[k]!)
    const seqLogw = (x: Float64Array) => {
      let s = 0
      for (let t = 0; t < L; t++) s += (x[i * L + t]! - old(i * L + t)) * m[i * L + t]!
      return s / Math.max(len, 1)
    }
    let rowSum = 0
    for (let t = 0; t < L; t++) {
      const k = i * L + t
      let logw: number
      if (o.level === 'token') logw = lp[k]! - old(k)
      else if (o.level === 'sequence') logw = seqLogw(lp)
      else logw = seqLogw(sg) + lp[k]! - sg[k]!
      const w = Math.exp(logw)
      const A = c.adv[i]!
      const obj = o.clipped ? Math.min(w * A, Math.min(Math.max(w, 1 - o.epsLow), 1 + o.epsHigh) * A) : w * A
      let pg = -obj
      const keep = m[k] && c.entropy[k]! >= thr ? 1 : 0
      kept.push(keep)
      if (o.q < 1) pg *= keep
      if (o.tis) pg *= Math.min(Math.exp(sg[k]! - c.rollout[k]!), o.cap)
      const d = c.ref[k]! - lp[k]!
      const tok = pg + o.beta * (Math.exp(d) - d - 1)
      rowSum += tok * m[k]!
    }
    if (o.lossType === 'grpo') total += rowSum / Math.max(len, 1) / n.completions
    sumAll += rowSum
    tokAll += len
  }
  if (o.lossType === 'bnpo') total = sumAll / Math.max(tokAll, 1) / n.microBatches
  if (o.lossType === 'dr_grpo') total = sumAll / (n.completions * n.maxLen)
  if (o.lossType === 'dapo') total = sumAll / n.tokens
  return { loss: total, kept }
}

function refGrad(c: Case, o: Opts, n: Norm): Float64Array {
  const h = 1e-6
  const g = new Float64Array(c.logp.length)
  for (let k = 0; k < g.length; k++) {
    const up = Float64Array.from(c.logp), dn = Float64Array.from(c.logp)
    up[k] += h
    dn[k] -= h
    g[k] = (refLoss(c, up, c.logp, o, n).loss - refLoss(c, dn, c.logp, o, n).loss) / (2 * h)
  }
  return g
}

const maxRel = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let num = 0, den = 0
  for (let i = 0; i < a.length; i++) { num = Math.max(num, Math.abs(a[i]! - b[i]!)); den = Math.max(den, Math.abs(b[i]!)) }
  return den > 0 ? num / den : num
}

if (!nativeAvailable() || typeof (native() as unknown as Record<string, unknown>).grpoLossCheck !== 'function') {
  t.fail('the native addon with grpoLossCheck is not built (npm run build:native)')
} else {
  const check = (c: Case, o: Opts, n: Norm, dtype: 'float64' | 'float32') => {
    const options: NativeGrpoOptions = {
      beta: o.beta, epsilonLow: o.epsLow, epsilonHigh: o.epsHigh, aggregation: o.lossType, importanceSamplingLevel: o.level,
      topEntropyQuantile: o.q, rolloutCorrection: o.tis ? 'tis' : 'none', tisCap: o.cap, microBatchSize: 1, clipped: o.clipped,
      maxCompletionLength: 0, update: false, details: false,
    }
    return native().grpoLossCheck({
      rows: c.B, length: c.L, dtype, logp: c.logp, mask: c.mask, advantages: c.adv, old: c.old, ref: c.ref, entropy: c.entropy,
      rollout: c.rollout, options, norm: n,
    })
  }
  const norm = (c: Case): Norm => {
    let tok = 0
    for (const v of c.mask) tok += v
    // as if this micro-batch were one of 2 and the step (all ranks) held 2.5× its tokens
    return { completions: c.B * 2, tokens: tok * 2.5, microBatches: 2, maxLen: 9 }
  }

  const levels: Level[] = ['token', 'sequence', 'sequence_token']
  const types: LossType[] = ['grpo', 'bnpo', 'dr_grpo', 'dapo']
  t.test('every loss type × importance level × clipping: loss and d loss / d logp (float64 ≤ 1e-6 rel)', async (t) => {
    let worstLoss = 0, worstGrad = 0, cases = 0, clippedCases = 0
    for (const [si, lossType] of types.entries()) {
      for (const [li, level] of levels.entries()) {
        for (const clipped of [false, true]) {
          const c = makeCase(100 + si * 10 + li * 2 + (clipped ? 1 : 0))
          const eps = level === 'token' ? [0.1, 0.15] : [0.01, 0.02]  // sequence ratios move less: a tighter clip so it bites
          const o: Opts = { lossType, level, clipped, beta: 0.04, epsLow: eps[0]!, epsHigh: eps[1]!, q: 1, tis: false, cap: 2 }
          const n = norm(c)
          const got = check(c, o, n, 'float64')
          const want = refLoss(c, c.logp, c.logp, o, n).loss
          const g = refGrad(c, o, n)
          const dl = Math.abs(got.loss - want) / Math.max(Math.abs(want), 1e-12)
          const dg = maxRel(got.grad, g)
          worstLoss = Math.max(worstLoss, dl)
          worstGrad = Math.max(worstGrad, dg)
          cases++
          t.ok(dl <= 1e-6 && dg <= 1e-6, `${lossType} ${level} ${clipped ? 'clipped' : 'unclipped'}: loss ${got.loss} vs ${want} (rel ${dl.toExponential(1)}), grad rel ${dg.toExponential(1)}`)
          for (let k = 0; k < c.mask.length; k++) if (!c.mask[k] && got.grad[k] !== 0) { t.fail(`padding position ${k} got a gradient`); break }
          if (clipped && got.clipped > 0) clippedCases++
        }
      }
    }
    t.comment(`${cases} cases: worst loss rel ${worstLoss.toExponential(2)}, worst grad rel ${worstGrad.toExponential(2)}`)
    t.ok(clippedCases >= 9, `the clip bites in ${clippedCases} of the 12 clipped cases (it picks the clipped term only where it is smaller)`)
  })

  t.test('the paper default (grpo, token) has the token-level gradient of the golden formula', async (t) => {
    // unclipped token level: d loss / d logp_t = (−A + β·(1 − exp(ref − logp))) · m / len / n
    const c = makeCase(7)
    const n = norm(c)
    const got = check(c, { lossType: 'grpo', level: 'token', clipped: false, beta: 0.04, epsLow: 0.2, epsHigh: 0.2, q: 1, tis: false, cap: 2 }, n, 'float64')
    const g = new Float64Array(c.logp.length)
    for (let i = 0; i < c.B; i++) {
      let len = 0
      for (let s = 0; s < c.L; s++) len += c.mask[i * c.L + s]!
      for (let s = 0; s < c.L; s++) {
        const k = i * c.L + s
        g[k] = c.mask[k] ? (-c.adv[i]! + 0.04 * (1 - Math.exp(c.ref[k]! - c.logp[k]!))) / len / n.completions : 0
      }
    }
    t.ok(maxRel(got.grad, g) <= 1e-12, `analytic gradient (rel ${maxRel(got.grad, g).toExponential(1)})`)
  })

  t.test('entropy masking and TIS (with each loss type and level)', async (t) => {
    for (const lossType of types) {
      for (const level of levels) {
        const c = makeCase(300 + types.indexOf(lossType) * 3 + levels.indexOf(level))
        const n = norm(c)
        for (const [q, tis] of [[0.4, false], [1, true], [0.25, true]] as const) {
          const o: Opts = { lossType, level, clipped: false, beta: 0.04, epsLow: 0.2, epsHigh: 0.2, q, tis, cap: 1.3 }
          const got = check(c, o, n, 'float64')
          const r = refLoss(c, c.logp, c.logp, o, n)
          const dl = Math.abs(got.loss - r.loss) / Math.max(Math.abs(r.loss), 1e-12)
          const dg = maxRel(got.grad, refGrad(c, o, n))
          t.ok(dl <= 1e-6 && dg <= 1e-6, `${lossType} ${level} q=${q} tis=${tis}: loss rel ${dl.toExponential(1)}, grad rel ${dg.toExponential(1)}`)
          if (q < 1) {
            t.same(Array.from(got.kept), r.kept, 'the entropy mask keeps the top-q tokens (torch.quantile threshold)')
            const inLoss = c.mask.reduce((a, v) => a + v, 0)
            const keptN = r.kept.reduce((a, v) => a + v, 0)
            t.ok(keptN >= Math.floor(q * inLoss) && keptN <= Math.ceil(q * inLoss) + 1, `kept ${keptN} of ${inLoss} tokens at q = ${q}`)
          }
          if (tis) t.ok(Array.from(got.tis).some((w, k) => c.mask[k] && Math.abs(w - 1.3) < 1e-12), 'some TIS weights hit the cap')
        }
      }
    }
  })

  t.test('float32 path ≤ 1e-4 relative', async (t) => {
    for (const lossType of types) {
      for (const level of levels) {
        const c = makeCase(500 + types.indexOf(lossType) * 3 + levels.indexOf(level))
        // round inputs to float32 so the reference sees what the float32 path sees
        for (const a of [c.logp, c.old, c.ref, c.entropy, c.rollout, c.adv]) a.set(Float32Array.from(a))
        const n = norm(c)
        const o: Opts = { lossType, level, clipped: true, beta: 0.04, epsLow: 0.1, epsHigh: 0.15, q: 0.6, tis: false, cap: 2 }
        const got = check(c, o, n, 'float32')
        const want = refLoss(c, c.logp, c.logp, o, n).loss
        const dl = Math.abs(got.loss - want) / Math.max(Math.abs(want), 1e-12)
        const dg = maxRel(got.grad, refGrad(c, o, n))
        t.ok(dl <= 1e-4 && dg <= 1e-4, `${lossType} ${level} (float32): loss rel ${dl.toExponential(1)}, grad rel ${dg.toExponential(1)}`)
      }
    }
  })

  t.test('bad options are typed errors', async (t) => {
    const c = makeCase(1)
    const base = { lossType: 'grpo' as LossType, level: 'token' as Level, clipped: false, beta: 0, epsLow: 0.2, epsHigh: 0.2, q: 1, tis: false, cap: 2 }
    t.throws(() => check(c, { ...base, lossType: 'mean' as LossType }, norm(c), 'float64'), { message: /Expected 'grpo', 'bnpo', 'dr_grpo' or 'dapo'.*received 'mean'/ })
    t.throws(() => check(c, { ...base, level: 'tokens' as Level }, norm(c), 'float64'), { message: /importanceSamplingLevel.*received 'tokens'/ })
    t.throws(() => check(c, { ...base, q: 0 }, norm(c), 'float64'), { message: /topEntropyQuantile/ })
    t.throws(() => check(c, { ...base, cap: 0.5, tis: true }, norm(c), 'float64'), { message: /tisCap/ })
  })
}

t.test('overlong penalty: DAPO soft punishment', async (t) => {
  t.equal(overlongPenalty(10, 16, 4, 1), 0, 'before the buffer')
  t.equal(overlongPenalty(12, 16, 4, 1), 0, 'at the buffer start')
  t.equal(overlongPenalty(13, 16, 4, 1), -0.25)
  t.equal(overlongPenalty(16, 16, 4, 2), -2, '−P at the limit')
  t.equal(overlongPenalty(16, 16, 0, 2), 0, 'buffer 0 = off')
})

t.test('GDPO: per-component group advantages, weighted sum, batch-normalized', async (t) => {
  const fmt = [1, 1, 0, 1, 0, 0, 0, 1]
  const iou = [0.9, 0.1, 0.5, 0.5, 0.2, 0.3, 0.0, 0.7]
  const got = decoupledAdvantages([{ values: fmt, weight: 1 }, { values: iou, weight: 2 }], 4)
  const a = computeAdvantages(fmt, 4), b = computeAdvantages(iou, 4)
  const s = a.map((x, i) => x + 2 * b[i]!)
  const mean = s.reduce((x, y) => x + y, 0) / s.length
  const std = Math.sqrt(s.reduce((x, y) => x + (y - mean) ** 2, 0) / (s.length - 1))
  t.ok(got.every((v, i) => Math.abs(v - (s[i]! - mean) / (std + 1e-4)) < 1e-12), 'A = BN(Σ w·A_k)')
  const summed = computeAdvantages(fmt.map((f, i) => f + 2 * iou[i]!), 4)
  t.ok(got.some((v, i) => Math.abs(v - summed[i]!) > 1e-3), 'differs from the advantage of the summed reward')
})

t.test('dynamic sampling keeps groups whose rewards differ', async (t) => {
  t.same(informativeGroups([1, 1, 1, 0, 0, 0.5, 2, 2, 2], 3), [1])
  t.same(informativeGroups([0, 0, 0, 0], 2), [])
})
