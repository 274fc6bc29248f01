/**
 * The pieces of one GRPO step, as small functions the trainer strings together:
 *
 *   takeBatch → policy.generate (G per prompt) → decodeCompletions → scoreCompletions (JS rewards,
 *   awaited; + the overlong penalty) → [dynamic sampling: keep informative groups, more rounds] →
 *   stepAdvantages (per group; GDPO per component) → policy.grpoStep ×μ → the step's record
 *
 * Nothing here touches files; grpo.ts adds logging, evaluation and checkpoints around it.
 */
import { VrftError } from '../errors.js'
import type { Sample } from '../data/types.js'
import { scoreCompletions, type NamedReward, type ScoreResult } from '../rewards/scorer.js'
import { mixSeed, type DataOrder } from './order.js'
import { promptRecord } from './samples.js'
import { allgather, shard } from './distributed.js'
import { addOverlongPenalty, informativeGroups, selectScores, stepAdvantages, truncationMask, type ObjectiveSettings } from './variants.js'
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
 * With `dist` (data parallel, the group joined): this rank's share of those items, encoding only its share.
 */
export async function takeBatch(
  data: SampleSource,
  order: DataOrder,
  position: number,
  count: number,
  encode: PromptEncoder,
  maxPromptLength: number,
  dist?: { rank: number; worldSize: number },
): Promise<{ items: BatchItem[]; position: number; skipped: Array<{ id: string; length: number }> }> {
  if (dist && dist.worldSize > 1) {
    // this rank's share (`shard`), encoding only that: the ranks agree (one allgather) that none of the
    // step's prompts is over maxPromptLength, else every rank takes the whole batch, skipping as below
    const [a, b] = shard(count, dist.rank, dist.worldSize)
    const mine: BatchItem[] = []
    let long = 0
    for (let k = a; k < b; k++) {
      const index = order.at(position + k)
      const sample = await data.get(index)
      const prompt = await encode(sample)
      if (prompt.inputIds.length > maxPromptLength) long++
      mine.push({ index, sample, prompt })
    }
    if ((await allgather(long)).every((n) => n === 0)) return { items: mine, position: position + count, skipped: [] }
    const full = await takeBatch(data, order, position, count, encode, maxPromptLength)
    const [lo, hi] = shard(full.items.length, dist.rank, dist.worldSize)
    return { ...full, items: full.items.slice(lo, hi) }
  }
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
  /** Mean predictive entropy (nats) of the trained tokens on the first update (chunked LM-head pass; the native policy always reports it). */
  entropy?: number
  /** Fraction of trained tokens the entropy mask kept (1 when --top-entropy-quantile is 1). */
  entropyKept?: number
  /** |logp_rollout − logp_train| per token on the first update: the sampler's log-probs against the training pass's. */
  rolloutLogpDiff?: { mean: number; max: number }
  /** Mean TIS weight on the first update (--rollout-correction tis; 1 when off). */
  tisMean?: number
  /** --mask-truncated-completions: fraction of the trained completions left out of the loss. */
  truncatedMasked?: number
  /** --dynamic-sampling: generate rounds, fraction of sampled groups dropped, seconds of generation after the first round. */
  dynamicSampling?: { rounds: number; filteredFraction: number; groups: number; extraGenerationSeconds: number }
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
export interface GrpoStepSettings extends ObjectiveSettings {
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

/** One generate round of a step: its prompts, rollout, texts and scores. */
interface Round {
  items: BatchItem[]
  rollouts: Rollouts
  texts: string[]
  scores: ScoreResult
  /** Groups kept for the update. */
  keep: number[]
}

/** Run one GRPO optimizer step (1-based `step`) from data `position`. */
export async function grpoStep(ctx: StepContext, step: number, position: number, seed: number, signal?: AbortSignal): Promise<StepResult> {
  const s = ctx.settings
  const G = s.numGenerations
  const t0 = now()
  const dist = ctx.dist && ctx.dist.worldSize > 1 ? ctx.dist : undefined
  if (s.dynamicSampling && !ctx.policy.selectGroups) {
    throw new VrftError('ERR_POLICY', 'Expected a policy with selectGroups() for --dynamic-sampling but this policy has none')
  }
  const rounds: Round[] = []
  const sampledIndices: number[] = []
  let pos = position
  let skippedPrompts = 0
  let need = -1  // informative groups this rank still needs (dynamic sampling)
  let genSeconds = 0, firstGen = 0, decodeSeconds = 0, rewardSeconds = 0, genTokens = 0
  for (let round = 0; ; round++) {
    const batch = await takeBatch(ctx.data, ctx.order, pos, s.promptsPerStep, ctx.encode, s.maxPromptLength)
    pos = batch.position
    skippedPrompts += batch.skipped.length
    if (dist) {
      const [a, b] = shard(batch.items.length, dist.rank, dist.worldSize)
      batch.items = batch.items.slice(a, b)
    }
    if (need < 0) need = batch.items.length
    if (need > 0) {  // a rank that already has its groups only keeps the data position in step with the others
      sampledIndices.push(...batch.items.map((b) => b.index))
      const tg = now()
      const sampling: SamplingOptions = {
        numGenerations: G, maxNewTokens: s.maxCompletionLength, temperature: s.temperature, topP: s.topP, topK: s.topK,
        seed: round === 0 ? seed : mixSeed(seed, round), eosTokenIds: ctx.eosTokenIds,
      }
      if (signal) sampling.signal = signal
      const rollouts = await sampleGroups(ctx.policy, batch.items.map((b) => b.prompt), sampling)
      const td = now()
      const texts = await decodeCompletions(ctx.decoder, rollouts.completions)
      const tr = now()
      const samples = rollouts.completions.map((c) => batch.items[c.promptIndex]!.sample)
      const scores = await scoreCompletions(ctx.rewards, texts, samples, { onError: ctx.onRewardError ?? 'throw' })
      addOverlongPenalty(scores, rollouts.completions, s.maxCompletionLength, s)
      genSeconds += td - tg
      if (round === 0) firstGen = td - tg
      decodeSeconds += tr - td
      rewardSeconds += now() - tr
      genTokens += rollouts.completions.reduce((a, c) => a + c.tokens.length, 0)
      const keep = s.dynamicSampling ? informativeGroups(scores.totals, G).slice(0, need) : batch.items.map((_, i) => i)
      need -= keep.length
      rounds.push({ items: batch.items, rollouts, texts, scores, keep })
    }
    if (!s.dynamicSampling || round + 1 >= s.maxSamplingRounds) break
    const wanting = dist ? (await allgather(need > 0 ? 1 : 0)).reduce((a, b) => a + b, 0) : need > 0 ? 1 : 0
    if (wanting === 0) break
  }
  // The trained set: every kept group, in round order; with dynamic sampling and no informative group at all,
  // the last round as it is (its update carries only the KL term).
  let parts = rounds.filter((r) => r.keep.length > 0)
  if (parts.length === 0) parts = [{ ...rounds[rounds.length - 1]!, keep: rounds[rounds.length - 1]!.items.map((_, i) => i) }]
  const whole = parts.length === 1 && parts[0]!.keep.length === parts[0]!.items.length
  const rollouts = whole ? parts[0]!.rollouts : ctx.policy.selectGroups!(parts.map((r) => ({ rollouts: r.rollouts, groups: r.keep })))
  const items = parts.flatMap((r) => r.keep.map((g) => r.items[g]!))
  const texts = parts.flatMap((r) => r.keep.flatMap((g) => r.texts.slice(g * G, g * G + G)))
  const scores = whole ? parts[0]!.scores : selectScores(parts.map((r) => ({ scores: r.scores, groups: r.keep })), G)
  const completions = rollouts.completions
  const advantages = stepAdvantages(scores, ctx.rewards, G, s.advantageScale, s)
  const inLoss = truncationMask(completions, s)
  const stepOpts: StepOptions = {
    beta: s.beta, epsilonLow: s.epsilon, epsilonHigh: s.epsilonHigh, lossType: s.lossType, importanceSamplingLevel: s.importanceSamplingLevel,
    topEntropyQuantile: s.topEntropyQuantile, rolloutCorrection: s.rolloutCorrection, tisCap: s.tisCap,
    microBatchSize: s.microBatchSize, clipped: s.numIterations > 1, maxCompletionLength: s.maxCompletionLength, ...(inLoss ? { inLoss } : {}),
  }
  const ms: StepMetrics[] = []
  for (let k = 0; k < s.numIterations; k++) ms.push(await ctx.policy.grpoStep(rollouts, advantages, stepOpts))
  const te = now()
  const first = ms[0]!
  const last = ms[ms.length - 1]!
  // Reward, length and group statistics over everything sampled this step (every round), as the policy produced it.
  const sampledTotals = rounds.flatMap((r) => Array.from(r.scores.totals))
  const sampledComps = rounds.flatMap((r) => r.rollouts.completions)
  const lengths = sampledComps.map((c) => c.tokens.length)
  const sampledGroups = rounds.reduce((a, r) => a + r.items.length, 0)
  const zero = rounds.reduce((a, r) => a + r.items.length - informativeGroups(r.scores.totals, G).length, 0)
  const rewards: Record<string, { mean: number; std: number }> = {}
  for (const k of Object.keys(rounds[0]!.scores.components)) rewards[k] = meanStd(rounds.flatMap((r) => Array.from(r.scores.components[k]!)))
  const logprobsSec = ms.reduce((a, m) => a + m.seconds.logprobs, 0)
  const updateSec = ms.reduce((a, m) => a + m.seconds.update, 0)
  const kept = rounds.reduce((a, r) => a + r.keep.length, 0)  // informative groups kept (0 when the step fell back to a whole round)
  const record: StepRecord = {
    step,
    position: pos,
    indices: sampledIndices,
    epoch: Math.floor(position / ctx.data.length),
    reward: meanStd(sampledTotals),
    rewards,
    zeroStdGroups: zero / Math.max(1, sampledGroups),
    completionLength: { mean: genTokens / lengths.length, min: Math.min(...lengths), max: Math.max(...lengths) },
    finished: sampledComps.filter((c) => c.finished).length / sampledComps.length,
    loss: first.loss,
    kl: first.kl,
    clipFraction: ms.reduce((a, m) => a + m.clipFraction, 0) / ms.length,
    gradNorm: first.gradNorm,
    lr: last.lr,
    skippedUpdate: ms.some((m) => m.skipped),
    skippedPrompts,
    rewardErrors: rounds.reduce((a, r) => a + Object.values(r.scores.errors).reduce((x, y) => x + y, 0), 0),
    tokensPerSecond: genTokens / Math.max(genSeconds, 1e-9),
    ...(first.entropy !== undefined ? { entropy: first.entropy } : {}),
    ...(first.entropyKept !== undefined ? { entropyKept: first.entropyKept } : {}),
    ...(first.rolloutLogpDiff ? { rolloutLogpDiff: first.rolloutLogpDiff } : {}),
    ...(first.tisMean !== undefined ? { tisMean: first.tisMean } : {}),
    ...(inLoss ? { truncatedMasked: inLoss.reduce((a, v) => a + (v ? 0 : 1), 0) / inLoss.length } : {}),
    ...(s.dynamicSampling ? {
      dynamicSampling: { rounds: rounds.length, filteredFraction: 1 - kept / Math.max(1, sampledGroups), groups: kept, extraGenerationSeconds: genSeconds - firstGen },
    } : {}),
    seconds: { generation: genSeconds, decode: decodeSeconds, rewards: rewardSeconds, logprobs: logprobsSec, update: updateSec, total: te - t0 },
    time: new Date().toISOString(),
  }
  return { record, items, texts, scores, advantages, completions }
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
