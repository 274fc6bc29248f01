/**
 * Model-level helpers over the binding (native/napi/model.cpp): M-RoPE indices and parameter counts of a flat
 * config (lib/model/config.ts makes it). The loaded model itself is `NativeModel` in lib/model/native-model.ts;
 * the contract is declared once in binding.ts.
 */
import { native, type ModelConfig, type NativeBinding, type NativeModelObject, type TokenBatchInput } from './binding.js'

export type { TokenBatchInput, ForwardOptions, FloatTensor, ForwardResult } from './binding.js'

/** The native Model object `modelLoad` resolves to. */
export type ModelHandle = NativeModelObject

/** The model part of the binding contract (the whole contract is {@link NativeBinding} in binding.ts). */
export type ModelBinding = NativeBinding

/** The addon (kept for callers of the former per-module accessors). */
export function modelBinding(): NativeBinding {
  return native()
}

/** M-RoPE position ids (3,B,T) and rope deltas for a batch (get_rope_index), computed natively. */
export function ropeIndex(config: ModelConfig, batch: TokenBatchInput): { positionIds: Int32Array; ropeDeltas: number[] } {
  return modelBinding().modelRopeIndex(config, batch)
}

/** Number of parameters of a config (tied embeddings counted once), without allocating the weights. */
export function parameterCount(config: ModelConfig): number {
  return modelBinding().modelParameterCount(config)
}

/**
 * With VRFT_TRACE_LOAD set, one stderr line per loaded model with the dtype and device the native side
 * reports for its weights (what the tests of `--dtype` check for every command); otherwise nothing.
 */
export function traceModelLoad(handle: NativeModelObject, dir: string): void {
  if (!process.env.VRFT_TRACE_LOAD) return
  const i = modelBinding().modelInfo(handle)
  process.stderr.write(`[vrft] model loaded: ${dir} dtype=${i.dtype} device=${i.device} parameters=${i.parameters}\n`)
}
