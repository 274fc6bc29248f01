/**
 * Shared pieces of the serve tests: a deterministic generator double (no model), tiny PNG images, and
 * small HTTP helpers over fetch. The double answers `<think>…</think><answer>LAST USER TEXT</answer>`,
 * one "token" per character, and reports the images it received (width×height read by sharp), so the
 * tests see exactly what reached the generator. Its cost model is per-call overhead + per-sequence
 * time, like a batched forward pass.
 */
import { tempDir } from './tmp.js'
import sharp from 'sharp'
import { VrftError } from '../lib/errors.js'
import { decodeImage } from '../lib/model/images.js'
import type { GenerationOutput, GenerationRequest, Generator } from '../lib/serve/types.js'

/** A PNG of w×h pixels (solid colour). */
export async function png(w: number, h: number, rgb: [number, number, number] = [200, 30, 30]): Promise<Buffer> {
  return sharp({ create: { width: w, height: h, channels: 3, background: { r: rgb[0], g: rgb[1], b: rgb[2] } } }).png().toBuffer()
}

/** data: URL of a PNG buffer. */
export const dataUrl = (b: Buffer) => `data:image/png;base64,${b.toString('base64')}`

/** The generator double and what it saw. */
export interface FakeGenerator {
  generator: Generator
  /** Requests per call, in call order. */
  batches: number[]
  /** Every request it received. */
  seen: GenerationRequest[]
  /** Resolve to let blocked calls continue (when created with `blocked: true`). */
  release(): void
}

export function fakeGenerator(opts: { callMs?: number; perSeqMs?: number; blocked?: boolean; keepSeen?: boolean } = {}): FakeGenerator {
  const { callMs = 2, perSeqMs = 0.5 } = opts
  let release: () => void = () => {}
  let gate: Promise<void> = opts.blocked ? new Promise((r) => (release = r)) : Promise.resolve()
  const batches: number[] = []
  const seen: GenerationRequest[] = []
  const generator: Generator = async (batch) => {
    batches.push(batch.length)
    if (opts.keepSeen !== false) seen.push(...batch)
    await gate
    const seqs = batch.reduce((s, r) => s + r.n, 0)
    await new Promise((r) => setTimeout(r, callMs + perSeqMs * seqs))
    const outs: Array<GenerationOutput | Error> = []
    for (const req of batch) {
      const user = [...req.messages].reverse().find((m) => m.role === 'user')
      const parts = typeof user?.content === 'string' ? [{ type: 'text' as const, text: user.content }] : user?.content ?? []
      const text = parts.filter((p) => p.type === 'text').map((p) => (p as { text: string }).text).join(' ')
      if (text.includes('FAIL_ONE')) {
        outs.push(new VrftError('ERR_PROMPT_TOO_LONG', `Prompt has 99999 tokens; the limit is ${req.maxPromptTokens}`))
        continue
      }
      if (text.includes('FAIL_ALL')) throw new Error('simulated native crash')
      const sizes: string[] = []
      try {
        for (const m of req.messages) {
          if (typeof m.content === 'string') continue
          for (const p of m.content) {
            if (p.type !== 'image') continue
            const rgb = await decodeImage(p.image) // a full decode, as the real generator does
            sizes.push(`${rgb.width}x${rgb.height}`)
          }
        }
      } catch (e) {
        outs.push(e as Error)
        continue
      }
      const full = `<think>images ${sizes.join(',') || 'none'} t=${req.temperature}</think><answer>${text}</answer>`
      const choices = Array.from({ length: req.n }, (_, c) => {
        const ids = Array.from(full, (ch) => ch.charCodeAt(0)).slice(0, req.maxTokens)
        const out = String.fromCharCode(...ids)
        for (let i = 0; i < out.length; i += 7) req.onText?.(c, out.slice(i, i + 7))
        return { text: out, ids, finishReason: ids.length < full.length ? ('length' as const) : ('stop' as const) }
      })
      outs.push({ choices, promptTokens: 10 + text.length })
    }
    if (opts.blocked) gate = new Promise((r) => (release = r))
    return outs
  }
  return { generator, batches, seen, release: () => release() }
}

/** POST JSON; returns status, parsed JSON (or text) and headers. */
export async function post(url: string, body: unknown, headers: Record<string, string> = {}): Promise<{ status: number; json: any; text: string; headers: Headers }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const text = await res.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch { /* not JSON (SSE) */ }
  return { status: res.status, json, text, headers: res.headers }
}

/** The `data:` payloads of a server-sent-events body. */
export function sseEvents(text: string): string[] {
  return text.split('\n\n').filter((e) => e.startsWith('data: ')).map((e) => e.slice(6))
}

/** A one-user-turn chat body with optional images. */
export function chatBody(text: string, images: string[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    model: 'x',
    messages: [{ role: 'user', content: [...images.map((url) => ({ type: 'image_url', image_url: { url } })), { type: 'text', text }] }],
    ...extra,
  }
}

/** True when the native addon is built with the generation bindings (real-model tests run). */
export async function realModelAvailable(): Promise<boolean> {
  const { nativeAvailable, native } = await import('../lib/native/binding.js')
  return nativeAvailable() && typeof (native() as unknown as Record<string, unknown>).generate === 'function'
}

let tinyDir: Promise<string> | undefined

/** A tiny random Qwen2-VL checkpoint (initModel 'tiny': hidden 64, 2 layers, the real vocabulary) in a temp dir, made once per process. */
export function tinyModelDir(): Promise<string> {
  tinyDir ??= (async () => {
    const [{ initModel }, { join }] = await Promise.all([import('../lib/model/init-model.js'), import('node:path')])
    return (await initModel({ arch: 'qwen2-vl', size: 'tiny', out: join(tempDir('vrft-serve-tiny-'), 'model'), seed: 3 })).dir
  })()
  return tinyDir
}

/** The tiny checkpoint loaded through the public API. */
export async function loadTinyModel() {
  const { loadModel } = await import('../lib/api.js')
  return loadModel(await tinyModelDir())
}

/** Fire `total` requests with at most `concurrency` in flight; returns statuses and wall seconds. */
export async function fire(total: number, concurrency: number, send: (i: number) => Promise<number>): Promise<{ statuses: number[]; seconds: number }> {
  const statuses: number[] = new Array(total)
  let next = 0
  const t0 = performance.now()
  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, async () => {
    while (next < total) {
      const i = next++
      statuses[i] = await send(i)
    }
  }))
  return { statuses, seconds: (performance.now() - t0) / 1000 }
}
