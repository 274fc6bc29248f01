/**
 * `NativePolicy`: the `TrainablePolicy` the training loop uses, over the native addon. It owns one loaded
 * model (the policy, trained in place) and one native trainer (reference model, AdamW, schedule, LoRA,
 * checkpointing); generation samples from the current weights with the generation binding.
 *
 *   const policy = await NativePolicy.create({ modelDir, config, device: 'cpu', dtype: 'float32', train: { lr: 1e-5 } })
 *   const completions = await policy.generate(prompts, sampling)
 *   const metrics = await policy.grpoStep(rollouts, stepOptions)
 *   await policy.saveModel(dir); await policy.saveState(stateDir)
 */
import { VrftError, expectArg } from '../errors.js'
import { readModelConfig, type ModelConfig } from '../model/config.js'
import { checkConfigAgainstCheckpoint } from '../model/config-check.js'
import {
  native, type NativeGrpoOptions, type NativeModelObject, type NativePromptIn, type NativeRolloutsObject, type NativeStepReport,
  type NativeTrainerObject,
} from '../native/binding.js'
import type { NativeBatch } from '../native/binding.js'
import { resolveGenerateOptions, withAbort } from '../native/generate.js'
import { traceModelLoad } from '../native/model.js'
import { GRPO_DEFAULTS, TRAINER_DEFAULTS } from './defaults.js'
import { resolveTrainerSettings, type TrainerSettings } from './trainer-settings.js'
import type { Completion, EncodedPrompt, Rollout, Rollouts, SamplingOptions, StepMetrics, StepOptions, TrainablePolicy } from './types.js'

type NativeModelHandle = NativeModelObject

/** Options of {@link NativePolicy.create}. */
export interface NativePolicyOptions {
  /** Hugging Face model directory (weights are loaded from it; its non-weight files are copied on save). */
  modelDir: string
  /** The model config; default: read from `modelDir`/config.json (lib/model/config.ts). */
  config?: ModelConfig
  /** Default 'cpu'. */
  device?: string
  /** Compute dtype; default float32 on CPU, bfloat16 on CUDA (float32 master weights either way). */
  dtype?: 'float32' | 'bfloat16'
  /** Trainer settings (AdamW, schedule, clipping, LoRA, freezing, checkpointing). */
  train?: TrainerSettings
  /** Load even when the weights' memory exceeds the available memory (ERR_MEMORY_PLAN otherwise). Default false. */
  ignoreMemoryPlan?: boolean
  /** With LoRA: saveModel writes the merged full model instead of the PEFT adapter. Default TRAINER_DEFAULTS.mergeLora. */
  mergeOnSave?: boolean
  /** Called when the non-finite guard skips an update (default: a console.warn line). */
  onSkip?: (metrics: StepMetrics, skippedTotal: number) => void
}

/** Options of {@link NativePolicy.fromModel}: an already loaded model handle. */
export interface NativePolicyFromModelOptions extends Omit<NativePolicyOptions, 'config' | 'device' | 'dtype'> {
  model: NativeModelHandle
  /** Dispose the model with the policy. Default TRAINER_DEFAULTS.mergeLora. */
  ownsModel?: boolean
}

/** The native GRPO options of a step (the config schema already checked the user's values). */
function stepOptions(opts: StepOptions): NativeGrpoOptions {
  expectArg(typeof opts === 'object' && opts !== null, 'step options', 'options', opts)
  return {
    beta: opts.beta, epsilonLow: opts.epsilonLow, epsilonHigh: opts.epsilonHigh, aggregation: opts.lossType,
    importanceSamplingLevel: opts.importanceSamplingLevel ?? GRPO_DEFAULTS.importanceSamplingLevel,
    topEntropyQuantile: opts.topEntropyQuantile ?? GRPO_DEFAULTS.topEntropyQuantile,
    rolloutCorrection: opts.rolloutCorrection ?? GRPO_DEFAULTS.rolloutCorrection, tisCap: opts.tisCap ?? GRPO_DEFAULTS.tisCap,
    microBatchSize: opts.microBatchSize, clipped: opts.clipped, maxCompletionLength: opts.maxCompletionLength, update: true, details: false,
  }
}

function metricsOf(r: NativeStepReport): StepMetrics {
  return {
    loss: r.loss, kl: r.kl, clipFraction: r.clipFraction, gradNorm: r.gradNorm, lr: r.lr, skipped: r.skipped,
    tokens: r.tokens, seconds: { logprobs: r.seconds.logprobs, update: r.seconds.update, allreduce: r.seconds.allreduce ?? 0 },
    entropy: r.entropy, entropyKept: r.entropyKept, tisMean: r.tisMean, ...(r.rolloutLogpDiff ? { rolloutLogpDiff: r.rolloutLogpDiff } : {}),
  }
}

