/**
 * The native addon: its loader and the one typed declaration of the whole binding contract.
 * Every heavy native function returns a Promise and runs on a libuv worker thread; errors carry a `code`.
 * Set VRFT_NATIVE_ADDON to load an addon from another path (e.g. the node-gyp build).
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VrftError, nativeError } from '../errors.js'

/** Result of a repeated measurement. */
export interface Measured { median: number; best: number; repetitions: number }

/** What `runtimeInfo()` reports (used by `vrft-native doctor`). */
export interface RuntimeInfo {
  torchVersion: string
  torchDir: string
  builtWithCuda: boolean
  cudaAvailable: boolean
  cudaDevices: number
  parallelInfo: string
  blas: string
  referenceBlas: boolean
  haveGloo: boolean
  numThreads: number
  /** The CPU decode kernels (skinny GEMM, short-query attention) compiled for this CPU: 'avx512', 'avx2', or
   * 'none' (torch::linear and the usual attention everywhere). */
  skinnyGemm: 'avx512' | 'avx2' | 'none'
  /** The bfloat16 decode GEMM: 'avx512bf16' (vdpbf16ps), 'avx512' / 'avx2' (widening to float32), or 'none'. */
  skinnyGemmBf16: 'avx512bf16' | 'avx512' | 'avx2' | 'none'
  /** Whether they are in use (VRFT_SKINNY_GEMM=0 or setSkinnyGemm(false) turn them off). */
  skinnyGemmEnabled: boolean
  /** Whether the decode GEMMs read packed copies of the weights (VRFT_PACK_WEIGHTS, setPackedWeights). */
  packedWeights: boolean
  napiVersion: number
}

/** One tensor entry of a safetensors header. */
export interface TensorEntry { name: string; dtype: SafetensorsDtype; shape: number[]; begin: number; end: number }
export type SafetensorsDtype = 'F32' | 'F16' | 'BF16' | 'F64' | 'I64' | 'I32' | 'I16' | 'I8' | 'U8' | 'BOOL'
/** A tensor handed to or read from native code as raw little-endian bytes. */
export interface RawTensor { name?: string; dtype: SafetensorsDtype; shape: number[]; data: Uint8Array }

/** Model family. */
export type ModelArch = 'qwen2-vl' | 'qwen2.5-vl' | 'qwen3-vl'

/** Vision tower settings (flat). */
export interface VisionSettings {
  depth: number
  /** Vision width (Qwen2-VL `embed_dim`, Qwen2.5-VL / Qwen3-VL `hidden_size`). */
  width: number
  numHeads: number
  /** Vision MLP hidden size (Qwen2-VL embed_dim·mlp_ratio, Qwen2.5-VL intermediate_size). */
  intermediate: number
  act: 'quick_gelu' | 'silu' | 'gelu' | 'gelu_pytorch_tanh'
  patchSize: number
  temporalPatchSize: number
  spatialMergeSize: number
  inChannels: number
  /** Merger output width = the LLM hidden size. */
  outHidden: number
  windowSize: number
  fullattBlockIndexes: number[]
  tokensPerSecond: number
  /** Qwen3-VL: learned absolute position embeddings (a square grid, bilinearly interpolated per image). */
  numPositionEmbeddings?: number
  /** Qwen3-VL: vision blocks whose outputs feed the DeepStack mergers (added after decoder layers 0, 1, …). */
  deepstackVisualIndexes?: number[]
}

/** The flat, validated config handed to native code. */
export interface ModelConfig {
  arch: ModelArch
  vocabSize: number
  hiddenSize: number
  intermediateSize: number
  numLayers: number
  numHeads: number
  numKvHeads: number
  headDim: number
  rmsNormEps: number
  ropeTheta: number
  mropeSection: [number, number, number]
  tieWordEmbeddings: boolean
  imageTokenId: number
  videoTokenId: number
  visionStartTokenId: number
  visionEndTokenId: number
  /** eos id(s) from config.json (generation_config.json may list more). */
  eosTokenIds: number[]
  padTokenId: number | null
  vision: VisionSettings
}

