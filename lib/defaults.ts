/**
 * Every default of vrft-native, written once, as data: training (`GRPO_DEFAULTS`, the Visual-RFT reference code's
 * values unless ../shared/VISUAL-RFT.md says otherwise), the trainer a library user may leave unset, SFT, inference,
 * evaluation and the low-level native calls. This file imports nothing, so every room — the binding wrappers in
 * lib/native included — reads its defaults from here without an import running back up. The documented table
 * (README, `--help`, the zod schema) is lib/train/defaults.ts.
 */

/** GRPO defaults (the paper's setting). */
export const GRPO_DEFAULTS = Object.freeze({
  numGenerations: 8,
  temperature: 1.0,
  topP: 1.0,
  topK: 0,
  maxCompletionLength: 256,
  maxPromptLength: 1024,
  beta: 0.04,
  epsilon: 0.2,
  epsilonHigh: 0.2,
  numIterations: 1,
  /** Loss type (TRL's loss_type names): grpo = mean of per-sequence token means (the paper). */
  lossType: 'grpo' as 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo',
  /** Importance ratio per token (the paper), per sequence (GSPO) or GSPO-token. */
  importanceSamplingLevel: 'token' as 'token' | 'sequence' | 'sequence_token',
  /** DAPO dynamic sampling: drop groups whose rewards are all equal and sample more prompts. */
  dynamicSampling: false,
  /** Dynamic sampling: generate rounds per step at most (the first included). */
  maxSamplingRounds: 3,
  /** Leave completions that hit the length limit without eos out of the loss (DAPO). */
  maskTruncatedCompletions: false,
  /** DAPO soft overlong punishment: the last L tokens before the limit (0 = off) ... */
  overlongBuffer: 0,
  /** ... cost up to P (reward −P·k/L, k tokens into the buffer). */
  overlongPenalty: 1.0,
  /** Advantage of the summed reward (the paper) or the sum of per-component group advantages (GDPO). */
  rewardNormalization: 'sum_then_normalize' as 'sum_then_normalize' | 'normalize_then_sum',
  /** Entropy masking: only the top q of the tokens by predictive entropy carry the policy term (1 = off). */
  topEntropyQuantile: 1,
  /** Rollout/training mismatch correction: none, or truncated importance sampling (TIS). */
  rolloutCorrection: 'none' as 'none' | 'tis',
  /** TIS cap C: weight min(π_train / π_rollout, C). */
  tisCap: 2,
  /** Advantage scaling: group std (+1e-4), batch std, none. */
  advantageScale: 'group' as 'group' | 'batch' | 'none',
  learningRate: 1e-6,
  weightDecay: 0,
  adamBeta1: 0.9,
  adamBeta2: 0.999,
  adamEpsilon: 1e-8,
  lrScheduler: 'linear' as const,
  warmupSteps: 0,
  maxGradNorm: 1.0,
  promptsPerStep: 16,
  microBatchSize: 8,
  maxSteps: 200,
  maxPixels: 401408,
  minPixels: 3136,
  seed: 42,
  saveEvery: 50,
  evalEvery: 50,
  sampleEvery: 10,
  keepCheckpoints: 2,
  /** Detection R_IoU denominator: max(#pred, #gt) (code) or #pred (paper). */
  iouNormalize: 'max' as 'max' | 'pred',
  /** Detection match threshold τ (strict >). */
  iouThreshold: 0.5,
  /** Classification: exact match (paper) or the guarded substring match (code). */
  classificationMatch: 'exact' as 'exact' | 'substring',
  /** Grounding: IoU (paper) or GIoU + 1 (code). */
  groundingReward: 'iou' as 'iou' | 'giou',
  dtype: 'auto' as const,
  device: 'auto' as const,
  checkEvery: 10,
  /** A malformed data record: throw (stop with its error) or skip (count it and go on). */
  onDataError: 'throw' as 'throw' | 'skip',
  /** A reward that throws or returns NaN: throw (ERR_REWARD) or skip (score the component 0, counted). */
  rewardErrors: 'throw' as 'throw' | 'skip',
  nproc: 1,
})

