/**
 * The contract between the TypeScript training loop and the native policy (generation, log-probs, GRPO
 * step, checkpoints). The loop (lib/train/) only sees token ids, rewards and metrics; tensors stay native.
 * `NativePolicy` (lib/train/native-policy.ts) implements `TrainablePolicy` over the addon; tests may use
 * an in-memory fake that implements the same interface.
 */

/** One prompt, tokenized and preprocessed: what native generate/step need. */
export interface EncodedPrompt {
  /** Prompt token ids (chat template applied, image pads expanded), unpadded. */
  inputIds: Int32Array
  /** One (N_i, 1176) float32 patch array per image, row-major. */
  pixelValues: Float32Array[]
  /** [t, h, w] patch grid per image. */
  imageGridThw: Array<[number, number, number]>
}

/** Sampling settings (defaults from ../shared/VISUAL-RFT.md: temperature 1, no top-p/top-k, 256 tokens). */
export interface SamplingOptions {
  /** Completions per prompt (G). */
  numSamples: number
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

/** A completion with its advantage, ready for the loss. */
export interface Rollout {
  prompt: EncodedPrompt
  tokens: Int32Array
  advantage: number
  /** Log-probs of the policy that sampled it (needed when μ > 1; else old = stopgrad(logp)). */
  oldLogprobs?: Float32Array
}

/** Loss aggregation modes (see ../shared/VISUAL-RFT.md and the GRPO issue). */
export type LossAggregation = 'grpo' | 'token' | 'dr_grpo'

/** Settings of one optimizer step. */
export interface StepOptions {
  /** KL coefficient β (0 skips the reference model). */
  beta: number
  epsilonLow: number
  epsilonHigh: number
  aggregation: LossAggregation
  /** Micro-batch size (completions per forward/backward); gradients accumulate over micro-batches. */
  microBatchSize: number
  /** Use oldLogprobs and clipping (μ > 1 updates per rollout). */
  clipped: boolean
  /** Max completion length (dr_grpo denominator). */
  maxCompletionLength: number
}

/** What one optimizer step reports. */
export interface StepMetrics {
  loss: number
  kl: number
  clipFraction: number
  /** Global L2 norm before clipping (NaN/Infinity when non-finite). */
  gradNorm: number
  lr: number
  /** True when the update was skipped because the loss or a gradient was not finite. */
  skipped: boolean
  tokens: number
  /** Seconds in reference log-probs, policy forward/backward + optimizer, and gradient all-reduce (data parallel). */
  seconds: { logprobs: number; update: number; allreduce?: number }
}

/** A policy that can sample, be updated with GRPO/SFT, and be saved. */
export interface TrainablePolicy {
  generate(prompts: EncodedPrompt[], opts: SamplingOptions): Promise<Completion[]>
  grpoStep(rollouts: Rollout[], opts: StepOptions): Promise<StepMetrics>
  /** Cross-entropy on `targets` after each prompt (the SFT baseline). */
  sftStep(batch: Array<{ prompt: EncodedPrompt; targets: Int32Array }>, opts: { microBatchSize: number }): Promise<StepMetrics>
  /** Hugging Face-format model directory (or PEFT adapter with LoRA). */
  saveModel(dir: string): Promise<void>
  /** Optimizer moments, step, schedule, RNG state. */
  saveState(dir: string): Promise<void>
  loadState(dir: string): Promise<void>
  /** Σ x² over the trainable parameters (data-parallel ranks compare it). Optional. */
  checksum?(): Promise<number>
  dispose(): void
}
