/**
 * Soak test: 1,000 chat requests with small images over loopback keep memory flat — resident memory
 * grows by less than 5% between the end of a 300-request warm-up and the end of the run (garbage
 * collected before each reading). Runs against the tiny real model when the native addon is built
 * (so native buffers, tokenizer and image decoding are in the loop), else against the generator double.
 * Bounded to well under a minute on a CI machine (max_tokens 4, 56×56 images).
 * Run: npx tap test/serve-soak.test.ts
 */
import t from 'tap'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { modelGenerator } from '../lib/serve/model-generator.js'
import { createServer } from '../lib/serve/server.js'
import { chatBody, dataUrl, fakeGenerator, fire, loadTinyModel, png, post, realModelAvailable } from './serve-helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const settle = async () => {
  for (let i = 0; i < 3; i++) {
    gc()
    await new Promise((r) => setTimeout(r, 20))
  }
  return process.memoryUsage().rss
}

// Clients = the largest batch, so the warm-up already runs full-size batches on every libuv worker
// (each worker thread's malloc arena grows to the largest batch it has run, once).
const CONCURRENCY = 8
const real = await realModelAvailable()
t.test(`1,000 requests keep RSS flat (${real ? 'tiny real model' : 'generator double: native addon not built'})`, async (t) => {
  const model = real ? await loadTinyModel() : undefined
  t.teardown(() => model?.[Symbol.asyncDispose]())
  const generator = model ? modelGenerator(model) : fakeGenerator({ callMs: 2, keepSeen: false }).generator
  const server = createServer(generator, { port: 0, maxBatchSize: CONCURRENCY, maxWaitMs: 2 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const imgs = (await Promise.all([png(56, 56, [9, 99, 199]), png(56, 84), png(70, 56, [0, 200, 0])])).map(dataUrl)
  const send = async (i: number) => {
    const r = await post(`${url}/v1/chat/completions`, chatBody(`soak ${i}`, [imgs[i % 3]!], { max_tokens: 4, temperature: 0, ...(i % 10 === 0 ? { stream: true } : {}) }))
    return r.status
  }
  const warm = await fire(300, CONCURRENCY, send)
  t.same(warm.statuses.filter((s) => s !== 200), [], 'warm-up: all 300 succeed')
  const before = await settle()
  const readings: number[] = []
  let statuses: number[] = []
  const t0 = performance.now()
  for (let round = 0; round < 4; round++) {
    const r = await fire(250, CONCURRENCY, (i) => send(300 + round * 250 + i))
    statuses = statuses.concat(r.statuses)
    readings.push(await settle())
  }
  const seconds = (performance.now() - t0) / 1000
  t.equal(statuses.length, 1000)
  t.same(statuses.filter((s) => s !== 200), [], 'all 1,000 succeed')
  const growth = (readings.at(-1)! - before) / before
  t.comment(`RSS after warm-up ${(before / 2 ** 20).toFixed(1)} MiB; after each 250: ${readings.map((x) => (x / 2 ** 20).toFixed(1)).join(', ')} MiB; ${(1000 / seconds).toFixed(0)} req/s`)
  t.ok(growth < 0.05, `RSS growth ${(growth * 100).toFixed(2)}% < 5%`)
  // A leak climbs linearly; allocator arenas step up early and stay. Over the last 500 requests: < 2%.
  const trend = (readings.at(-1)! - readings[1]!) / before
  t.ok(trend < 0.02, `no steady climb over the last 500 requests (${(trend * 100).toFixed(2)}% < 2%)`)
  t.ok((await server.metrics.meanBatchSize()) > 1, 'requests were batched')
  t.equal(server.queue.depth, 0)
})

// Issue 24: 1,000 mixed requests — valid, malformed, oversized, hostile rewards, slow and dropped mid-stream —
// against one server. /healthz (polled every 25 ms throughout) never stalls over 200 ms, RSS after the run
// stays within 10% of RSS after a warm-up of the same mix, and every invalid request is a 4xx with a code.
t.test(`1,000 mixed hostile requests: no /healthz stall, flat RSS, coded 4xx (${real ? 'tiny real model' : 'generator double'})`, async (t) => {
  const { connect } = await import('node:net')
  const model = real ? await loadTinyModel() : undefined
  t.teardown(() => model?.[Symbol.asyncDispose]())
  const generator = model ? modelGenerator(model) : fakeGenerator({ callMs: 2, keepSeen: false }).generator
  const server = createServer(generator, {
    port: 0, maxBatchSize: CONCURRENCY, maxWaitMs: 2,
    limits: { maxBodyBytes: 2 ** 20, maxPromptTokens: 1024 },
    connections: { headersTimeoutMs: 1000, requestTimeoutMs: 2000, keepAliveTimeoutMs: 2000 },
  })
  const url = await server.listen()
  t.teardown(() => server.close())
  const port = Number(new URL(url).port)
  const imgs = (await Promise.all([png(56, 56, [9, 99, 199]), png(56, 84), png(70, 56, [0, 200, 0])])).map(dataUrl)
  const svg = `data:image/svg+xml;base64,${Buffer.from('<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><filter id="f"><feTurbulence baseFrequency="0.9" numOctaves="10"/></filter><rect width="4000" height="4000" filter="url(#f)"/></svg>').toString('base64')}`
  const chat = `${url}/v1/chat/completions`
  const json = (body: unknown) => ({ method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) })
  const big = JSON.stringify(chatBody('y'.repeat(1.5 * 2 ** 20)))
  const rawSlow = (pieces: string[], gapMs: number) => new Promise<string>((resolve) => {
    const s = connect(port, '127.0.0.1')
    let got = ''
    s.on('data', (d) => (got += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => resolve(got))
    const cap = setTimeout(() => s.destroy(), 5000)
    s.once('close', () => clearTimeout(cap))
    pieces.forEach((p, i) => setTimeout(() => { if (!s.destroyed) s.write(p) }, i * gapMs))
  })
  type Outcome = { kind: string; invalid: boolean; status: number; code?: string }
  const outcomes: Outcome[] = []
  const one = async (i: number): Promise<number> => {
    const k = i % 20
    const record = (kind: string, invalid: boolean, status: number, code?: string) => { outcomes.push({ kind, invalid, status, ...(code ? { code } : {}) }); return status }
    const sendJson = async (kind: string, invalid: boolean, target: string, init: RequestInit) => {
      const res = await fetch(target, init)
      const text = await res.text()
      let code: string | undefined
      try { code = (JSON.parse(text) as { error?: { code?: string } }).error?.code } catch { /* SSE */ }
      return record(kind, invalid, res.status, code)
    }
    if (k < 8) return sendJson('valid chat', false, chat, json(chatBody(`soak ${i}`, [imgs[i % 3]!], { max_tokens: 4, temperature: 0, ...(k < 2 ? { stream: true } : {}) })))
    if (k === 8) { // dropped mid-stream
      const ac = new AbortController()
      const res = await fetch(chat, { ...json(chatBody(`drop ${i}`, [imgs[0]!], { max_tokens: 4, stream: true })), signal: ac.signal })
      await res.body!.getReader().read().catch(() => undefined)
      ac.abort()
      return record('dropped mid-stream', false, res.status)
    }
    if (k === 9) return sendJson('malformed JSON', true, chat, json('{"messages": [{"role": "user", "content": '))
    if (k === 10) return sendJson(i % 40 === 10 ? 'wrong content type' : 'unknown route', true, i % 40 === 10 ? chat : `${url}/v1/nope`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
    if (k === 11) return sendJson('invalid field', true, chat, json(chatBody('x', [], { temperature: 9 })))
    if (k === 12) { // 1.5 MB body over a raw socket (fetch would spend the shared event loop encoding it)
      const got = await rawSlow([`POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: ${big.length}\r\n\r\n`, big], 0)
      const code = /"code":"(ERR_[A-Z_]+)"/.exec(got)?.[1]
      return record('oversized body', true, Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0), code)
    }
    if (k === 13) return sendJson('oversized prompt text', true, chat, json(chatBody('z'.repeat(20_000))))
    if (k === 14) return sendJson('SVG image', true, chat, json(chatBody('what?', [svg])))
    if (k === 15) return sendJson('valid rewards', false, `${url}/v1/rewards`, json({ reward: 'grounding', completions: Array.from({ length: 8 }, (_, j) => `<think>t</think><answer>[${j},2,30,40]</answer>`), solutions: Array.from({ length: 8 }, () => '<answer>[1,2,30,40]</answer>') }))
    if (k === 16) return sendJson('hostile rewards', false, `${url}/v1/rewards`, json({ reward: i % 40 === 16 ? 'classification' : 'grounding', completions: [i % 40 === 16 ? `<answer>a${'.'.repeat(60_000)}b</answer>` : `<answer>(1,2)${' '.repeat(60_000)}x</answer>`], solutions: [i % 40 === 16 ? '<answer>cat</answer>' : '<answer>[1,2,3,4]</answer>'] }))
    if (k === 17) return sendJson('too many rewards', true, `${url}/v1/rewards`, json({ reward: 'format', completions: Array.from({ length: 5000 }, () => 'a'), solutions: Array.from({ length: 5000 }, () => 'a') }))
    if (k === 18) { // slow but complete
      const got = await rawSlow(['GET /v1/mod', 'els HTTP/1.1\r\nHo', 'st: x\r\nConnection: close\r\n', '\r\n'], 40)
      return record('slow client', false, Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0))
    }
    const got = await rawSlow(['POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n'], 0) // stalls: cut off by the headers timeout
    return record('stalled client', false, Number(/^HTTP\/1\.1 (\d+)/.exec(got)?.[1] ?? 0))
  }
  let worst = 0
  let polls = 0
  let polling = true
  const poller = (async () => {
    while (polling) {
      const t0 = performance.now()
      const r = await fetch(`${url}/healthz`)
      await r.text()
      if (r.status === 200) worst = Math.max(worst, performance.now() - t0)
      else worst = Infinity
      polls++
      await new Promise((r) => setTimeout(r, 25))
    }
  })()
  await fire(200, CONCURRENCY, one)
  const before = await settle()
  outcomes.length = 0
  worst = 0
  const { monitorEventLoopDelay } = await import('node:perf_hooks')
  const lag = monitorEventLoopDelay({ resolution: 10 })
  lag.enable()
  const t0 = performance.now()
  const r = await fire(1000, CONCURRENCY, (i) => one(200 + i))
  const seconds = (performance.now() - t0) / 1000
  polling = false
  await poller
  lag.disable()
  t.comment(`event-loop delay (server and clients share this process): p99 ${(lag.percentile(99) / 1e6).toFixed(1)} ms, max ${(lag.max / 1e6).toFixed(1)} ms`)
  const after = await settle()
  t.equal(r.statuses.length, 1000)
  const byKind = new Map<string, number[]>()
  for (const o of outcomes) byKind.set(o.kind, [...(byKind.get(o.kind) ?? []), o.status])
  t.comment([...byKind].map(([k, v]) => `${k}: ${v.length} (${[...new Set(v)].join('/')})`).join('; '))
  const badInvalid = outcomes.filter((o) => o.invalid && !(o.status >= 400 && o.status < 500 && typeof o.code === 'string' && o.code.startsWith('ERR_')))
  const show = (os: Outcome[]) => os.length ? `; not so: ${os.slice(0, 6).map((o) => `${o.kind} → ${o.status} ${o.code ?? 'no code'}`).join(', ')}${os.length > 6 ? ` and ${os.length - 6} more` : ''}` : ''
  t.same(badInvalid, [], `every invalid request (${outcomes.filter((o) => o.invalid).length}) answered 4xx with a code${show(badInvalid)}`)
  const badValid = outcomes.filter((o) => !o.invalid && o.kind !== 'stalled client' && o.status !== 200)
  t.same(badValid, [], `every valid, slow or dropped request answered 200${show(badValid)}`)
  t.ok(outcomes.filter((o) => o.kind === 'stalled client').every((o) => o.status === 408 || o.status === 0), 'stalled clients cut off (408 or closed)')
  t.ok(worst < 200, `worst /healthz ${worst.toFixed(1)} ms < 200 ms over ${polls} polls (${seconds.toFixed(1)} s, ${(1000 / seconds).toFixed(0)} req/s)`)
  const growth = (after - before) / before
  t.comment(`RSS after warm-up ${(before / 2 ** 20).toFixed(1)} MiB, after 1,000 mixed ${(after / 2 ** 20).toFixed(1)} MiB`)
  t.ok(growth < 0.1, `RSS growth ${(growth * 100).toFixed(2)}% < 10%`)
})
