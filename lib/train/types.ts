/**
 * The contract between the TypeScript training loop and the native policy (generation, log-probs, GRPO
 * step, checkpoints). The loop (lib/train/) only sees token ids, rewards and metrics; tensors stay native.
 * `NativePolicy` (lib/train/native-policy.ts) implements `TrainablePolicy` over the addon; tests may use
 * an in-memory fake that implements the same interface.
 */

/** One prompt, tokenized and preprocessed (declared with the binding contract, lib/native/binding.ts). */
export type { EncodedPrompt } from '../native/binding.js'
import type { EncodedPrompt, ImportanceSamplingLevel, LossType, NativeStepReport } from '../native/binding.js'
export type { ImportanceSamplingLevel, LossType } from '../native/binding.js'

/** Sampling settings (defaults from ../shared/VISUAL-RFT.md: temperature 1, no top-p/top-k, 256 tokens). */
export interface SamplingOptions {
  /** Completions per prompt (G). */
  numGenerations: number
  maxNewTokens: number
  /** 0 = greedy. */
  temperature: number
  /** 1 = off. */
  topP: number
  /** 0 = off. */
  topK: number
  seed?: number
  /** Token ids that end a completion (generation_config.json eos ids). */
  eosTokenIds: number[]
  signal?: AbortSignal
}

/** One sampled completion. */
export interface Completion {
  /** Index of its prompt in the batch. */
  promptIndex: number
  /** Completion ids, up to and including the first eos (if any). */
  tokens: Int32Array
  /** log p(token) under the policy at temperature 1, one per token. */
  logprobs: Float32Array
  /** True when it ended with an eos id (false: hit max_new_tokens). */
  finished: boolean
}

/**
 * One step's rollout: `numGenerations` completions per prompt, prompt-major (completion i follows prompt
 * ⌊i / G⌋). A policy may keep more behind it: NativePolicy's also holds the native Rollouts (the prompts with
 * their encoded images, the tokens and the sampling log-probs), so the μ updates of the step send nothing again.
 */
export interface Rollouts {
  readonly numGenerations: number
  readonly completions: readonly Completion[]
}

/** A completion with its prompt and advantage: an explicit batch for the loss (tests, custom loops). */
export interface Rollout {
  prompt: EncodedPrompt
  tokens: Int32Array
  advantage: number
  /** Log-probs of the policy that sampled it (needed when μ > 1; else old = stopgrad(logp)). */
  oldLogprobs?: Float32Array
  /** false: left out of the loss and its normalizers (a truncated completion). Default true. */
  inLoss?: boolean
}

/** Settings of one optimizer step. */
export interface StepOptions {
  /** KL coefficient β (0 skips the reference model). */
  beta: number
  epsilonLow: number
  epsilonHigh: number
  /** How token losses add up to the step loss (README "Objective options"). */
  lossType: LossType
  /** Importance ratio level (default GRPO_DEFAULTS.importanceSamplingLevel: token). */
  importanceSamplingLevel?: ImportanceSamplingLevel
  /** Entropy masking quantile q (default GRPO_DEFAULTS.topEntropyQuantile: 1 = off). */
  topEntropyQuantile?: number
  /** Rollout correction (default GRPO_DEFAULTS.rolloutCorrection: none) and its cap. */
  rolloutCorrection?: 'none' | 'tis'
  tisCap?: number
  /** One flag per completion: 0 = left out of the loss (truncated completions); default all in. */
  inLoss?: ArrayLike<number>
  /** Micro-batch size (completions per forward/backward); gradients accumulate over micro-batches. */
  microBatchSize: number
  /** Use oldLogprobs and clipping (μ > 1 updates per rollout). */
  clipped: boolean
  /** Max completion length (dr_grpo denominator). */
  maxCompletionLength: number
}

/** What one optimizer step reports: the native report's metrics (a fake policy may leave out the all-reduce time and the #20 diagnostics). */
export interface StepMetrics extends Omit<NativeStepReport, 'step' | 'skippedTotal' | 'details' | 'seconds' | 'entropy' | 'entropyKept' | 'tisMean'>,
  Partial<Pick<NativeStepReport, 'entropy' | 'entropyKept' | 'tisMean'>> {
  seconds: { logprobs: number; update: number; allreduce?: number }
}

/** A policy that can sample, be updated with GRPO/SFT, and be saved. */
export interface TrainablePolicy {
  /** Sample `opts.numGenerations` completions per prompt from the current weights. */
  generate(prompts: EncodedPrompt[], opts: SamplingOptions): Promise<Rollouts>
  /** One optimizer update over a rollout (called μ times per rollout), one advantage per completion. */
  grpoStep(rollouts: Rollouts, advantages: ArrayLike<number>, opts: StepOptions): Promise<StepMetrics>
  /** Cross-entropy on `targets` after each prompt (the SFT baseline). */
  sftStep(batch: Array<{ prompt: EncodedPrompt; targets: Int32Array }>, opts: { microBatchSize: number }): Promise<StepMetrics>
  /** Hugging Face-format model directory (or PEFT adapter with LoRA). */
  saveModel(dir: string): Promise<void>
  /** Optimizer moments, step, schedule, RNG state. */
  saveState(dir: string): Promise<void>
  loadState(dir: string): Promise<void>
  /**
   * A rollout made of the listed prompt groups (each prompt with its G completions, in order) of earlier rollouts
   * (dynamic sampling keeps the informative groups of several generate rounds). Optional: needed for --dynamic-sampling.
   */
  selectGroups?(parts: Array<{ rollouts: Rollouts; groups: number[] }>): Rollouts
  /** Σ x² over the trainable parameters (data-parallel ranks compare it). Optional. */
  checksum?(): Promise<number>
  dispose(): void
}
