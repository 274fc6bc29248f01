/**
 * The one model loader. Every entry point opens a model folder here: the library API (`loadModel`,
 * `loadGenerationModel`), `generate`, `eval`, `serve`, `train`, `sft` and the built-in demo. It resolves
 * the folder (a path, or a hub id found in the local Hugging Face cache: lib/model/hub.ts), reads and
 * validates config.json (lib/model/config.ts), picks the tokenizer ({@link tokenizerFor}), reads
 * generation_config.json and preprocessor_config.json, and decides the stop ids once
 * ({@link ModelFolder.eosIds}): whichever entry point runs a folder stops on the same tokens.
 *
 *   const folder = await readModelFolder('Qwen/Qwen2-VL-2B-Instruct')   // no weights yet
 *   folder.eosIds                                                       // what generation stops on
 *   const model = await loadWeights(folder, { device: 'cpu' })          // + the native weights
 *   model.dispose()
 *
 * Training reads the folder here and hands `folder.config` to its own native trainer
 * (NativePolicy.create({ modelDir, config })), which loads the weights itself.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { VrftError, describeValue, expectArg } from '../errors.js'
import { NativeModel } from './native-model.js'
import { chatOptionsFor, type RenderChatOptions } from './chat.js'
import { readModelConfig, type ModelConfig } from './config.js'
import { isHubId, resolveModel, type ResolvedModel } from './hub.js'
import { loadPreprocessorConfig, type PreprocessorConfig } from './preprocess.js'
import { loadTokenizer, resolveModelTokenizer, type QwenTokenizer } from './tokenizer.js'

/** Everything of a model folder but its weights, read once. */
export interface ModelFolder {
  /** The folder (absolute when it came from the hub cache or a path that was resolved). */
  dir: string
  /** The hub id and snapshot commit, when found in the local Hugging Face cache. */
  hubId?: string
  commit?: string
  /** config.json, validated and flattened. */
  config: ModelConfig
  tokenizer: QwenTokenizer
  /** preprocessor_config.json with the caller's overrides (min/max pixels …). */
  preprocessor: PreprocessorConfig
  /**
   * The ids that end a completion, for every entry point: generation_config.json's `eos_token_id` in the
   * model folder, else the tokenizer's own stop ids (its folder's generation_config.json, else its
   * eos token and `<|endoftext|>`). Equal to `tokenizer.special.stopIds`.
   */
  eosIds: number[]
  /** Padding id of prompts and finished rows (`tokenizer.special.pad`). */
  padId: number
  /** The chat-template options of the model family (lib/model/chat.ts chatOptionsFor: Qwen3-VL has no default system turn). */
  chat: RenderChatOptions
}

/** Options of {@link readModelFolder}. */
export interface ReadModelFolderOptions {
  /** tokenizer.json (or a folder holding one) to use instead of the model folder's. */
  tokenizer?: string
  /** Image-processor overrides on top of preprocessor_config.json (e.g. `{ maxPixels: 401408 }`). */
  preprocessor?: Partial<PreprocessorConfig>
}

/** Options of {@link loadWeights}. */
export interface LoadWeightsOptions {
  /** 'cpu' (default), 'cuda' or 'cuda:N'. */
  device?: string
  /** Weights dtype. Default float32 on the CPU, bfloat16 on CUDA. */
  dtype?: 'float32' | 'bfloat16' | 'float16'
}

/** A model folder with its weights loaded natively. */
export interface LoadedModel extends ModelFolder {
  /** The native model handle. */
  handle: NativeModel['handle']
  /** Free the weights. Idempotent. */
  dispose(): void
}

/**
 * Which tokenizer a model folder uses: the override (a path, or `'builtin'` for the bundled Qwen tokenizer,
 * with a warning), else the folder's tokenizer.json, else ERR_TOKENIZER_MISSING (lib/model/tokenizer.ts
 * resolveModelTokenizer). Every entry point reaches it through this loader.
 */
export function tokenizerFor(dir: string, override?: string): string {
  return resolveModelTokenizer(dir, override)
}

