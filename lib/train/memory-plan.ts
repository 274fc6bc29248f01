/**
 * The memory plan of a run: the estimated peak resident memory of `train` / `sft` (and of loading a model for
 * `generate`, `eval`, `serve`), computed from the model config and the options alone — nothing is allocated.
 * `vrft-native train … --dry-run` prints it; every run computes it first and refuses one whose peak exceeds
 * the machine's available memory (ERR_MEMORY_PLAN, naming what to change) unless `--ignore-memory-plan`.
 *
 *   const plan = trainingMemoryPlan({ config, dtype: 'float32', kind: 'grpo', lora: { rank: 16, targets }, ... })
 *   console.log(formatMemoryPlan(plan)); checkMemoryPlan(plan, availableMemory())
 *
 * The model of the native code it follows (native/rl/trainer.cpp, lora.cpp, optim.cpp, logprobs.cpp,
 * native/model/layers.cpp):
 * - weights: every parameter in the compute dtype; while loading, the checkpoint files are read through a
 *   memory map: their pages show in RSS (up to the file size) but are clean and reclaimable, so they are listed
 *   and not added to the peak (measured at the 2B shape: 1.4 of 4.1 GiB resident at the load peak under
 *   pressure); a bfloat16 checkpoint mapped for bfloat16 compute is the weights themselves (`mapped`);
 * - LoRA: adapters are applied unmerged (x·Wᵀ + s·(x·Aᵀ)·Bᵀ: no copy of W, no full-size gradient; the
 *   reference is W itself with the adapters off, no second model); trainable state is A and B;
 * - full fine-tuning: float32 master weights (aliases in float32), AdamW m and v, the float32 accumulated
 *   gradient, of the trainable parameters (frozen vision tower / merger excluded), and a frozen copy of the
 *   weights as the reference model when β > 0;
 * - generation: all prompts of a step × G rows hold keys and values of prompt + completion per layer; the
 *   prefill of the prompts runs a layer at a time without a graph;
 * - the step: per micro-batch, each distinct prompt once (its keys/values shared by its G rows) plus the
 *   completion rows; every decoder layer keeps its activations for the backward pass, or only its input with
 *   gradient checkpointing (one layer recomputed at a time); attention keeps its (heads × Tq × Tk) scores
 *   (libtorch 1.13 has no fused attention on the CPU); the vision tower keeps its activations only when it
 *   trains (checkpointed per block with gradient checkpointing); the LM head runs over chunks of token rows.
 */
import { readFileSync } from 'node:fs'
import { freemem } from 'node:os'
import { VrftError } from '../errors.js'
import { GRPO_DEFAULTS, MEMORY_PLAN_DEFAULTS, NATIVE_CALL_DEFAULTS, needsReference } from '../defaults.js'
import type { ModelConfig } from '../native/binding.js'

/** What a plan needs: the model config and the options of the run. */
export interface MemoryPlanInput {
  config: ModelConfig
  /** Compute dtype of the weights. */
  dtype: 'float32' | 'bfloat16' | 'float16'
  /** Bytes of the checkpoint files (read through a memory map while loading); default: parameters × 2 (bfloat16). */
  checkpointBytes?: number
  /** The checkpoint is bfloat16 and is mapped for bfloat16 compute (no copy). Default false. */
  mapped?: boolean
  /** 'grpo' (train), 'sft', or 'load' (generate/eval/serve: weights and the runtime only). */
  kind: 'grpo' | 'sft' | 'load'
  lora?: { rank: number; targets: readonly string[] }
  gradientCheckpointing?: boolean
  freezeVision?: boolean
  freezeMerger?: boolean
  /** A frozen reference model (β > 0); with LoRA it costs nothing. */
  reference?: boolean
  numGenerations?: number
  promptsPerStep?: number
  microBatchSize?: number
  maxCompletionLength?: number
  maxPromptLength?: number
  maxPixels?: number
  /** Text tokens of the longest prompt besides its image tokens. Default MEMORY_PLAN_DEFAULTS.promptTextTokens. */
  promptTextTokens?: number
  /** Token rows per LM-head chunk. Default NATIVE_CALL_DEFAULTS.logprobsChunk. */
  logprobsChunk?: number
  /**
   * Resident memory of the process before the model (the commands pass their current RSS: node, libtorch,
   * tokenizer, data). Default MEMORY_PLAN_DEFAULTS.runtimeBytes.
   */
  runtimeBytes?: number
  /**
   * Generation keeps a packed copy of every decoder Linear and the LM head for the float32 decode kernel
   * (native/model/skinny_gemm.cpp; VRFT_PACK_WEIGHTS=0 turns it off). Default: float32 and
   * VRFT_PACK_WEIGHTS not 0/off/false.
   */
  packedDecodeWeights?: boolean
}

