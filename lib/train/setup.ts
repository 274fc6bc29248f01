/**
 * From a resolved configuration to the things a trainer needs: the model folder (path or hub id, read by
 * the one loader, lib/model/load.ts: config, tokenizer, image settings, stop ids), the prompt encoder, data
 * sets, reward set and the policy (given the config the loader read). The policy
 * comes from NativePolicy (lib/train/native-policy.ts) unless `VRFT_POLICY_MODULE` names a module whose
 * `createPolicy(options)` returns a TrainablePolicy (tests use an in-memory fake; other backends can
 * plug in the same way).
 */
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { VrftError } from '../errors.js'
import { openDataset } from '../data/index.js'
import type { Sample, Task } from '../sample.js'
import { readModelConfig, type ModelConfig } from '../model/config.js'
import { loadWeights, readModelFolder, resolveModelFolder, type ModelFolder } from '../model/load.js'
import type { PreprocessorConfig } from '../model/preprocess.js'
import type { QwenTokenizer } from '../model/tokenizer.js'
import { loadUserReward, parseRewardSpec, rewardSet, type NamedReward } from '../rewards/scorer.js'
import { nativeAvailable, native } from '../native/binding.js'
import type { SftConfig, TrainConfig } from './config.js'
import { GRPO_DEFAULTS, needsReference } from '../defaults.js'
import { makePromptEncoder } from './encode.js'
import type { PromptEncoder, SampleSource } from './loop.js'
import type { TrainablePolicy } from './types.js'

/** What a policy factory gets. */
export interface PolicyFactoryOptions {
  modelDir: string
  /** The model config as the loader read it (lib/model/load.ts); read from modelDir when absent. */
  config?: ModelConfig
  device: string
  dtype?: 'float32' | 'bfloat16'
  learningRate: number
  weightDecay: number
  adamBeta1: number
  adamBeta2: number
  adamEpsilon: number
  lrScheduler: 'linear' | 'cosine' | 'constant'
  warmupSteps: number
  totalSteps: number
  maxGradNorm: number
  /** Keep a frozen reference model (needed when β > 0; with LoRA the base with the adapters off, no copy). */
  reference: boolean
  seed: number
  /** LoRA instead of full fine-tuning (absent: full fine-tuning). */
  lora?: { rank: number; alpha: number; targets: string[] }
  /** With LoRA: checkpoints hold the merged model instead of the PEFT adapter. Default TRAINER_DEFAULTS.mergeLora. */
  mergeLora?: boolean
  /** Default TRAINER_DEFAULTS.gradientCheckpointing / freezeVision / freezeMerger. */
  gradientCheckpointing?: boolean
  freezeVision?: boolean
  freezeMerger?: boolean
  /** Skip the memory check of the weights (--ignore-memory-plan). Default false. */
  ignoreMemoryPlan?: boolean
}

/** Builds a policy. */
export type PolicyFactory = (o: PolicyFactoryOptions) => Promise<TrainablePolicy>

/** 'auto' → cuda when the addon sees a GPU, else cpu. */
export function resolveDevice(device: string): string {
  if (device !== 'auto') return device
  try {
    return nativeAvailable() && native().runtimeInfo().cudaAvailable ? 'cuda' : 'cpu'
  } catch {
    return 'cpu'
  }
}

