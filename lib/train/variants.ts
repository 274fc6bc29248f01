/**
 * The objective and sampling variants of issue #20 that live on the JS side of a GRPO step (the loss-side ones
 * — loss types, GSPO, entropy masking, TIS — are native, native/rl/grpo.h): DAPO's soft overlong penalty as a
 * reward component, GDPO's per-component advantage normalization, DAPO's dynamic-sampling group filter, and the
 * per-completion loss mask of --mask-truncated-completions. Formulas: README "Objective options".
 */
import { GRPO_DEFAULTS } from '../defaults.js'
import { computeAdvantages, decoupledAdvantages } from '../rewards/advantages.js'
import type { NamedReward, ScoreResult } from '../rewards/scorer.js'
import type { Completion, ImportanceSamplingLevel, LossType } from './types.js'

/** The objective options of a GRPO step (every field a GRPO_DEFAULTS key of the same name). */
export interface ObjectiveSettings {
  lossType: LossType
  importanceSamplingLevel: ImportanceSamplingLevel
  dynamicSampling: boolean
  maxSamplingRounds: number
  maskTruncatedCompletions: boolean
  overlongBuffer: number
  overlongPenalty: number
  rewardNormalization: 'sum_then_normalize' | 'normalize_then_sum'
  topEntropyQuantile: number
  rolloutCorrection: 'none' | 'tis'
  tisCap: number
}

/** The keys of {@link ObjectiveSettings}, in the defaults table's order. */
export const OBJECTIVE_KEYS = Object.freeze([
  'lossType', 'importanceSamplingLevel', 'dynamicSampling', 'maxSamplingRounds', 'maskTruncatedCompletions', 'overlongBuffer',
  'overlongPenalty', 'rewardNormalization', 'topEntropyQuantile', 'rolloutCorrection', 'tisCap',
] as const satisfies ReadonlyArray<keyof ObjectiveSettings>)

/** The objective options of `src` (a resolved config or settings), each falling back to GRPO_DEFAULTS. */
export function objectiveSettings(src: Partial<ObjectiveSettings>): ObjectiveSettings {
  const out: Record<string, unknown> = {}
  for (const k of OBJECTIVE_KEYS) out[k] = src[k] ?? GRPO_DEFAULTS[k]
  return out as unknown as ObjectiveSettings
}

/** Name of the soft overlong penalty's reward component. */
export const OVERLONG_COMPONENT = 'overlong'

/**
 * DAPO's soft overlong punishment of a completion of `length` tokens under the limit `maxLength`: 0 up to
 * maxLength − buffer, then −penalty·k/buffer for the k-th token into the buffer (−penalty at the limit).
 */
export function overlongPenalty(length: number, maxLength: number, buffer: number, penalty: number): number {
  if (buffer <= 0) return 0
  const k = length - (maxLength - buffer)
  return k > 0 ? -penalty * Math.min(k, buffer) / buffer : 0
}

/** Adds the overlong component (weight 1) to `scores` in place when --overlong-buffer > 0. */
export function addOverlongPenalty(scores: ScoreResult, completions: readonly Completion[], maxLength: number, s: ObjectiveSettings): void {
  if (s.overlongBuffer <= 0) return
  const v = Float64Array.from(completions, (c) => overlongPenalty(c.tokens.length, maxLength, s.overlongBuffer, s.overlongPenalty))
  scores.components[OVERLONG_COMPONENT] = v
  for (let i = 0; i < v.length; i++) scores.totals[i] += v[i]!
}

/** Advantages of a step: of the summed reward (the paper), or GDPO's decoupled per-component normalization. */
export function stepAdvantages(scores: ScoreResult, rewards: readonly NamedReward[], G: number, scale: 'group' | 'batch' | 'none', s: ObjectiveSettings): Float64Array {
  if (s.rewardNormalization === 'sum_then_normalize') return computeAdvantages(scores.totals, G, { scale })
  const weight = new Map(rewards.map((r) => [r.name, r.weight]))
  const parts = Object.entries(scores.components).map(([name, values]) => ({ values, weight: weight.get(name) ?? 1 }))
  return decoupledAdvantages(parts, G, { scale })
}

/** Indices of the groups (G consecutive completions) whose totals are not all equal: the ones that carry signal. */
export function informativeGroups(totals: ArrayLike<number>, G: number): number[] {
  const out: number[] = []
  for (let g = 0; g * G < totals.length; g++) {
    let same = true
    for (let j = 1; j < G && same; j++) same = totals[g * G + j] === totals[g * G]
    if (!same) out.push(g)
  }
  return out
}

/** The scores of the listed groups of several rounds, concatenated in order. */
export function selectScores(parts: ReadonlyArray<{ scores: ScoreResult; groups: readonly number[] }>, G: number): ScoreResult {
  const pick = (a: Float64Array, groups: readonly number[]) => groups.flatMap((g) => Array.from(a.subarray(g * G, g * G + G)))
  const names = Object.keys(parts[0]!.scores.components)
  const components: Record<string, Float64Array> = {}
  for (const k of names) components[k] = Float64Array.from(parts.flatMap((p) => pick(p.scores.components[k]!, p.groups)))
  const errors: Record<string, number> = {}
  for (const p of parts) for (const [k, v] of Object.entries(p.scores.errors)) errors[k] = (errors[k] ?? 0) + v
  return { components, totals: Float64Array.from(parts.flatMap((p) => pick(p.scores.totals, p.groups))), errors }
}

/** --mask-truncated-completions: 1 for a completion in the loss, 0 for one that hit the limit without eos. */
export function truncationMask(completions: readonly Completion[], s: ObjectiveSettings): Float64Array | undefined {
  if (!s.maskTruncatedCompletions) return undefined
  return Float64Array.from(completions, (c) => (c.finished ? 1 : 0))
}
