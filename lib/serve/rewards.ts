/**
 * `POST /v1/rewards`: score completions against reference solutions with a named Visual-RFT reward, for
 * people who run their own trainer and want the exact reward of this package.
 *
 * Body: `{reward, completions: string[], solutions: string[], options?}` where `reward` is a task (its
 * whole reference set: `detection` = iou + confidence + format, `classification` = accuracy + format,
 * `grounding` = iou|giou + format) or one component (`format`, `detection_iou`,
 * `detection_confidence`, `classification_accuracy`, `grounding_iou`, `grounding_giou`). `options`:
 * `{threshold, normalize}` (detection), `{mode, classes}` (classification), `{mode}` (grounding).
 * Answer: `{reward, rewards: number[], components: {name: number[]}}`. User-supplied reward modules
 * are never loaded over HTTP.
 *
 * Bounded work: the body, the number of completions, each string's length and the class list are limited
 * (ServeLimits), the parsers are linear, and scoring runs in slices of at most {@link REWARD_SLICE_MS} ms
 * with the event loop free in between, so /healthz and other requests keep answering during a big call.
 */
import { describeValue } from '../errors.js'
import type { Sample, Task } from '../sample.js'
import { formatReward, makeClassificationReward, makeDetectionConfidenceReward, makeDetectionIoUReward, makeGroundingReward } from '../rewards/rewards.js'
import { rewardSet, scoreCompletions, type NamedReward, type RewardSetOptions } from '../rewards/scorer.js'
import { HttpError } from './errors.js'
import { DEFAULT_SERVE_LIMITS, type ServeLimits } from './options.js'

/** Longest class name in `options.classes`. */
export const MAX_CLASS_NAME_CHARS = 256
/** Scoring yields to the event loop after this many ms of work. */
export const REWARD_SLICE_MS = 5

/** Reward names the endpoint knows. */
export const REWARD_NAMES = ['detection', 'classification', 'grounding', 'format', 'detection_iou', 'detection_confidence', 'classification_accuracy', 'grounding_iou', 'grounding_giou'] as const
/** One of {@link REWARD_NAMES}. */
export type RewardName = (typeof REWARD_NAMES)[number]

/** Answer of /v1/rewards. */
export interface RewardsResponse {
  reward: RewardName
  /** Weighted total per completion. */
  rewards: number[]
  /** Each component per completion. */
  components: Record<string, number[]>
}

function invalid(field: string, what: string, v: unknown): HttpError {
  return new HttpError(400, 'ERR_INVALID_REQUEST', `Expected ${what} for ${field} but received ${describeValue(v)}`, { param: field })
}

function readOptions(v: unknown, maxClasses: number): RewardSetOptions {
  if (v === undefined || v === null) return {}
  if (typeof v !== 'object' || Array.isArray(v)) throw invalid('options', 'an object', v)
  const o = v as Record<string, unknown>
  const out: RewardSetOptions = { detection: {}, classification: {}, grounding: {} }
  if (o.threshold !== undefined) {
    if (typeof o.threshold !== 'number' || !(o.threshold >= 0 && o.threshold < 1)) throw invalid('options.threshold', 'a number in [0, 1)', o.threshold)
    out.detection!.threshold = o.threshold
  }
  if (o.normalize !== undefined) {
    if (o.normalize !== 'max' && o.normalize !== 'pred') throw invalid('options.normalize', '"max" or "pred"', o.normalize)
    out.detection!.normalize = o.normalize
  }
  if (o.mode !== undefined) {
    if (o.mode === 'exact' || o.mode === 'substring') out.classification!.mode = o.mode
    else if (o.mode === 'iou' || o.mode === 'giou') out.grounding!.mode = o.mode
    else throw invalid('options.mode', '"exact" or "substring" (classification), "iou" or "giou" (grounding)', o.mode)
  }
  if (o.classes !== undefined) {
    if (!Array.isArray(o.classes) || !o.classes.every((c) => typeof c === 'string')) throw invalid('options.classes', 'an array of class names', o.classes)
    if (o.classes.length > maxClasses) throw new HttpError(400, 'ERR_LIMIT', `Expected at most ${maxClasses} class names (this server's limit) but received ${o.classes.length}`, { param: 'options.classes' })
    const long = (o.classes as string[]).findIndex((c) => c.length > MAX_CLASS_NAME_CHARS)
    if (long >= 0) throw new HttpError(400, 'ERR_LIMIT', `Expected class names of at most ${MAX_CLASS_NAME_CHARS} characters but options.classes[${long}] has ${(o.classes[long] as string).length}`, { param: `options.classes[${long}]` })
    out.classification!.classes = o.classes as string[]
  }
  return out
}