/** Trainer settings a library user may leave out (the CLI's flags resolve to these unless given). */
export const TRAINER_DEFAULTS = Object.freeze({
  /** LoRA rank r; 0 = full fine-tuning (no adapters). */
  loraRank: 0,
  /** LoRA scale = alpha / rank (PEFT's default alpha is 8; the Visual-RFT LoRA scripts use 16). */
  loraAlpha: 16,
  /** PEFT target_modules: the decoder's seven projections. */
  loraTargets: Object.freeze(['q_proj', 'k_proj', 'v_proj', 'o_proj', 'gate_proj', 'up_proj', 'down_proj']),
  /** With LoRA: checkpoints hold the merged full model instead of the PEFT adapter. */
  mergeLora: false,
  gradientCheckpointing: false,
  freezeVision: false,
  freezeMerger: false,
  /** A frozen reference model (needed when β > 0; see needsReference). */
  reference: true,
  /** lr decay horizon in optimizer steps; 0 = no decay. */
  totalSteps: 0,
  /** Seed of LoRA init and the trainer's generator. */
  seed: 0,
})

/**
 * The memory plan of a run (lib/train/memory-plan.ts): printed by `--dry-run`, and every run refuses one whose
 * estimated peak exceeds the machine's available memory unless `--ignore-memory-plan`.
 */
export const MEMORY_PLAN_DEFAULTS = Object.freeze({
  dryRun: false,
  ignoreMemoryPlan: false,
  /** Text tokens of the longest prompt besides its image tokens (chat template + question), for the plan. */
  promptTextTokens: 128,
  /** Resident memory of the process before any model (node, libtorch, tokenizer), bytes, when not measured. */
  runtimeBytes: 400 * 2 ** 20,
})

/** Whether a run needs the frozen reference model: the KL term exists only when β > 0. The one place this is decided. */
export function needsReference(beta: number): boolean {
  return beta > 0
}

/** SFT defaults that differ from GRPO's (no reference value exists for the SFT baseline). */
export const SFT_DEFAULTS = Object.freeze({ learningRate: 1e-5 })

/**
 * Defaults of inference (the API's chat, `vrft-native generate`): one greedy completion, so answers are
 * reproducible; top-p and top-k off.
 */
export const GENERATION_DEFAULTS = Object.freeze({
  numGenerations: 1,
  maxNewTokens: 256,
  temperature: 0,
  topP: 1,
  topK: 0,
})

/** Defaults of evaluation (`vrft-native eval`, evaluatePolicy): prompts per generate call. */
export const EVAL_DEFAULTS = Object.freeze({ batchSize: 8 })

/** Splits of a data folder or hub data set: `--split` (train, sft) and `--eval-split` / eval's `--split`. */
export const DATA_DEFAULTS = Object.freeze({ split: 'train', evalSplit: 'test' })

/** ε_high when only ε is given follows ε (TRL's rule); the one place that rule is written. */
export function resolveEpsilonHigh(epsilon: number | undefined, epsilonHigh: number | undefined): number {
  return epsilonHigh ?? epsilon ?? GRPO_DEFAULTS.epsilonHigh
}

/**
 * Defaults of the low-level calls over the binding (lib/native/generate.ts: generateIds, completionLogprobs),
 * for library users who call them directly; the commands and the trainer always pass their resolved values.
 */
export const NATIVE_CALL_DEFAULTS = Object.freeze({
  maxNewTokens: 64,
  numGenerations: 1,
  temperature: 1,
  topP: 1,
  topK: 0,
  mode: 'cache' as const,
  /** Token rows per LM-head chunk of completionLogprobs (logits memory ≈ chunk × vocabulary × 4 bytes). */
  logprobsChunk: 256,
  /** Prompt rows shared by their G completions in completionLogprobs. */
  sharePrefix: true,
})