/** The default factory: NativePolicy over the addon (or VRFT_POLICY_MODULE's createPolicy). */
export async function createPolicy(o: PolicyFactoryOptions): Promise<TrainablePolicy> {
  const mod = process.env.VRFT_POLICY_MODULE
  if (mod) {
    const m = (await import(pathToFileURL(resolve(mod)).href)) as { createPolicy?: PolicyFactory }
    if (typeof m.createPolicy !== 'function') throw new VrftError('ERR_CONFIG', `Expected VRFT_POLICY_MODULE ${mod} to export createPolicy(options) but it does not`)
    return m.createPolicy(o)
  }
  const { NativePolicy } = await import('./native-policy.js')
  return NativePolicy.create({
    modelDir: o.modelDir,
    config: o.config ?? readModelConfig(o.modelDir),
    device: o.device,
    ...(o.dtype ? { dtype: o.dtype } : {}),
    ...(o.mergeLora !== undefined ? { mergeOnSave: o.mergeLora } : {}),
    ...(o.ignoreMemoryPlan ? { ignoreMemoryPlan: true } : {}),
    train: {
      lr: o.learningRate, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEpsilon, weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm, schedule: o.lrScheduler, warmupSteps: o.warmupSteps, totalSteps: o.totalSteps,
      reference: o.reference, seed: o.seed,
      ...(o.lora ? { lora: o.lora } : {}),
      ...(o.gradientCheckpointing !== undefined ? { gradientCheckpointing: o.gradientCheckpointing } : {}),
      ...(o.freezeVision !== undefined ? { freezeVision: o.freezeVision } : {}),
      ...(o.freezeMerger !== undefined ? { freezeMerger: o.freezeMerger } : {}),
    },
  })
}

/** Policy-factory options from a resolved config and the model folder the loader read (or its path). */
export function policyOptions(cfg: TrainConfig | SftConfig, model: string | ModelFolder): PolicyFactoryOptions {
  const modelDir = typeof model === 'string' ? model : model.dir
  return {
    modelDir, ...(typeof model === 'string' ? {} : { config: model.config }), device: resolveDevice(cfg.device), ...(cfg.dtype === 'auto' ? {} : { dtype: cfg.dtype }),
    learningRate: cfg.learningRate, weightDecay: cfg.weightDecay, adamBeta1: cfg.adamBeta1, adamBeta2: cfg.adamBeta2,
    adamEpsilon: cfg.adamEpsilon, lrScheduler: cfg.lrScheduler, warmupSteps: cfg.warmupSteps, totalSteps: cfg.maxSteps,
    maxGradNorm: cfg.maxGradNorm, reference: 'beta' in cfg ? needsReference(cfg.beta) : false, seed: cfg.seed,
    ...(cfg.loraRank > 0 ? { lora: { rank: cfg.loraRank, alpha: cfg.loraAlpha, targets: [...cfg.loraTargets] } } : {}),
    mergeLora: cfg.mergeLora, ignoreMemoryPlan: cfg.ignoreMemoryPlan, gradientCheckpointing: cfg.gradientCheckpointing, freezeVision: cfg.freezeVision, freezeMerger: cfg.freezeMerger,
  }
}

/** Tokenizer, image settings, encoder and stop ids of a model folder. */
export interface ModelIO {
  modelDir: string
  /** What the loader read (config, tokenizer, image settings, stop ids); pass it on instead of re-reading. */
  folder: ModelFolder
  tokenizer: QwenTokenizer
  preprocessor: PreprocessorConfig
  encode: PromptEncoder
  /** The folder's stop ids (lib/model/load.ts `ModelFolder.eosIds`). */
  eosTokenIds: number[]
}

/**
 * Read a model folder with the run's min/max pixels and tokenizer choice (lib/model/load.ts: tokenizer.json,
 * else ERR_TOKENIZER_MISSING unless `tokenizer: 'builtin'`) and make its prompt encoder.
 */
export async function modelIO(modelDir: string, o: { minPixels: number; maxPixels: number; tokenizer?: string }): Promise<ModelIO> {
  const folder = await readModelFolder(modelDir, {
    preprocessor: { minPixels: o.minPixels, maxPixels: o.maxPixels }, ...(o.tokenizer !== undefined ? { tokenizer: o.tokenizer } : {}),
  })
  const { tokenizer, preprocessor } = folder
  return { modelDir: folder.dir, folder, tokenizer, preprocessor, encode: makePromptEncoder(tokenizer, preprocessor, { chat: folder.chat }), eosTokenIds: folder.eosIds }
}

/**
 * Open `--data` (a file, a folder of shards or a cached hub data set; `split` of the latter two) as a
 * SampleSource; `onError: 'skip'` (--on-data-error skip) counts bad records instead of failing.
 */