/** One line of a plan. */
export interface MemoryPlanItem {
  name: string
  bytes: number
  detail: string
}

/** A plan: its items, the phases they add up to, and the peak. */
export interface MemoryPlan {
  items: MemoryPlanItem[]
  /** Resident bytes of each phase (load, generation, step): the sum of the items it holds. */
  phases: Record<string, number>
  peakBytes: number
  /** The phase that reaches the peak. */
  peakPhase: string
  /** The longest sequence the plan assumes. */
  promptTokens: number
  imageTokens: number
  completionTokens: number
  parameters: number
  trainableParameters: number
}

const bytesOf = (dtype: MemoryPlanInput['dtype']): number => (dtype === 'float32' ? 4 : 2)

/** Parameter counts of the parts of the model (exact for the Qwen2-VL / Qwen2.5-VL modules the native model builds). */
export function modelParameterCounts(c: ModelConfig): { text: number; embedding: number; head: number; vision: number; merger: number; linears: Array<{ name: string; in: number; out: number; count: number }> } {
  const h = c.hiddenSize
  const q = c.numHeads * c.headDim
  const kv = c.numKvHeads * c.headDim
  const linears = [
    { name: 'q_proj', in: h, out: q, count: c.numLayers },
    { name: 'k_proj', in: h, out: kv, count: c.numLayers },
    { name: 'v_proj', in: h, out: kv, count: c.numLayers },
    { name: 'o_proj', in: q, out: h, count: c.numLayers },
    { name: 'gate_proj', in: h, out: c.intermediateSize, count: c.numLayers },
    { name: 'up_proj', in: h, out: c.intermediateSize, count: c.numLayers },
    { name: 'down_proj', in: c.intermediateSize, out: h, count: c.numLayers },
  ]
  const layer = linears.reduce((a, l) => a + l.in * l.out, 0) + q + 2 * kv + 2 * h // q/k/v biases, two norms
  const embedding = c.vocabSize * h
  const head = c.tieWordEmbeddings ? 0 : c.vocabSize * h
  const v = c.vision
  const w = v.width
  const v25 = c.arch === 'qwen2.5-vl' // gated MLP and RMSNorms (no bias) in the vision tower
  const norm = v25 ? w : 2 * w
  const mlp = v25 ? 3 * w * v.intermediate + 2 * v.intermediate + w : 2 * w * v.intermediate + v.intermediate + w
  const block = 3 * w * w + 3 * w + w * w + w + mlp + 2 * norm
  const merged = w * v.spatialMergeSize ** 2
  const merger = norm + merged * merged + merged + merged * v.outHidden + v.outHidden
  const vision = v.depth * block + v.inChannels * v.temporalPatchSize * v.patchSize ** 2 * w
  return { text: c.numLayers * layer + h, embedding, head, vision, merger, linears }
}

