/**
 * Typed contract and validating helpers of the native trainer bindings (native/napi/trainer.cpp over
 * native/rl/trainer.h): a trainer wraps a loaded model handle (trained in place, so generation with the same
 * handle samples from the current weights), runs GRPO / SFT steps, teacher-forced log-probs, saving (HF model,
 * PEFT adapter, resumable state) and reads gradients / parameters back for tests.
 * `resolveTrainerSettings` turns user settings into the one plain, trusted object the native side copies.
 */
import { expectArg } from '../errors.js'
import { native } from './binding.js'
import type { NativeModelHandle } from './generate.js'
import type { StepMetrics } from '../train/types.js'

/** Opaque handle of a native trainer. */
export type NativeTrainerHandle = unknown

/** LoRA settings (PEFT semantics: `targets` are module-name suffixes). */
export interface LoraSettings {
  rank: number
  /** Default 16. Scale = alpha / rank. */
  alpha?: number
  /** Default: the decoder projections q/k/v/o/gate/up/down_proj. */
  targets?: string[]
}

/** Trainer settings (defaults from ../shared/VISUAL-RFT.md). */
export interface TrainerSettings {
  /** AdamW learning rate. Default 1e-6. */
  lr?: number
  /** Default 0.9. */
  beta1?: number
  /** Default 0.999. */
  beta2?: number
  /** Default 1e-8. */
  eps?: number
  /** Decoupled weight decay. Default 0. */
  weightDecay?: number
  /** Global gradient-norm clip; 0 = off. Default 1. */
  maxGradNorm?: number
  /** Default 'linear' (decays to 0 at totalSteps; constant when totalSteps is 0). */
  schedule?: 'constant' | 'linear' | 'cosine'
  /** Linear warmup steps. Default 0. */
  warmupSteps?: number
  /** Decay horizon in optimizer steps. Default 0 (no decay). */
  totalSteps?: number
  /** Gradient checkpointing: true = decoder layers and vision blocks. Default false. */
  gradientCheckpointing?: boolean | { text?: boolean; vision?: boolean }
  /** Freeze the patch embedding and vision blocks. Default false. */
  freezeVision?: boolean
  /** Freeze the vision merger. Default false. */
  freezeMerger?: boolean
  /** LoRA instead of full fine-tuning. */
  lora?: LoraSettings
  /** Keep a frozen reference model (a copy; with LoRA the adapters switched off). Default true. Needed when β > 0. */
  reference?: boolean
  /** Seed of LoRA init and the trainer's generator. Default 0. */
  seed?: number
}

/** The validated object the native trainerCreate reads. */
export interface TrainerCreateOptions {
  lr: number
  beta1: number
  beta2: number
  eps: number
  weightDecay: number
  maxGradNorm: number
  schedule: 'constant' | 'linear' | 'cosine'
  warmupSteps: number
  totalSteps: number
  checkpointText: boolean
  checkpointVision: boolean
  freezeVision: boolean
  freezeMerger: boolean
  reference: boolean
  seed: number
  sourceDir: string
  optionsJson: string
  lora?: { rank: number; alpha: number; targets?: string[] }
}

/** One prompt of a native batch. */
export interface NativePromptIn {
  inputIds: Int32Array
  pixelValues?: Float32Array
  /** Flat [t, h, w] per image. */
  imageGridThw?: number[]
}

/** One completion (GRPO) or target sequence (SFT) of a native batch. */
export interface NativeRolloutIn {
  /** Index into `prompts`. */
  prompt: number
  tokens: Int32Array
  advantage?: number
  oldLogprobs?: Float32Array
  /** Reference log-probs given directly (instead of the reference model). */
  refLogprobs?: Float32Array
}

export interface NativeBatch {
  prompts: NativePromptIn[]
  rollouts: NativeRolloutIn[]
}

/** Options of trainerGrpoStep. */
export interface NativeGrpoOptions {
  beta: number
  epsilonLow: number
  epsilonHigh: number
  aggregation: 'grpo' | 'token' | 'dr_grpo'
  microBatchSize: number
  clipped: boolean
  /** dr_grpo denominator; 0 = the longest completion of the batch. */
  maxCompletionLength: number
  /** false: compute loss and gradients only (no update; gradients stay readable). Default true. */
  update?: boolean
  /** Return per-token logp / reference logp / KL / loss. Default false. */
  details?: boolean
}

/** What a native step resolves to: the loop's StepMetrics plus the trainer's counters and optional details. */
export interface NativeStepReport extends StepMetrics {
  /** Completed optimizer updates. */
  step: number
  /** Updates skipped by the non-finite guard so far. */
  skippedTotal: number
  /** (rows, length) row-major, when details was asked for. */
  details?: { length: number; logp: Float32Array; refLogp: Float32Array; kl: Float32Array; perTokenLoss: Float32Array }
}

