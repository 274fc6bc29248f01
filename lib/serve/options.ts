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
  /**
   * Largest text of a prompt in UTF-8 bytes, checked before tokenizing (larger: 400 ERR_PROMPT_TOO_LONG).
   * Default {@link PROMPT_BYTES_PER_TOKEN} × maxPromptTokens (131,072 for 8192 tokens): natural text
   * averages about 4 bytes per token, so only prompts that could never fit are refused unread.
   */
  maxPromptBytes: number
  /** Largest /v1/rewards body in bytes (parsed on the event loop). Default 4 MiB. */
  maxRewardBodyBytes: number
  /** Longest completion or solution of a /v1/rewards call, in characters. Default 65,536. */
  maxRewardChars: number
  /** Most class names in a /v1/rewards `options.classes`, each at most 256 characters. Default 1024. */
  maxRewardClasses: number
}

/** Bytes of prompt text allowed per prompt token when `limits.maxPromptBytes` is not given. */
export const PROMPT_BYTES_PER_TOKEN = 16

/** Timeouts and the connection cap of the HTTP server. */
export interface ServeConnectionOptions {
  /** Time a client has to send the request headers (ms; then 408 and the connection is closed). Default 10,000. */
  headersTimeoutMs: number
  /** Time a client has to send the whole request, body included (ms; then 408). Default 30,000. */
  requestTimeoutMs: number
  /** How long an idle keep-alive connection stays open (ms). Default 5,000. */
  keepAliveTimeoutMs: number
  /**
   * Most open connections. Beyond it, {@link HEALTH_RESERVE_CONNECTIONS} more are accepted for one request
   * each (closed after {@link OVER_CAP_IDLE_MS} ms without one): `/healthz` is answered, any other route gets
   * 503 ERR_TOO_MANY_CONNECTIONS with Retry-After; further connections are closed at once. Default 1024.
   */
  maxConnections: number
}

/** Connections accepted past `maxConnections` so that /healthz still answers at the cap. */
export const HEALTH_RESERVE_CONNECTIONS = 16
/** How long a connection past the cap may wait before sending its request (ms). */
export const OVER_CAP_IDLE_MS = 2000

/** Default timeouts and connection cap. */
export const DEFAULT_CONNECTION_OPTIONS: Readonly<ServeConnectionOptions> = Object.freeze({
  headersTimeoutMs: 10_000,
  requestTimeoutMs: 30_000,
  keepAliveTimeoutMs: 5_000,
  maxConnections: 1024,
})

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
  /** Timeouts and connection cap (see {@link ServeConnectionOptions}). */
  connections?: Partial<ServeConnectionOptions>
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
  connections: Readonly<ServeConnectionOptions>
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
  maxPromptBytes: PROMPT_BYTES_PER_TOKEN * 8192,
  maxRewardBodyBytes: 4 * 2 ** 20,
  maxRewardChars: 65_536,
  maxRewardClasses: 1024,
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
  if (given.maxPromptBytes === undefined) limits.maxPromptBytes = PROMPT_BYTES_PER_TOKEN * limits.maxPromptTokens
  const givenC = o.connections ?? {}
  if (typeof givenC !== 'object' || givenC === null) bad('connections', 'an object', givenC)
  const connections: ServeConnectionOptions = { ...DEFAULT_CONNECTION_OPTIONS }
  for (const k of Object.keys(givenC) as (keyof ServeConnectionOptions)[]) {
    if (!(k in DEFAULT_CONNECTION_OPTIONS)) bad(`connections.${k}`, `one of ${Object.keys(DEFAULT_CONNECTION_OPTIONS).join(', ')}`, k)
    connections[k] = int(givenC[k], `connections.${k}`, 1, k === 'maxConnections' ? 1_000_000 : 24 * 3600_000, DEFAULT_CONNECTION_OPTIONS[k])
  }
  if (connections.headersTimeoutMs > connections.requestTimeoutMs) {
    bad('connections.headersTimeoutMs', `at most connections.requestTimeoutMs (${connections.requestTimeoutMs})`, connections.headersTimeoutMs)
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
    connections: Object.freeze(connections),
    defaultMetrics: o.defaultMetrics ?? false,
    logger: o.logger ?? false,
  })
}
