// Long runs: 500 generate + GRPO-step iterations on a tiny model keep RSS flat (growth < 5% after a
// warm-up of 200 iterations). Catches leaks of tensors, KV caches, autograd graphs or JS handles.
import { tempDir } from './tmp.js'
import t from 'tap'
import { join } from 'node:path'
import { initModel } from '../lib/model/init-model.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import type { EncodedPrompt } from '../lib/train/types.js'

t.test('500 generate+step iterations keep RSS flat', async (t) => {
  const dir = tempDir('vrft-long-')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: join(dir, 'm'), seed: 5 })
  const policy = await NativePolicy.create({ modelDir: join(dir, 'm'), train: { lr: 1e-4, seed: 1 } })
  const px = new Float32Array(16 * 1176).map((_, i) => Math.cos(i * 0.1))
  const prompt: EncodedPrompt = {
    inputIds: Int32Array.from([151644, 8948, 198, 151652, 151655, 151655, 151655, 151655, 151653, 1000, 2000, 151645, 198, 151644, 77091, 198]),
    pixelValues: [px], imageGridThw: [[1, 4, 4]],
  }
  let warm = 0
  let skipped = 0
  const total = 500
  const rss: number[] = []
  for (let i = 0; i < total; i++) {
    const comps = await policy.generate([prompt], { numGenerations: 2, maxNewTokens: 4, temperature: 1, topP: 1, topK: 0, seed: i, eosTokenIds: [151645] })
    const m = await policy.grpoStep(comps, [0.5, -0.5], { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 4 })
    if (m.skipped) skipped++
    if (i === 199) { global.gc?.(); warm = process.memoryUsage().rss }
    if (i % 50 === 49) rss.push(process.memoryUsage().rss)
  }
  global.gc?.()
  const end = process.memoryUsage().rss
  const growth = (end - warm) / warm
  t.equal(skipped, 0, 'no update skipped')
  t.ok(growth < 0.05, `RSS after warm-up ${(warm / 2 ** 20).toFixed(0)} MiB, after ${total} iterations ${(end / 2 ** 20).toFixed(0)} MiB (${(growth * 100).toFixed(2)}%); samples ${rss.map((x) => (x / 2 ** 20).toFixed(0)).join(' ')}`)
  policy.dispose()
})
