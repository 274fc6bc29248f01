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
 */
import { describeValue } from '../errors.js'
import type { Sample, Task } from '../sample.js'
import { formatReward, makeClassificationReward, makeDetectionConfidenceReward, makeDetectionIoUReward, makeGroundingReward } from '../rewards/rewards.js'
import { rewardSet, scoreCompletions, type NamedReward, type RewardSetOptions } from '../rewards/scorer.js'
import { HttpError } from './errors.js'

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

function readOptions(v: unknown): RewardSetOptions {
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

/** Validate a /v1/rewards body and score it. Bad solutions are a 400 naming the index. */
export async function scoreRewardsRequest(body: unknown, maxItems: number): Promise<RewardsResponse> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the request body', 'a JSON object', body)
  const b = body as Record<string, unknown>
  if (typeof b.reward !== 'string' || !(REWARD_NAMES as readonly string[]).includes(b.reward)) throw invalid('reward', `one of ${REWARD_NAMES.join(', ')}`, b.reward)
  const name = b.reward as RewardName
  const strings = (k: string): string[] => {
    const v = b[k]
    if (!Array.isArray(v) || !v.every((x) => typeof x === 'string')) throw invalid(k, 'an array of strings', v)
    if (v.length > maxItems) throw new HttpError(400, 'ERR_LIMIT', `Expected at most ${maxItems} ${k} (this server's limit) but received ${v.length}`, { param: k })
    return v as string[]
  }
  const completions = strings('completions')
  const solutions = strings('solutions')
  if (solutions.length !== completions.length) {
    throw new HttpError(400, 'ERR_INVALID_REQUEST', `Expected one solution per completion (${completions.length}) but received ${solutions.length} solutions`, { param: 'solutions' })
  }
  const set = rewardsFor(name, readOptions(b.options))
  const task = taskOf(name)
  const samples: Sample[] = solutions.map((solution, i) => ({ id: `solutions[${i}]`, image: { path: '' }, problem: '', solution, ...(task ? { task } : {}) }))
  let r
  try {
    r = await scoreCompletions(set, completions, samples)
  } catch (e) {
    const err = e as { code?: string; message?: string }
    throw new HttpError(400, err.code === 'ERR_DATA_SOLUTION' ? 'ERR_DATA_SOLUTION' : 'ERR_REWARD', String(err.message ?? e), { param: 'solutions' })
  }
  const components: Record<string, number[]> = {}
  for (const [k, v] of Object.entries(r.components)) components[k] = Array.from(v)
  return { reward: name, rewards: Array.from(r.totals), components }
}
