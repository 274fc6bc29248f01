/**
 * GRPO advantages from rewards laid out group by group (G consecutive completions per prompt):
 *   group: A = (r − mean_g) / (std_g + 1e-4)          (reference, default)
 *   batch: A = (r − mean_g) / (std_batch + 1e-4)      (TRL ≥ 0.19 `scale_rewards='batch'`)
 *   none:  A = r − mean_g                             (Dr. GRPO)
 * std is unbiased (Bessel, n − 1). A group of one has std 0 by definition here (torch would give NaN),
 * so its advantage is 0.
 *
 * `decoupledAdvantages` (GDPO, `--reward-normalization normalize_then_sum`): each reward component gets its
 * own group advantage (the rule above), the weighted sum of those is then normalized over the batch:
 *   A = (S − mean_batch(S)) / (std_batch(S) + 1e-4),   S = Σ_k w_k · A_k
 */
import { expectArg } from '../errors.js'
import { REWARD_DEFAULTS } from './rewards.js'

/** Options of `computeAdvantages`. */
export interface AdvantageOptions {
  /** Scaling rule (default `group`). */
  scale?: 'group' | 'batch' | 'none'
  /** Added to the std (default 1e-4). */
  eps?: number
}

function unbiasedStd(r: ArrayLike<number>, from: number, to: number, mean: number): number {
  const n = to - from
  if (n < 2) return 0
  let s = 0
  for (let i = from; i < to; i++) s += (r[i]! - mean) ** 2
  return Math.sqrt(s / (n - 1))
}

/** Advantages for `rewards` (length a multiple of `groupSize`). */
export function computeAdvantages(rewards: ArrayLike<number>, groupSize: number, opts: AdvantageOptions = {}): Float64Array {
  expectArg(Number.isInteger(groupSize) && groupSize >= 1, 'a positive integer', 'groupSize', groupSize)
  expectArg(rewards.length % groupSize === 0, `a reward count divisible by groupSize ${groupSize}`, 'rewards', rewards.length)
  for (let i = 0; i < rewards.length; i++) expectArg(Number.isFinite(rewards[i]), 'finite rewards', `rewards[${i}]`, rewards[i])
  const scale = opts.scale ?? REWARD_DEFAULTS.advantageScale
  expectArg(scale === 'group' || scale === 'batch' || scale === 'none', "'group', 'batch' or 'none'", 'scale', scale)
  const eps = opts.eps ?? 1e-4
  const n = rewards.length
  const out = new Float64Array(n)
  let batchStd = 0
  if (scale === 'batch') {
    let m = 0
    for (let i = 0; i < n; i++) m += rewards[i]!
    batchStd = unbiasedStd(rewards, 0, n, n > 0 ? m / n : 0)
  }
  for (let g = 0; g < n; g += groupSize) {
    let mean = 0
    for (let i = g; i < g + groupSize; i++) mean += rewards[i]!
    mean /= groupSize
    const std = scale === 'group' ? unbiasedStd(rewards, g, g + groupSize, mean) : batchStd
    for (let i = g; i < g + groupSize; i++) out[i] = scale === 'none' ? rewards[i]! - mean : (rewards[i]! - mean) / (std + eps)
  }
  return out
}

/**
 * GDPO advantages: every component's group advantage (`computeAdvantages` with `opts`), summed with its weight,
 * then normalized over the whole batch (so the scale does not grow with the number of rewards).
 */
export function decoupledAdvantages(
  components: ReadonlyArray<{ values: ArrayLike<number>; weight: number }>,
  groupSize: number,
  opts: AdvantageOptions = {},
): Float64Array {
  expectArg(components.length > 0, 'at least one reward component', 'components', components.length)
  const n = components[0]!.values.length
  const sum = new Float64Array(n)
  for (const c of components) {
    expectArg(c.values.length === n, `${n} values in every component`, 'components[].values', c.values.length)
    const a = computeAdvantages(c.values, groupSize, opts)
    for (let i = 0; i < n; i++) sum[i] += c.weight * a[i]!
  }
  let mean = 0
  for (let i = 0; i < n; i++) mean += sum[i]!
  mean = n > 0 ? mean / n : 0
  const std = unbiasedStd(sum, 0, n, mean)
  const eps = opts.eps ?? 1e-4
  for (let i = 0; i < n; i++) sum[i] = (sum[i]! - mean) / (std + eps)
  return sum
}