/**
 * The native objects (native/napi/objects.h): one type-tagged class per concept. They are made only by the
 * functions below (`new` throws); passing one where another is expected is a TypeError with ERR_INVALID_ARG
 * naming both. Their fields live natively; JS holds them only to hand them back.
 */
export declare class NativeModelObject { private readonly __native: 'Model' }
export declare class NativeTrainerObject { private readonly __native: 'Trainer' }
export declare class NativeRolloutsObject { private readonly __native: 'Rollouts' }
export declare class NativeAbortFlag { private readonly __native: 'AbortFlag' }

/** One prompt, tokenized and preprocessed: what native generation and training take. */
export interface EncodedPrompt {
  /** Prompt token ids (chat template applied, image pads expanded), unpadded. */
  inputIds: Int32Array
  /** One (N_i, patch_dim) float32 patch array per image, row-major. */
  pixelValues: Float32Array[]
  /** [t, h, w] patch grid per image. */
  imageGridThw: Array<[number, number, number]>
}

/** Token batch: B rows of T ids, left padded, row-major. */
export interface TokenBatchInput {
  /** B·T token ids, row-major. */
  inputIds: Int32Array | number[]
  /** Number of rows B. */
  batch: number
  /** B·T values, 1 = real token, 0 = left padding (default: all 1). */
  attentionMask?: Int32Array | number[]
  /** 3 integers (t, h, w) per image, images of row 0 first. */
  imageGridThw?: number[]
}

/** Options of the model forward. */
export interface ForwardOptions extends TokenBatchInput {
  /** Patchified pixels (N × patch_dim) of all images, float32 (copied once into a tensor). */
  pixelValues?: Float32Array
  /** Which logits to return: all positions (B,T,V), the last column (B,V), chosen `positions` (B,P,V), none. */
  logits?: 'all' | 'last' | 'positions' | 'none'
  /** Column indexes for logits: 'positions'. */
  positions?: number[]
  /** Return the top-k logits per position (B,T,k), computed in chunks. */
  topk?: number
  /** Return logsumexp of the logits per position (B,T). */
  logsumexp?: boolean
  /** Return intermediates (vision patch embedding + block outputs, decoder layer inputs/outputs, image embeds). */
  trace?: boolean
}

/** A float tensor copied out of native code. */
export interface FloatTensor { data: Float32Array; shape: number[] }

/** Result of the model forward. */
export interface ForwardResult {
  /** (3, B, T) M-RoPE position ids, row-major; padding positions are 1. */
  positionIds: Int32Array
  /** Per row: max position + 1 − T (T = padded length). */
  ropeDeltas: number[]
  logits?: Float32Array
  logitsShape?: number[]
  topkValues?: Float32Array
  topkIds?: Int32Array
  logsumexp?: Float32Array
  trace?: { vision: FloatTensor[]; hidden: FloatTensor[]; imageEmbeds?: FloatTensor }
}

/** Which decoding implementation runs: the real one, or a baseline the benchmarks compare it to. */
export type GenerateMode = 'cache' | 'nocache' | 'per_sample_prefill'

/** The sampling and stopping fields of every native generate call; all required (defaults are resolved in TS). */
export interface NativeSampling {
  maxNewTokens: number
  /** Completions per prompt (G). */
  numGenerations: number
  temperature: number
  greedy: boolean
  topP: number
  topK: number
  eosIds: number[]
  padId: number
  seed?: number
  mode: GenerateMode
  abortFlag?: NativeAbortFlag
  onTokens?: (tokens: Int32Array, step: number) => void
}

/** Options object of the model-level `generate`: a left-padded batch plus the sampling fields. */
export interface GenerateNativeOptions extends NativeSampling {
  inputIds: Int32Array | number[]
  batch: number
  attentionMask?: Int32Array | number[]
  pixelValues?: Float32Array
  imageGridThw?: number[]
}

/** What a native generate resolves to. Row r = prompt ⌊r / G⌋, sample r mod G. */
export interface GenerateNativeResult {
  rows: number
  steps: number
  /** (rows, steps) row-major; padId after a row's end. */
  ids: Int32Array
  /** Tokens generated per row (eos included). */
  lengths: Int32Array
  /** (rows, steps) log-prob of each sampled token at temperature 1; 0 after a row's end. */
  logp: Float32Array
  /** (rows, steps) the same at the sampling temperature (only when sampling with temperature ≠ 1). */
  logpTemp?: Float32Array
  promptLength: number
  prefillSeconds: number
  decodeSeconds: number
}

