/**
 * Load test of the server over loopback: 64 concurrent chat requests with images all succeed and are
 * batched (mean batch size > 1), first against the generator double (always), then against a tiny real
 * model through the native generate (when the addon is built; skipped with the reason otherwise). The
 * throughput ratio against one-at-a-time requests is reported by bench/suites/serve.ts.
 * Run: npx tap test/serve-load.test.ts
 */
import t, { type Test } from 'tap'
import { modelGenerator } from '../lib/serve/model-generator.js'
import { createServer } from '../lib/serve/server.js'
import type { Generator } from '../lib/serve/types.js'
import { chatBody, dataUrl, fakeGenerator, fire, loadTinyModel, png, post, realModelAvailable } from './serve-helpers.js'

const images = await Promise.all([png(56, 56, [255, 0, 0]), png(84, 56, [0, 255, 0]), png(56, 112, [0, 0, 255])])
const urls = images.map(dataUrl)

async function load(t: Test, generator: Generator, maxTokens: number): Promise<void> {
  const server = createServer(generator, { port: 0, maxBatchSize: 16, maxWaitMs: 5 })
  const url = await server.listen()
  t.teardown(() => server.close())
  const answers: any[] = []
  const { statuses, seconds } = await fire(64, 64, async (i) => {
    const r = await post(`${url}/v1/chat/completions`, chatBody(`Describe image ${i}.`, [urls[i % 3]!], { max_tokens: maxTokens, temperature: 0 }))
    answers[i] = r.json
    return r.status
  })
  t.same(statuses, Array(64).fill(200), 'all 64 succeed')
  for (const a of answers) {
    t.equal(a.choices.length, 1)
    t.ok(a.usage.completion_tokens >= 1 && a.usage.completion_tokens <= maxTokens)
    t.ok(a.usage.prompt_tokens > 4, 'the prompt holds image tokens')
  }
  const mean = await server.metrics.meanBatchSize()
  t.ok(mean > 1, `mean batch size ${mean.toFixed(2)} > 1 (${(64 / seconds).toFixed(1)} req/s)`)
}

t.test('64 concurrent requests with images: generator double', async (t) => {
  await load(t, fakeGenerator({ callMs: 10, keepSeen: false }).generator, 16)
})

const real = await realModelAvailable()
t.test('64 concurrent requests with images: tiny real model', { skip: real ? false : 'the native addon with generate is not built' }, async (t) => {
  const model = await loadTinyModel()
  t.teardown(() => model[Symbol.asyncDispose]())
  await load(t, modelGenerator(model), 8)
  const seq = await model.chat([{ role: 'user', content: [{ type: 'image', image: images[0]! }, { type: 'text', text: 'Describe image 0.' }] }], { maxTokens: 8 })
  t.ok(seq.ids.length >= 1 && seq.ids.length <= 8)
})
