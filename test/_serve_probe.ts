import { createServer } from '/work/main/lib/serve/server.js'
import { chatBody, dataUrl, fakeGenerator, fire, png, post } from '/work/main/test/serve-helpers.js'
const url0 = dataUrl(await png(56, 56))
const server = createServer(fakeGenerator({ callMs: 10, keepSeen: false }).generator, { port: 0, maxBatchSize: 16, maxWaitMs: 5 })
const url = await server.listen()
for (let k = 0; k < 3; k++) {
  const t0 = performance.now()
  const r = await fire(64, 64, async (i) => (await post(`${url}/v1/chat/completions`, chatBody(`q${i}`, [url0], { max_tokens: 16 }))).status)
  console.log('round', k, r.seconds.toFixed(3), (performance.now() - t0).toFixed(0))
}
const t1 = performance.now()
await post(`${url}/v1/chat/completions`, chatBody(`q`, [url0], { max_tokens: 16 }))
console.log('single', (performance.now() - t1).toFixed(1))
await server.close()
