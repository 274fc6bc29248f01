/**
 * config.json against the checkpoint, before anything is allocated: the native loader builds every module
 * the config describes and only then reads the weights, so a config that lies about its sizes
 * (`num_hidden_layers: 1e9`, vision `depth: 1e7`, a huge hidden_size) would allocate until the machine runs
 * out. `checkConfigAgainstTensors` compares the config with the safetensors headers (names and shapes,
 * no tensor data) and throws ERR_CONFIG naming the field and the tensors it contradicts:
 * - num_hidden_layers and vision_config.depth may not exceed the text layers (`…layers.N.…`) and vision
 *   blocks (`visual.…blocks.N.…`) the checkpoint holds (fewer: the loader's ERR_WEIGHTS_UNEXPECTED);
 * - the parameters the config implies (a lower bound: the big matrices only) must not exceed the
 *   parameters the checkpoint holds — a config bigger than its weights cannot load anyway.
 * Smaller mismatches (one wrong width) stay with the native loader's ERR_WEIGHTS_SHAPE naming the tensor.
 * Then, on the CPU, what the weights need (the memory plan's load phase, lib/train/memory-plan.ts: the
 * parameters in the compute dtype plus the checkpoint pages read through the memory map) is compared with the
 * available memory: a checkpoint that cannot fit is ERR_MEMORY_PLAN before anything is allocated.
 */
import { VrftError } from '../errors.js'
import type { ModelConfig } from './config.js'

/** A tensor of a safetensors header: its name and shape. */
export interface TensorShape { name: string; shape: readonly number[] }

const TEXT_LAYER = /(?:^|\.)layers\.(\d+)\./
const VISION_BLOCK = /(?:^|\.)visual\.(?:[^.]+\.)*?blocks\.(\d+)\./

/** Parameters the config implies, counting only the weight matrices (so never more than a real checkpoint has). */
export function configParameterLowerBound(c: ModelConfig): number {
  const h = c.hiddenSize
  const attn = h * c.numHeads * c.headDim * 2 + h * c.numKvHeads * c.headDim * 2
  // the embedding once, tied or not: a missing lm_head is the loader's ERR_WEIGHTS_MISSING naming it
  const text = c.vocabSize * h + c.numLayers * (attn + 3 * h * c.intermediateSize)
  const v = c.vision
  const w = v.width
  const merged = w * v.spatialMergeSize ** 2
  const vision = v.depth * (4 * w * w + 2 * w * v.intermediate) + v.inChannels * v.temporalPatchSize * v.patchSize ** 2 * w + merged * merged + merged * v.outHidden
  return text + vision
}

function indexes(tensors: readonly TensorShape[], re: RegExp, skip?: RegExp): { count: number; max: number; example: string | undefined } {
  const seen = new Set<number>()
  let example: string | undefined
  for (const t of tensors) {
    if (skip?.test(t.name)) continue
    const m = re.exec(t.name)
    if (!m) continue
    seen.add(Number(m[1]))
    example ??= t.name
  }
  return { count: seen.size, max: seen.size ? Math.max(...seen) : -1, example }
}

const shapeOf = (tensors: readonly TensorShape[], suffix: string) => {
  const t = tensors.find((x) => x.name.endsWith(suffix))
  return t ? `${t.name} ${JSON.stringify(t.shape)}` : undefined
}

/** Throw ERR_CONFIG when `config` (parsed from `source`) describes more than `tensors` hold. See the file header. */
export function checkConfigAgainstTensors(config: ModelConfig, tensors: readonly TensorShape[], source = 'config.json'): void {
  if (tensors.length === 0) return // no weights at all: the loader says which are missing
  const text = indexes(tensors, TEXT_LAYER, /(?:^|\.)visual\./)
  if (text.count > 0 && config.numLayers > text.max + 1) {
    throw new VrftError('ERR_CONFIG', `Expected num_hidden_layers in ${source} to be at most what the checkpoint holds, ${text.max + 1} text layers (tensors ${text.example!.replace(TEXT_LAYER, '.layers.0.').replace(/^\./, '')} … layers.${text.max}.*), but found ${config.numLayers}`, { field: 'num_hidden_layers', config: config.numLayers, checkpoint: text.max + 1 })
  }
  const vis = indexes(tensors, VISION_BLOCK)
  if (vis.count > 0 && config.vision.depth > vis.max + 1) {
    throw new VrftError('ERR_CONFIG', `Expected vision_config.depth in ${source} to be at most what the checkpoint holds, ${vis.max + 1} vision blocks (tensors ${vis.example!.replace(/blocks\.\d+\./, 'blocks.0.')} … blocks.${vis.max}.*), but found ${config.vision.depth}`, { field: 'vision_config.depth', config: config.vision.depth, checkpoint: vis.max + 1 })
  }
  let held = 0
  for (const t of tensors) held += t.shape.reduce((a, b) => a * b, 1)
  const implied = configParameterLowerBound(config)
  if (implied > held * 1.05) {
    const seen = ['embed_tokens.weight', 'layers.0.mlp.gate_proj.weight', 'layers.0.self_attn.q_proj.weight', 'patch_embed.proj.weight', 'blocks.0.mlp.fc1.weight'].map((s) => shapeOf(tensors, s)).filter(Boolean)
    const v = config.vision
    throw new VrftError('ERR_CONFIG', `Expected the sizes in ${source} to fit the checkpoint, which holds ${held} parameters, but they imply at least ${implied}: one of vocab_size ${config.vocabSize}, hidden_size ${config.hiddenSize}, intermediate_size ${config.intermediateSize}, num_attention_heads ${config.numHeads}, head_dim ${config.headDim}, vision_config width ${v.width} / intermediate ${v.intermediate} is larger than its tensors (${seen.join(', ')})`, { implied, held })
  }
}

/** What {@link checkConfigAgainstCheckpoint} checks besides the sizes. */
export interface CheckpointCheckOptions {
  /** Compute dtype the weights will have; with device, the memory the load needs is checked. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** Only 'cpu' (the default) is checked against host memory. */
  device?: string
  /** Skip the memory check (--ignore-memory-plan). Default false. */
  ignoreMemory?: boolean
}

/**
 * Read the safetensors headers of `dir` (no tensor data), check `config` against them, then check that the
 * weights fit the available memory (ERR_MEMORY_PLAN). Returns the checkpoint's bytes on disk.
 */
export async function checkConfigAgainstCheckpoint(dir: string, config: ModelConfig, source = 'config.json', o: CheckpointCheckOptions = {}): Promise<number> {
  const { native } = await import('../native/binding.js')
  const info = await native().checkpointInfo(dir)
  checkConfigAgainstTensors(config, info.tensors, source)
  const device = o.device ?? 'cpu'
  if (!o.ignoreMemory && device === 'cpu') {
    const { availableMemory, checkMemoryPlan, trainingMemoryPlan } = await import('../train/memory-plan.js')
    const plan = trainingMemoryPlan({ config, dtype: o.dtype ?? 'float32', kind: 'load', checkpointBytes: info.totalBytes, runtimeBytes: process.memoryUsage().rss })
    checkMemoryPlan(plan, availableMemory(), 'loading the model')
  }
  return info.totalBytes
}