/** One encoded prompt in the native layout (its images' patch rows in one array, grids flat), validated. */
export function nativePrompt(p: EncodedPrompt, name: string): NativePromptIn {
  expectArg(typeof p === 'object' && p !== null, 'an encoded prompt { inputIds, pixelValues, imageGridThw }', name, p)
  expectArg(p.inputIds instanceof Int32Array && p.inputIds.length > 0, 'a non-empty Int32Array', `${name}.inputIds`, p.inputIds)
  expectArg(Array.isArray(p.pixelValues) && p.pixelValues.every((x: unknown) => x instanceof Float32Array), 'an array of Float32Array', `${name}.pixelValues`, p.pixelValues)
  expectArg(Array.isArray(p.imageGridThw) && p.imageGridThw.length === p.pixelValues.length, 'one [t, h, w] per image', `${name}.imageGridThw`, p.imageGridThw)
  let pixels: Float32Array | undefined
  if (p.pixelValues.length === 1) pixels = p.pixelValues[0]
  else if (p.pixelValues.length > 1) {
    pixels = new Float32Array(p.pixelValues.reduce((a: number, x: Float32Array) => a + x.length, 0))
    let o = 0
    for (const x of p.pixelValues) pixels.set(x, o), (o += x.length)
  }
  return pixels ? { inputIds: p.inputIds, pixelValues: pixels, imageGridThw: p.imageGridThw.flat() } : { inputIds: p.inputIds }
}

/** NativePolicy's rollout: the completions for JS, and the native Rollouts that holds prompts, images and tokens. */
export interface NativeRollouts extends Rollouts {
  readonly native: NativeRolloutsObject
}

/**
 * Groups rollouts by prompt object (the G completions of one prompt share it) into the native batch layout:
 * each distinct prompt (and its images) is sent, and encoded, once.
 */
export function toNativeBatch(rollouts: ReadonlyArray<{ prompt: EncodedPrompt; tokens: Int32Array; advantage?: number; oldLogprobs?: Float32Array; inLoss?: boolean }>, withOld: boolean): NativeBatch {
  expectArg(Array.isArray(rollouts) && rollouts.length > 0, 'a non-empty array of rollouts', 'rollouts', rollouts)
  const index = new Map<EncodedPrompt, number>()
  const prompts: NativeBatch['prompts'] = []
  const out: NativeBatch['rollouts'] = []
  rollouts.forEach((r, i) => {
    expectArg(typeof r === 'object' && r !== null && typeof r.prompt === 'object' && r.prompt !== null, 'a rollout { prompt, tokens, ... }', `rollouts[${i}]`, r)
    expectArg(r.tokens instanceof Int32Array, 'an Int32Array', `rollouts[${i}].tokens`, r.tokens)
    let k = index.get(r.prompt)
    if (k === undefined) {
      k = prompts.length
      index.set(r.prompt, k)
      prompts.push(nativePrompt(r.prompt, `rollouts[${i}].prompt`))
    }
    if (r.advantage !== undefined) expectArg(Number.isFinite(r.advantage), 'a finite number', `rollouts[${i}].advantage`, r.advantage)
    const item: NativeBatch['rollouts'][number] = { prompt: k, tokens: r.tokens, advantage: r.advantage ?? 0 }
    if (withOld || r.oldLogprobs !== undefined) {  // the sampler's log-probs: the clipped ratio's base, the agreement metric, TIS
      expectArg(r.oldLogprobs instanceof Float32Array && r.oldLogprobs.length === r.tokens.length,
        `a Float32Array of ${r.tokens.length} log-probs${withOld ? ' (clipped objective)' : ''}`, `rollouts[${i}].oldLogprobs`, r.oldLogprobs)
      item.oldLogprobs = r.oldLogprobs
    }
    if (r.inLoss !== undefined) item.inLoss = r.inLoss
    out.push(item)
  })
  return { prompts, rollouts: out }
}

/** A trainable Qwen2-VL / Qwen2.5-VL policy backed by the native trainer. */
export class NativePolicy implements TrainablePolicy {
  readonly model: NativeModelHandle
  readonly trainer: NativeTrainerObject
  readonly modelDir: string
  private readonly mergeOnSave: boolean
  private readonly ownsModel: boolean
  private readonly onSkip: (m: StepMetrics, total: number) => void
  private disposed = false
  private queue: Promise<unknown> = Promise.resolve()

  private constructor(model: NativeModelHandle, trainer: NativeTrainerObject, o: NativePolicyFromModelOptions) {
    this.model = model
    this.trainer = trainer
    this.modelDir = o.modelDir
    this.mergeOnSave = o.mergeOnSave ?? TRAINER_DEFAULTS.mergeLora
    this.ownsModel = o.ownsModel ?? false
    this.onSkip = o.onSkip ?? ((m, total) => console.warn(`vrft-native: non-finite loss or gradient (loss ${m.loss}, grad norm ${m.gradNorm}): update skipped (${total} so far)`))
  }

