/**
 * The pieces of one GRPO step, as small functions the trainer strings together:
 *
 *   takeBatch → policy.generate (G per prompt) → decodeCompletions → scoreCompletions (JS rewards,
 *   awaited) → computeAdvantages (per group) → buildRollouts → policy.grpoStep ×μ → summarizeStep
 *
 * Nothing here touches files; grpo.ts adds logging, evaluation and checkpoints around it.
 */
import { VrftError } from '../errors.js'
import type { Sample } from '../data/types.js'
import { computeAdvantages } from '../rewards/advantages.js'
import { scoreCompletions, type NamedReward, type ScoreResult } from '../rewards/scorer.js'
import type { DataOrder } from './order.js'
import { promptRecord } from './samples.js'
import { shard } from './distributed.js'
import type { Completion, EncodedPrompt, Rollout, Rollouts, SamplingOptions, StepMetrics, StepOptions, TrainablePolicy } from './types.js'

/** Anything that maps token ids to text (QwenTokenizer fits). */
export interface TextDecoder {
  decode(ids: ArrayLike<number>, opts?: { skipSpecialTokens?: boolean }): Promise<string>
}

/** Turns a sample into model input. Must be deterministic. */
export type PromptEncoder = (sample: Sample) => Promise<EncodedPrompt>

/** A source of samples: an array or a lazy Dataset. */
export interface SampleSource {
  readonly length: number
  get(i: number): Promise<Sample> | Sample
}

/** Wrap an array as a SampleSource. */
export function arraySource(samples: readonly Sample[]): SampleSource {
  return { length: samples.length, get: (i) => samples[i]! }
}

/** One prompt of a batch. */
export interface BatchItem {
  index: number
  sample: Sample
  prompt: EncodedPrompt
}

/**
 * Take `count` prompts from `order` starting at `position`. Prompts longer than `maxPromptLength` are
 * skipped (never truncated: they hold image tokens) and reported. Returns the items and the new position.
 */
export async function takeBatch(
  data: SampleSource,
  order: DataOrder,
  position: number,
  count: number,
  encode: PromptEncoder,
  maxPromptLength: number,
): Promise<{ items: BatchItem[]; position: number; skipped: Array<{ id: string; length: number }> }> {
  const items: BatchItem[] = []
  const skipped: Array<{ id: string; length: number }> = []
  let pos = position
  while (items.length < count) {
    if (skipped.length >= data.length) {
      throw new VrftError('ERR_PROMPT_TOO_LONG', `Every prompt is longer than --max-prompt-length ${maxPromptLength} tokens (e.g. ${skipped[0]!.id}: ${skipped[0]!.length}); raise it or lower --max-pixels`)
    }
    const index = order.at(pos++)
    const sample = await data.get(index)
    const prompt = await encode(sample)
    if (prompt.inputIds.length > maxPromptLength) skipped.push({ id: sample.id, length: prompt.inputIds.length })
    else items.push({ index, sample, prompt })
  }
  return { items, position: pos, skipped }
}

/**
 * Sample G completions per prompt. The rollout's completions are prompt-major — completion i follows prompt
 * ⌊i / G⌋, the one grouping every later stage (rewards, advantages, the native loss) relies on; a policy that
 * returns anything else is an ERR_POLICY.
 */
export async function sampleGroups(policy: TrainablePolicy, prompts: EncodedPrompt[], opts: SamplingOptions): Promise<Rollouts> {
  const r = await policy.generate(prompts, opts)
  const G = opts.numGenerations
  if (r.numGenerations !== G || r.completions.length !== prompts.length * G) {
    throw new VrftError('ERR_POLICY', `Expected ${G} completions for each of ${prompts.length} prompts but generate returned ${r.completions.length} (G = ${r.numGenerations})`)
  }
  r.completions.forEach((c, i) => {
    if (c.promptIndex !== Math.floor(i / G)) throw new VrftError('ERR_POLICY', `Expected completion ${i} to follow prompt ${Math.floor(i / G)} but it follows prompt ${c.promptIndex}`)
  })
  return r
}

