/**
 * Options of the server (`createServer`, `vrft-native serve`): validated once into a plain, frozen
 * object with every default filled. Defaults keep a public deployment safe: loopback host, no local image
 * paths, bounded body, images, tokens, n and queue.
 */
import { realpathSync, statSync } from 'node:fs'
import { VrftError, describeValue } from '../errors.js'

/** Limits on what one request may ask for. */
export interface ServeLimits {
  /** Largest request body in bytes (larger: 413). Default 32 MiB (data-URL images are big). */
  maxBodyBytes: number
  /** Largest image in pixels (width × height, read from its header before decoding). Default 16,777,216 (4096²). */
  maxImagePixels: number
  /** Most images in one request. Default 8. */
  maxImages: number
  /** Largest `max_tokens`. Default 1024. */
  maxTokens: number
  /** Largest prompt in tokens (image pads included). Default 8192. */
  maxPromptTokens: number
  /** Largest `n`. Default 8. */
  maxN: number
  /** Most stop strings (OpenAI allows 4). Default 4. */
  maxStop: number
  /** Most completions in one /v1/rewards call. Default 4096. */
  maxRewardItems: number
}

/** Options of {@link createServer}. */
export interface ServeOptions {
  /** Interface to listen on. Default 127.0.0.1 (loopback only). */
  host?: string
  /** TCP port; 0 picks a free one. Default 8000. */
  port?: number
  /** Require `Authorization: Bearer <apiKey>` on every route but /healthz. Default: none (open). */
  apiKey?: string
  /**
   * Folder under which `image_url` may name local files (plain paths or file:// URLs). Default: none,
   * local paths are refused. Symlinks are resolved: the real path must stay inside the real root.
   */
  allowedRoot?: string
  /** Model name reported in answers and /v1/models. Default "vrft-native". */
  modelName?: string
  /** Most sequences per generator call. Default 16. */
  maxBatchSize?: number
  /** How long to collect requests for a batch (ms). Default 5. */
  maxWaitMs?: number
  /** Most requests waiting; more get 429. Default 256. */
  maxQueue?: number
  /** Default `max_tokens` when a request has none. Default 256. */
  defaultMaxTokens?: number
  /** Per-request limits (see {@link ServeLimits}). */
  limits?: Partial<ServeLimits>
  /** Also export prom-client's process metrics (RSS, heap, event loop). Default false. */
  defaultMetrics?: boolean
  /** Log requests with fastify's logger (pino). Default false. */
  logger?: boolean
}

/** Options after validation, every default filled. */
export interface ResolvedServeOptions {
  host: string
  port: number
  apiKey: string | undefined
  allowedRoot: string | undefined
  modelName: string
  maxBatchSize: number
  maxWaitMs: number
  maxQueue: number
  defaultMaxTokens: number
  limits: Readonly<ServeLimits>
  defaultMetrics: boolean
  logger: boolean
}

/** Default per-request limits. */
export const DEFAULT_SERVE_LIMITS: Readonly<ServeLimits> = Object.freeze({
  maxBodyBytes: 32 * 2 ** 20,
  maxImagePixels: 4096 * 4096,
  maxImages: 8,
  maxTokens: 1024,
  maxPromptTokens: 8192,
  maxN: 8,
  maxStop: 4,
  maxRewardItems: 4096,
})

function bad(name: string, what: string, v: unknown): never {
  throw new VrftError('ERR_INVALID_ARG', `Expected ${what} for ${name} but received ${describeValue(v)}`)
}

function int(v: unknown, name: string, min: number, max: number, dflt: number): number {
  if (v === undefined) return dflt
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) bad(name, `an integer between ${min} and ${max}`, v)
  return v
}

/** Validate options and fill defaults. Throws ERR_INVALID_ARG naming the option. */
export function resolveServeOptions(o: ServeOptions = {}): ResolvedServeOptions {
  if (typeof o !== 'object' || o === null) bad('options', 'an object', o)
  const host = o.host ?? '127.0.0.1'
  if (typeof host !== 'string' || host.length === 0) bad('host', 'a host name or address', host)
  const apiKey = o.apiKey
  if (apiKey !== undefined && (typeof apiKey !== 'string' || apiKey.length === 0)) bad('apiKey', 'a non-empty string', apiKey)
  let allowedRoot: string | undefined
  if (o.allowedRoot !== undefined) {
    if (typeof o.allowedRoot !== 'string' || o.allowedRoot.length === 0) bad('allowedRoot', 'a folder path', o.allowedRoot)
    try {
      allowedRoot = realpathSync(o.allowedRoot)
    } catch {
      throw new VrftError('ERR_INVALID_ARG', `Expected an existing folder for allowedRoot but ${JSON.stringify(o.allowedRoot)} does not exist`)
    }
    if (!statSync(allowedRoot).isDirectory()) throw new VrftError('ERR_INVALID_ARG', `Expected a folder for allowedRoot but ${JSON.stringify(o.allowedRoot)} is not a folder`)
  }
  const modelName = o.modelName ?? 'vrft-native'
  if (typeof modelName !== 'string' || modelName.length === 0) bad('modelName', 'a non-empty string', modelName)
  const given = o.limits ?? {}
  const limits: ServeLimits = { ...DEFAULT_SERVE_LIMITS }
  for (const k of Object.keys(given) as (keyof ServeLimits)[]) {
    if (!(k in DEFAULT_SERVE_LIMITS)) bad(`limits.${k}`, `one of ${Object.keys(DEFAULT_SERVE_LIMITS).join(', ')}`, k)
    limits[k] = int(given[k], `limits.${k}`, k === 'maxStop' ? 0 : 1, Number.MAX_SAFE_INTEGER, DEFAULT_SERVE_LIMITS[k])
  }
  const maxBatchSize = int(o.maxBatchSize, 'maxBatchSize', 1, 4096, 16)
  const maxWaitMs = o.maxWaitMs ?? 5
  if (typeof maxWaitMs !== 'number' || !(maxWaitMs >= 0 && maxWaitMs <= 60_000)) bad('maxWaitMs', 'a number of ms between 0 and 60000', maxWaitMs)
  if (limits.maxN > maxBatchSize) limits.maxN = maxBatchSize
  const defaultMaxTokens = int(o.defaultMaxTokens, 'defaultMaxTokens', 1, limits.maxTokens, Math.min(256, limits.maxTokens))
  return Object.freeze({
    host,
    port: int(o.port, 'port', 0, 65535, 8000),
    apiKey,
    allowedRoot,
    modelName,
    maxBatchSize,
    maxWaitMs,
    maxQueue: int(o.maxQueue, 'maxQueue', 1, 1_000_000, 256),
    defaultMaxTokens,
    limits: Object.freeze(limits),
    defaultMetrics: o.defaultMetrics ?? false,
    logger: o.logger ?? false,
  })
}