/** Options object of the native `logprobs`. */
export interface LogprobsNativeOptions {
  inputIds: Int32Array | number[]
  batch: number
  attentionMask?: Int32Array | number[]
  pixelValues?: Float32Array
  imageGridThw?: number[]
  completionIds: Int32Array | number[]
  completionRows: number
  completionMask?: Int32Array | number[]
  chunk: number
  entropy: boolean
  temperature: number
  sharePrefix: boolean
}

/** What the native `logprobs` resolves to. */
export interface LogprobsNativeResult {
  rows: number
  length: number
  /** (rows, length) row-major; 0 where the completion mask is 0. */
  logp: Float32Array
  entropy?: Float32Array
  /** Largest float32 logits chunk (bytes) built since the last logitsChunkPeak(true). */
  peakChunkBytes: number
}

/** The validated, complete object trainerCreate reads (resolveTrainerSettings in lib/native/trainer.ts). */
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
  lora?: { rank: number; alpha: number; targets: string[] }
}

/** One prompt of an explicit native batch (SFT, log-probs, tests). */
export interface NativePromptIn {
  inputIds: Int32Array
  pixelValues?: Float32Array
  /** Flat [t, h, w] per image. */
  imageGridThw?: number[]
}

/** One completion (GRPO) or target sequence (SFT) of an explicit native batch. */
export interface NativeRolloutIn {
  /** Index into `prompts`. */
  prompt: number
  tokens: Int32Array
  advantage?: number
  oldLogprobs?: Float32Array
  /** Reference log-probs given directly (instead of the reference model). */
  refLogprobs?: Float32Array
  /** false: left out of the loss and its normalizers (--mask-truncated-completions). Default true. */
  inLoss?: boolean
}

export interface NativeBatch {
  prompts: NativePromptIn[]
  rollouts: NativeRolloutIn[]
}

/** The loss types (TRL's `loss_type` names; README "Objective options"). */
export type LossType = 'grpo' | 'bnpo' | 'dr_grpo' | 'dapo'
/** Importance-sampling level of the ratio (GSPO: sequence, sequence_token). */
export type ImportanceSamplingLevel = 'token' | 'sequence' | 'sequence_token'

/**
 * Options of a GRPO update; required (resolved from lib/defaults.ts), except the objective variants of issue
 * #20, which low-level callers may leave out: absent = off, the paper's objective (lib/train/native-policy.ts
 * always sends them).
 */
export interface NativeGrpoOptions {
  beta: number
  epsilonLow: number
  epsilonHigh: number
  /** The loss type; 'token' is the binding's pre-#20 name of 'dapo', still accepted here. */
  aggregation: LossType | 'token'
  importanceSamplingLevel?: ImportanceSamplingLevel
  /** Entropy masking: only tokens in the top q of the micro-batch's entropies carry the policy term (1 = off). */
  topEntropyQuantile?: number
  /** 'tis': weight each token's policy term by min(π_train / π_rollout, tisCap) (needs oldLogprobs, μ = 1). */
  rolloutCorrection?: 'none' | 'tis'
  tisCap?: number
  microBatchSize: number
  clipped: boolean
  /** dr_grpo denominator; 0 = the longest completion of the batch. */
  maxCompletionLength: number
  /** false: compute loss and gradients only (no update; gradients stay readable). */
  update: boolean
  /** Return per-token logp / reference logp / KL / loss. */
  details: boolean
}