/** Image tokens (after the 2×2 merge) and vision patches of an image of at most `maxPixels`. */
export function imageTokensOf(c: ModelConfig, maxPixels: number): { patches: number; tokens: number } {
  const unit = c.vision.patchSize * c.vision.spatialMergeSize
  const grids = Math.floor(maxPixels / (unit * unit)) // merged tokens (smart_resize keeps h·w ≤ max_pixels)
  return { patches: grids * c.vision.spatialMergeSize ** 2, tokens: grids }
}

const GB = 2 ** 30
/** Bytes as GiB with two decimals. */
export function gib(n: number): string {
  return `${(n / GB).toFixed(2)} GiB`
}

/** The plan of a run (see the file header). Pure: reads nothing, allocates nothing. */
export function trainingMemoryPlan(o: MemoryPlanInput): MemoryPlan {
  const c = o.config
  const s = bytesOf(o.dtype)
  const counts = modelParameterCounts(c)
  const parameters = counts.text + counts.embedding + counts.head + counts.vision + counts.merger
  const items: MemoryPlanItem[] = []
  const phases: Record<string, string[]> = { load: [], generation: [], step: [] }
  const add = (name: string, bytes: number, detail: string, ...in_: string[]): void => {
    items.push({ name, bytes: Math.round(bytes), detail })
    for (const p of in_) phases[p]!.push(name)
  }
  const all = ['load', 'generation', 'step']
  add('runtime', o.runtimeBytes ?? MEMORY_PLAN_DEFAULTS.runtimeBytes, o.runtimeBytes !== undefined ? 'resident now: node, libtorch, tokenizer, data' : 'node, libtorch, tokenizer (MEMORY_PLAN_DEFAULTS.runtimeBytes)', ...all)
  add('weights', parameters * s, `${parameters.toLocaleString('en-US')} parameters in ${o.dtype}${o.mapped ? ' (memory-mapped bfloat16 checkpoint)' : ''}`, ...all)
  const fileBytes = o.checkpointBytes ?? parameters * 2
  // clean file pages: counted in RSS while loading but reclaimable under pressure, so they never refuse a run
  if (!o.mapped) add('checkpoint map', fileBytes, 'checkpoint pages read through the memory map while loading (reclaimable: not in the peak)')
  const G = o.numGenerations ?? 1
  const img = imageTokensOf(c, o.maxPixels ?? 0)
  const promptTokens = Math.min(o.maxPromptLength ?? Infinity, (o.maxPixels ? img.tokens : 0) + (o.promptTextTokens ?? MEMORY_PLAN_DEFAULTS.promptTextTokens))
  const imageTokens = o.maxPixels ? Math.min(img.tokens, promptTokens) : 0
  const L = o.kind === 'sft' || o.kind === 'grpo' ? (o.maxCompletionLength ?? 0) : 0
  let trainable = 0
  const packed = o.packedDecodeWeights ?? (o.dtype === 'float32' && !['0', 'off', 'false'].includes(process.env.VRFT_PACK_WEIGHTS ?? ''))
  const decodeWeights = counts.linears.reduce((a, l) => a + l.count * l.in * l.out, 0) + c.vocabSize * c.hiddenSize
  add('decode packed weights', packed ? decodeWeights * 4 : 0, packed ? 'the float32 decode kernel\'s packed copy of the decoder Linears and the LM head (VRFT_PACK_WEIGHTS=0: none)' : 'none', 'generation', 'step')
  if (o.kind === 'load') return finish()

  const h = c.hiddenSize
  const I = c.intermediateSize
  const qd = c.numHeads * c.headDim
  const kvd = c.numKvHeads * c.headDim
  const f32 = 4
  // trainable state
  if (o.lora) {
    const hit = counts.linears.filter((l) => o.lora!.targets.some((t) => t === l.name))
    const loraParams = hit.reduce((a, l) => a + l.count * o.lora!.rank * (l.in + l.out), 0)
    trainable = loraParams
    add('trainable state', loraParams * (s + (s === 4 ? 0 : f32) + 3 * f32), `LoRA r=${o.lora.rank}: ${loraParams.toLocaleString('en-US')} parameters, AdamW m and v, float32 gradient${s === 4 ? '' : ' and master weights'}`, 'generation', 'step')
    add('reference model', 0, o.reference ? 'the base with the adapters off (no copy)' : 'none (β = 0)', 'step')
  } else {
    trainable = parameters - (o.freezeVision ? counts.vision : 0) - (o.freezeMerger ? counts.merger : 0)
    add('trainable state', trainable * ((s === 4 ? 0 : f32) + 3 * f32), `full fine-tuning: ${trainable.toLocaleString('en-US')} trainable parameters${o.freezeVision ? ' (vision tower frozen)' : ''}${o.freezeMerger ? ' (merger frozen)' : ''}: AdamW m and v, float32 gradient${s === 4 ? '' : ' and master weights'}`, 'generation', 'step')
    add('reference model', o.reference && o.kind === 'grpo' ? parameters * s : 0, o.reference && o.kind === 'grpo' ? 'a frozen copy of the weights (β > 0)' : 'none', 'generation', 'step')
  }
  const layerTransient = (tokens: number, heads: number, tq: number, tk: number, seqs: number): number =>
    tokens * (3 * h + qd + 2 * kvd + 3 * I) * s + seqs * heads * tq * tk * f32 * 2
  // generation (GRPO only): K/V of every row, prefill of the prompts one layer at a time
  const P = o.promptsPerStep ?? 1
  if (o.kind === 'grpo') {
    const rows = P * G
    add('KV cache', 2 * c.numLayers * rows * (promptTokens + L) * kvd * s, `${rows} rows (${P} prompts × G ${G}) × ${promptTokens + L} positions × ${c.numLayers} layers`, 'generation')
    add('prefill', layerTransient(P * promptTokens, c.numHeads, promptTokens, promptTokens, P) + P * promptTokens * h * s * 2, `one layer of ${P} prompts × ${promptTokens} tokens at a time, no graph`, 'generation')
  }
  // the step: one micro-batch at a time
  const mb = Math.max(1, Math.min(o.microBatchSize ?? 1, (o.kind === 'grpo' ? P * G : P)))
  // rows are prompt-major: a micro-batch spans ceil(mb / G) prompts, one more when it can straddle a group
  const uniq = o.kind === 'grpo' ? Math.min(P, Math.ceil(mb / G) + (G % mb === 0 || mb % G === 0 ? 0 : 1)) : mb
  const tokens = uniq * promptTokens + mb * L
  const perTokenLayer = (10 * h + 2 * qd + 4 * kvd + 2 * c.numHeads * c.headDim + 4 * I) * s // saved for backward, per layer
  const attnSaved = (uniq * c.numHeads * promptTokens * promptTokens + mb * c.numHeads * L * (promptTokens + L)) * f32 * 2
  const gc = o.gradientCheckpointing ?? false
  const text = gc
    ? c.numLayers * tokens * h * s + tokens * perTokenLayer + attnSaved
    : c.numLayers * (tokens * perTokenLayer + attnSaved)
  add('activations', text + tokens * h * s * 4, `${uniq} prompt(s) × ${promptTokens} tokens (${imageTokens} image) + ${mb} completion rows × ${L} tokens per micro-batch, ${c.numLayers} layers${gc ? ', gradient checkpointing (one layer recomputed at a time)' : ''}`, 'step')
  const v = c.vision
  const patches = (o.maxPixels ? img.patches : 0) * uniq
  if (patches > 0) {
    const visionTrains = !o.lora && !(o.freezeVision && o.freezeMerger)
    const blockTok = (6 * v.width + 2 * v.intermediate) * s
    const blockAttn = v.numHeads * patches * patches * f32 * 2 / Math.max(1, uniq)
    const saved = !visionTrains || o.freezeVision ? 0 : gc ? v.depth * patches * v.width * s + patches * blockTok + blockAttn : v.depth * (patches * blockTok + blockAttn)
    add('vision activations', saved + patches * blockTok + blockAttn, `${patches} patches, ${v.depth} blocks${visionTrains && !o.freezeVision ? (gc ? ' (checkpointed)' : ' (kept for the backward pass)') : ' (frozen: one block at a time, no graph)'}`, 'step')
  }
  const chunk = o.logprobsChunk ?? NATIVE_CALL_DEFAULTS.logprobsChunk
  add('logits chunks', 3 * Math.min(chunk, Math.max(1, mb * L)) * c.vocabSize * f32, `${chunk} token rows × ${c.vocabSize} vocabulary, float32, forward and backward`, 'step')
  if (!o.lora) {
    add('gradient transient', (c.tieWordEmbeddings ? 2 : 1) * counts.embedding * s, `the dense embedding gradient${c.tieWordEmbeddings ? ' and the tied LM head\'s' : ''} before they are accumulated`, 'step')
    add('optimizer transient', Math.max(counts.embedding, counts.head) * f32, 'AdamW\'s temporary of the largest trainable tensor', 'step')
  }
  return finish()

  function finish(): MemoryPlan {
    const bytesOfItem = new Map(items.map((i) => [i.name, i.bytes]))
    const active = o.kind === 'load' ? ['load', 'generation'] : o.kind === 'sft' ? ['load', 'step'] : ['load', 'generation', 'step']
    const sums: Record<string, number> = {}
    for (const p of active) sums[p] = phases[p]!.reduce((a, n) => a + bytesOfItem.get(n)!, 0)
    let peakPhase = 'load'
    for (const [p, b] of Object.entries(sums)) if (b > (sums[peakPhase] ?? 0)) peakPhase = p
    return { items, phases: sums, peakBytes: sums[peakPhase] ?? 0, peakPhase, promptTokens, imageTokens, completionTokens: L, parameters, trainableParameters: trainable }
  }
}

