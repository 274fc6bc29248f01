/**
 * The training library API: GRPOTrainer / SFTTrainer (async iterators of step events, AbortSignal stop,
 * checkpoints and resume), the step pieces, and configuration with documented defaults. See
 * lib/train/grpo.ts for a usage example. The application around it (commands, demo, charts, signals) is
 * lib/app/; model lookup is lib/model/hub.ts.
 */
export * from './types.js'
export { GRPOTrainer, grpoSettings, type GRPOTrainerOptions, type GrpoSettings } from './grpo.js'
export { SFTTrainer, sftSettings, type SFTTrainerOptions, type SftSettings, type SftRecord, type TargetEncoder } from './sft.js'
export { Trainer, type TrainerEvent, type TrainerOptions, type BaseSettings } from './trainer.js'
export {
  grpoStep, takeBatch, sampleGroups, decodeCompletions, buildRollouts, sampleLines, meanStd, arraySource,
  type StepRecord, type StepResult, type StepContext, type GrpoStepSettings, type PromptEncoder, type SampleSource, type TextDecoder, type BatchItem,
} from './loop.js'
export { evaluatePolicy, headline, type EvaluatePolicyOptions, type PolicyEvaluation } from './evaluate.js'
export { GRPO_DEFAULTS, GENERATION_DEFAULTS, EVAL_DEFAULTS, DEFAULTS_TABLE, defaultsMarkdown, flagName, type DefaultEntry } from './defaults.js'
export {
  trainConfigSchema, sftConfigSchema, resolveTrainConfig, resolveSftConfig, resolveConfig, validateConfig, readConfigFile, formatConfig,
  SFT_DEFAULTS, type TrainConfig, type SftConfig, type TrainConfigInput, type SftConfigInput,
} from './config.js'
export {
  saveCheckpoint, findCheckpoint, listCheckpoints, readTrainerState, writeFileAtomic, writeJsonAtomic, readJsonl, truncateJsonl, checkpointName,
  type TrainerState,
} from './checkpoint.js'
export { DataOrder, mulberry32, mixSeed, permutation } from './order.js'
export { Progress, formatStep, formatDuration } from './progress.js'
export { makePromptEncoder, makeTargetEncoder, toModelImage, type PromptEncoderOptions } from './encode.js'
export { createPolicy, policyOptions, modelIO, openData, rewardsOf, resolveTask, resolveDevice, loadEvalPolicy, type PolicyFactory, type PolicyFactoryOptions, type ModelIO } from './setup.js'
export {
  trainingMemoryPlan, memoryPlanInputOf, formatMemoryPlan, checkMemoryPlan, availableMemory, modelParameterCounts, imageTokensOf,
  type MemoryPlan, type MemoryPlanInput, type MemoryPlanItem, type PlannedRunOptions,
} from './memory-plan.js'