/** What a native step resolves to. */
export interface NativeStepReport {
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
  seconds: { logprobs: number; update: number; allreduce: number }
  /** Completed optimizer updates. */
  step: number
  /** Updates skipped by the non-finite guard so far. */
  skippedTotal: number
  /** Mean predictive entropy of the in-loss tokens (nats), from the chunked LM-head pass. */
  entropy: number
  /** Fraction of in-loss tokens the entropy mask keeps (1 when topEntropyQuantile is 1). */
  entropyKept: number
  /** Mean TIS weight over the in-loss tokens (1 when rollout correction is off). */
  tisMean: number
  /** |logp_rollout − logp_train| per in-loss token (present when every rollout carries the sampler's log-probs). */
  rolloutLogpDiff?: { mean: number; max: number }
  /** (rows, length) row-major, when details was asked for. */
  details?: { length: number; logp: Float32Array; refLogp: Float32Array; kl: Float32Array; perTokenLoss: Float32Array }
}

/** What trainerGenerate resolves to: the native Rollouts plus the completions for JS to decode and score. */
export interface NativeRolloutResult extends GenerateNativeResult {
  rollouts: NativeRolloutsObject
}

export type DistBackend = 'gloo' | 'nccl'

/** The whole native binding contract (native/napi/*.cpp). Every heavy function returns a Promise and runs on a
 * libuv worker thread; every error is a VrftError with a `code` (argument errors are TypeError/RangeError too). */