/**
 * The `eos_token_id` of `<dir>/generation_config.json` as a list, or undefined when the file or the field
 * is absent. An unreadable file or a field that is not a token id (or a list of them) is ERR_CONFIG.
 */
export function readGenerationStopIds(dir: string): number[] | undefined {
  const file = join(dir, 'generation_config.json')
  if (!existsSync(file)) return undefined
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(file, 'utf8'))
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Expected valid JSON in ${file} but reading it failed: ${(e as Error).message}`, { file }, { cause: e })
  }
  const eos = typeof raw === 'object' && raw !== null ? (raw as { eos_token_id?: unknown }).eos_token_id : undefined
  if (eos === undefined || eos === null) return undefined
  const isId = (x: unknown): x is number => Number.isInteger(x) && (x as number) >= 0
  if (isId(eos)) return [eos]
  if (Array.isArray(eos) && eos.length > 0 && eos.every(isId)) return [...eos]
  throw new VrftError('ERR_CONFIG', `Expected a token id or a non-empty list of token ids for eos_token_id but found ${describeValue(eos)} (in ${file})`, { field: 'eos_token_id', source: file })
}

/**
 * Where a model is: `spec` is a folder, or a hub id (`Org/Name[@revision]`) found in the local Hugging
 * Face cache. A path without config.json is ERR_MODEL_MISSING; a hub id found nowhere is
 * ERR_MODEL_NOT_FOUND naming every place looked in.
 */
export function resolveModelFolder(spec: string): ResolvedModel {
  expectArg(typeof spec === 'string' && spec.length > 0, 'a model folder or hub id', 'model', spec)
  if (!isHubId(spec) && !existsSync(join(spec, 'config.json'))) {
    throw new VrftError('ERR_MODEL_MISSING', `No config.json in ${JSON.stringify(spec)}: expected a Hugging Face model folder (config.json, *.safetensors) or a hub id (Org/Name) in the local cache`, { dir: spec })
  }
  return resolveModel(spec)
}

/** Open a model folder (see {@link resolveModelFolder}) without its weights. */
export async function readModelFolder(spec: string, opts: ReadModelFolderOptions = {}): Promise<ModelFolder> {
  expectArg(typeof opts === 'object' && opts !== null, 'an options object', 'options', opts)
  const r = resolveModelFolder(spec)
  const config = readModelConfig(r.dir)
  const stopIds = readGenerationStopIds(r.dir)
  const tokenizer = loadTokenizer(tokenizerFor(r.dir, opts.tokenizer), stopIds ? { specialIds: { stopIds } } : {})
  const preprocessor = await loadPreprocessorConfig(r.dir, opts.preprocessor ?? {})
  return {
    dir: r.dir, ...(r.hubId ? { hubId: r.hubId } : {}), ...(r.commit ? { commit: r.commit } : {}),
    config, tokenizer, preprocessor, eosIds: [...tokenizer.special.stopIds], padId: tokenizer.special.pad, chat: chatOptionsFor(config.arch),
  }
}

/** Load the weights of an opened folder (on a libuv worker thread). */
export async function loadWeights(folder: ModelFolder, opts: LoadWeightsOptions = {}): Promise<LoadedModel> {
  expectArg(typeof folder === 'object' && folder !== null && typeof folder.dir === 'string', 'a model folder from readModelFolder', 'folder', folder)
  const nm = await NativeModel.load(folder.dir, { config: folder.config, ...(opts.device ? { device: opts.device } : {}), ...(opts.dtype ? { dtype: opts.dtype } : {}) })
  let disposed = false
  return {
    ...folder,
    handle: nm.handle,
    dispose: () => {
      if (disposed) return
      disposed = true
      nm.dispose()
    },
  }
}

/** {@link readModelFolder} then {@link loadWeights}. */
export async function openModel(spec: string, opts: ReadModelFolderOptions & LoadWeightsOptions = {}): Promise<LoadedModel> {
  const folder = await readModelFolder(spec, opts)
  return loadWeights(folder, opts)
}