  /** Loads the model from `modelDir` and creates the trainer around it. */
  static async create(o: NativePolicyOptions): Promise<NativePolicy> {
    expectArg(typeof o === 'object' && o !== null, 'an options object', 'options', o)
    expectArg(typeof o.modelDir === 'string' && o.modelDir.length > 0, 'a model directory path', 'modelDir', o.modelDir)
    const config = o.config ?? readModelConfig(o.modelDir)
    const device = o.device ?? 'cpu'
    expectArg(typeof device === 'string', "a device such as 'cpu' or 'cuda:0'", 'device', device)
    const dtype = o.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32')
    expectArg(dtype === 'float32' || dtype === 'bfloat16', "'float32' or 'bfloat16'", 'dtype', dtype)
    const settings = resolveTrainerSettings(o.train ?? {}, o.modelDir)
    await checkConfigAgainstCheckpoint(o.modelDir, config, 'config.json', { dtype, device, ignoreMemory: o.ignoreMemoryPlan ?? false }) // before the native side allocates what the config says
    const mb = native()
    const model = await mb.modelLoad(o.modelDir, config, { dtype, device })
    traceModelLoad(model, o.modelDir)
    try {
      const trainer = await mb.trainerCreate(model, settings)
      return new NativePolicy(model, trainer, { ...o, model, ownsModel: true })
    } catch (e) {
      mb.modelDispose(model)
      throw e
    }
  }

  /** Creates the trainer around an already loaded model handle (trained in place). */
  static async fromModel(o: NativePolicyFromModelOptions): Promise<NativePolicy> {
    expectArg(typeof o === 'object' && o !== null, 'an options object', 'options', o)
    const settings = resolveTrainerSettings(o.train ?? {}, o.modelDir)
    const trainer = await native().trainerCreate(o.model, settings)
    return new NativePolicy(o.model, trainer, o)
  }

  private check(): void {
    if (this.disposed) throw new VrftError('ERR_POLICY_DISPOSED', 'Expected a live policy but this one was disposed')
  }