export interface NativeBinding {
  // runtime
  runtimeInfo(): RuntimeInfo
  setNumThreads(n: number): number
  getNumThreads(): number
  /** Turn the CPU decode kernels on or off (process-wide); returns whether they are now in use. */
  setSkinnyGemm(on: boolean): boolean
  /** Let the decode GEMMs read packed copies of the weights, or the weights as stored (process-wide). */
  setPackedWeights(on: boolean): boolean
  /** Test hook: the decode kernel against torch::linear on random (m, k)·(n, k)ᵀ inputs. */
  decodeAttentionCheck(o: { b: number; h: number; r: number; l: number; d: number; mask?: 0 | 1 | 2; seed?: number }): Promise<{ maxAbsDiff: number; maxAbsRef: number; used: boolean }>
  skinnyGemmCheck(o: { m: number; k: number; n: number; bias?: boolean; strided?: boolean; packed?: boolean; seed?: number }): Promise<{ maxAbsDiff: number; maxAbsRef: number; used: boolean; tasks: number; packed: boolean }>
  /** Test hook: the bfloat16 decode kernel against the exact product of random bfloat16 inputs (and libtorch's bf16 linear). */
  skinnyGemmBf16Check(o: { m: number; k: number; n: number; bias?: boolean; strided?: boolean; seed?: number }): Promise<{ maxAbsDiff: number; torchAbsDiff: number; maxAbsRef: number; used: boolean; outBf16: boolean }>
  measureMatmul(o: { n?: number; dtype?: 'float32' | 'bfloat16' | 'float16'; device?: string; reps?: number }): Promise<Measured>
  /** FLOP/s of the model's linear layer x (m, k) · W (n, k)ᵀ in `dtype`, as the model runs it (decode kernels for m <= 16). */
  measureLinear(o: { m: number; k: number; n: number; dtype?: 'float32' | 'bfloat16' | 'float16'; device?: string; reps?: number }): Promise<Measured>
  measureBandwidth(o: { bytes?: number; device?: string; reps?: number }): Promise<Measured>
  busyWork(ms: number): Promise<number>
  throwTest(kind: string, async?: boolean): Promise<void> | void
  /** Every error the addon raises is made by `factory` (set once by native()). */
  setErrorFactory(factory: (kind: 'type' | 'range' | 'error', code: string, message: string) => Error): void
  /** Pixel arrays (and bytes) copied from JS into native tensors since the last reset: each prompt's images should
   * cross once per GRPO step. */
  transferStats(reset?: boolean): { pixelArrays: number; pixelBytes: number }
  // safetensors
  safetensorsHeader(path: string): Promise<{ tensors: TensorEntry[]; metadata: Record<string, string>; fileSize: number }>
  safetensorsParseHeader(bytes: Uint8Array): { tensors: TensorEntry[]; metadata: Record<string, string> }
  safetensorsReadTensor(path: string, name: string, dtype?: SafetensorsDtype): Promise<RawTensor>
  safetensorsWrite(path: string, tensors: Array<RawTensor & { name: string }>, metadata?: Record<string, string>): Promise<void>
  safetensorsWriteSharded(dir: string, tensors: Array<RawTensor & { name: string }>, maxShardBytes: number): Promise<void>
  checkpointInfo(dir: string): Promise<{ files: string[]; tensors: Array<TensorEntry & { file: string }>; totalBytes: number }>
  // model (native/napi/model.cpp)
  modelLoad(dir: string, config: ModelConfig, options: { dtype: 'float32' | 'bfloat16' | 'float16'; device: string }): Promise<NativeModelObject>
  modelDispose(model: NativeModelObject): void
  modelInfo(model: NativeModelObject): { parameters: number; dtype: string; device: string }
  modelForward(model: NativeModelObject, options: ForwardOptions): Promise<ForwardResult>
  modelRopeIndex(config: ModelConfig, options: TokenBatchInput): { positionIds: Int32Array; ropeDeltas: number[] }
  modelParameterCount(config: ModelConfig): number
  modelWriteRandom(dir: string, config: ModelConfig, options: { seed?: number; dtype?: 'float32' | 'bfloat16'; maxShardBytes?: number }): Promise<void>
  // generation and log-probs (native/napi/generate.cpp)
  generate(model: NativeModelObject, o: GenerateNativeOptions): Promise<GenerateNativeResult>
  logprobs(model: NativeModelObject, o: LogprobsNativeOptions): Promise<LogprobsNativeResult>
  generateAbortFlag(): NativeAbortFlag
  generateAbortSet(flag: NativeAbortFlag): void
  /** Largest logits chunk (bytes) built by logprobs so far; `reset` starts a new measurement. */
  logitsChunkPeak(reset?: boolean): number
  /** Self-test of the sampler: how often each entry of `probs` was drawn in `draws` draws. */
  sampleCounts(o: { probs: number[] | Float32Array; draws: number; seed?: number }): Promise<number[]>
  /** Self-test: max |Δ| of the chunked log-prob function (values, entropy, gradients) vs plain autograd. */
  logprobsGradCheck(o: { rows?: number; hidden?: number; vocab?: number; chunk?: number; temperature?: number; seed?: number }): Promise<{ logp: number; gradHidden: number; gradWeight: number; entropy: number }>
  // trainer (native/napi/trainer.cpp)
  trainerCreate(model: NativeModelObject, o: TrainerCreateOptions): Promise<NativeTrainerObject>
  trainerDispose(t: NativeTrainerObject): void
  /** A training rollout: the prompts (pixels cross here, once) sampled G times; the Rollouts keeps them. */
  trainerGenerate(t: NativeTrainerObject, o: NativeSampling & { prompts: NativePromptIn[] }): Promise<NativeRolloutResult>
  /** One GRPO update over a Rollouts (called μ times per rollout), one advantage per completion. */
  /** inLoss: one flag per completion (0 = left out of the loss), default all 1. */
  trainerStep(t: NativeTrainerObject, r: NativeRolloutsObject, o: NativeGrpoOptions & { advantages: Float32Array | Float64Array | number[]; inLoss?: Float32Array | number[] }): Promise<NativeStepReport>
  /** Test hook: rl::grpo_loss on log-probs given directly (rows × length, row-major), and its gradient w.r.t. them. */
  grpoLossCheck(input: {
    rows: number; length: number; dtype: 'float64' | 'float32'; logp: Float64Array; mask: Float64Array; advantages: Float64Array
    old?: Float64Array; ref?: Float64Array; entropy?: Float64Array; rollout?: Float64Array
    options: NativeGrpoOptions; norm: { completions: number; tokens: number; microBatches: number; maxLen: number }
  }): { loss: number; grad: Float64Array; perToken: Float64Array; kept: Float64Array; tis: Float64Array; clipped: number }
  /** A rollout made of the listed prompt groups (prompt + its G completions) of rollouts of one G, in order (tensors shared). */
  trainerRolloutsSelect(parts: Array<{ rollouts: NativeRolloutsObject; groups: number[] }>): NativeRolloutsObject
  /** One GRPO update over an explicit batch (tests: reference log-probs given, gradients read back). */
  trainerGrpoStep(t: NativeTrainerObject, b: NativeBatch, o: NativeGrpoOptions): Promise<NativeStepReport>
  trainerSftStep(t: NativeTrainerObject, b: NativeBatch, o: { microBatchSize: number; update: boolean }): Promise<NativeStepReport>
  trainerLogprobs(t: NativeTrainerObject, b: NativeBatch, o: { reference: boolean; microBatchSize: number }): Promise<{ rows: number; length: number; logp: Float32Array }>
  /** Accumulated float32 gradient of a trainable tensor (after a step with update: false); rows selects dim-0 rows. */
  trainerGrad(t: NativeTrainerObject, name: string, rows?: number[]): { data: Float32Array; shape: number[] }
  /** Model parameters (and LoRA tensors) with whether each is trained. */
  trainerParameters(t: NativeTrainerObject): Array<{ name: string; trainable: boolean }>
  /** Σ x² over the trainable parameters (float64), for comparing data-parallel ranks. */
  trainerChecksum(t: NativeTrainerObject): Promise<number>
  /** A float32 copy of one parameter or LoRA tensor. */
  trainerParameter(t: NativeTrainerObject, name: string): Float32Array
  trainerInfo(t: NativeTrainerObject): { step: number; skipped: number; calls: number; lr: number; trainable: number; lora: boolean }
  /** HF model directory; with LoRA a PEFT adapter directory unless merge. */
  trainerSaveModel(t: NativeTrainerObject, dir: string, o?: { merge?: boolean }): Promise<void>
  trainerSaveState(t: NativeTrainerObject, dir: string): Promise<void>
  trainerLoadState(t: NativeTrainerObject, dir: string): Promise<void>
  // data parallel (native/napi/dist.cpp)
  distInit(o: { rank: number; worldSize: number; masterAddr: string; masterPort: number; timeoutMs: number; backend: DistBackend; deviceIndex: number }): Promise<void>
  distAllgather(v: number): Promise<number[]>
  distAllreduceMean(v: Float64Array): Promise<Float64Array>
  distBarrier(): Promise<void>
  distShutdown(): void
  distInfo(): { initialized: boolean; rank: number; worldSize: number; ncclAvailable: boolean }
}

