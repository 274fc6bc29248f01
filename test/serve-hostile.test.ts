/**
 * Issue 24, server items 1–5: hostile clients get bounded work and no stalls, with the generator double.
 *   1. prompt text is refused by byte length before it is tokenized (the generator never sees it);
 *   2. /v1/rewards is bounded (body, completions, string length, class list) and scores in slices:
 *      /healthz answers within 100 ms throughout a big call;
 *   3. SVG is refused (ERR_IMAGE_FORMAT); a FIFO under the allowed root is refused without being opened;
 *   4. header / request / keep-alive timeouts close slow and idle clients; past the connection cap /healthz
 *      still answers while other routes get 503 ERR_TOO_MANY_CONNECTIONS;
 *   5. errors carry `param`, 429 carries Retry-After, a stream the generator refuses is a JSON 4xx.
 * Run: npx tap test/serve-hostile.test.ts
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { connect, type Socket } from 'node:net'
import { join } from 'node:path'
import { createServer } from '../lib/serve/server.js'
import { chatBody, dataUrl, fakeGenerator, png, post } from './serve-helpers.js'
import { tempDir } from './tmp.js'

/** Send raw bytes on a fresh connection; resolves with everything received until the server closes it. */
function raw(port: number, text: string, timeoutMs = 5000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = connect(port, '127.0.0.1')
    let got = ''
    const timer = setTimeout(() => { s.destroy(); reject(new Error(`no close within ${timeoutMs} ms; got ${JSON.stringify(got.slice(0, 200))}`)) }, timeoutMs)
    s.on('data', (d) => (got += d.toString('latin1')))
    s.on('error', () => {})
    s.on('close', () => { clearTimeout(timer); resolve(got) })
    s.write(text)
  })
}
const portOf = (url: string) => Number(new URL(url).port)

/** Poll /healthz every `everyMs` until `done` settles; returns the worst latency seen (ms). */
async function healthDuring(url: string, done: Promise<unknown>, everyMs = 10): Promise<{ worst: number; polls: number }> {
  let finished = false
  void done.finally(() => (finished = true))
  let worst = 0
  let polls = 0
  while (!finished) {
    const t0 = performance.now()
    const r = await fetch(`${url}/healthz`)
    await r.text()
    worst = Math.max(worst, performance.now() - t0)
    polls++
    await new Promise((r) => setTimeout(r, everyMs))
  }
  return { worst, polls }
}

t.test('1. a long prompt is refused by its byte length, before tokenizing', async (t) => {
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0, limits: { maxPromptTokens: 100 } })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.equal(server.options.limits.maxPromptBytes, 1600, 'default: 16 bytes per prompt token')
  const ok = await post(`${url}/v1/chat/completions`, chatBody('x'.repeat(1500)))
  t.equal(ok.status, 200, 'under the byte bound: on to the generator')
  const r = await post(`${url}/v1/chat/completions`, chatBody('é'.repeat(801)))
  t.equal(r.status, 400)
  t.match(r.json.error, { code: 'ERR_PROMPT_TOO_LONG', param: 'messages[0].content[0].text', message: /more than 1600 bytes/ })
  const big = { model: 'x', messages: [{ role: 'system', content: 'a'.repeat(1000) }, { role: 'user', content: 'b'.repeat(20 * 2 ** 20) }] }
  const t0 = performance.now()
  const r2 = await post(`${url}/v1/chat/completions`, big)
  t.equal(r2.status, 400, 'a 20 MB prompt: 400')
  t.match(r2.json.error, { code: 'ERR_PROMPT_TOO_LONG', param: 'messages[1].content' })
  t.comment(`20 MB prompt refused in ${(performance.now() - t0).toFixed(0)} ms`)
  t.equal(fake.seen.length, 1, 'only the short prompt reached the generator')
})