/** Decode completions to text (special tokens such as `<|im_end|>` dropped, as the reference does). */
export async function decodeCompletions(tok: TextDecoder, completions: readonly Completion[]): Promise<string[]> {
  return Promise.all(completions.map((c) => tok.decode(c.tokens, { skipSpecialTokens: true })))
}

/** An explicit batch for NativePolicy.grpoStepBatch: one rollout per completion, with its prompt and advantage. */
export function buildRollouts(items: readonly BatchItem[], completions: readonly Completion[], advantages: ArrayLike<number>, withOld: boolean): Rollout[] {
  return completions.map((c, i) => {
    const r: Rollout = { prompt: items[c.promptIndex]!.prompt, tokens: c.tokens, advantage: advantages[i]! }
    if (withOld) r.oldLogprobs = c.logprobs
    return r
  })
}

/** Mean and (population) std of an array. */
export function meanStd(x: ArrayLike<number>): { mean: number; std: number } {
  const n = x.length
  if (n === 0) return { mean: 0, std: 0 }
  let m = 0
  for (let i = 0; i < n; i++) m += x[i]!
  m /= n
  let v = 0
  for (let i = 0; i < n; i++) v += (x[i]! - m) ** 2
  return { mean: m, std: Math.sqrt(v / n) }
}

/** One line of metrics.jsonl. */
export interface StepRecord {
  step: number
  /** Data position after this step and the record indices it used. */
  position: number
  indices: number[]
  epoch: number
  reward: { mean: number; std: number }
  /** Per reward component (unweighted). */
  rewards: Record<string, { mean: number; std: number }>
  /** Fraction of groups whose rewards were all equal (zero advantage). */
  zeroStdGroups: number
  completionLength: { mean: number; min: number; max: number }
  /** Fraction of completions that ended with an eos token. */
  finished: number
  loss: number
  kl: number
  clipFraction: number
  gradNorm: number
  lr: number
  skippedUpdate: boolean
  skippedPrompts: number
  rewardErrors: number
  /** Generated tokens per second of generation time. */
  tokensPerSecond: number
  seconds: { generation: number; decode: number; rewards: number; logprobs: number; update: number; total: number }
  time: string
}

/** Everything one GRPO step produced (the record plus what samples.jsonl needs). */
export interface StepResult {
  record: StepRecord
  items: BatchItem[]
  texts: string[]
  scores: ScoreResult
  advantages: Float64Array
  completions: readonly Completion[]
}

/** Settings of `grpoStep` (a subset of TrainConfig). */
export interface GrpoStepSettings {
  promptsPerStep: number
  numGenerations: number
  maxCompletionLength: number
  maxPromptLength: number
  temperature: number
  topP: number
  topK: number
  beta: number
  epsilon: number
  epsilonHigh: number
  numIterations: number
  aggregation: StepOptions['aggregation']
  advantageScale: 'group' | 'batch' | 'none'
  microBatchSize: number
}

/** Context of a step. */
export interface StepContext {
  policy: TrainablePolicy
  decoder: TextDecoder
  encode: PromptEncoder
  data: SampleSource
  order: DataOrder
  rewards: readonly NamedReward[]
  eosTokenIds: number[]
  settings: GrpoStepSettings
  onRewardError?: 'throw' | 'skip'
  /** Data parallel: this rank takes its contiguous share of every step's prompts (same global order). */
  dist?: { rank: number; worldSize: number }
}

const now = () => performance.now() / 1000