/** The package root (the folder with package.json), from dist/lib/native or lib/native. */
export function packageRoot(): string {
  let d = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(d, 'package.json')) && existsSync(join(d, 'CMakeLists.txt'))) return d
    d = dirname(d)
  }
  throw new VrftError('ERR_ADDON_MISSING', 'cannot find the vrft-native package root (package.json beside CMakeLists.txt)')
}

/** Candidate addon paths, in order. */
export function addonCandidates(): string[] {
  const env = process.env.VRFT_NATIVE_ADDON
  if (env) return [resolve(env)]
  const root = packageRoot()
  return ['build/Release/vrft_native.node', 'build/RelWithDebInfo/vrft_native.node', 'build/Debug/vrft_native.node']
    .map((p) => join(root, p))
}

let cached: NativeBinding | undefined
let loadError: Error | undefined

/** Load (once) and return the native addon; throws ERR_ADDON_MISSING with instructions if absent. */
export function native(): NativeBinding {
  if (cached) return cached
  if (loadError) throw loadError
  const req = createRequire(import.meta.url)
  const tried: string[] = []
  for (const p of addonCandidates()) {
    tried.push(p)
    if (!existsSync(p)) continue
    try {
      const b = req(p) as NativeBinding
      b.setErrorFactory(nativeError)
      cached = b
      return cached
    } catch (e) {
      loadError = new VrftError('ERR_ADDON_LOAD', `the native addon at ${p} failed to load: ${(e as Error).message}. ` +
        'Rebuild it with `npm run build:native`; `npx vrft-native doctor` shows what it found.', { path: p }, { cause: e })
      throw loadError
    }
  }
  loadError = new VrftError('ERR_ADDON_MISSING', `vrft-native's native addon is not built (looked for ${tried.join(', ')}). ` +
    'Run `npm run build:native` (it needs a prebuilt libtorch: set LIBTORCH, install Python torch, or on Debian apt-get install libtorch-dev).')
  throw loadError
}

/** True when the addon can be loaded (no throw). */
export function nativeAvailable(): boolean {
  try {
    native()
    return true
  } catch {
    return false
  }
}