t.test('2. /v1/rewards: bounded sizes, linear parsers, /healthz answers within 100 ms', async (t) => {
  const server = createServer(fakeGenerator().generator, { port: 0, limits: { maxRewardChars: 300_000, maxRewardBodyBytes: 16 * 2 ** 20 } })
  const url = await server.listen()
  t.teardown(() => server.close())
  // the inputs that were quadratic: 200k spaces after a grounding tuple, 200k dots inside a label
  const ground = `<think>x</think><answer>(1,2)${' '.repeat(200_000)}x</answer>`
  const label = `<think>x</think><answer>a${'.'.repeat(200_000)}b</answer>`
  const bodyG = { reward: 'grounding', completions: [ground, ground], solutions: ['<answer>[1,2,3,4]</answer>', '<answer>[1,2,3,4]</answer>'] }
  const bodyC = { reward: 'classification', completions: [label, label], solutions: ['<answer>cat</answer>', '<answer>cat</answer>'] }
  for (const [name, body] of [['grounding, 200k spaces', bodyG], ['classification, 200k dots', bodyC]] as const) {
    const call = post(`${url}/v1/rewards`, body)
    const h = await healthDuring(url, call)
    const r = await call
    t.equal(r.status, 200, `${name}: scored`)
    t.same(r.json.rewards.length, 2)
    t.ok(h.worst < 100, `${name}: worst /healthz ${h.worst.toFixed(1)} ms < 100 ms over ${h.polls} polls`)
  }
  // many completions × many classes: sliced, the event loop stays free
  const classes = Array.from({ length: 1024 }, (_, i) => `class number ${i}`)
  const n = 4096
  const many = {
    reward: 'classification',
    options: { mode: 'substring', classes },
    completions: Array.from({ length: n }, (_, i) => `<think>t</think><answer>class number ${i % 1024} ${'z'.repeat(1000)}</answer>`),
    solutions: Array.from({ length: n }, (_, i) => `<answer>class number ${(i * 7) % 1024}</answer>`),
  }
  const t0 = performance.now()
  const call = post(`${url}/v1/rewards`, many)
  const h = await healthDuring(url, call)
  const r = await call
  t.equal(r.status, 200)
  t.equal(r.json.rewards.length, n, 'every completion scored')
  t.equal(r.json.components.format[5], 1)
  t.ok(h.polls >= 3, `the call took a while (${(performance.now() - t0).toFixed(0)} ms, ${h.polls} polls)`)
  t.ok(h.worst < 100, `4096 × 1024 classes: worst /healthz ${h.worst.toFixed(1)} ms < 100 ms`)

  const small = createServer(fakeGenerator().generator, { port: 0, limits: { maxRewardItems: 4, maxRewardChars: 100, maxRewardClasses: 3, maxRewardBodyBytes: 4096 } })
  const surl = await small.listen()
  t.teardown(() => small.close())
  const cases: Array<[unknown, number, string, string | null]> = [
    [{ reward: 'format', completions: ['a', 'b', 'c', 'd', 'e'], solutions: ['a', 'b', 'c', 'd', 'e'] }, 400, 'ERR_LIMIT', 'completions'],
    [{ reward: 'format', completions: ['a', 'x'.repeat(101)], solutions: ['a', 'b'] }, 400, 'ERR_LIMIT', 'completions[1]'],
    [{ reward: 'format', completions: ['a'], solutions: ['y'.repeat(101)] }, 400, 'ERR_LIMIT', 'solutions[0]'],
    [{ reward: 'classification', options: { classes: ['a', 'b', 'c', 'd'] }, completions: ['a'], solutions: ['a'] }, 400, 'ERR_LIMIT', 'options.classes'],
    [{ reward: 'classification', options: { classes: ['a', 'b'.repeat(257)] }, completions: ['a'], solutions: ['a'] }, 400, 'ERR_LIMIT', 'options.classes[1]'],
    [{ reward: 'format', completions: ['a'.repeat(3000), 'b'.repeat(3000)], solutions: ['a', 'b'] }, 413, 'ERR_BODY_TOO_LARGE', null],
  ]
  for (const [body, status, code, param] of cases) {
    const r = await post(`${surl}/v1/rewards`, body)
    t.equal(r.status, status, `${code} ${param}`)
    t.match(r.json.error, { code, param })
  }
})

t.test('3. images: SVG refused, only regular files read', async (t) => {
  const root = tempDir('vrft-hostile-root-')
  const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="4000" height="4000"><filter id="f"><feTurbulence baseFrequency="0.9" numOctaves="10"/><feGaussianBlur stdDeviation="50"/></filter><rect width="4000" height="4000" filter="url(#f)"/></svg>'
  writeFileSync(join(root, 'bomb.svg'), svg)
  writeFileSync(join(root, 'bomb.png'), `<?xml version="1.0"?>\n${svg}`) // the extension does not matter
  execFileSync('mkfifo', [join(root, 'pipe.png')])
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0, allowedRoot: root })
  const url = await server.listen()
  t.teardown(() => server.close())
  const svgUrl = `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`
  const svgAsPng = `data:image/png;base64,${Buffer.from(`  \n${svg}`).toString('base64')}`
  for (const [name, url1] of [['SVG data URL', svgUrl], ['SVG labelled image/png', svgAsPng], ['SVG file', 'bomb.svg'], ['SVG file named .png', 'bomb.png']]) {
    const t0 = performance.now()
    const r = await post(`${url}/v1/chat/completions`, chatBody('what?', [url1!]))
    t.equal(r.status, 400, `${name}: 400`)
    t.match(r.json.error, { code: 'ERR_IMAGE_FORMAT', param: null, message: /vector|raster/ })
    t.ok(performance.now() - t0 < 2000, `${name}: refused in ${(performance.now() - t0).toFixed(0)} ms`)
  }
  const r = await Promise.race([
    post(`${url}/v1/chat/completions`, chatBody('what?', ['pipe.png'])),
    new Promise<never>((_, rej) => setTimeout(() => rej(new Error('the FIFO request did not answer within 3 s')), 3000).unref()),
  ])
  t.equal(r.status, 400, 'a FIFO: 400 at once')
  t.match(r.json.error, { code: 'ERR_IMAGE_NOT_FOUND', message: /not a regular file/ })
  const ok = await post(`${url}/v1/chat/completions`, chatBody('a real one', [dataUrl(await png(8, 8))]))
  t.equal(ok.status, 200, 'raster images still work')
  t.equal(fake.seen.length, 1)
})