/** Run one GRPO optimizer step (1-based `step`) from data `position`. */
export async function grpoStep(ctx: StepContext, step: number, position: number, seed: number, signal?: AbortSignal): Promise<StepResult> {
  const s = ctx.settings
  const t0 = now()
  const batch = await takeBatch(ctx.data, ctx.order, position, s.promptsPerStep, ctx.encode, s.maxPromptLength)
  if (ctx.dist && ctx.dist.worldSize > 1) {
    const [a, b] = shard(batch.items.length, ctx.dist.rank, ctx.dist.worldSize)
    batch.items = batch.items.slice(a, b)
  }
  const prompts = batch.items.map((b) => b.prompt)
  const tg = now()
  const sampling: SamplingOptions = {
    numGenerations: s.numGenerations, maxNewTokens: s.maxCompletionLength, temperature: s.temperature, topP: s.topP, topK: s.topK,
    seed, eosTokenIds: ctx.eosTokenIds,
  }
  if (signal) sampling.signal = signal
  const rollouts = await sampleGroups(ctx.policy, prompts, sampling)
  const completions = rollouts.completions
  const td = now()
  const texts = await decodeCompletions(ctx.decoder, completions)
  const tr = now()
  const samples = completions.map((c) => batch.items[c.promptIndex]!.sample)
  const scores = await scoreCompletions(ctx.rewards, texts, samples, { onError: ctx.onRewardError ?? 'throw' })
  const advantages = computeAdvantages(scores.totals, s.numGenerations, { scale: s.advantageScale })
  const tu = now()
  const stepOpts: StepOptions = {
    beta: s.beta, epsilonLow: s.epsilon, epsilonHigh: s.epsilonHigh, aggregation: s.aggregation,
    microBatchSize: s.microBatchSize, clipped: s.numIterations > 1, maxCompletionLength: s.maxCompletionLength,
  }
  const ms: StepMetrics[] = []
  for (let k = 0; k < s.numIterations; k++) ms.push(await ctx.policy.grpoStep(rollouts, advantages, stepOpts))
  const te = now()
  const first = ms[0]!
  const last = ms[ms.length - 1]!
  const lengths = completions.map((c) => c.tokens.length)
  const genTokens = lengths.reduce((a, b) => a + b, 0)
  let zero = 0
  for (let g = 0; g < completions.length; g += s.numGenerations) {
    const grp = scores.totals.subarray(g, g + s.numGenerations)
    if (grp.every((v) => v === grp[0])) zero++
  }
  const rewards: Record<string, { mean: number; std: number }> = {}
  for (const [k, v] of Object.entries(scores.components)) rewards[k] = meanStd(v)
  const logprobsSec = ms.reduce((a, m) => a + m.seconds.logprobs, 0)
  const updateSec = ms.reduce((a, m) => a + m.seconds.update, 0)
  const record: StepRecord = {
    step,
    position: batch.position,
    indices: batch.items.map((b) => b.index),
    epoch: Math.floor(position / ctx.data.length),
    reward: meanStd(scores.totals),
    rewards,
    zeroStdGroups: zero / batch.items.length,
    completionLength: { mean: genTokens / lengths.length, min: Math.min(...lengths), max: Math.max(...lengths) },
    finished: completions.filter((c) => c.finished).length / completions.length,
    loss: first.loss,
    kl: first.kl,
    clipFraction: ms.reduce((a, m) => a + m.clipFraction, 0) / ms.length,
    gradNorm: first.gradNorm,
    lr: last.lr,
    skippedUpdate: ms.some((m) => m.skipped),
    skippedPrompts: batch.skipped.length,
    rewardErrors: Object.values(scores.errors).reduce((a, b) => a + b, 0),
    tokensPerSecond: genTokens / Math.max(td - tg, 1e-9),
    seconds: { generation: td - tg, decode: tr - td, rewards: tu - tr, logprobs: logprobsSec, update: updateSec, total: te - t0 },
    time: new Date().toISOString(),
  }
  return { record, items: batch.items, texts, scores, advantages, completions }
}

/**
 * samples.jsonl lines of a step: prompt id, completion text, each reward, total and advantage, then the
 * prompt's image, question and ground truth (samples.ts; in-memory images are saved under `runDir`).
 */
export function sampleLines(r: StepResult, runDir?: string): Array<Record<string, unknown>> {
  const prompts = r.items.map((it) => promptRecord(it.sample, runDir))
  return r.completions.map((c, i) => {
    const rewards: Record<string, number> = {}
    for (const [k, v] of Object.entries(r.scores.components)) rewards[k] = v[i]!
    return {
      step: r.record.step,
      promptId: r.items[c.promptIndex]!.sample.id,
      index: i,
      completion: r.texts[i],
      rewards,
      total: r.scores.totals[i],
      advantage: r.advantages[i],
      finished: c.finished,
      ...prompts[c.promptIndex],
    }
  })
}