/** The plan as text (printed by --dry-run and at the start of a run). */
export function formatMemoryPlan(plan: MemoryPlan, available?: number): string {
  const w = Math.max(...plan.items.map((i) => i.name.length))
  const lines = plan.items.map((i) => `  ${i.name.padEnd(w)}  ${gib(i.bytes).padStart(11)}  ${i.detail}`)
  const phases = Object.entries(plan.phases).map(([p, b]) => `${p} ${gib(b)}`).join(', ')
  return [
    `memory plan: estimated peak ${gib(plan.peakBytes)} (${plan.peakPhase}); phases: ${phases}`,
    `  longest sequence: ${plan.promptTokens} prompt tokens (${plan.imageTokens} image) + ${plan.completionTokens} completion tokens`,
    ...lines,
    ...(available !== undefined ? [`  available memory: ${gib(available)}`] : []),
  ].join('\n')
}

function readNumber(path: string): number | undefined {
  try {
    const t = readFileSync(path, 'utf8').trim()
    return /^\d+$/.test(t) ? Number(t) : undefined
  } catch {
    return undefined
  }
}

/**
 * The memory this process may still use: `VRFT_MEMORY_AVAILABLE` (bytes) when set, else /proc/meminfo's
 * MemAvailable bounded by the cgroup's limit (memory.max − memory.current), else os.freemem().
 */
