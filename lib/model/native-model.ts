/**
 * `NativeModel`: a loaded Qwen2-VL / Qwen2.5-VL — the config read from the model directory (lib/model/config.ts)
 * and the native Model object (lib/native/binding.ts) — with forward, info and dispose.
 *
 *   const m = await NativeModel.load(dir, { dtype: 'float32' })
 *   const r = await m.forward({ inputIds, batch: 1, logits: 'last' })
 */
import { expectArg } from '../errors.js'
import { native, type ForwardOptions, type ForwardResult, type ModelConfig, type NativeModelObject } from '../native/binding.js'
import { readModelConfig } from './config.js'
import { checkConfigAgainstCheckpoint } from './config-check.js'
import { traceModelLoad } from '../native/model.js'

/** Options of {@link NativeModel.load}. */
export interface LoadOptions {
  /** Default: float32 on CPU, bfloat16 on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
  /** 'cpu' (default), 'cuda', 'cuda:1', ... */
  device?: string
  /** Config file inside the directory (default config.json). */
  configFile?: string
  /** The config, when the caller already read it (the model loader does); default: read from `configFile`. */
  config?: ModelConfig
}

/** A loaded Qwen2-VL / Qwen2.5-VL / Qwen3-VL model. */
export class NativeModel {
  private constructor(readonly handle: NativeModelObject, readonly config: ModelConfig, readonly dir: string) {}

  /** Load a Hugging Face model directory (config.json + model.safetensors or shards). */
  static async load(dir: string, options: LoadOptions = {}): Promise<NativeModel> {
    expectArg(typeof dir === 'string' && dir.length > 0, 'a model directory path', 'dir', dir)
    const config = options.config ?? readModelConfig(dir, options.configFile)
    const device = options.device ?? 'cpu'
    const dtype = options.dtype ?? (device.startsWith('cuda') ? 'bfloat16' : 'float32')
    await checkConfigAgainstCheckpoint(dir, config, options.configFile, { dtype, device }) // before the native side allocates what the config says
    const handle = await native().modelLoad(dir, config, { dtype, device })
    traceModelLoad(handle, dir)
    return new NativeModel(handle, config, dir)
  }

  /** Parameter count, dtype and device. */
  info(): { parameters: number; dtype: string; device: string } {
    return native().modelInfo(this.handle)
  }

  /** Forward a left-padded batch with its images (see {@link ForwardOptions}). Argument errors reject too. */
  async forward(options: ForwardOptions): Promise<ForwardResult> {
    return native().modelForward(this.handle, options)
  }

  /** Free the weights (running calls finish first). */
  dispose(): void {
    native().modelDispose(this.handle)
  }
}