/** The trainer part of the binding contract. */
export interface TrainerBinding {
  trainerCreate(model: NativeModelHandle, o: TrainerCreateOptions): Promise<NativeTrainerHandle>
  trainerDispose(t: NativeTrainerHandle): void
  trainerGrpoStep(t: NativeTrainerHandle, b: NativeBatch, o: NativeGrpoOptions): Promise<NativeStepReport>
  trainerSftStep(t: NativeTrainerHandle, b: NativeBatch, o: { microBatchSize: number; update?: boolean }): Promise<NativeStepReport>
  trainerLogprobs(t: NativeTrainerHandle, b: NativeBatch, o: { reference: boolean; microBatchSize: number }): Promise<{ rows: number; length: number; logp: Float32Array }>
  /** Accumulated float32 gradient of a trainable tensor (after a step with update: false); rows selects dim-0 rows. */
  trainerGrad(t: NativeTrainerHandle, name: string, rows?: number[]): { data: Float32Array; shape: number[] }
  /** Model parameters (and LoRA tensors) with whether each is trained. */
  trainerParameters(t: NativeTrainerHandle): Array<{ name: string; trainable: boolean }>
  /** Σ x² over the trainable parameters (float64), for comparing data-parallel ranks. */
  trainerChecksum(t: NativeTrainerHandle): Promise<number>
  /** A float32 copy of one parameter or LoRA tensor. */
  trainerParameter(t: NativeTrainerHandle, name: string): Float32Array
  trainerInfo(t: NativeTrainerHandle): { step: number; skipped: number; calls: number; lr: number; trainable: number; lora: boolean }
  /** HF model directory; with LoRA a PEFT adapter directory unless merge. */
  trainerSaveModel(t: NativeTrainerHandle, dir: string, o?: { merge?: boolean }): Promise<void>
  trainerSaveState(t: NativeTrainerHandle, dir: string): Promise<void>
  trainerLoadState(t: NativeTrainerHandle, dir: string): Promise<void>
}

/** The addon, typed with the trainer bindings. */
export function trainerBinding(): TrainerBinding {
  return native() as unknown as TrainerBinding
}

const isInt = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x)
const isNum = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x)

/** Validates `s` and fills defaults; `sourceDir` is the HF directory the model was loaded from. */
export function resolveTrainerSettings(s: TrainerSettings, sourceDir: string): TrainerCreateOptions {
  expectArg(typeof s === 'object' && s !== null, 'a settings object', 'settings', s)
  expectArg(typeof sourceDir === 'string' && sourceDir.length > 0, 'a model directory path', 'modelDir', sourceDir)
  const num = (name: keyof TrainerSettings, def: number, lo: number, hi: number): number => {
    const v = s[name] ?? def
    expectArg(isNum(v) && v >= lo && v <= hi, `a number between ${lo} and ${hi}`, name, v)
    return v
  }
  const int = (name: keyof TrainerSettings, def: number): number => {
    const v = s[name] ?? def
    expectArg(isInt(v) && v >= 0, 'a non-negative integer', name, v)
    return v
  }
  const bool = (name: keyof TrainerSettings, def: boolean): boolean => {
    const v = s[name] ?? def
    expectArg(typeof v === 'boolean', 'a boolean', name, v)
    return v
  }
  const schedule = s.schedule ?? 'linear'
  expectArg(schedule === 'constant' || schedule === 'linear' || schedule === 'cosine', "'constant', 'linear' or 'cosine'", 'schedule', schedule)
  const gc = s.gradientCheckpointing ?? false
  expectArg(typeof gc === 'boolean' || (typeof gc === 'object' && gc !== null), 'a boolean or { text, vision }', 'gradientCheckpointing', gc)
  const checkpointText = typeof gc === 'boolean' ? gc : gc.text ?? false
  const checkpointVision = typeof gc === 'boolean' ? gc : gc.vision ?? false
  let lora: TrainerCreateOptions['lora']
  if (s.lora !== undefined) {
    const l = s.lora
    expectArg(typeof l === 'object' && l !== null, 'an object { rank, alpha?, targets? }', 'lora', l)
    expectArg(isInt(l.rank) && l.rank >= 1, 'an integer >= 1', 'lora.rank', l.rank)
    const alpha = l.alpha ?? 16
    expectArg(isNum(alpha) && alpha > 0, 'a number > 0', 'lora.alpha', alpha)
    if (l.targets !== undefined) {
      expectArg(Array.isArray(l.targets) && l.targets.length > 0 && l.targets.every((x) => typeof x === 'string' && x.length > 0),
        'a non-empty array of module-name suffixes', 'lora.targets', l.targets)
    }
    lora = { rank: l.rank, alpha, targets: l.targets ? [...l.targets] : undefined }
  }
  const seed = s.seed ?? 0
  expectArg(isInt(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER, 'a non-negative safe integer', 'seed', seed)
  const out: TrainerCreateOptions = {
    lr: num('lr', 1e-6, 0, 1e3),
    beta1: num('beta1', 0.9, 0, 0.999999),
    beta2: num('beta2', 0.999, 0, 0.999999999),
    eps: num('eps', 1e-8, 0, 1),
    weightDecay: num('weightDecay', 0, 0, 1e3),
    maxGradNorm: num('maxGradNorm', 1, 0, 1e30),
    schedule,
    warmupSteps: int('warmupSteps', 0),
    totalSteps: int('totalSteps', 0),
    checkpointText,
    checkpointVision,
    freezeVision: bool('freezeVision', false),
    freezeMerger: bool('freezeMerger', false),
    reference: bool('reference', true),
    seed,
    sourceDir,
    optionsJson: '',
    lora,
  }
  const { optionsJson: _o, ...rest } = out
  out.optionsJson = JSON.stringify(rest)
  return out
}
