/**
 * Evaluation with a policy: greedy answers for a list of samples (batched), then the eval helper's
 * metrics (lib/eval/evaluate.ts: COCO mAP, accuracy, mIoU) and the mean of each reward component.
 * Used by the trainers every `--eval-every` steps, by `vrft-native eval`, and by the built-in demo.
 */
import type { Sample, Task } from '../sample.js'
import { evaluateCompletions, sampleCategory, type EvalReport, type EvaluateOptions, type PresenceSummary } from '../eval/evaluate.js'
import { presencePrompt, type ModelFamily } from '../prompts/index.js'
import { parsePresenceAnswer } from '../rewards/parse.js'
import { detectionTruth } from '../rewards/rewards.js'
import { sameClassName } from '../classes.js'
import { VrftError } from '../errors.js'
import { EVAL_DEFAULTS } from './defaults.js'
import { scoreCompletions, type NamedReward } from '../rewards/scorer.js'
import { decodeCompletions, meanStd, type PromptEncoder, type SampleSource, type TextDecoder } from './loop.js'
import type { TrainablePolicy } from './types.js'

/** Options of {@link evaluatePolicy}. */
export interface EvaluatePolicyOptions {
  /** Only `generate` is used: a TrainablePolicy or a generation-only model (setup.ts loadEvalPolicy). */
  policy: Pick<TrainablePolicy, 'generate'>
  decoder: TextDecoder
  encode: PromptEncoder
  data: SampleSource
  eosTokenIds: number[]
  maxNewTokens: number
  /** Task of the samples (default: each sample's `task`, else classification). */
  task?: Task
  rewards?: readonly NamedReward[]
  /** Evaluate only the first `limit` samples. */
  limit?: number
  /** Prompts per generate call (default EVAL_DEFAULTS.batchSize). */
  batchSize?: number
  family?: ModelFamily
  /**
   * Detection: first ask, per (image, category) sample, whether the category is present
   * ({@link presencePrompt}); samples answered "no" get no detections and no detection prompt (the paper's
   * open-vocabulary protocol). Default false.
   */
  askPresence?: boolean
  /**
   * Detection: a presence map decided beforehand, in the reference code's exist-map format
   * (`{ "<imageId>": ["category", ...] }`, LVIS underscores allowed): only the listed (image, category)
   * pairs get a detection prompt. The authors evaluated trained checkpoints with the base model's map.
   * Takes precedence over `askPresence`.
   */
  presenceMap?: Readonly<Record<string, readonly string[]>>
  /** Detection scoring: ground truth from an annotation file, classes, protocol (coco/lvis), LVIS per-image cap. */
  detection?: Pick<EvaluateOptions, 'groundTruth' | 'catIds' | 'protocol' | 'maxDets'>
  signal?: AbortSignal
}

/** What an evaluation returns. */
export interface PolicyEvaluation {
  report: EvalReport
  /** Mean of each reward component on the greedy answers. */
  rewards: Record<string, number>
  /** The headline number: AP (detection), accuracy (classification), mIoU (grounding). */
  score: number
  /** The detection answer per sample ('' for a sample answered absent under `askPresence`). */
  completions: string[]
  /** With `askPresence`: the presence answer per sample. */
  presenceCompletions?: string[]
  /** With `askPresence`: the pairs that got a detection prompt, as an exist map (see `presenceMap`). */
  existMap?: Record<string, string[]>
  samples: Sample[]
  seconds: number
}

/** The headline number of a report. */
export function headline(r: EvalReport): number {
  return r.task === 'detection' ? r.AP : r.task === 'classification' ? r.accuracy : r.mIoU
}

/** Greedy answers of `policy` for samples, in batches of `batchSize`. */
async function greedyAnswers(o: EvaluatePolicyOptions, samples: readonly Sample[]): Promise<string[]> {
  const bs = o.batchSize ?? EVAL_DEFAULTS.batchSize
  const completions: string[] = []
  for (let i = 0; i < samples.length; i += bs) {
    const chunk = samples.slice(i, i + bs)
    const prompts = await Promise.all(chunk.map((s) => o.encode(s)))
    const out = await o.policy.generate(prompts, {
      numGenerations: 1, maxNewTokens: o.maxNewTokens, temperature: 0, topP: 1, topK: 0, eosTokenIds: o.eosTokenIds, seed: 0,
      ...(o.signal ? { signal: o.signal } : {}),
    })
    completions.push(...(await decodeCompletions(o.decoder, out.completions)))
  }
  return completions
}

