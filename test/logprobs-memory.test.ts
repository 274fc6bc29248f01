/**
 * Peak memory of teacher-forced log-probs on a 152k vocabulary grows with the chunk size, not with
 * batch × length × vocabulary. Two independent checks on the tiny Qwen2-VL golden model:
 *   - the native counter of the largest float32 logits chunk ever built equals chunk × V × 4 bytes
 *     (and grows when the chunk grows), whatever the number of completion rows;
 *   - the process's peak RSS grows by far less than the B × L × V × 4 bytes full logits would take.
 * Runs in its own process (peak RSS is process-wide), so keep it a separate file.
 * Run: VRFT_NATIVE_ADDON=build-gen/Release/vrft_native.node npx tap test/logprobs-memory.test.ts
 */
import t from 'tap'
import { completionLogprobs, generateBinding } from '../lib/native/generate.js'
import { IMAGES, casePrompt, loadTiny } from './generate-helpers.js'

const V = 151936

t.test('logits chunk counter follows the chunk size', async (t) => {
  const m = await loadTiny('qwen2vl-tiny')
  const { prompt } = casePrompt('qwen2vl-tiny', IMAGES[0])
  const n = generateBinding()
  const comps = Array.from({ length: 4 }, (_, r) => Array.from({ length: 40 }, (_, j) => (r * 977 + j * 131) % V))
  for (const chunk of [8, 32]) {
    n.logitsChunkPeak(true)
    const r = await completionLogprobs(m, prompt, comps, { chunk })
    t.equal(r.raw.peakChunkBytes, chunk * V * 4, `chunk ${chunk}: largest logits block = chunk × V × 4 bytes`)
    t.ok(r.raw.peakChunkBytes < 4 * 40 * V * 4, 'below the full B × L × V logits')
  }
  // same chunk, 4× the rows: the peak does not move
  n.logitsChunkPeak(true)
  const more = Array.from({ length: 16 }, (_, r) => comps[r % 4]!)
  const r = await completionLogprobs(m, prompt, more, { chunk: 8 })
  t.equal(r.raw.peakChunkBytes, 8 * V * 4, '16 rows: same peak as 4 rows')
  const other = await completionLogprobs(m, prompt, comps, { chunk: 31 })
  const diff = Math.max(...other.logprobs.flatMap((row, i) => row.map((x, j) => Math.abs(x - r.logprobs[i]![j]!))))
  t.ok(diff <= 1e-5, `the chunk size does not change the values (max |Δ| ${diff})`)
})

t.test('peak RSS stays far below batch × length × vocabulary', async (t) => {
  const m = await loadTiny('qwen2vl-tiny')
  const { prompt } = casePrompt('qwen2vl-tiny', IMAGES[0])
  const B = 8, L = 128
  const full = B * L * V * 4 // 622 MB of float32 logits if materialized
  const comps = Array.from({ length: B }, (_, r) => Array.from({ length: L }, (_, j) => (r * 7919 + j * 104729) % V))
  await completionLogprobs(m, prompt, comps.slice(0, 1).map((c) => c.slice(0, 4)), { chunk: 32 }) // warm up allocator
  const before = process.resourceUsage().maxRSS * 1024
  const r = await completionLogprobs(m, prompt, comps, { chunk: 32 })
  const grew = process.resourceUsage().maxRSS * 1024 - before
  t.equal(r.logprobs.length, B)
  t.ok(r.logprobs.every((row) => row.length === L && row.every((x) => Number.isFinite(x) && x < 0)), 'finite log-probs')
  t.ok(grew < full / 2, `peak RSS grew by ${(grew / 2 ** 20).toFixed(0)} MiB, under half of the ${(full / 2 ** 20).toFixed(0)} MiB full logits`)
})

t.test('the chunked log-prob backward (used under grad mode by GRPO) equals plain autograd', async (t) => {
  const n = generateBinding()
  for (const o of [{ chunk: 8, temperature: 1 }, { chunk: 5, temperature: 0.7, rows: 23 }, { chunk: 1000, temperature: 1.3 }]) {
    const d = await n.logprobsGradCheck(o)
    t.ok(d.logp < 1e-4 && d.entropy < 1e-4, `values: ${JSON.stringify(d)}`)
    t.ok(d.gradHidden < 1e-4 && d.gradWeight < 1e-4, `gradients (chunk ${o.chunk}, temperature ${o.temperature})`)
  }
})
