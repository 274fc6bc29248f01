/**
 * The native addon: its loader and the one typed declaration of the whole binding contract.
 * Every heavy native function returns a Promise and runs on a libuv worker thread; errors carry a `code`.
 * Set VRFT_NATIVE_ADDON to load an addon from another path (e.g. the node-gyp build).
 */
import { createRequire } from 'node:module'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { VrftError } from '../errors.js'

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

/** The native binding contract. Later modules extend it (see the model/rl sections below). */
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
  measureMatmul(o: { n?: number; dtype?: 'float32' | 'bfloat16' | 'float16'; device?: string; reps?: number }): Promise<Measured>
  measureBandwidth(o: { bytes?: number; device?: string; reps?: number }): Promise<Measured>
  busyWork(ms: number): Promise<number>
  throwTest(kind: string, async?: boolean): Promise<void> | void
  // safetensors
  safetensorsHeader(path: string): Promise<{ tensors: TensorEntry[]; metadata: Record<string, string>; fileSize: number }>
  safetensorsParseHeader(bytes: Uint8Array): { tensors: TensorEntry[]; metadata: Record<string, string> }
  safetensorsReadTensor(path: string, name: string, dtype?: SafetensorsDtype): Promise<RawTensor>
  safetensorsWrite(path: string, tensors: Array<RawTensor & { name: string }>, metadata?: Record<string, string>): Promise<void>
  safetensorsWriteSharded(dir: string, tensors: Array<RawTensor & { name: string }>, maxShardBytes: number): Promise<void>
  checkpointInfo(dir: string): Promise<{ files: string[]; tensors: Array<TensorEntry & { file: string }>; totalBytes: number }>
  // Model, generation and training bindings are declared in lib/native/model.ts and lib/native/rl.ts
  // and attached to this same object; see `native()` there.
  [key: string]: unknown
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
      cached = req(p) as NativeBinding
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
