/**
 * Typed errors of vrft-native. Every error a user can cause carries a stable `code` and a message that
 * says what was expected and what was found. Native errors arrive with the same shape (see
 * native/napi/common.cpp): ERR_INVALID_ARG, ERR_TORCH, ERR_TORCH_OOM, ERR_NATIVE, ERR_SAFETENSORS_*, ...
 */

const BRAND = Symbol.for('vrft-native.error')

/**
 * Base class of every error vrft-native throws on purpose, native ones included. `instanceof VrftError` also
 * holds for the argument errors of the native addon, which are TypeError / RangeError instances (see
 * {@link nativeError}): they carry the same brand.
 */
export class VrftError extends Error {
  static [Symbol.hasInstance](v: unknown): boolean {
    if (this === VrftError) return typeof v === 'object' && v !== null && (v as Record<symbol, unknown>)[BRAND] === true
    return Function.prototype[Symbol.hasInstance].call(this, v)
  }

  /** Stable machine-readable code, e.g. `ERR_INVALID_ARG`, `ERR_DATA_JSONL`. */
  readonly code: string
  /** Extra structured context (file, line, field ...). */
  readonly details?: Record<string, unknown>
  constructor(code: string, message: string, details?: Record<string, unknown>, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'VrftError'
    this.code = code
    if (details) this.details = details
    brand(this)
  }
}

function brand(e: Error): void {
  Object.defineProperty(e, BRAND, { value: true, enumerable: false })
}

/** A wrong argument type (native or TS): a TypeError that is also a VrftError with code ERR_INVALID_ARG. */
export class VrftTypeError extends TypeError {
  readonly code: string
  constructor(message: string, code = 'ERR_INVALID_ARG') {
    super(message)
    this.code = code
    brand(this)
  }
}

/** An argument out of range: a RangeError that is also a VrftError with code ERR_INVALID_ARG. */
export class VrftRangeError extends RangeError {
  readonly code: string
  constructor(message: string, code = 'ERR_INVALID_ARG') {
    super(message)
    this.code = code
    brand(this)
  }
}

/**
 * The native addon's error factory (native/napi/objects.cpp calls it for every error it raises): argument errors
 * become {@link VrftTypeError} / {@link VrftRangeError}, everything else (ERR_TORCH, ERR_TORCH_OOM, ERR_NATIVE,
 * ERR_SAFETENSORS_*, ...) a {@link VrftError} with the native code.
 */
export function nativeError(kind: 'type' | 'range' | 'error', code: string, message: string): Error {
  if (kind === 'type') return new VrftTypeError(message, code)
  if (kind === 'range') return new VrftRangeError(message, code)
  return new VrftError(code, message)
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
