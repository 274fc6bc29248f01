/**
 * Reward sets and the batch scorer. A reward set is a list of named, weighted reward functions; the
 * total of a completion is Σ weight·reward, and every component is reported on its own.
 * Built-in sets per task (equal weights 1, as the reference): detection = iou + confidence + format,
 * classification = accuracy + format, grounding = iou (or giou) + format.
 * User rewards: any `(completion, sample) => number | Promise<number>` exported by a JS/TS module,
 * loaded from `./file.js:name` (default export when `:name` is omitted).
 * A reward that throws or returns a non-finite number raises ERR_REWARD naming the reward, or — with
 * `onError: 'skip'` — counts it and scores that component 0 for that completion.
 */
import { resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { VrftError, describeValue, expectArg } from '../errors.js'
import type { Sample, Task } from '../sample.js'
import {
  formatReward,
  makeClassificationReward,
  makeDetectionConfidenceReward,
  makeDetectionIoUReward,
  makeGroundingReward,
  type ClassificationRewardOptions,
  type DetectionRewardOptions,
  type GroundingRewardOptions,
  type RewardFn,
} from './rewards.js'

/** One component of a reward set. */
export interface NamedReward {
  /** Component name, reported in logs and results (e.g. `iou`, `format`, `user:myReward`). */
  name: string
  fn: RewardFn
  /** Weight in the total (default 1). */
  weight: number
}

/** Options of the built-in reward sets. */
export interface RewardSetOptions {
  detection?: DetectionRewardOptions
  classification?: ClassificationRewardOptions
  grounding?: GroundingRewardOptions
}

/** The reference reward set of a task, weights 1. */
export function rewardSet(task: Task, opts: RewardSetOptions = {}): NamedReward[] {
  const fmt: NamedReward = { name: 'format', fn: formatReward, weight: 1 }
  switch (task) {
    case 'detection':
      return [
        { name: 'iou', fn: makeDetectionIoUReward(opts.detection), weight: 1 },
        { name: 'confidence', fn: makeDetectionConfidenceReward(opts.detection), weight: 1 },
        fmt,
      ]
    case 'classification':
      return [{ name: 'accuracy', fn: makeClassificationReward(opts.classification), weight: 1 }, fmt]
    case 'grounding':
      return [{ name: opts.grounding?.mode === 'giou' ? 'giou' : 'iou', fn: makeGroundingReward(opts.grounding), weight: 1 }, fmt]
    default:
      throw new VrftError('ERR_INVALID_ARG', `Expected detection, classification or grounding for task but received ${describeValue(task)}`)
  }
}

/**
 * Load a user reward from `path[:export]` (path relative to `cwd`). The export must be a function.
 * Throws ERR_REWARD_LOAD with the spec in the message.
 */
export async function loadUserReward(spec: string, opts: { cwd?: string; weight?: number; name?: string } = {}): Promise<NamedReward> {
  expectArg(typeof spec === 'string' && spec.length > 0, 'a module path like ./file.js:name', 'reward', spec)
  const m = /^(.*?)(?::([A-Za-z_$][\w$]*))?$/.exec(spec)!
  const file = m[1]!
  const exportName = m[2] ?? 'default'
  let mod: Record<string, unknown>
  try {
    mod = (await import(pathToFileURL(resolve(opts.cwd ?? process.cwd(), file)).href)) as Record<string, unknown>
  } catch (e) {
    throw new VrftError('ERR_REWARD_LOAD', `Could not import reward module ${file} (from --reward ${spec}): ${(e as Error).message}`, { spec }, { cause: e })
  }
  const fn = mod[exportName]
  if (typeof fn !== 'function') {
    throw new VrftError('ERR_REWARD_LOAD', `Expected a function export "${exportName}" in ${file} but received ${describeValue(fn)}`, { spec })
  }
  const weight = opts.weight ?? 1
  expectArg(Number.isFinite(weight), 'a finite number', 'reward weight', weight)
  return { name: opts.name ?? `user:${exportName === 'default' ? file : exportName}`, fn: fn as RewardFn, weight }
}

/** Parse `path[:name][=weight]` (CLI form), e.g. `./r.js:brevity=0.5`. */
export function parseRewardSpec(s: string): { spec: string; weight: number } {
  const m = /^(.*?)(?:=([-+]?[\d.]+(?:e[-+]?\d+)?))?$/i.exec(s)!
  const weight = m[2] === undefined ? 1 : Number(m[2])
  expectArg(Number.isFinite(weight), 'a finite weight after =', `--reward ${s}`, m[2])
  return { spec: m[1]!, weight }
}

/** Options of `scoreCompletions`. */
export interface ScoreOptions {
  /** `throw` (default): ERR_REWARD on a throwing / NaN reward. `skip`: count it, score that component 0. */
  onError?: 'throw' | 'skip'
}

/** Per-component rewards and weighted totals of a batch. */
export interface ScoreResult {
  /** Component name → reward per completion (unweighted). */
  components: Record<string, Float64Array>
  /** Σ weight·component per completion. */
  totals: Float64Array
  /** Component name → number of failures skipped (onError 'skip'). */
  errors: Record<string, number>
}

/**
 * Score completions[i] against samples[i] with every reward of `set`. Synchronous rewards run
 * inline; promises are awaited together.
 */
export async function scoreCompletions(
  set: readonly NamedReward[],
  completions: readonly string[],
  samples: readonly Sample[],
  opts: ScoreOptions = {},
): Promise<ScoreResult> {
  expectArg(completions.length === samples.length, `as many samples as completions (${completions.length})`, 'samples', samples)
  const names = new Set<string>()
  for (const r of set) {
    expectArg(!names.has(r.name), 'unique reward names', 'reward set', r.name)
    names.add(r.name)
  }
  const n = completions.length
  const skip = opts.onError === 'skip'
  const components: Record<string, Float64Array> = {}
  const errors: Record<string, number> = {}
  const pending: Promise<void>[] = []
  const outs: Float64Array[] = []
  const fails: Array<(i: number, why: string, cause?: unknown) => void> = []
  for (const r of set) {
    const out = new Float64Array(n)
    components[r.name] = out
    errors[r.name] = 0
    outs.push(out)
    fails.push((i, why, cause) => {
      if (!skip) {
        throw new VrftError('ERR_REWARD', `Reward "${r.name}" ${why} for completion ${i} (sample ${samples[i]!.id})`, { reward: r.name, index: i }, { cause })
      }
      errors[r.name]!++
      out[i] = 0
    })
  }
  const check = (k: number, i: number, v: unknown): void => {
    if (typeof v === 'number' && Number.isFinite(v)) outs[k]![i] = v
    else fails[k]!(i, `returned ${describeValue(v)} instead of a finite number`)
  }
  // Completion-major order: the rewards of one completion run back to back (parse caches hit).
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < set.length; k++) {
      let v: unknown
      try {
        v = set[k]!.fn(completions[i]!, samples[i]!)
      } catch (e) {
        if (e instanceof VrftError && e.code === 'ERR_DATA_SOLUTION') throw e
        fails[k]!(i, `threw: ${(e as Error)?.message ?? String(e)}`, e)
        continue
      }
      if (v instanceof Promise) {
        pending.push(v.then((x) => check(k, i, x), (e: unknown) => fails[k]!(i, `rejected: ${(e as Error)?.message ?? String(e)}`, e)))
      } else check(k, i, v)
    }
  }
  await Promise.all(pending)
  const totals = new Float64Array(n)
  for (const r of set) {
    const c = components[r.name]!
    for (let i = 0; i < n; i++) totals[i] += r.weight * c[i]!
  }
  return { components, totals, errors }
}
