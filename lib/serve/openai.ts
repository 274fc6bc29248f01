/**
 * The OpenAI chat-completions wire format: validation of a request body into a GenerationRequest (with
 * images read into Buffers), and the shapes of answers and stream chunks.
 *
 * Accepted: `messages` (roles system/developer/user/assistant; content a string or parts
 * `{type:'text', text}` / `{type:'image_url', image_url:{url}|url}`), `max_tokens` or
 * `max_completion_tokens`, `temperature` (0–2, default 1), `top_p` (0–1], default 1), `n`, `seed`,
 * `stop` (string or array), `stream`, `stream_options.include_usage`. `model` and other OpenAI fields
 * are accepted and ignored. Every violation is a 400 naming the field, what was expected and what came.
 */
import { describeValue } from '../errors.js'
import type { ChatContentPart, ChatMessage } from '../model/chat.js'
import { HttpError } from './errors.js'
import { resolveImageUrl, type ImagePolicy } from './images.js'
import type { ResolvedServeOptions } from './options.js'
import type { FinishReason, GenerationRequest } from './types.js'

/** A validated chat request. */
export interface ChatRequest {
  gen: GenerationRequest
  stream: boolean
  includeUsage: boolean
}

function invalid(field: string, what: string, v: unknown): HttpError {
  return new HttpError(400, 'ERR_INVALID_REQUEST', `Expected ${what} for ${field} but received ${describeValue(v)}`, { param: field })
}

function num(body: Record<string, unknown>, key: string, lo: number, hi: number, dflt: number, loOpen = false): number {
  const v = body[key]
  if (v === undefined || v === null) return dflt
  if (typeof v !== 'number' || !Number.isFinite(v) || v > hi || (loOpen ? v <= lo : v < lo)) throw invalid(key, `a number ${loOpen ? `greater than ${lo}` : `from ${lo}`} up to ${hi}`, v)
  return v
}

function int(v: unknown, key: string, lo: number, hi: number, limitCode?: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < lo) throw invalid(key, `an integer from ${lo} up to ${hi}`, v)
  if (v > hi) {
    throw new HttpError(400, limitCode ?? 'ERR_INVALID_REQUEST', `Expected an integer from ${lo} up to ${hi} (this server's limit) for ${key} but received ${v}`, { param: key })
  }
  return v
}

/** Validate and normalize a /v1/chat/completions body. Reads and checks every image. */
export async function parseChatRequest(body: unknown, o: ResolvedServeOptions): Promise<ChatRequest> {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) throw invalid('the request body', 'a JSON object', body)
  const b = body as Record<string, unknown>
  const L = o.limits
  const temperature = num(b, 'temperature', 0, 2, 1)
  const topP = num(b, 'top_p', 0, 1, 1, true)
  const n = b.n === undefined || b.n === null ? 1 : int(b.n, 'n', 1, L.maxN, 'ERR_LIMIT')
  const mt = b.max_completion_tokens ?? b.max_tokens
  const maxKey = b.max_completion_tokens !== undefined && b.max_completion_tokens !== null ? 'max_completion_tokens' : 'max_tokens'
  const maxTokens = mt === undefined || mt === null ? o.defaultMaxTokens : int(mt, maxKey, 1, L.maxTokens, 'ERR_LIMIT')
  let seed: number | undefined
  if (b.seed !== undefined && b.seed !== null) seed = int(b.seed, 'seed', 0, Number.MAX_SAFE_INTEGER)
  let stop: string[] = []
  if (typeof b.stop === 'string') stop = [b.stop]
  else if (Array.isArray(b.stop)) stop = b.stop as string[]
  else if (b.stop !== undefined && b.stop !== null) throw invalid('stop', 'a string or an array of strings', b.stop)
  if (!stop.every((s) => typeof s === 'string' && s.length > 0)) throw invalid('stop', 'non-empty strings', b.stop)
  if (stop.length > L.maxStop) throw new HttpError(400, 'ERR_LIMIT', `Expected at most ${L.maxStop} stop strings but received ${stop.length}`, { param: 'stop' })
  if (b.stream !== undefined && b.stream !== null && typeof b.stream !== 'boolean') throw invalid('stream', 'a boolean', b.stream)
  const so = b.stream_options
  if (so !== undefined && so !== null && (typeof so !== 'object' || Array.isArray(so))) throw invalid('stream_options', 'an object', so)
  const includeUsage = (so as { include_usage?: unknown } | undefined)?.include_usage === true
  const policy: ImagePolicy = { allowedRoot: o.allowedRoot, maxImagePixels: L.maxImagePixels, maxFileBytes: L.maxBodyBytes }
  const messages = await parseMessages(b.messages, policy, L.maxImages, L.maxPromptBytes)
  return {
    gen: { messages, n, maxTokens, temperature, topP, seed, stop, maxPromptTokens: L.maxPromptTokens },
    stream: b.stream === true,
    includeUsage,
  }
}

/**
 * Messages with images read. Text is measured in UTF-8 bytes as it is met: more than `maxPromptBytes` is
 * refused before any tokenizing or image reading (the token count is checked later, by the generator).
 */