  /** Runs native calls one at a time (generation and updates share the weights). */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    this.check()
    const run = this.queue.then(fn, fn)
    this.queue = run.catch(() => undefined)
    return run
  }

  /**
   * Samples `opts.numGenerations` completions per prompt (prompt-major), cut after the first eos. The prompts and
   * their pixels cross into native code here, once per step: the returned rollout keeps them for grpoStep.
   */
  generate(prompts: EncodedPrompt[], opts: SamplingOptions): Promise<NativeRollouts> {
    expectArg(Array.isArray(prompts) && prompts.length > 0, 'a non-empty array of prompts', 'prompts', prompts)
    const inputs = prompts.map((p, i) => nativePrompt(p, `prompts[${i}]`))
    const sampling = resolveGenerateOptions({
      maxNewTokens: opts.maxNewTokens, numGenerations: opts.numGenerations, temperature: opts.temperature, topP: opts.topP,
      topK: opts.topK, eosIds: opts.eosTokenIds, ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
    })
    return this.serial(async () => {
      const r = await withAbort(opts.signal, (flag) =>
        native().trainerGenerate(this.trainer, { prompts: inputs, ...sampling, ...(flag ? { abortFlag: flag } : {}) }))
      const G = sampling.numGenerations
      const eos = new Set(sampling.eosIds)
      const completions: Completion[] = []
      for (let row = 0; row < r.rows; row++) {
        const n = r.lengths[row]!
        const tokens = r.ids.slice(row * r.steps, row * r.steps + n)
        completions.push({
          promptIndex: Math.floor(row / G), tokens, logprobs: r.logp.slice(row * r.steps, row * r.steps + n),
          finished: n > 0 && eos.has(tokens[n - 1]!),
        })
      }
      return { numGenerations: G, completions, native: r.rollouts }
    })
  }

  /** One GRPO optimizer update over a rollout from {@link generate} (gradients accumulated over micro-batches). */
  grpoStep(rollouts: Rollouts, advantages: ArrayLike<number>, opts: StepOptions): Promise<StepMetrics> {
    expectArg(typeof rollouts === 'object' && rollouts !== null && 'native' in rollouts, "a rollout made by this policy's generate()", 'rollouts', rollouts)
    const o = { ...stepOptions(opts), advantages: Float64Array.from(advantages), ...(opts.inLoss ? { inLoss: Array.from(opts.inLoss) } : {}) }
    return this.serial(async () => this.report(await native().trainerStep(this.trainer, (rollouts as NativeRollouts).native, o)))
  }

  /** A rollout of the listed prompt groups of earlier rollouts of this policy (native tensors shared, nothing re-sent). */
  selectGroups(parts: Array<{ rollouts: Rollouts; groups: number[] }>): NativeRollouts {
    this.check()
    expectArg(Array.isArray(parts) && parts.length > 0, 'a non-empty array of { rollouts, groups }', 'parts', parts)
    const G = parts[0]!.rollouts.numGenerations
    const completions: Completion[] = []
    const nat = parts.map((p, k) => {
      expectArg(typeof p.rollouts === 'object' && p.rollouts !== null && 'native' in p.rollouts, "a rollout made by this policy's generate()", `parts[${k}].rollouts`, p.rollouts)
      for (const g of p.groups) {
        for (let j = 0; j < G; j++) completions.push({ ...p.rollouts.completions[g * G + j]!, promptIndex: completions.length / G | 0 })
      }
      return { rollouts: (p.rollouts as NativeRollouts).native, groups: p.groups }
    })
    return { numGenerations: G, completions, native: native().trainerRolloutsSelect(nat) }
  }

  /** One GRPO optimizer update over an explicit batch of rollouts (each with its prompt and advantage). */
  grpoStepBatch(rollouts: Rollout[], opts: StepOptions): Promise<StepMetrics> {
    const o = stepOptions(opts)
    const batch = toNativeBatch(rollouts, opts.clipped)
    return this.serial(async () => this.report(await native().trainerGrpoStep(this.trainer, batch, o)))
  }

  private report(r: NativeStepReport): StepMetrics {
    const m = metricsOf(r)
    if (r.skipped) this.onSkip(m, r.skippedTotal)
    return m
  }

  /** One SFT step: cross-entropy on `targets` after each prompt, mean over all target tokens. */
  sftStep(batch: Array<{ prompt: EncodedPrompt; targets: Int32Array }>, opts: { microBatchSize: number }): Promise<StepMetrics> {
    expectArg(Array.isArray(batch) && batch.length > 0, 'a non-empty array of { prompt, targets }', 'batch', batch)
    expectArg(Number.isInteger(opts?.microBatchSize) && opts.microBatchSize >= 1, 'an integer >= 1', 'microBatchSize', opts?.microBatchSize)
    const nb = toNativeBatch(batch.map((b) => ({ prompt: b.prompt, tokens: b.targets })), false)
    return this.serial(async () => {
      return this.report(await native().trainerSftStep(this.trainer, nb, { microBatchSize: opts.microBatchSize, update: true }))
    })
  }

  /** Teacher-forced per-token log-probs of completions under the policy or the reference, one array each. */
  logprobs(rollouts: Array<{ prompt: EncodedPrompt; tokens: Int32Array }>, opts: { reference?: boolean; microBatchSize?: number } = {}): Promise<Float32Array[]> {
    const nb = toNativeBatch(rollouts, false)
    return this.serial(async () => {
      const r = await native().trainerLogprobs(this.trainer, nb, { reference: opts.reference ?? false, microBatchSize: opts.microBatchSize ?? GRPO_DEFAULTS.microBatchSize })
      return rollouts.map((x, i) => r.logp.slice(i * r.length, i * r.length + x.tokens.length))
    })
  }

  /** HF model directory (with LoRA: the PEFT adapter, or the merged model when mergeOnSave). */
  saveModel(dir: string): Promise<void> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a directory path', 'dir', dir)
    return this.serial(() => native().trainerSaveModel(this.trainer, dir, { merge: this.mergeOnSave }))
  }

  /** The merged full model in HF format (LoRA or not). */
  saveMergedModel(dir: string): Promise<void> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a directory path', 'dir', dir)
    return this.serial(() => native().trainerSaveModel(this.trainer, dir, { merge: true }))
  }

  saveState(dir: string): Promise<void> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a directory path', 'dir', dir)
    return this.serial(() => native().trainerSaveState(this.trainer, dir))
  }

  /** Σ x² over the trainable parameters (float64): data-parallel ranks compare it. */
  checksum(): Promise<number> {
    return this.serial(() => native().trainerChecksum(this.trainer))
  }

  loadState(dir: string): Promise<void> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a directory path', 'dir', dir)
    return this.serial(() => native().trainerLoadState(this.trainer, dir))
  }

  /** Optimizer step count, skipped updates, current lr. */
  info(): { step: number; skipped: number; calls: number; lr: number; trainable: number; lora: boolean } {
    this.check()
    return native().trainerInfo(this.trainer)
  }

  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    native().trainerDispose(this.trainer)
    if (this.ownsModel) native().modelDispose(this.model)
  }
}