function rewardsFor(name: RewardName, o: RewardSetOptions): NamedReward[] {
  switch (name) {
    case 'detection':
    case 'classification':
    case 'grounding':
      return rewardSet(name, o)
    case 'format':
      return [{ name: 'format', fn: formatReward, weight: 1 }]
    case 'detection_iou':
      return [{ name: 'iou', fn: makeDetectionIoUReward(o.detection), weight: 1 }]
    case 'detection_confidence':
      return [{ name: 'confidence', fn: makeDetectionConfidenceReward(o.detection), weight: 1 }]
    case 'classification_accuracy':
      return [{ name: 'accuracy', fn: makeClassificationReward(o.classification), weight: 1 }]
    case 'grounding_iou':
      return [{ name: 'iou', fn: makeGroundingReward({ ...o.grounding, mode: 'iou' }), weight: 1 }]
    case 'grounding_giou':
      return [{ name: 'giou', fn: makeGroundingReward({ ...o.grounding, mode: 'giou' }), weight: 1 }]
  }
}

function taskOf(name: RewardName): Task | undefined {
  return name.startsWith('detection') ? 'detection' : name.startsWith('classification') ? 'classification' : name.startsWith('grounding') ? 'grounding' : undefined
}

type RewardLimits = Pick<ServeLimits, 'maxRewardItems' | 'maxRewardChars' | 'maxRewardClasses'>

/**
 * Validate a /v1/rewards body and score it. Bad solutions are a 400 naming the index. `limits`: the
 * server's (or, as a number, the most completions with the other limits at their defaults).
 */
export async function scoreRewardsRequest(body: unknown, limits: number | Partial<RewardLimits> = {}): Promise<RewardsResponse> {
  const L: RewardLimits = { ...DEFAULT_SERVE_LIMITS, ...(typeof limits === 'number' ? { maxRewardItems: limits } : limits) }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the request body', 'a JSON object', body)
  const b = body as Record<string, unknown>
  if (typeof b.reward !== 'string' || !(REWARD_NAMES as readonly string[]).includes(b.reward)) throw invalid('reward', `one of ${REWARD_NAMES.join(', ')}`, b.reward)
  const name = b.reward as RewardName
  const strings = (k: string): string[] => {
    const v = b[k]
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(k, 'an array of strings', v)
    if (v.length > L.maxRewardItems) throw new HttpError(400, 'ERR_LIMIT', `Expected at most ${L.maxRewardItems} ${k} (this server's limit) but received ${v.length}`, { param: k })
    const long = (v as string[]).findIndex((x) => x.length > L.maxRewardChars)
    if (long >= 0) {
      throw new HttpError(400, 'ERR_LIMIT', `Expected ${k} of at most ${L.maxRewardChars} characters (this server's limit) but ${k}[${long}] has ${(v[long] as string).length}`, { param: `${k}[${long}]` })
    }
    return v as string[]
  }
  const completions = strings('completions')
  const solutions = strings('solutions')
  if (solutions.length !== completions.length) {
    throw new HttpError(400, 'ERR_INVALID_REQUEST', `Expected one solution per completion (${completions.length}) but received ${solutions.length} solutions`, { param: 'solutions' })
  }
  const set = rewardsFor(name, readOptions(b.options, L.maxRewardClasses))
  const task = taskOf(name)
  const samples: Sample[] = solutions.map((solution, i) => ({ id: `solutions[${i}]`, image: { path: '' }, problem: '', solution, ...(task ? { task } : {}) }))
  const n = completions.length
  const components: Record<string, number[]> = Object.fromEntries(set.map((r) => [r.name, new Array<number>(n)]))
  const rewards = new Array<number>(n).fill(0)
  // Slices of about REWARD_SLICE_MS: the chunk size adapts to the measured time per completion (one
  // completion's work is bounded by maxRewardChars and maxRewardClasses), then the event loop runs.
  let chunk = 1
  for (let i = 0; i < n; ) {
    const j = Math.min(n, i + chunk)
    const t0 = performance.now()
    let r
    try {
      r = await scoreCompletions(set, completions.slice(i, j), samples.slice(i, j))
    } catch (e) {
      const err = e as { code?: string; message?: string }
      throw new HttpError(400, err.code === 'ERR_DATA_SOLUTION' ? 'ERR_DATA_SOLUTION' : 'ERR_REWARD', String(err.message ?? e), { param: 'solutions' })
    }
    const took = performance.now() - t0
    for (const [k, v] of Object.entries(r.components)) for (let x = 0; x < v.length; x++) components[k]![i + x] = v[x]!
    for (let x = 0; x < r.totals.length; x++) rewards[i + x] = r.totals[x]!
    chunk = Math.max(1, Math.min(256, Math.floor(((j - i) * REWARD_SLICE_MS) / Math.max(took, 0.01))))
    i = j
    if (i < n) await new Promise((res) => setImmediate(res))
  }
  return { reward: name, rewards, components }
}