async function parseMessages(v: unknown, policy: ImagePolicy, maxImages: number, maxPromptBytes: number): Promise<ChatMessage[]> {
  if (!Array.isArray(v) || v.length === 0) throw invalid('messages', 'a non-empty array of messages', v)
  let bytes = 0
  const count = (text: string, at: string) => {
    bytes += Buffer.byteLength(text, 'utf8')
    if (bytes > maxPromptBytes) {
      throw new HttpError(400, 'ERR_PROMPT_TOO_LONG', `The prompt text has more than ${maxPromptBytes} bytes (this server's limit, reached at ${at}); shorten the text`, { param: at })
    }
  }
  const out: ChatMessage[] = []
  const pending: Array<{ url: string; where: string; part: { type: 'image'; image: Buffer } }> = []
  for (let i = 0; i < v.length; i++) {
    const m = v[i] as { role?: unknown; content?: unknown }
    const at = `messages[${i}]`
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw invalid(at, 'a message object {role, content}', m)
    const role = m.role === 'developer' ? 'system' : m.role
    if (role !== 'system' && role !== 'user' && role !== 'assistant') throw invalid(`${at}.role`, '"system", "developer", "user" or "assistant"', m.role)
    if (typeof m.content === 'string') {
      count(m.content, `${at}.content`)
      out.push({ role, content: m.content })
      continue
    }
    if (!Array.isArray(m.content)) throw invalid(`${at}.content`, 'a string or an array of content parts', m.content)
    const parts: ChatContentPart[] = []
    for (let j = 0; j < m.content.length; j++) {
      const p = m.content[j] as { type?: unknown; text?: unknown; image_url?: unknown }
      const pat = `${at}.content[${j}]`
      if (typeof p !== 'object' || p === null) throw invalid(pat, 'a content part {type, ...}', p)
      if (p.type === 'text') {
        if (typeof p.text !== 'string') throw invalid(`${pat}.text`, 'a string', p.text)
        count(p.text, `${pat}.text`)
        parts.push({ type: 'text', text: p.text })
      } else if (p.type === 'image_url') {
        const iu = p.image_url
        const url = typeof iu === 'string' ? iu : (iu as { url?: unknown } | null)?.url
        if (typeof url !== 'string' || url.length === 0) throw invalid(`${pat}.image_url.url`, 'a data URL or a path under the allowed root', url)
        const part = { type: 'image' as const, image: Buffer.alloc(0) }
        pending.push({ url, where: `${pat}.image_url`, part })
        parts.push(part)
      } else {
        throw invalid(`${pat}.type`, '"text" or "image_url"', p.type)
      }
    }
    out.push({ role, content: parts })
  }
  if (pending.length > maxImages) throw new HttpError(400, 'ERR_LIMIT', `Expected at most ${maxImages} images in one request but received ${pending.length}`, { param: 'messages' })
  await Promise.all(pending.map(async (x) => {
    x.part.image = await resolveImageUrl(x.url, policy, x.where)
  }))
  return out
}

/** Cut `text` at the first stop string; `cut` tells whether one was found. */
export function applyStop(text: string, stop: readonly string[]): { text: string; cut: boolean } {
  let at = -1
  for (const s of stop) {
    const i = text.indexOf(s)
    if (i >= 0 && (at < 0 || i < at)) at = i
  }
  return at < 0 ? { text, cut: false } : { text: text.slice(0, at), cut: true }
}

/** Incremental stop-string handling for streams: holds back text that might begin a stop string. */
export class StopStream {
  private buf = ''
  private emitted = 0
  done = false
  constructor(private readonly stop: readonly string[]) {}

  /** Feed the next piece; returns what may be sent now ('' when nothing). */
  push(delta: string): string {
    if (this.done) return ''
    this.buf += delta
    const { text, cut } = applyStop(this.buf, this.stop)
    if (cut) {
      this.done = true
      return this.take(text.length)
    }
    const hold = this.stop.reduce((m, s) => Math.max(m, s.length - 1), 0)
    return this.take(Math.max(this.emitted, this.buf.length - hold))
  }

  /** Everything not yet sent, given the full final text. */
  finish(full: string): string {
    if (this.done) return ''
    this.buf = full
    const { text } = applyStop(full, this.stop)
    this.done = true
    return this.take(Math.max(this.emitted, text.length))
  }

  private take(upTo: number): string {
    const s = this.buf.slice(this.emitted, upTo)
    this.emitted = Math.max(this.emitted, upTo)
    return s
  }
}

/** A non-streaming answer. */
export interface ChatCompletion {
  id: string
  object: 'chat.completion'
  created: number
  model: string
  choices: Array<{ index: number; message: { role: 'assistant'; content: string }; finish_reason: FinishReason; logprobs: null }>
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number }
}

/** One server-sent stream chunk. */
export interface ChatCompletionChunk {
  id: string
  object: 'chat.completion.chunk'
  created: number
  model: string
  choices: Array<{ index: number; delta: { role?: 'assistant'; content?: string }; finish_reason: FinishReason | null; logprobs: null }>
  usage?: { prompt_tokens: number; completion_tokens: number; total_tokens: number } | null
}
