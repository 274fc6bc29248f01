/**
 * SFTTrainer: the supervised baseline. Cross-entropy on a target text (default: the sample's
 * `solution`) after the same prompt and image the GRPO trainer uses (TrainablePolicy.sftStep); same data
 * order, run files, checkpoints, resume and signals as GRPOTrainer (trainer.ts).
 */
import type { Sample } from '../sample.js'
import { takeBatch, type SampleSource } from './loop.js'
import { Trainer, type BaseSettings, type TrainerOptions } from './trainer.js'
import { GRPO_DEFAULTS } from './defaults.js'
import { allreduceMean } from './distributed.js'

/** Token ids of the target of a sample (the completion to learn, ending with the end-of-turn id). */
export type TargetEncoder = (sample: Sample) => Promise<Int32Array>

/** SFT settings. */
export interface SftSettings extends BaseSettings {
  promptsPerStep: number
  microBatchSize: number
}

/** One line of an SFT run's metrics.jsonl. */
export interface SftRecord {
  step: number
  position: number
  indices: number[]
  epoch: number
  loss: number
  gradNorm: number
  lr: number
  tokens: number
  skippedUpdate: boolean
  skippedPrompts: number
  tokensPerSecond: number
  seconds: { encode: number; update: number; total: number }
  time: string
}

/** Options of the SFT trainer. */
export interface SFTTrainerOptions extends TrainerOptions {
  encodeTarget: TargetEncoder
  settings?: Partial<SftSettings>
  /**
   * Data parallel (lib/train/distributed.ts, the process group already joined): this rank takes its
   * contiguous share of every step's prompts; the native step divides by every rank's target tokens and
   * all-reduces the gradients, so the update is the one-process update of the whole batch.
   */
  dist?: { rank: number; worldSize: number }
}

/** Fill SFT settings (same defaults as GRPO where shared). */
export function sftSettings(s: Partial<SftSettings> = {}): SftSettings {
  const d = GRPO_DEFAULTS
  return {
    promptsPerStep: d.promptsPerStep, microBatchSize: d.microBatchSize, maxSteps: d.maxSteps, seed: d.seed, saveEvery: d.saveEvery,
    evalEvery: d.evalEvery, keepCheckpoints: d.keepCheckpoints, maxPromptLength: d.maxPromptLength, evalMaxNewTokens: d.maxCompletionLength,
    ...s,
  }
}

/** Supervised fine-tuning over a TrainablePolicy. */
export class SFTTrainer extends Trainer<SftRecord> {
  protected readonly kind = 'sft' as const
  readonly sft: SftSettings
  private readonly encodeTarget: TargetEncoder
  private readonly dist?: { rank: number; worldSize: number }

  constructor(opts: SFTTrainerOptions) {
    const settings = sftSettings(opts.settings)
    super(opts, settings)
    this.sft = settings
    this.encodeTarget = opts.encodeTarget
    this.dist = opts.dist
  }

  protected async runStep(step: number, position: number) {
    const t0 = performance.now() / 1000
    const data: SampleSource = this.opts.train
    const d = this.dist && this.dist.worldSize > 1 ? this.dist : undefined
    const b = await takeBatch(data, this.order, position, this.sft.promptsPerStep, this.opts.encode, this.sft.maxPromptLength, d)
    const batch = await Promise.all(b.items.map(async (it) => ({ prompt: it.prompt, targets: await this.encodeTarget(it.sample) })))
    const t1 = performance.now() / 1000
    const m = await this.opts.policy.sftStep(batch, { microBatchSize: this.sft.microBatchSize })
    const t2 = performance.now() / 1000
    let tokens = batch.reduce((a, x) => a + x.targets.length, 0)
    let loss = m.loss
    if (d) {
      // each rank's loss is its share of the step's token mean; the mean over ranks is the step's loss
      const [l, t] = await allreduceMean([m.loss, tokens])
      loss = l!
      tokens = Math.round(t! * d.worldSize)
    }
    const record: SftRecord = {
      step, position: b.position, indices: b.items.map((it) => it.index), epoch: Math.floor(position / data.length),
      loss, gradNorm: m.gradNorm, lr: m.lr, tokens, skippedUpdate: m.skipped, skippedPrompts: b.skipped.length,
      tokensPerSecond: tokens / Math.max(t2 - t1, 1e-9),
      seconds: { encode: t1 - t0, update: t2 - t1, total: t2 - t0 }, time: new Date().toISOString(),
    }
    return { record, position: b.position }
  }
}
