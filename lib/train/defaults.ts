/**
 * The documented table of `vrft-native train` / `sft` defaults: each value (from lib/defaults.ts, where every
 * default is written once) with what it means and where it comes from. `defaultsMarkdown()` renders it for the
 * README, and the zod schema (config.ts) and `--help` read their defaults through here, so the three can never
 * disagree.
 */

/** One documented default. */
export interface DefaultEntry {
  /** Config key (camelCase; the CLI flag is its kebab-case form). */
  key: string
  value: unknown
  description: string
  /** Where the value comes from. */
  source: string
}

import { GRPO_DEFAULTS, MEMORY_PLAN_DEFAULTS, TRAINER_DEFAULTS } from '../defaults.js'

export { GRPO_DEFAULTS, TRAINER_DEFAULTS, MEMORY_PLAN_DEFAULTS, SFT_DEFAULTS, GENERATION_DEFAULTS, EVAL_DEFAULTS, NATIVE_CALL_DEFAULTS, needsReference } from '../defaults.js'

const REF = 'reference code'

/** The documented table (order = README order). */
export const DEFAULTS_TABLE: readonly DefaultEntry[] = Object.freeze([
  { key: 'numGenerations', value: GRPO_DEFAULTS.numGenerations, description: 'completions per prompt (G)', source: REF },
  { key: 'temperature', value: GRPO_DEFAULTS.temperature, description: 'sampling temperature', source: REF },
  { key: 'topP', value: GRPO_DEFAULTS.topP, description: 'nucleus sampling (1 = off)', source: REF },
  { key: 'topK', value: GRPO_DEFAULTS.topK, description: 'top-k sampling (0 = off)', source: REF },
  { key: 'maxCompletionLength', value: GRPO_DEFAULTS.maxCompletionLength, description: 'max completion tokens', source: REF },
  { key: 'maxPromptLength', value: GRPO_DEFAULTS.maxPromptLength, description: 'max prompt tokens; longer prompts are rejected, never truncated', source: REF },
  { key: 'beta', value: GRPO_DEFAULTS.beta, description: 'KL coefficient β (k3 estimator; 0 skips the reference model)', source: REF },
  { key: 'numIterations', value: GRPO_DEFAULTS.numIterations, description: 'updates per rollout batch (μ); > 1 turns on clipping', source: REF },
  { key: 'epsilon', value: GRPO_DEFAULTS.epsilon, description: 'clip range ε (used when μ > 1)', source: 'TRL ≥ 0.19' },
  { key: 'epsilonHigh', value: GRPO_DEFAULTS.epsilonHigh, description: 'upper clip range ε_high (DAPO uses 0.28)', source: 'TRL ≥ 0.19' },
  { key: 'lossType', value: GRPO_DEFAULTS.lossType, description: 'loss type: grpo (mean of per-sequence token means), bnpo (token mean per micro-batch), dr_grpo (token sum / (completions × max length)), dapo (token mean over the whole step, all micro-batches and ranks)', source: 'TRL loss_type names; grpo = reference' },
  { key: 'importanceSamplingLevel', value: GRPO_DEFAULTS.importanceSamplingLevel, description: 'importance ratio: token, sequence (GSPO: exp of the mean log-ratio, clipped per sequence; GSPO uses --epsilon 3e-4 --epsilon-high 4e-4), sequence_token (GSPO-token)', source: 'GSPO / TRL importance_sampling_level' },
  { key: 'dynamicSampling', value: GRPO_DEFAULTS.dynamicSampling, description: 'drop groups whose G rewards are all equal and sample more prompts until the step has its full number of informative groups', source: 'DAPO' },
  { key: 'maxSamplingRounds', value: GRPO_DEFAULTS.maxSamplingRounds, description: 'dynamic sampling: generate rounds per step at most (then the step trains on the informative groups it has)', source: 'DAPO max_num_gen_batches' },
  { key: 'maskTruncatedCompletions', value: GRPO_DEFAULTS.maskTruncatedCompletions, description: 'leave completions that hit the length limit without eos out of the loss', source: 'DAPO / TRL mask_truncated_completions' },
  { key: 'overlongBuffer', value: GRPO_DEFAULTS.overlongBuffer, description: 'soft overlong penalty: the last L tokens before --max-completion-length cost −P·k/L (k tokens into it); 0 = off', source: 'DAPO overlong_buffer' },
  { key: 'overlongPenalty', value: GRPO_DEFAULTS.overlongPenalty, description: 'soft overlong penalty P (the reward at the limit)', source: 'DAPO penalty_factor' },
  { key: 'rewardNormalization', value: GRPO_DEFAULTS.rewardNormalization, description: 'advantage of the summed reward (sum_then_normalize), or each reward component normalized in its group, then the weighted sum (normalize_then_sum)', source: 'GDPO' },
  { key: 'topEntropyQuantile', value: GRPO_DEFAULTS.topEntropyQuantile, description: 'entropy masking: only tokens in the top q of the micro-batch by predictive entropy carry the policy term (1 = off)', source: 'TRL top_entropy_quantile' },
  { key: 'rolloutCorrection', value: GRPO_DEFAULTS.rolloutCorrection, description: 'rollout/training mismatch: none, or tis (each token weighted by min(π_train/π_rollout, C), C = the TIS cap below); needs --num-iterations 1', source: 'verl / TRL (TIS)' },
  { key: 'tisCap', value: GRPO_DEFAULTS.tisCap, description: 'TIS cap C', source: 'verl / TRL vllm_importance_sampling_cap' },
  { key: 'advantageScale', value: GRPO_DEFAULTS.advantageScale, description: 'advantage scaling: group std (+1e-4), batch std, none', source: REF },
  { key: 'learningRate', value: GRPO_DEFAULTS.learningRate, description: 'AdamW learning rate', source: REF },
  { key: 'weightDecay', value: GRPO_DEFAULTS.weightDecay, description: 'AdamW weight decay', source: REF },
  { key: 'adamBeta1', value: GRPO_DEFAULTS.adamBeta1, description: 'AdamW β1', source: 'transformers default' },
  { key: 'adamBeta2', value: GRPO_DEFAULTS.adamBeta2, description: 'AdamW β2', source: 'transformers default' },
  { key: 'adamEpsilon', value: GRPO_DEFAULTS.adamEpsilon, description: 'AdamW ε', source: 'transformers default' },
  { key: 'lrScheduler', value: GRPO_DEFAULTS.lrScheduler, description: 'learning-rate schedule: linear decay, cosine, constant', source: REF },
  { key: 'warmupSteps', value: GRPO_DEFAULTS.warmupSteps, description: 'warm-up steps', source: REF },
  { key: 'maxGradNorm', value: GRPO_DEFAULTS.maxGradNorm, description: 'gradient-norm clip', source: REF },
  { key: 'promptsPerStep', value: GRPO_DEFAULTS.promptsPerStep, description: 'prompts per optimizer step (8 GPUs × 1 × 2 accumulation)', source: REF },
  { key: 'microBatchSize', value: GRPO_DEFAULTS.microBatchSize, description: 'completions per forward/backward (gradients accumulate)', source: 'vrft-native' },
  { key: 'maxSteps', value: GRPO_DEFAULTS.maxSteps, description: 'optimizer steps (~200 for few-shot detection)', source: 'paper' },
  { key: 'maxPixels', value: GRPO_DEFAULTS.maxPixels, description: 'image max_pixels', source: 'reference training scripts' },
  { key: 'minPixels', value: GRPO_DEFAULTS.minPixels, description: 'image min_pixels', source: 'reference training scripts' },
  { key: 'seed', value: GRPO_DEFAULTS.seed, description: 'seed of data order and sampling', source: 'TRL default' },
  { key: 'saveEvery', value: GRPO_DEFAULTS.saveEvery, description: 'checkpoint every N steps (0 = only at the end)', source: 'vrft-native' },
  { key: 'evalEvery', value: GRPO_DEFAULTS.evalEvery, description: 'evaluate every N steps when eval data is given (0 = never)', source: 'vrft-native' },
  { key: 'sampleEvery', value: GRPO_DEFAULTS.sampleEvery, description: 'write completions to samples.jsonl every N steps (0 = never)', source: 'vrft-native' },
  { key: 'keepCheckpoints', value: GRPO_DEFAULTS.keepCheckpoints, description: 'checkpoints kept (older ones deleted after a new one is complete)', source: 'vrft-native' },
  { key: 'iouNormalize', value: GRPO_DEFAULTS.iouNormalize, description: 'detection R_IoU denominator: max(#pred, #gt) (code) or #pred (paper)', source: REF },
  { key: 'iouThreshold', value: GRPO_DEFAULTS.iouThreshold, description: 'detection match threshold τ (strict >)', source: REF },
  { key: 'classificationMatch', value: GRPO_DEFAULTS.classificationMatch, description: 'classification reward: exact (paper) or guarded substring (code)', source: 'paper' },
  { key: 'checkEvery', value: GRPO_DEFAULTS.checkEvery, description: 'data parallel: compare a parameter checksum across ranks every N steps (0 = only at start)', source: 'vrft-native' },
  { key: 'groundingReward', value: GRPO_DEFAULTS.groundingReward, description: 'grounding reward: iou (paper) or giou (GIoU + 1, code)', source: 'paper' },
  { key: 'onDataError', value: GRPO_DEFAULTS.onDataError, description: 'a malformed data record: throw (stop with its error) or skip (count it in the log and go on)', source: 'vrft-native' },
  { key: 'loraRank', value: TRAINER_DEFAULTS.loraRank, description: 'LoRA rank r (0 = full fine-tuning); the reference model is then the base with the adapters off, no second copy', source: 'vrft-native' },
  { key: 'loraAlpha', value: TRAINER_DEFAULTS.loraAlpha, description: 'LoRA alpha (scale = alpha / rank; PEFT\'s default is 8)', source: 'vrft-native' },
  { key: 'loraTargets', value: TRAINER_DEFAULTS.loraTargets, description: 'LoRA target modules (PEFT target_modules: module-name suffixes; repeatable); default: the decoder\'s seven projections', source: 'vrft-native' },
  { key: 'mergeLora', value: TRAINER_DEFAULTS.mergeLora, description: 'with LoRA: checkpoints hold the merged full model instead of the PEFT adapter', source: 'vrft-native' },
  { key: 'gradientCheckpointing', value: TRAINER_DEFAULTS.gradientCheckpointing, description: 'recompute each decoder layer and vision block in the backward pass (less activation memory, ~1/3 more compute)', source: 'vrft-native' },
  { key: 'freezeVision', value: TRAINER_DEFAULTS.freezeVision, description: 'freeze the vision tower (patch embedding and blocks; with LoRA everything but the adapters is frozen anyway)', source: 'vrft-native' },
  { key: 'freezeMerger', value: TRAINER_DEFAULTS.freezeMerger, description: 'freeze the vision merger (the projection into the language model)', source: 'vrft-native' },
  { key: 'dryRun', value: MEMORY_PLAN_DEFAULTS.dryRun, description: 'print the memory plan (estimated peak memory of these options) and exit without loading the model', source: 'vrft-native' },
  { key: 'ignoreMemoryPlan', value: MEMORY_PLAN_DEFAULTS.ignoreMemoryPlan, description: 'run even when the memory plan says the run cannot fit the available memory (ERR_MEMORY_PLAN otherwise)', source: 'vrft-native' },
  { key: 'rewardErrors', value: GRPO_DEFAULTS.rewardErrors, description: 'a reward that throws or returns NaN: throw (ERR_REWARD) or skip (score that component 0, counted as rewardErrors)', source: 'vrft-native' },
] satisfies DefaultEntry[])

/** `camelCase` → `--kebab-case`. */
export function flagName(key: string): string {
  return '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
}

/** The defaults table as Markdown (paste into the README). */
export function defaultsMarkdown(): string {
  const rows = DEFAULTS_TABLE.map((d) => `| \`${flagName(d.key)}\` | ${JSON.stringify(d.value)} | ${d.description} | ${d.source} |`)
  return ['| option | default | meaning | from |', '|---|---|---|---|', ...rows].join('\n')
}
