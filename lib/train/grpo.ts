/**
 * GRPOTrainer: the library API of Visual-RFT training. Each step runs loop.ts's `grpoStep` (prompts →
 * native generate, G per prompt → decode → JS rewards → group advantages → native GRPO update ×μ);
 * trainer.ts adds metrics.jsonl, samples.jsonl, evaluation, checkpoints, resume and stop signals.
 *
 *   const trainer = new GRPOTrainer({ policy, decoder: tokenizer, encode, train, rewards, eosTokenIds,
 *                                     settings: { maxSteps: 50 }, runDir: 'runs/x' })
 *   await trainer.resume()                       // optional: continue the run's latest checkpoint
 *   for await (const ev of trainer.run()) if (ev.type === 'step') console.log(ev.record.reward.mean)
 */
import type { NamedReward } from '../rewards/scorer.js'
import { GRPO_DEFAULTS, resolveEpsilonHigh } from '../defaults.js'
import { grpoStep, sampleLines, type GrpoStepSettings, type StepContext, type StepRecord } from './loop.js'
import { mixSeed } from './order.js'
import { objectiveSettings } from './variants.js'
import { averageRecord, checkSameParameters } from './distributed.js'
import { Trainer, type BaseSettings, type TrainerOptions } from './trainer.js'

/** GRPO settings; every field defaults to GRPO_DEFAULTS (the reference's values). */
export interface GrpoSettings extends GrpoStepSettings, BaseSettings {
  /** Write completions to samples.jsonl every N steps (0 = never). */
  sampleEvery: number
}

/** Fill GRPO settings from GRPO_DEFAULTS. */
export function grpoSettings(s: Partial<GrpoSettings> = {}): GrpoSettings {
  const d = GRPO_DEFAULTS
  const maxCompletionLength = s.maxCompletionLength ?? d.maxCompletionLength
  return {
    promptsPerStep: d.promptsPerStep, numGenerations: d.numGenerations, maxCompletionLength, maxPromptLength: d.maxPromptLength,
    temperature: d.temperature, topP: d.topP, topK: d.topK, beta: d.beta, epsilon: d.epsilon, epsilonHigh: resolveEpsilonHigh(s.epsilon, undefined),
    numIterations: d.numIterations, advantageScale: d.advantageScale, microBatchSize: d.microBatchSize, ...objectiveSettings({}),
    maxSteps: d.maxSteps, seed: d.seed, saveEvery: d.saveEvery, evalEvery: d.evalEvery, keepCheckpoints: d.keepCheckpoints,
    sampleEvery: d.sampleEvery, evalMaxNewTokens: maxCompletionLength,
    ...s,
  }
}

/** Options of the GRPO trainer. */
export interface GRPOTrainerOptions extends TrainerOptions {
  /** The reward set (total = Σ weight·component). */
  rewards: readonly NamedReward[]
  settings?: Partial<GrpoSettings>
  /** `throw` (default) stops on a throwing/NaN reward; `skip` scores it 0 and counts it. */
  onRewardError?: 'throw' | 'skip'
  /** Data parallel (see distributed.ts): this rank's place, and how often ranks compare a parameter checksum. */
  dist?: { rank: number; worldSize: number; checkEvery: number }
}

/** GRPO training over a TrainablePolicy. */
export class GRPOTrainer extends Trainer<StepRecord> {
  protected readonly kind = 'grpo' as const
  readonly grpo: GrpoSettings
  private readonly ctx: StepContext
  private readonly dist?: { rank: number; worldSize: number; checkEvery: number }

  constructor(opts: GRPOTrainerOptions) {
    const settings = grpoSettings(opts.settings)
    super({ ...opts, evalRewards: opts.evalRewards ?? opts.rewards }, settings)
    this.grpo = settings
    this.ctx = {
      policy: opts.policy, decoder: opts.decoder, encode: opts.encode, data: opts.train, order: this.order,
      rewards: opts.rewards, eosTokenIds: opts.eosTokenIds, settings, onRewardError: opts.onRewardError ?? 'throw',
      ...(opts.dist ? { dist: opts.dist } : {}),
    }
    this.dist = opts.dist
  }

  /** Sampling seed of a step (derived from the run seed, so a resumed run samples the same). */
  stepSeed(step: number): number {
    return mixSeed(this.grpo.seed, step)
  }

  protected async runStep(step: number, position: number, signal?: AbortSignal) {
    const d = this.dist
    if (d && d.worldSize > 1 && step === 1 && this.ctx.policy.checksum) await checkSameParameters(await this.ctx.policy.checksum(), step - 1)
    const r = await grpoStep(this.ctx, step, position, this.stepSeed(step), signal)
    if (d && d.worldSize > 1) {
      await averageRecord(r.record)
      if (d.checkEvery > 0 && step % d.checkEvery === 0 && this.ctx.policy.checksum) await checkSameParameters(await this.ctx.policy.checksum(), step)
    }
    const every = this.grpo.sampleEvery
    const samples = every > 0 && (step % every === 0 || step === 1) ? sampleLines(r, this.opts.runDir) : undefined
    return { record: r.record, position: r.record.position, ...(samples ? { samples } : {}) }
  }
}
