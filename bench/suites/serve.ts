/**
 * Serving benchmark: 64 chat requests with images against `vrft-native serve` over loopback, sent all at
 * once (dynamic batching) versus one at a time (the baseline, same server, same process). Reports
 * requests/s and the ratio, the mean batch size and generated tokens/s. Model: a random tiny Qwen2-VL
 * (initModel 'tiny': hidden 64, 2 layers, real vocabulary) written into the bench workdir — serving overhead and batching
 * dominate, which is what this measures. Run: npm run bench -- --only serve
 */
import { join } from 'node:path'
import sharp from 'sharp'
import type { Context, Row, Suite } from '../harness.js'
import { loadModel } from '../../lib/api.js'
import { initModel } from '../../lib/model/init-model.js'
import { modelGenerator } from '../../lib/serve/model-generator.js'
import { createServer } from '../../lib/serve/server.js'

async function postChat(url: string, body: unknown): Promise<{ status: number; tokens: number }> {
  const res = await fetch(`${url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })
  const j = (await res.json()) as { usage?: { completion_tokens: number } }
  return { status: res.status, tokens: j.usage?.completion_tokens ?? 0 }
}

export const serveSuite: Suite = {
  name: 'serve',
  async run(ctx: Context): Promise<Row[]> {
    const requests = 64
    const maxTokens = ctx.quick ? 8 : 32
    const { dir } = await initModel({ arch: 'qwen2-vl', size: 'tiny', out: join(ctx.workdir, 'serve-tiny'), seed: 1 })
    const model = await loadModel(dir, { device: ctx.device })
    const server = createServer(modelGenerator(model), { port: 0, maxBatchSize: 16, maxWaitMs: 5, maxQueue: 1024 })
    try {
      const url = await server.listen()
      const imgs = await Promise.all([[56, 56], [112, 84], [84, 140]].map(([w, h], i) =>
        sharp({ create: { width: w!, height: h!, channels: 3, background: { r: 40 * i, g: 200, b: 90 } } }).png().toBuffer()))
      const body = (i: number) => ({
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: `data:image/png;base64,${imgs[i % 3]!.toString('base64')}` } }, { type: 'text', text: `What is in picture ${i}?` }] }],
        max_tokens: maxTokens,
        temperature: 0,
      })
      for (let i = 0; i < 4; i++) await postChat(url, body(i)) // warm-up
      const t0 = performance.now()
      let seqTokens = 0
      for (let i = 0; i < requests; i++) {
        const r = await postChat(url, body(i))
        if (r.status !== 200) throw new Error(`sequential request ${i} answered ${r.status}`)
        seqTokens += r.tokens
      }
      const seqSeconds = (performance.now() - t0) / 1000
      server.metrics.registry.resetMetrics()
      const t1 = performance.now()
      const rs = await Promise.all(Array.from({ length: requests }, (_, i) => postChat(url, body(i))))
      const concSeconds = (performance.now() - t1) / 1000
      const failed = rs.filter((r) => r.status !== 200).length
      if (failed) throw new Error(`${failed} of ${requests} concurrent requests failed`)
      const concTokens = rs.reduce((s, r) => s + r.tokens, 0)
      const meanBatch = await server.metrics.meanBatchSize()
      const seqRate = requests / seqSeconds
      const concRate = requests / concSeconds
      return [
        {
          bench: `serve ${requests} chat+image requests, concurrent (tiny, ${maxTokens} tokens)`,
          metric: 'req/s',
          value: concRate,
          baseline: { name: 'one at a time', value: seqRate },
          ratio: concRate / seqRate,
          target: { description: 'dynamic batching beats one-at-a-time requests', met: concRate > seqRate },
          notes: `mean batch ${meanBatch.toFixed(2)} requests; all ${requests} answered 200`,
        },
        {
          bench: 'serve generated tokens/s, concurrent (tiny)',
          metric: 'tokens/s',
          value: concTokens / concSeconds,
          baseline: { name: 'one at a time', value: seqTokens / seqSeconds },
          ratio: (concTokens / concSeconds) / (seqTokens / seqSeconds),
        },
        { bench: 'serve mean batch size (64 concurrent)', metric: 'requests', value: meanBatch, target: { description: 'mean batch > 1', met: meanBatch > 1 } },
      ]
    } finally {
      await server.close()
      await model[Symbol.asyncDispose]()
    }
  },
}
