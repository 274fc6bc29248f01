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
