/**
 * From a resolved configuration to the things a trainer needs: the model directory (path or hub id),
 * tokenizer, image-processor settings, prompt encoder, data sets, reward set and the policy. The policy
 * comes from NativePolicy (lib/train/native-policy.ts) unless `VRFT_POLICY_MODULE` names a module whose
 * `createPolicy(options)` returns a TrainablePolicy (tests use an in-memory fake; other backends can
 * plug in the same way).
 */
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { VrftError } from '../errors.js'
import { openDataset } from '../data/index.js'
import type { Sample, Task } from '../data/types.js'
import { readModelConfig } from '../model/config.js'
import { loadPreprocessorConfig, type PreprocessorConfig } from '../model/preprocess.js'
import { loadTokenizer, resolveModelTokenizer, type QwenTokenizer } from '../model/tokenizer.js'
import { loadUserReward, parseRewardSpec, rewardSet, type NamedReward } from '../rewards/scorer.js'
import { nativeAvailable, native } from '../native/binding.js'
import type { SftConfig, TrainConfig } from './config.js'
import { makePromptEncoder } from './encode.js'
import { resolveModel } from './hub.js'
import type { PromptEncoder, SampleSource } from './loop.js'
import type { TrainablePolicy } from './types.js'

/** What a policy factory gets. */
export interface PolicyFactoryOptions {
  modelDir: string
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
  /** Keep a frozen reference model (needed when β > 0). */
  reference: boolean
  seed: number
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
    config: readModelConfig(o.modelDir),
    device: o.device,
    ...(o.dtype ? { dtype: o.dtype } : {}),
    train: {
      lr: o.learningRate, beta1: o.adamBeta1, beta2: o.adamBeta2, eps: o.adamEpsilon, weightDecay: o.weightDecay,
      maxGradNorm: o.maxGradNorm, schedule: o.lrScheduler, warmupSteps: o.warmupSteps, totalSteps: o.totalSteps,
      reference: o.reference, seed: o.seed,
    },
  })
}

/** Policy-factory options from a resolved config. */
export function policyOptions(cfg: TrainConfig | SftConfig, modelDir: string): PolicyFactoryOptions {
  return {
    modelDir, device: resolveDevice(cfg.device), ...(cfg.dtype === 'auto' ? {} : { dtype: cfg.dtype }),
    learningRate: cfg.learningRate, weightDecay: cfg.weightDecay, adamBeta1: cfg.adamBeta1, adamBeta2: cfg.adamBeta2,
    adamEpsilon: cfg.adamEpsilon, lrScheduler: cfg.lrScheduler, warmupSteps: cfg.warmupSteps, totalSteps: cfg.maxSteps,
    maxGradNorm: cfg.maxGradNorm, reference: 'beta' in cfg ? cfg.beta > 0 : false, seed: cfg.seed,
  }
}

/** Tokenizer, image settings and encoder of a model directory. */
export interface ModelIO {
  modelDir: string
  tokenizer: QwenTokenizer
  preprocessor: PreprocessorConfig
  encode: PromptEncoder
  eosTokenIds: number[]
}

/** Load the tokenizer (resolveModelTokenizer: the model's own unless `tokenizer` says otherwise) and image settings of `modelDir`. */
export async function modelIO(modelDir: string, pixels: { minPixels: number; maxPixels: number; tokenizer?: string }): Promise<ModelIO> {
  let stopIds: number[] | undefined
  try {
    const g = JSON.parse(await readFile(join(modelDir, 'generation_config.json'), 'utf8')) as { eos_token_id?: unknown }
    const e = g.eos_token_id
    stopIds = Array.isArray(e) ? e.filter((x): x is number => Number.isInteger(x)) : Number.isInteger(e) ? [e as number] : undefined
  } catch { /* no generation_config.json */ }
  const tokenizer = loadTokenizer(resolveModelTokenizer(modelDir, pixels.tokenizer), stopIds?.length ? { specialIds: { stopIds } } : {})
  const preprocessor = await loadPreprocessorConfig(modelDir, { minPixels: pixels.minPixels, maxPixels: pixels.maxPixels })
  return { modelDir, tokenizer, preprocessor, encode: makePromptEncoder(tokenizer, preprocessor), eosTokenIds: tokenizer.special.stopIds }
}

/** Open a data file as a SampleSource. */
export async function openData(path: string, task?: Task, onError: 'throw' | 'skip' = 'throw'): Promise<SampleSource & { source?: string }> {
  const ds = await openDataset(path, { ...(task ? { task } : {}), onError })
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
  return resolveModel(spec).dir
}

/** Default run directory: runs/<kind>-<UTC time>. */
export function defaultRunDir(kind: string): string {
  return join('runs', `${kind}-${new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19)}`)
}

/** A generation-only policy for evaluation (no optimizer, no reference model). */
export async function loadEvalPolicy(modelDir: string, o: { device: string; dtype?: 'float32' | 'bfloat16' }): Promise<Pick<TrainablePolicy, 'generate' | 'dispose'>> {
  if (process.env.VRFT_POLICY_MODULE) {
    return createPolicy({ modelDir, device: o.device, learningRate: 1e-6, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 0, maxGradNorm: 1, reference: false, seed: 0 })
  }
  const { loadGenerationModel } = await import('../generate.js')
  const { generateIds, leftPaddedBatch } = await import('../native/generate.js')
  const m = await loadGenerationModel(modelDir, { device: o.device, ...(o.dtype ? { dtype: o.dtype } : {}) })
  return {
    async generate(prompts, opts) {
      const r = await generateIds(m.handle, leftPaddedBatch(prompts, m.padId), { maxNewTokens: opts.maxNewTokens, numSamples: opts.numSamples, temperature: opts.temperature, topP: opts.topP, topK: opts.topK, eosIds: opts.eosTokenIds, ...(opts.seed !== undefined ? { seed: opts.seed } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })
      return r.completions.map((c, row) => ({ promptIndex: Math.floor(row / r.numSamples), tokens: Int32Array.from(c), logprobs: Float32Array.from(r.logprobs[row]!), finished: r.finished[row]! }))
    },
    dispose: () => m.dispose(),
  }
}