export function availableMemory(env: NodeJS.ProcessEnv = process.env): number {
  const forced = env.VRFT_MEMORY_AVAILABLE
  if (forced !== undefined && forced !== '') {
    const n = Number(forced)
    if (!Number.isFinite(n) || n <= 0) throw new VrftError('ERR_CONFIG', `Expected VRFT_MEMORY_AVAILABLE to be a number of bytes > 0 but received ${JSON.stringify(forced)}`)
    return n
  }
  let avail = freemem()
  try {
    const m = /MemAvailable:\s+(\d+) kB/.exec(readFileSync('/proc/meminfo', 'utf8'))
    if (m) avail = Number(m[1]) * 1024
  } catch { /* not Linux */ }
  const max = readNumber('/sys/fs/cgroup/memory.max')
  const cur = readNumber('/sys/fs/cgroup/memory.current')
  if (max !== undefined && cur !== undefined) avail = Math.min(avail, Math.max(0, max - cur))
  return avail
}

/**
 * Throw ERR_MEMORY_PLAN when the plan's peak exceeds `available`, naming the biggest items and what to change.
 * `what` names the run in the message ('train', 'sft', 'loading the model').
 */
export function checkMemoryPlan(plan: MemoryPlan, available: number, what: string): void {
  const resident = plan.items.find((i) => i.name === 'runtime')?.bytes ?? 0
  if (plan.peakBytes - resident <= available) return
  const top = plan.items.filter((i) => i.name !== 'checkpoint map' && i.name !== 'runtime').sort((a, b) => b.bytes - a.bytes).slice(0, 3).map((i) => `${i.name} ${gib(i.bytes)}`).join(', ')
  const advice = what === 'loading the model'
    ? 'use --dtype bfloat16, a smaller model or a machine with more memory'
    : 'lower it with --lora-rank (LoRA instead of full fine-tuning), --gradient-checkpointing, a smaller --micro-batch-size, --max-pixels or --prompts-per-step / --num-generations, --freeze-vision, or --dtype bfloat16; --ignore-memory-plan runs anyway'
  throw new VrftError('ERR_MEMORY_PLAN', `Expected ${what} to fit the available memory (${gib(available)} besides the ${gib(resident)} already resident) but the memory plan estimates a peak of ${gib(plan.peakBytes)} (${plan.peakPhase}; largest: ${top}): ${advice}`,
    { peakBytes: plan.peakBytes, available, phase: plan.peakPhase })
}