/**
 * Whether each detection sample's class is present: from the given exist map, or by asking the model
 * ({@link presencePrompt}); null = an answer that is neither yes nor no.
 */
async function decidePresence(o: EvaluatePolicyOptions, samples: readonly Sample[]): Promise<{ present: Array<boolean | null>; answers?: string[] }> {
  if (o.presenceMap) {
    const map = o.presenceMap
    return {
      present: samples.map((s) => {
        const id = s.meta?.imageId
        if (id === undefined) throw new VrftError('ERR_EVAL_INPUT', `Expected meta.imageId on sample ${s.id} to look it up in the presence map but received none`)
        const cat = sampleCategory(s)
        return (map[String(id)] ?? []).some((c) => sameClassName(c, cat))
      }),
    }
  }
  const answers = await greedyAnswers(o, samples.map((s) => ({ ...s, problem: presencePrompt(sampleCategory(s)) })))
  return { present: answers.map(parsePresenceAnswer), answers }
}

/** Greedy answers of `policy` for samples, then metrics. */
export async function evaluatePolicy(o: EvaluatePolicyOptions): Promise<PolicyEvaluation> {
  const t0 = performance.now()
  const n = Math.min(o.data.length, o.limit ?? Infinity)
  const samples: Sample[] = []
  for (let i = 0; i < n; i++) samples.push(await o.data.get(i))
  const task = o.task ?? samples[0]?.task ?? 'classification'
  let asked = samples.map((_, i) => i) // the samples that get the task prompt
  let presenceCompletions: string[] | undefined
  let presence: PresenceSummary | undefined
  let existMap: Record<string, string[]> | undefined
  if (task === 'detection' && (o.askPresence || o.presenceMap)) {
    const decided = await decidePresence(o, samples)
    const present = decided.present
    presenceCompletions = decided.answers
    asked = asked.filter((i) => present[i] !== false)
    const parsed = present.flatMap((a, i) => (a === null ? [] : [a === detectionTruth(samples[i]!).length > 0]))
    presence = {
      source: o.presenceMap ? 'map' : 'model', asked: n, saidPresent: present.filter((a) => a === true).length,
      saidAbsent: present.filter((a) => a === false).length, unparsed: present.filter((a) => a === null).length,
      agreement: parsed.length ? parsed.filter(Boolean).length / parsed.length : 0,
    }
    if (presenceCompletions) {
      existMap = {}
      for (const i of asked) {
        const id = samples[i]!.meta?.imageId
        if (id !== undefined) (existMap[String(id)] ??= []).push(sampleCategory(samples[i]!))
      }
    }
  }
  const answered = await greedyAnswers(o, asked.map((i) => samples[i]!))
  const completions = samples.map(() => '')
  asked.forEach((i, k) => { completions[i] = answered[k]! })
  const askedSet = new Set(asked)
  const absent = presence ? new Set(samples.flatMap((_, i) => (askedSet.has(i) ? [] : [i]))) : undefined
  const report = evaluateCompletions(task, samples, completions, { ...o.detection, ...(o.family ? { family: o.family } : {}), ...(absent ? { absent, presence } : {}) })
  const rewards: Record<string, number> = {}
  if (o.rewards && o.rewards.length) {
    const sc = await scoreCompletions(o.rewards, asked.map((i) => completions[i]!), asked.map((i) => samples[i]!), { onError: 'skip' })
    for (const [k, v] of Object.entries(sc.components)) rewards[k] = meanStd(v).mean
  }
  return {
    report, rewards, score: headline(report), completions, samples, seconds: (performance.now() - t0) / 1000,
    ...(presenceCompletions ? { presenceCompletions } : {}),
    ...(existMap ? { existMap } : {}),
  }
}
