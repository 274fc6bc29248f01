/**
 * Typed errors of vrft-native. Every error a user can cause carries a stable `code` and a message that
 * says what was expected and what was found. Native errors arrive with the same shape (see
 * native/napi/common.cpp): ERR_INVALID_ARG, ERR_TORCH, ERR_TORCH_OOM, ERR_NATIVE, ERR_SAFETENSORS_*, ...
 */

/** Base class of every error vrft-native throws on purpose. */
export class VrftError extends Error {
  /** Stable machine-readable code, e.g. `ERR_INVALID_ARG`, `ERR_DATA_JSONL`. */
  readonly code: string
  /** Extra structured context (file, line, field ...). */
  readonly details?: Record<string, unknown>
  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VrftError'
    this.code = code
    if (details) this.details = details
  }
}

/** A bad argument or option: expected vs. received. */
export class InvalidArgumentError extends VrftError {
  constructor(message: string, details?: Record<string, unknown>) {
    super('ERR_INVALID_ARG', message, details)
    this.name = 'InvalidArgumentError'
  }
}

/** Short, safe description of a received value for error messages. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'undefined'
  if (v === null) return 'null'
  if (typeof v === 'string') return JSON.stringify(v.length > 60 ? v.slice(0, 57) + '...' : v)
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v)
  if (Array.isArray(v)) return `an array of length ${v.length}`
  if (Buffer.isBuffer(v)) return `a Buffer of ${v.length} bytes`
  if (typeof v === 'function') return 'a function'
  return 'an object'
}

/** Throw ERR_INVALID_ARG unless `ok`. */
export function expectArg(ok: boolean, what: string, name: string, received: unknown): asserts ok {
  if (!ok) throw new InvalidArgumentError(`Expected ${what} for ${name} but received ${describeValue(received)}`)
}

/** True when `e` is an error with the given code. */
export function hasCode(e: unknown, code: string): boolean {
  return typeof e === 'object' && e !== null && (e as { code?: unknown }).code === code
}