/** The options of a `train` / `sft` config that the plan reads. */
export interface PlannedRunOptions {
  dtype: 'auto' | 'float32' | 'bfloat16'
  loraRank: number
  loraTargets: readonly string[]
  gradientCheckpointing: boolean
  freezeVision: boolean
  freezeMerger: boolean
  promptsPerStep: number
  microBatchSize: number
  maxPromptLength: number
  maxPixels: number
  numGenerations?: number
  maxCompletionLength?: number
  beta?: number
}

/**
 * The plan input of a resolved `train` (kind 'grpo') or `sft` config on `device` (SFT targets are planned at
 * GRPO's maxCompletionLength bound; 'auto' dtype: float32 on the CPU, bfloat16 on CUDA, as the policy does).
 */
export function memoryPlanInputOf(cfg: PlannedRunOptions, config: ModelConfig, kind: 'grpo' | 'sft', device: string, checkpointBytes?: number): MemoryPlanInput {
  const dtype = cfg.dtype === 'auto' ? (device.startsWith('cuda') ? 'bfloat16' : 'float32') : cfg.dtype
  return {
    config, dtype, kind, ...(checkpointBytes !== undefined ? { checkpointBytes } : {}),
    ...(cfg.loraRank > 0 ? { lora: { rank: cfg.loraRank, targets: cfg.loraTargets } } : {}),
    gradientCheckpointing: cfg.gradientCheckpointing, freezeVision: cfg.freezeVision, freezeMerger: cfg.freezeMerger,
    reference: kind === 'grpo' && needsReference(cfg.beta ?? 0),
    numGenerations: kind === 'grpo' ? (cfg.numGenerations ?? 1) : 1,
    promptsPerStep: cfg.promptsPerStep, microBatchSize: cfg.microBatchSize, maxPromptLength: cfg.maxPromptLength, maxPixels: cfg.maxPixels,
    maxCompletionLength: cfg.maxCompletionLength ?? GRPO_DEFAULTS.maxCompletionLength,
  }
}
