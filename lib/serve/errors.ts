/**
 * HTTP errors of the server: every failure is answered as JSON `{error: {message, type, code}}` with a
 * status chosen from the error's code — 4xx for what the client did, 429 for a full queue, 503 while
 * shutting down or out of device memory, 500 for our own faults (logged, message kept generic unless
 * it is a coded vrft error).
 */
import { STATUS_CODES } from 'node:http'
import type { Duplex } from 'node:stream'
import { VrftError } from '../errors.js'

/** An error with an explicit HTTP status. */
export class HttpError extends VrftError {
  readonly status: number
  constructor(status: number, code: string, message: string, details?: Record<string, unknown>) {
    super(code, message, details)
    this.name = 'HttpError'
    this.status = status
  }
}

/** The JSON body of an error answer (OpenAI's shape). */
export interface ErrorBody {
  error: { message: string; type: string; code: string; param?: string | null }
}

const STATUS_BY_CODE: Record<string, number> = {
  ERR_QUEUE_FULL: 429,
  ERR_SHUTTING_DOWN: 503,
  ERR_TORCH_OOM: 503,
  ERR_PATH_FORBIDDEN: 403,
  ERR_UNAUTHORIZED: 401,
  ERR_CANCELLED: 499,
  ERR_TOO_MANY_CONNECTIONS: 503,
}

/** Codes of client errors (400) that other modules throw. */
const CLIENT_CODES = /^ERR_(INVALID_ARG|INVALID_REQUEST|CHAT_MESSAGES|IMAGE_[A-Z_]+|PROMPT_TOO_LONG|LIMIT|REWARD(_[A-Z_]+)?|DATA_SOLUTION|BAD_JSON|BODY_TOO_LARGE)$/

/** OpenAI's error `type` for a status. */
export function errorType(status: number): string {
  if (status === 401) return 'authentication_error'
  if (status === 403) return 'permission_error'
  if (status === 404) return 'not_found_error'
  if (status === 429) return 'rate_limit_error'
  if (status >= 500) return 'server_error'
  return 'invalid_request_error'
}

/** Seconds a client told 429 (queue full) should wait before retrying (the `Retry-After` header). */
export const RETRY_AFTER_SECONDS = 1

/** Status and body for any thrown value (fastify's own errors included). `param` names the field at fault (OpenAI's). */
export function toHttpError(e: unknown): { status: number; body: ErrorBody; internal: boolean } {
  const err = e as { code?: unknown; statusCode?: unknown; message?: unknown }
  let status = 500
  let code = 'ERR_INTERNAL'
  let message = 'Internal server error'
  let internal = true
  const details = (e as { details?: { param?: unknown } } | null)?.details
  const param = typeof details?.param === 'string' ? details.param : null
  if (e instanceof HttpError) {
    status = e.status
    code = e.code
    message = e.message
    internal = status >= 500
  } else if (typeof err?.code === 'string' && err.code.startsWith('FST_')) {
    // fastify: body too large, bad JSON, wrong content type ...
    status = typeof err.statusCode === 'number' ? err.statusCode : 400
    code = fastifyCode(err.code, status)
    message = fastifyMessage(err.code, String(err.message))
    internal = status >= 500
  } else if (e instanceof VrftError || (typeof err?.code === 'string' && typeof err?.message === 'string')) {
    code = err.code as string
    message = err.message as string
    status = STATUS_BY_CODE[code] ?? (CLIENT_CODES.test(code) ? 400 : 500)
    internal = status >= 500 && code !== 'ERR_SHUTTING_DOWN' && code !== 'ERR_TORCH_OOM'
  } else if (typeof err?.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 500) {
    status = err.statusCode
    code = 'ERR_INVALID_REQUEST'
    message = String(err.message)
    internal = false
  }
  return { status, body: { error: { message, type: errorType(status), param, code } }, internal }
}

function fastifyCode(code: string, status: number): string {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return 'ERR_BODY_TOO_LARGE'
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return 'ERR_CONTENT_TYPE'
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY' || code === 'FST_ERR_CTP_INVALID_JSON_BODY') return 'ERR_BAD_JSON'
  return status >= 500 ? 'ERR_INTERNAL' : 'ERR_INVALID_REQUEST'
}

function fastifyMessage(code: string, message: string): string {
  if (code === 'FST_ERR_CTP_BODY_TOO_LARGE') return `The request body is larger than this server's limit (${message})`
  if (code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return `Expected Content-Type: application/json but received another type (${message})`
  if (code === 'FST_ERR_CTP_EMPTY_JSON_BODY') return 'Expected a JSON body but the body was empty'
  if (code === 'FST_ERR_CTP_INVALID_JSON_BODY') return 'Expected a JSON body but the body is not valid JSON'
  return `Malformed request: ${message}`
}

/** Status, code and message for an error Node's HTTP parser raises before a request reaches a route. */
export function clientErrorAnswer(errCode: string | undefined): { status: number; code: string; message: string } {
  if (errCode === 'ERR_HTTP_REQUEST_TIMEOUT') return { status: 408, code: 'ERR_REQUEST_TIMEOUT', message: 'The request was not received in time (headers or body too slow); send the whole request within the server\'s timeouts' }
  if (errCode === 'HPE_HEADER_OVERFLOW') return { status: 431, code: 'ERR_HEADERS_TOO_LARGE', message: 'The request headers are larger than this server accepts' }
  return { status: 400, code: 'ERR_BAD_HTTP', message: `Expected an HTTP/1.1 request; the bytes received did not parse${errCode ? ` (${errCode})` : ''}` }
}

/**
 * Answer a client error on the raw socket (fastify's `clientErrorHandler`): the same coded JSON body as
 * every other error, then close. Nothing is written to a socket that is already gone.
 */
export function answerClientError(err: { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const { status, code, message } = clientErrorAnswer(err.code)
  const body = JSON.stringify({ error: { message, type: errorType(status), param: null, code } } satisfies ErrorBody)
  if (!socket.writable) return void socket.destroy()
  // end, then destroy once flushed: a client that never reads or closes does not keep the socket
  socket.end(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`, () => socket.destroy())
}