export async function openData(path: string, task?: Task, o: { split?: string; onError?: 'throw' | 'skip' } = {}): Promise<SampleSource & { source?: string }> {
  const ds = await openDataset(path, { ...(task ? { task } : {}), ...(o.split ? { split: o.split } : {}), onError: o.onError ?? 'throw' })
  if (ds.length === 0) throw new VrftError('ERR_DATA_EMPTY', `Expected at least one sample in ${path} but it has none`)
  return ds
}

/** The task of a run: the config's, else the first sample's. */
export async function resolveTask(cfgTask: Task | undefined, data: SampleSource): Promise<Task> {
  if (cfgTask) return cfgTask
  const s: Sample = await data.get(0)
  if (s.task) return s.task
  throw new VrftError('ERR_CONFIG', 'Invalid option --task: expected detection, classification or grounding but received undefined (the samples do not say; pass --task)')
}

/** The reward set of a GRPO config: built-ins of the task (unless --no-builtin-rewards) plus --reward modules. */
export async function rewardsOf(cfg: TrainConfig, task: Task): Promise<NamedReward[]> {
  const set: NamedReward[] = cfg.builtinRewards
    ? rewardSet(task, {
      detection: { normalize: cfg.iouNormalize, threshold: cfg.iouThreshold },
      classification: { mode: cfg.classificationMatch },
      grounding: { mode: cfg.groundingReward },
    })
    : []
  for (const r of cfg.reward) {
    const { spec, weight } = parseRewardSpec(r)
    set.push(await loadUserReward(spec, { weight }))
  }
  if (set.length === 0) throw new VrftError('ERR_CONFIG', 'Invalid option --reward: expected at least one reward with --no-builtin-rewards but received none')
  return set
}

/** The model directory of `--model` (path or hub id). */
export function modelDirOf(spec: string | undefined, what = '--model'): string {
  if (!spec) throw new VrftError('ERR_CONFIG', `Invalid option ${what}: expected a model directory or hub id but received undefined`)
  return resolveModelFolder(spec).dir
}

/** Default run directory: runs/<kind>-<UTC time>. */
export function defaultRunDir(kind: string): string {
  return join('runs', `${kind}-${new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19)}`)
}

/** A generation-only policy for evaluation (no optimizer, no reference model) over a folder the loader read. */
export async function loadEvalPolicy(model: string | ModelFolder, o: { device: string; dtype?: 'float32' | 'bfloat16' }): Promise<Pick<TrainablePolicy, 'generate' | 'dispose'>> {
  if (process.env.VRFT_POLICY_MODULE) {
    const modelDir = typeof model === 'string' ? model : model.dir
    const D = GRPO_DEFAULTS // a generation-only policy: the optimizer settings are never used
    return createPolicy({ modelDir, device: o.device, learningRate: D.learningRate, weightDecay: D.weightDecay, adamBeta1: D.adamBeta1, adamBeta2: D.adamBeta2, adamEpsilon: D.adamEpsilon, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 0, maxGradNorm: D.maxGradNorm, reference: false, seed: D.seed })
  }
  const { generateIds, leftPaddedBatch } = await import('../native/generate.js')
  const folder = typeof model === 'string' ? await readModelFolder(model) : model
  const m = await loadWeights(folder, { device: o.device, ...(o.dtype ? { dtype: o.dtype } : {}) })
  return {
    async generate(prompts, opts) {
      const r = await generateIds(m.handle, leftPaddedBatch(prompts, m.padId), { maxNewTokens: opts.maxNewTokens, numGenerations: opts.numGenerations, temperature: opts.temperature, topP: opts.topP, topK: opts.topK, eosIds: opts.eosTokenIds, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })
      return { numGenerations: r.numGenerations, completions: r.completions.map((c, row) => ({ promptIndex: Math.floor(row / r.numGenerations), tokens: Int32Array.from(c), logprobs: Float32Array.from(r.logprobs[row]!), finished: r.finished[row]! })) }
    },
    dispose: () => m.dispose(),
  }
}
