/**
 * The HTTP server over real loopback HTTP (port 0) with a generator double: OpenAI-shaped answers,
 * streaming, rewards, auth on and off, every limit, path traversal refused, malformed input answered
 * 4xx with a clear message — and the server still serving afterwards. Needs no native addon.
 * Run: npx tap test/serve.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'
import { createServer } from '../lib/serve/server.js'
import { chatBody, dataUrl, fakeGenerator, png, post, sseEvents } from './serve-helpers.js'

const img = await png(32, 24)
const imgUrl = dataUrl(img)

t.test('OpenAI-shaped answers, n, max_tokens, stop, models, health, 404', async (t) => {
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/, 'loopback by default')

  const r = await post(`${url}/v1/chat/completions`, chatBody('hello', [imgUrl]))
  t.equal(r.status, 200)
  t.match(r.json, { object: 'chat.completion', model: 'vrft-native', choices: [{ index: 0, message: { role: 'assistant' }, finish_reason: 'stop', logprobs: null }] })
  t.match(r.json.id, /^chatcmpl-/)
  t.equal(r.json.choices[0].message.content, '<think>images 32x24 t=1</think><answer>hello</answer>', 'the image reached the generator as bytes')
  t.same(r.json.usage, { prompt_tokens: 15, completion_tokens: r.json.choices[0].message.content.length, total_tokens: 15 + r.json.choices[0].message.content.length })

  const many = await post(`${url}/v1/chat/completions`, chatBody('hi', [], { n: 3, max_tokens: 5, temperature: 0.5, top_p: 0.9, seed: 7 }))
  t.equal(many.status, 200)
  t.equal(many.json.choices.length, 3)
  t.same(many.json.choices.map((c: any) => [c.index, c.message.content, c.finish_reason]), [[0, '<thin', 'length'], [1, '<thin', 'length'], [2, '<thin', 'length']])
  const seenReq = fake.seen.at(-1)!
  t.match(seenReq, { n: 3, maxTokens: 5, temperature: 0.5, topP: 0.9, seed: 7 })

  const stopped = await post(`${url}/v1/chat/completions`, chatBody('abc', [], { stop: ['</think>', 'zzz'] }))
  t.equal(stopped.json.choices[0].message.content, '<think>images none t=1')
  t.equal(stopped.json.choices[0].finish_reason, 'stop')
  const stopStr = await post(`${url}/v1/chat/completions`, { messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'plain string' }], stop: '<answer>', max_completion_tokens: 100 })
  t.equal(stopStr.json.choices[0].message.content, '<think>images none t=1</think>')
  t.same(fake.seen.at(-1)!.messages[0], { role: 'system', content: 'be brief' })

  const health = await fetch(`${url}/healthz`)
  t.same(await health.json(), { status: 'ok', queueDepth: 0, busy: false })
  const models = await (await fetch(`${url}/v1/models`)).json() as { data: Array<{ id: string }> }
  t.equal(models.data[0].id, 'vrft-native')
  const nf = await fetch(`${url}/v1/nothing`)
  t.equal(nf.status, 404)
  t.match(await nf.json(), { error: { type: 'not_found_error', code: 'ERR_NOT_FOUND', message: /No route GET \/v1\/nothing/ } })
})

t.test('streaming with server-sent events', async (t) => {
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const plain = await post(`${url}/v1/chat/completions`, chatBody('stream me', [imgUrl], { n: 2 }))
  const res = await post(`${url}/v1/chat/completions`, chatBody('stream me', [imgUrl], { n: 2, stream: true, stream_options: { include_usage: true } }))
  t.equal(res.status, 200)
  t.match(res.headers.get('content-type'), /^text\/event-stream/)
  const events = sseEvents(res.text)
  t.equal(events.at(-1), '[DONE]')
  const chunks = events.slice(0, -1).map((e) => JSON.parse(e))
  for (const c of chunks) t.match(c, { object: 'chat.completion.chunk', model: 'vrft-native' })
  t.equal(new Set(chunks.map((c) => c.id)).size, 1, 'one id for the stream')
  for (const i of [0, 1]) {
    const mine = chunks.flatMap((c) => c.choices).filter((c: any) => c.index === i)
    t.same(mine[0].delta, { role: 'assistant', content: '' }, 'role first')
    t.ok(mine.length > 3, 'several content deltas')
    t.equal(mine.map((c: any) => c.delta.content ?? '').join(''), plain.json.choices[i].message.content, 'deltas add up to the full answer')
    t.equal(mine.at(-1).finish_reason, 'stop')
  }
  const usage = chunks.at(-1)
  t.same(usage.choices, [])
  t.same(usage.usage, plain.json.usage)

  const st = await post(`${url}/v1/chat/completions`, chatBody('x', [], { stream: true, stop: 'images' }))
  const deltas = sseEvents(st.text).slice(0, -1).map((e) => JSON.parse(e)).flatMap((c) => c.choices)
  t.equal(deltas.map((c: any) => c.delta.content ?? '').join(''), '<think>', 'a stop string is never streamed, even across deltas')
  t.equal(deltas.at(-1).finish_reason, 'stop')

  // Refused by the generator before it produced any text: a plain JSON 400, never a 200 stream (issue 24).
  const err = await post(`${url}/v1/chat/completions`, chatBody('FAIL_ONE', [], { stream: true }))
  t.equal(err.status, 400, 'a stream the generator refuses is answered 4xx before any 200')
  t.match(err.headers.get('content-type'), /^application\/json/)
  t.match(err.json, { error: { code: 'ERR_PROMPT_TOO_LONG', type: 'invalid_request_error' } })
})

t.test('POST /v1/rewards', async (t) => {
  const server = createServer(fakeGenerator().generator, { port: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const good = "<think>x</think> <answer>[{'Position': [10, 10, 100, 100], 'Confidence': 0.9}]</answer>"
  const sol = "<answer>[{'Position': [10, 10, 100, 100], 'Confidence': 1}]</answer>"
  const det = await post(`${url}/v1/rewards`, { reward: 'detection', completions: [good, 'no tags', "<think>x</think><answer>No Objects</answer>"], solutions: [sol, sol, sol] })
  t.equal(det.status, 200)
  t.same(Object.keys(det.json.components).sort(), ['confidence', 'format', 'iou'])
  t.same(det.json.components.iou, [1, 0, 0])
  t.same(det.json.components.format, [1, 0, 1])
  t.ok(Math.abs(det.json.rewards[0] - 2.9) < 1e-9, 'iou 1 + confidence 0.9 + format 1')
  const cls = await post(`${url}/v1/rewards`, { reward: 'classification', completions: ['<think>a</think><answer>Boeing 707</answer>', '<think>a</think><answer>707 or 737</answer>'], solutions: ['<answer>boeing_707</answer>', '<answer>707</answer>'], options: { mode: 'substring' } })
  t.same(cls.json.components.accuracy, [1, 0], 'substring mode refuses an answer listing classes')
  const fmt = await post(`${url}/v1/rewards`, { reward: 'format', completions: ['<think></think><answer>1</answer>', 'x'], solutions: ['', ''] })
  t.same(fmt.json.rewards, [1, 0])
  const gr = await post(`${url}/v1/rewards`, { reward: 'grounding_giou', completions: ['<answer>(0,0),(10,10)</answer>'], solutions: ['<answer>(0,0),(10,10)</answer>'] })
  t.same(gr.json.components.giou, [2])

  const bad = [
    [{ reward: 'nope', completions: [], solutions: [] }, /Expected one of detection, classification/],
    [{ reward: 'format', completions: ['a'], solutions: [] }, /Expected one solution per completion \(1\) but received 0/],
    [{ reward: 'format', completions: 'a', solutions: [] }, /Expected an array of strings for completions but received "a"/],
    [{ reward: 'detection', completions: ['a'], solutions: ['garbage'] }, /Expected a detection solution/],
    [{ reward: 'detection', completions: ['a'], solutions: ['<answer>No Objects</answer>'], options: { threshold: 2 } }, /threshold/],
  ] as const
  for (const [body, msg] of bad) {
    const r = await post(`${url}/v1/rewards`, body)
    t.equal(r.status, 400, JSON.stringify(body))
    t.match(r.json.error, { type: 'invalid_request_error', message: msg })
  }
})

t.test('API key: 401 without it, healthz open, constant-time check', async (t) => {
  const server = createServer(fakeGenerator().generator, { port: 0, apiKey: 's3cret-key' })
  const url = await server.listen()
  t.teardown(() => server.close())
  for (const auth of [undefined, 'Bearer wrong', 'Bearer s3cret-ke', 'Basic s3cret-key', 's3cret-key', 'Bearer ']) {
    const r = await post(`${url}/v1/chat/completions`, chatBody('x'), auth ? { authorization: auth } : {})
    t.equal(r.status, 401, String(auth))
    t.match(r.json.error, { type: 'authentication_error', code: 'ERR_UNAUTHORIZED' })
    t.equal(r.headers.get('www-authenticate'), 'Bearer')
  }
  t.equal((await fetch(`${url}/metrics`)).status, 401, 'metrics need the key')
  t.equal((await post(`${url}/v1/rewards`, { reward: 'format', completions: [], solutions: [] })).status, 401)
  t.equal((await fetch(`${url}/healthz`)).status, 200, 'health needs no key')
  t.equal((await fetch(`${url}/healthz?probe=1`)).status, 200, 'with a query string too')
  t.equal((await fetch(`${url}/nothing`)).status, 401, 'unknown routes need the key (no route probing)')
  const ok = await post(`${url}/v1/chat/completions`, chatBody('x'), { authorization: 'Bearer s3cret-key' })
  t.equal(ok.status, 200)
  t.equal((await fetch(`${url}/metrics`, { headers: { authorization: 'bearer s3cret-key' } })).status, 200)
})

t.test('limits: body, pixels, images, tokens, n, stop, sampling values, queue', async (t) => {
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0, limits: { maxBodyBytes: 64 * 1024, maxImagePixels: 100 * 100, maxImages: 2, maxTokens: 64, maxN: 4, maxPromptTokens: 500, maxRewardItems: 3 } })
  const url = await server.listen()
  t.teardown(() => server.close())
  const chat = (body: unknown) => post(`${url}/v1/chat/completions`, body)
  const big = await chat(chatBody('x'.repeat(70 * 1024)))
  t.equal(big.status, 413)
  t.match(big.json.error, { code: 'ERR_BODY_TOO_LARGE', type: 'invalid_request_error', message: /larger than this server's limit/ })
  const wide = await chat(chatBody('x', [dataUrl(await png(101, 100))]))
  t.equal(wide.status, 400)
  t.match(wide.json.error, { code: 'ERR_IMAGE_TOO_LARGE', message: /limit of 10000 pixels.*messages\[0\]\.content\[0\]\.image_url/ })
  t.equal((await chat(chatBody('x', [dataUrl(await png(100, 100))]))).status, 200, 'at the limit is fine')
  const three = await chat(chatBody('x', [imgUrl, imgUrl, imgUrl]))
  t.match(three, { status: 400, json: { error: { code: 'ERR_LIMIT', message: /at most 2 images/ } } })
  const cases: Array<[Record<string, unknown>, RegExp]> = [
    [{ max_tokens: 65 }, /up to 64 \(this server's limit\) for max_tokens but received 65/],
    [{ max_tokens: 0 }, /integer from 1 up to 64 for max_tokens but received 0/],
    [{ max_tokens: 1.5 }, /max_tokens but received 1.5/],
    [{ n: 5 }, /up to 4 \(this server's limit\) for n but received 5/],
    [{ stop: ['a', 'b', 'c', 'd', 'e'] }, /at most 4 stop strings/],
    [{ stop: [''] }, /non-empty strings for stop/],
    [{ temperature: 3 }, /from 0 up to 2 for temperature but received 3/],
    [{ temperature: '1' }, /temperature but received "1"/],
    [{ top_p: 0 }, /greater than 0 up to 1 for top_p/],
    [{ seed: -1 }, /seed but received -1/],
    [{ stream: 'yes' }, /a boolean for stream/],
  ]
  for (const [extra, msg] of cases) {
    const r = await chat(chatBody('x', [], extra))
    t.equal(r.status, 400, JSON.stringify(extra))
    t.match(r.json.error, { type: 'invalid_request_error', message: msg })
  }
  const rw = await post(`${url}/v1/rewards`, { reward: 'format', completions: ['a', 'b', 'c', 'd'], solutions: ['', '', '', ''] })
  t.match(rw, { status: 400, json: { error: { code: 'ERR_LIMIT', message: /at most 3 completions/ } } })
  const after = await chat(chatBody('still here'))
  t.equal(after.status, 200, 'still serving after every refusal')
  t.equal(fake.seen.at(-1)!.maxPromptTokens, 500, 'the prompt-token limit reaches the generator, which refuses longer prompts')
  t.equal(fake.seen.at(-1)!.maxTokens, 64, 'default max_tokens is capped by the limit')
})

t.test('a full queue answers 429 and the server recovers', async (t) => {
  const fake = fakeGenerator({ blocked: true })
  const server = createServer(fake.generator, { port: 0, maxQueue: 2, maxBatchSize: 1, maxWaitMs: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const first = post(`${url}/v1/chat/completions`, chatBody('one'))
  while (fake.batches.length < 1) await new Promise((r) => setTimeout(r, 2)) // 'one' is with the generator
  const queued = [post(`${url}/v1/chat/completions`, chatBody('two')), post(`${url}/v1/chat/completions`, chatBody('three'))]
  while (server.queue.depth < 2) await new Promise((r) => setTimeout(r, 2))
  const refused = await post(`${url}/v1/chat/completions`, chatBody('four'))
  t.equal(refused.status, 429)
  t.match(refused.json.error, { type: 'rate_limit_error', code: 'ERR_QUEUE_FULL', message: /limit of 2 waiting requests/ })
  const refusedStream = await post(`${url}/v1/chat/completions`, chatBody('five', [], { stream: true }))
  t.equal(refusedStream.status, 429, 'a stream refused before it starts is a JSON 429')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /vrft_queue_depth 2/)
  const timer = setInterval(() => fake.release(), 5)
  t.teardown(() => clearInterval(timer))
  const done = await Promise.all([first, ...queued])
  t.same(done.map((d) => d.status), [200, 200, 200])
  t.equal((await post(`${url}/v1/chat/completions`, chatBody('again'))).status, 200)
})

t.test('local image paths: only under the allowed root, symlinks resolved', async (t) => {
  const base = tempDir('vrft-serve-')
  const root = join(base, 'root')
  mkdirSync(join(root, 'sub'), { recursive: true })
  writeFileSync(join(root, 'sub', 'ok.png'), img)
  writeFileSync(join(base, 'secret.png'), img)
  writeFileSync(join(base, 'rootsibling.png'), img)
  symlinkSync(join(base, 'secret.png'), join(root, 'link.png'))
  symlinkSync(base, join(root, 'dirlink'))
  symlinkSync(join(root, 'sub', 'ok.png'), join(root, 'inner-link.png'))
  t.teardown(() => import('node:fs').then((fs) => fs.rmSync(base, { recursive: true, force: true })))

  const closed = createServer(fakeGenerator().generator, { port: 0 })
  const curl = await closed.listen()
  t.teardown(() => closed.close())
  const no = await post(`${curl}/v1/chat/completions`, chatBody('x', [join(root, 'sub', 'ok.png')]))
  t.equal(no.status, 403)
  t.match(no.json.error, { code: 'ERR_PATH_FORBIDDEN', type: 'permission_error', message: /Local image paths are disabled/ })

  const server = createServer(fakeGenerator().generator, { port: 0, allowedRoot: root })
  const url = await server.listen()
  t.teardown(() => server.close())
  const chat = (p: string) => post(`${url}/v1/chat/completions`, chatBody('x', [p]))
  for (const ok of ['sub/ok.png', join(root, 'sub', 'ok.png'), pathToFileURL(join(root, 'sub', 'ok.png')).href, 'inner-link.png', './sub/../sub/ok.png']) {
    const r = await chat(ok)
    t.equal(r.status, 200, ok)
    t.match(r.json.choices?.[0].message.content, /images 32x24/)
  }
  const forbidden = ['../secret.png', join(base, 'secret.png'), 'link.png', 'dirlink/secret.png', 'sub/../../secret.png', '../root/../secret.png',
    pathToFileURL(join(base, 'secret.png')).href, '/etc/passwd', '../rootsibling.png', `${root}sibling.png`]
  for (const p of forbidden) {
    const r = await chat(p)
    t.equal(r.status, 403, p)
    t.match(r.json.error, { code: 'ERR_PATH_FORBIDDEN', message: /outside the allowed root/ })
  }
  t.match((await chat('missing.png')).json.error, { code: 'ERR_IMAGE_NOT_FOUND' })
  t.match((await chat('sub')).json.error, { code: 'ERR_IMAGE_NOT_FOUND', message: /not a regular file/ })
  t.match((await chat('sub/ok.png\0.txt')).json.error, { code: 'ERR_IMAGE_URL' })
  t.match((await chat('https://example.com/a.png')).json.error, { code: 'ERR_IMAGE_URL', message: /does not fetch remote images/ })
  t.equal((await chat('sub/ok.png')).status, 200, 'still serving')
})

t.test('malformed JSON, bodies, messages and images are 4xx with a clear message', async (t) => {
  const fake = fakeGenerator()
  const server = createServer(fake.generator, { port: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const chatUrl = `${url}/v1/chat/completions`
  const cases: Array<[unknown, number, string, RegExp]> = [
    ['{"messages": [', 400, 'ERR_BAD_JSON', /not valid JSON/],
    ['', 400, 'ERR_BAD_JSON', /body was empty/],
    ['[1,2]', 400, 'ERR_INVALID_REQUEST', /a JSON object for the request body but received an array/],
    [{}, 400, 'ERR_INVALID_REQUEST', /non-empty array of messages for messages but received undefined/],
    [{ messages: [] }, 400, 'ERR_INVALID_REQUEST', /non-empty array of messages/],
    [{ messages: [{ role: 'robot', content: 'x' }] }, 400, 'ERR_INVALID_REQUEST', /messages\[0\]\.role but received "robot"/],
    [{ messages: [{ role: 'user', content: 5 }] }, 400, 'ERR_INVALID_REQUEST', /messages\[0\]\.content but received 5/],
    [{ messages: [{ role: 'user', content: [{ type: 'audio' }] }] }, 400, 'ERR_INVALID_REQUEST', /"text" or "image_url" for messages\[0\]\.content\[0\]\.type/],
    [{ messages: [{ role: 'user', content: [{ type: 'image_url', image_url: {} }] }] }, 400, 'ERR_INVALID_REQUEST', /image_url\.url but received undefined/],
    [chatBody('x', ['data:image/png;base64,AAAAAAAA']), 400, 'ERR_IMAGE_DECODE', /Could not decode image/],
    [chatBody('x', [`data:image/png;base64,${img.subarray(0, img.length - 20).toString('base64')}`]), 400, 'ERR_IMAGE_DECODE', /decode/],
    [chatBody('x', ['data:image/png;base64,']), 400, 'ERR_IMAGE_DECODE', /empty/],
    [chatBody('x', ['data:text/plain,hello']), 400, 'ERR_IMAGE_URL', /base64 image data URL/],
    [chatBody('FAIL_ONE'), 400, 'ERR_PROMPT_TOO_LONG', /the limit is 8192/],
  ]
  for (const [body, status, code, msg] of cases) {
    const r = await post(chatUrl, body)
    t.equal(r.status, status, JSON.stringify(body).slice(0, 80))
    t.match(r.json?.error, { code, message: msg, type: 'invalid_request_error' }, JSON.stringify(body).slice(0, 80))
  }
  const text = await fetch(chatUrl, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'hello' })
  t.equal(text.status, 415)
  t.match(await text.json(), { error: { code: 'ERR_CONTENT_TYPE' } })
  const crash = await post(chatUrl, chatBody('FAIL_ALL'))
  t.equal(crash.status, 500)
  t.match(crash.json.error, { type: 'server_error', code: 'ERR_INTERNAL', message: 'Internal server error' }, 'internal details are not leaked')
  const ok = await post(chatUrl, chatBody('fine', [imgUrl]))
  t.equal(ok.status, 200, 'still serving after every bad request')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  t.match(metrics, /vrft_http_requests_total\{route="\/v1\/chat\/completions",status="400"\} 14/)
  t.match(metrics, /vrft_batch_failures_total 1/)
})

t.test('concurrent requests are batched; metrics report it', async (t) => {
  const fake = fakeGenerator({ callMs: 20 })
  const server = createServer(fake.generator, { port: 0, maxBatchSize: 8, maxWaitMs: 10 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const rs = await Promise.all(Array.from({ length: 16 }, (_, i) => post(`${url}/v1/chat/completions`, chatBody(`q${i}`, [imgUrl], { max_tokens: 60 }))))
  t.same(rs.map((r) => r.status), Array(16).fill(200))
  rs.forEach((r, i) => t.match(r.json.choices[0].message.content, new RegExp(`^<think>images 32x24 t=1</think><answer>q${i}</answer>$`)))
  t.ok(fake.batches.length < 16, `16 requests in ${fake.batches.length} batches`)
  t.ok(Math.max(...fake.batches) <= 8, 'no batch over maxBatchSize')
  t.ok((await server.metrics.meanBatchSize()) > 1)
  const seeded = await Promise.all([1, 2, 3].map((i) => post(`${url}/v1/chat/completions`, chatBody(`s${i}`, [], { seed: 5 }))))
  t.same(seeded.map((r) => r.status), [200, 200, 200])
  t.same(fake.batches.slice(-3), [1, 1, 1], 'seeded requests run alone, so a seed is reproducible')
  const metrics = await (await fetch(`${url}/metrics`)).text()
  for (const name of ['vrft_http_requests_total', 'vrft_http_request_duration_seconds_bucket', 'vrft_queue_depth', 'vrft_queue_wait_seconds_bucket', 'vrft_batch_requests_bucket', 'vrft_batch_sequences_sum', 'vrft_completion_tokens_total', 'vrft_prompt_tokens_total', 'vrft_tokens_per_second']) {
    t.match(metrics, new RegExp(`^${name}`, 'm'), name)
  }
})

t.test('clients that go away: queued requests are dropped, the server keeps serving', async (t) => {
  const fake = fakeGenerator({ blocked: true })
  const server = createServer(fake.generator, { port: 0, maxBatchSize: 1, maxWaitMs: 0 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const send = (body: unknown, signal?: AbortSignal) => fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal })
  const first = send(chatBody('running'))
  while (fake.batches.length < 1) await new Promise((r) => setTimeout(r, 2))
  const a1 = new AbortController()
  const a2 = new AbortController()
  const gone1 = send(chatBody('gone'), a1.signal).catch((e) => e)
  const gone2 = send(chatBody('gone stream', [], { stream: true }), a2.signal).then(async (r) => { await r.text() }).catch((e) => e)
  while (server.queue.depth < 2) await new Promise((r) => setTimeout(r, 2))
  a1.abort()
  a2.abort()
  await Promise.all([gone1, gone2])
  for (let i = 0; i < 100 && server.queue.depth > 0; i++) await new Promise((r) => setTimeout(r, 5))
  t.equal(server.queue.depth, 0, 'both left the queue')
  fake.release()
  t.equal((await first).status, 200)
  const timer = setInterval(() => fake.release(), 5)
  t.teardown(() => clearInterval(timer))
  // A stream the client drops while it is being generated.
  const a3 = new AbortController()
  const res = await send(chatBody('drop me', [], { stream: true }), a3.signal)
  a3.abort()
  await res.text().catch(() => {})
  const after = await post(`${url}/v1/chat/completions`, chatBody('still fine'))
  t.equal(after.status, 200)
  t.equal(fake.seen.filter((r) => JSON.stringify(r.messages).includes('gone')).length, 0, 'the dropped requests never reached the generator')
})