t.test('4. timeouts and the connection cap', async (t) => {
  const server = createServer(fakeGenerator().generator, { port: 0, connections: { headersTimeoutMs: 400, requestTimeoutMs: 800, keepAliveTimeoutMs: 300 } })
  const url = await server.listen()
  t.teardown(() => server.close())
  const port = portOf(url)
  const slow = (chunks: string[], everyMs: number) => new Promise<{ ms: number; got: string }>((resolve) => {
    const t0 = performance.now()
    const s = connect(port, '127.0.0.1')
    let got = ''
    s.on('data', (d) => (got += d.toString('latin1')))
    s.on('error', () => {})
    let i = 0
    const timer = setInterval(() => { if (i < chunks.length && !s.destroyed) s.write(chunks[i++]!) }, everyMs)
    const cap = setTimeout(() => s.destroy(), 6000) // never wait forever (the test then fails on the time)
    s.on('close', () => { clearInterval(timer); clearTimeout(cap); resolve({ ms: performance.now() - t0, got }) })
  })
  // slowloris: one header line every 100 ms, forever
  const headers = await slow(['GET /healthz HTTP/1.1\r\n', ...Array.from({ length: 200 }, (_, i) => `X-${i}: y\r\n`)], 100)
  t.ok(headers.ms < 2500, `slow headers cut off after ${headers.ms.toFixed(0)} ms (headers timeout 400 ms)`)
  t.match(headers.got, /^HTTP\/1.1 408[^]*"code":"ERR_REQUEST_TIMEOUT"|^$/, 'answered 408 with code ERR_REQUEST_TIMEOUT (or closed)')
  // errors of the HTTP layer itself carry the same coded JSON body as every route's errors
  const garbage = await slow(['NOT HTTP AT ALL\r\n\r\n'], 1)
  t.match(garbage.got, /^HTTP\/1.1 400 [^]*"code":"ERR_BAD_HTTP"/, `unparsable bytes: 400 ERR_BAD_HTTP (${garbage.got.split('\r\n')[0]})`)
  const huge = await slow([`GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'h'.repeat(40_000)}\r\n\r\n`], 1)
  t.match(huge.got, /^HTTP\/1.1 431 [^]*"code":"ERR_HEADERS_TOO_LARGE"/, `40 kB of headers: 431 ERR_HEADERS_TOO_LARGE (${huge.got.split('\r\n')[0]})`)
  const parsed = JSON.parse(huge.got.slice(huge.got.indexOf('\r\n\r\n') + 4)) as { error: { type: string; message: string } }
  t.equal(parsed.error.type, 'invalid_request_error')
  // a connection that never sends a byte
  const mute = await slow([], 100)
  t.ok(mute.ms < 2500, `a silent connection is closed after ${mute.ms.toFixed(0)} ms`)
  // slow body: complete headers, then one byte every 100 ms of a 1000-byte body
  const body = await slow(['POST /v1/rewards HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n', ...Array.from({ length: 200 }, () => ' ')], 100)
  t.ok(body.ms < 3000, `slow body cut off after ${body.ms.toFixed(0)} ms (request timeout 800 ms)`)
  // idle keep-alive connection: closed by the server
  const idle = await slow(['GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'], 1)
  t.match(idle.got, /^HTTP\/1.1 200/)
  t.ok(idle.ms < 2000, `an idle keep-alive connection is closed after ${idle.ms.toFixed(0)} ms (keep-alive 300 ms)`)

  // the cap: 10 connections held open (each has been answered once and stays alive)
  const capped = createServer(fakeGenerator().generator, { port: 0, connections: { maxConnections: 10, keepAliveTimeoutMs: 60_000 } })
  const curl = await capped.listen()
  t.teardown(() => capped.close())
  const cport = portOf(curl)
  const held: Socket[] = []
  t.teardown(() => held.forEach((s) => s.destroy()))
  for (let i = 0; i < 10; i++) {
    const s = connect(cport, '127.0.0.1')
    held.push(s)
    await new Promise<void>((resolve) => {
      s.once('data', () => resolve())
      s.write('GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
    })
  }
  const health = await raw(cport, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(health, /^HTTP\/1.1 200/, '/healthz answers at the cap')
  t.match(health, /connection: close/i, '...on a connection closed after it')
  const other = await raw(cport, 'GET /v1/models HTTP/1.1\r\nHost: x\r\n\r\n')
  t.match(other, /^HTTP\/1.1 503/, 'other routes: 503 at the cap')
  t.match(other, /retry-after: 1/i)
  t.match(other, /"code":"ERR_TOO_MANY_CONNECTIONS"/)
  // fill the /healthz reserve with silent connections: further ones are closed at once, nothing hangs
  const silent: Socket[] = []
  for (let i = 0; i < 16; i++) silent.push(connect(cport, '127.0.0.1').on('error', () => {}))
  t.teardown(() => silent.forEach((s) => s.destroy()))
  await Promise.all(silent.map((s) => new Promise((r) => s.once('connect', r))))
  await new Promise((r) => setTimeout(r, 50))
  const t0 = performance.now()
  const refused = await raw(cport, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n')
  t.equal(refused, '', 'past the reserve: closed without an answer')
  t.ok(performance.now() - t0 < 1000, 'at once')
  const closedSilent = await Promise.all(silent.map((s) => new Promise<number>((r) => { const t1 = performance.now(); s.once('close', () => r(performance.now() - t1)) })))
  t.ok(Math.max(...closedSilent) < 4000, `silent connections past the cap are closed after ${Math.max(...closedSilent).toFixed(0)} ms`)
  t.match(await raw(cport, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n'), /^HTTP\/1.1 200/, 'the reserve is free again: /healthz answers')
  held.forEach((s) => s.destroy())
  await new Promise((r) => setTimeout(r, 100))
  t.match(await raw(cport, 'GET /v1/models HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'), /^HTTP\/1.1 200/, 'under the cap again: served')
  t.match(await (await fetch(`${curl}/metrics`)).text(), /vrft_connections_refused_total [1-9]/)
})

t.test('5. OpenAI behaviour: param, Retry-After, 4xx before a stream starts', async (t) => {
  const fake = fakeGenerator({ blocked: true })
  const server = createServer(fake.generator, { port: 0, maxQueue: 1, maxBatchSize: 1, maxWaitMs: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const bad = await post(`${url}/v1/chat/completions`, chatBody('x', [], { temperature: 5 }))
  t.equal(bad.status, 400)
  t.same(Object.keys(bad.json.error).sort(), ['code', 'message', 'param', 'type'])
  t.equal(bad.json.error.param, 'temperature', 'param names the field at fault')
  const badMsg = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'robot', content: 'x' }] })
  t.equal(badMsg.json.error.param, 'messages[0].role')
  t.equal((await post(`${url}/v1/nope`, {})).json.error.code, 'ERR_NOT_FOUND')
  const first = post(`${url}/v1/chat/completions`, chatBody('one'))
  while (fake.batches.length < 1) await new Promise((r) => setTimeout(r, 2))
  const queued = post(`${url}/v1/chat/completions`, chatBody('two'))
  while (server.queue.depth < 1) await new Promise((r) => setTimeout(r, 2))
  const full = await post(`${url}/v1/chat/completions`, chatBody('three'))
  t.equal(full.status, 429)
  t.equal(full.headers.get('retry-after'), '1', '429 carries Retry-After')
  const timer = setInterval(() => fake.release(), 5)
  t.teardown(() => clearInterval(timer))
  t.same((await Promise.all([first, queued])).map((r) => r.status), [200, 200])
  const refused = await post(`${url}/v1/chat/completions`, chatBody('FAIL_ONE', [], { stream: true }))
  t.equal(refused.status, 400, 'a stream the generator refuses: 400, no 200 first')
  t.match(refused.json.error, { code: 'ERR_PROMPT_TOO_LONG' })
  const streamed = await post(`${url}/v1/chat/completions`, chatBody('fine', [], { stream: true }))
  t.equal(streamed.status, 200)
  t.match(streamed.text, /data: \[DONE\]/)
})
