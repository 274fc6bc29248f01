/**
 * The trainer's settings (AdamW, schedule, clipping, LoRA, freezing, checkpointing, reference model) and their
 * resolution: `resolveTrainerSettings` turns what a user gave into the one plain, complete object the native
 * trainerCreate copies (native/napi/trainer.cpp requires every field). Every default comes from defaults.ts.
 */
import { expectArg } from '../errors.js'
import { native, type NativeBinding, type NativeTrainerObject, type TrainerCreateOptions } from '../native/binding.js'
import { GRPO_DEFAULTS, TRAINER_DEFAULTS } from './defaults.js'

export type {
  NativeBatch, NativeGrpoOptions, NativePromptIn, NativeRolloutIn, NativeStepReport, TrainerCreateOptions,
} from '../native/binding.js'

/** The native Trainer object. */
export type NativeTrainerHandle = NativeTrainerObject

/** The trainer part of the binding contract (the whole contract is {@link NativeBinding} in binding.ts). */
export type TrainerBinding = NativeBinding

/** The addon (kept for callers of the former per-module accessors). */
export function trainerBinding(): NativeBinding {
  return native()
}

/** LoRA settings (PEFT semantics: `targets` are module-name suffixes). */
export interface LoraSettings {
  rank: number
  /** Default TRAINER_DEFAULTS.loraAlpha. Scale = alpha / rank. */
  alpha?: number
  /** Default TRAINER_DEFAULTS.loraTargets (the decoder's seven projections). */
  targets?: string[]
}

/** Trainer settings (defaults from ../shared/VISUAL-RFT.md). */
export interface TrainerSettings {
  /** AdamW learning rate. Default GRPO_DEFAULTS.learningRate. */
  lr?: number
  /** Default GRPO_DEFAULTS.adamBeta1. */
  beta1?: number
  /** Default GRPO_DEFAULTS.adamBeta2. */
  beta2?: number
  /** Default GRPO_DEFAULTS.adamEpsilon. */
  eps?: number
  /** Decoupled weight decay. Default GRPO_DEFAULTS.weightDecay. */
  weightDecay?: number
  /** Global gradient-norm clip; 0 = off. Default GRPO_DEFAULTS.maxGradNorm. */
  maxGradNorm?: number
  /** Default GRPO_DEFAULTS.lrScheduler (linear decays to 0 at totalSteps; constant when totalSteps is 0). */
  schedule?: 'constant' | 'linear' | 'cosine'
  /** Linear warmup steps. Default GRPO_DEFAULTS.warmupSteps. */
  warmupSteps?: number
  /** Decay horizon in optimizer steps. Default TRAINER_DEFAULTS.totalSteps (0: no decay). */
  totalSteps?: number
  /** Gradient checkpointing: true = decoder layers and vision blocks. Default TRAINER_DEFAULTS.gradientCheckpointing. */
  gradientCheckpointing?: boolean | { text?: boolean; vision?: boolean }
  /** Freeze the patch embedding and vision blocks. Default TRAINER_DEFAULTS.freezeVision. */
  freezeVision?: boolean
  /** Freeze the vision merger. Default TRAINER_DEFAULTS.freezeMerger. */
  freezeMerger?: boolean
  /** LoRA instead of full fine-tuning. */
  lora?: LoraSettings
  /** Keep a frozen reference model (a copy; with LoRA the adapters switched off). Default TRAINER_DEFAULTS.reference. Needed when β > 0. */
  reference?: boolean
  /** Seed of LoRA init and the trainer's generator. Default TRAINER_DEFAULTS.seed. */
  seed?: number
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
  const schedule = s.schedule ?? GRPO_DEFAULTS.lrScheduler
  expectArg(schedule === 'constant' || schedule === 'linear' || schedule === 'cosine', "'constant', 'linear' or 'cosine'", 'schedule', schedule)
  const gc = s.gradientCheckpointing ?? TRAINER_DEFAULTS.gradientCheckpointing
  expectArg(typeof gc === 'boolean' || (typeof gc === 'object' && gc !== null), 'a boolean or { text, vision }', 'gradientCheckpointing', gc)
  const checkpointText = typeof gc === 'boolean' ? gc : gc.text ?? false
  const checkpointVision = typeof gc === 'boolean' ? gc : gc.vision ?? false
  let lora: TrainerCreateOptions['lora']
  if (s.lora !== undefined) {
    const l = s.lora
    expectArg(typeof l === 'object' && l !== null, 'an object { rank, alpha?, targets? }', 'lora', l)
    expectArg(isInt(l.rank) && l.rank >= 1, 'an integer >= 1', 'lora.rank', l.rank)
    const alpha = l.alpha ?? TRAINER_DEFAULTS.loraAlpha
    expectArg(isNum(alpha) && alpha > 0, 'a number > 0', 'lora.alpha', alpha)
    if (l.targets !== undefined) {
      expectArg(Array.isArray(l.targets) && l.targets.length > 0 && l.targets.every((x) => typeof x === 'string' && x.length > 0),
        'a non-empty array of module-name suffixes', 'lora.targets', l.targets)
    }
    lora = { rank: l.rank, alpha, targets: [...(l.targets ?? TRAINER_DEFAULTS.loraTargets)] }
  }
  const seed = s.seed ?? TRAINER_DEFAULTS.seed
  expectArg(isInt(seed) && seed >= 0 && seed <= Number.MAX_SAFE_INTEGER, 'a non-negative safe integer', 'seed', seed)
  const out: TrainerCreateOptions = {
    lr: num('lr', GRPO_DEFAULTS.learningRate, 0, 1e3),
    beta1: num('beta1', GRPO_DEFAULTS.adamBeta1, 0, 0.999999),
    beta2: num('beta2', GRPO_DEFAULTS.adamBeta2, 0, 0.999999999),
    eps: num('eps', GRPO_DEFAULTS.adamEpsilon, 0, 1),
    weightDecay: num('weightDecay', GRPO_DEFAULTS.weightDecay, 0, 1e3),
    maxGradNorm: num('maxGradNorm', GRPO_DEFAULTS.maxGradNorm, 0, 1e30),
    schedule,
    warmupSteps: int('warmupSteps', GRPO_DEFAULTS.warmupSteps),
    totalSteps: int('totalSteps', TRAINER_DEFAULTS.totalSteps),
    checkpointText,
    checkpointVision,
    freezeVision: bool('freezeVision', TRAINER_DEFAULTS.freezeVision),
    freezeMerger: bool('freezeMerger', TRAINER_DEFAULTS.freezeMerger),
    reference: bool('reference', TRAINER_DEFAULTS.reference),
    seed,
    sourceDir,
    optionsJson: '',
    lora,
  }
  const { optionsJson: _o, ...rest } = out
  out.optionsJson = JSON.stringify(rest)
  return out
}
