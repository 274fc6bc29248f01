/**
 * Typed binding contract of the native model (native/napi/model.cpp) and a thin `NativeModel` class over
 * its handle. Heavy calls return Promises and run on a libuv worker; the config is the flat object made by
 * lib/model/config.ts.
 */
import { native, type NativeBinding } from './binding.js'
import { readModelConfig, type ModelConfig } from '../model/config.js'
import { checkConfigAgainstCheckpoint } from '../model/config-check.js'
import { expectArg } from '../errors.js'

/** Opaque native model handle. */
export type ModelHandle = { readonly __modelHandle: unique symbol }

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

/** Options of {@link NativeModel.forward}. */
export interface ForwardOptions extends TokenBatchInput {
  /** Patchified pixels (N × 1176) of all images, float32 (copied once into a tensor). */
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

/** Result of {@link NativeModel.forward}. */
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

/** Native functions of the model module. */
export interface ModelBinding extends NativeBinding {
  modelLoad(dir: string, config: ModelConfig, options?: { dtype?: 'float32' | 'bfloat16' | 'float16'; device?: string }): Promise<ModelHandle>
  modelDispose(handle: ModelHandle): void
  modelInfo(handle: ModelHandle): { parameters: number; dtype: string; device: string }
  modelForward(handle: ModelHandle, options: ForwardOptions): Promise<ForwardResult>
  modelRopeIndex(config: ModelConfig, options: TokenBatchInput): { positionIds: Int32Array; ropeDeltas: number[] }
  modelParameterCount(config: ModelConfig): number
  modelWriteRandom(dir: string, config: ModelConfig, options: { seed?: number; dtype?: 'float32' | 'bfloat16'; maxShardBytes?: number }): Promise<void>
}

/** The addon, typed with the model functions. */
export function modelBinding(): ModelBinding {
  return native() as ModelBinding
}

/** Options of {@link NativeModel.load}. */
export interface LoadOptions {
  /** Default: float32 on CPU, bfloat16 on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** 'cpu' (default), 'cuda', 'cuda:1', ... */
  device?: string
  /** Config file inside the directory (default config.json). */
  configFile?: string
}

/** A loaded Qwen2-VL / Qwen2.5-VL model. */
export class NativeModel {
  private constructor(readonly handle: ModelHandle, readonly config: ModelConfig, readonly dir: string) {}

  /** Load a Hugging Face model directory (config.json + model.safetensors or shards). */
  static async load(dir: string, options: LoadOptions = {}): Promise<NativeModel> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a model directory path', 'dir', dir)
    const config = readModelConfig(dir, options.configFile)
    const device = options.device ?? 'cpu'
    const dtype = options.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32')
    await checkConfigAgainstCheckpoint(dir, config, options.configFile) // before the native side allocates what the config says
    const handle = await modelBinding().modelLoad(dir, config, { dtype, device })
    return new NativeModel(handle, config, dir)
  }

  /** Parameter count, dtype and device. */
  info(): { parameters: number; dtype: string; device: string } {
    return modelBinding().modelInfo(this.handle)
  }

  /** Forward a left-padded batch with its images (see {@link ForwardOptions}). Argument errors reject too. */
  async forward(options: ForwardOptions): Promise<ForwardResult> {
    return modelBinding().modelForward(this.handle, options)
  }

  /** Free the weights (running calls finish first). */
  dispose(): void {
    modelBinding().modelDispose(this.handle)
  }
}

/** M-RoPE position ids (3,B,T) and rope deltas for a batch (get_rope_index), computed natively. */
export function ropeIndex(config: ModelConfig, batch: TokenBatchInput): { positionIds: Int32Array; ropeDeltas: number[] } {
  return modelBinding().modelRopeIndex(config, batch)
}

/** Number of parameters of a config (tied embeddings counted once), without allocating the weights. */
export function parameterCount(config: ModelConfig): number {
  return modelBinding().modelParameterCount(config)
}
