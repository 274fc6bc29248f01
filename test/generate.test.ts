/**
 * Generation against the transformers goldens (tiny Qwen2-VL and Qwen2.5-VL checkpoints, golden input ids
 * and golden pixel values): greedy ids, batch / G-invariance of greedy, seeded sampling, log-probs that
 * generate returns vs teacher-forced logprobs, abort and argument errors.
 * Run: VRFT_NATIVE_ADDON=build-gen/Release/vrft_native.node npx tap test/generate.test.ts
 */
import t, { type Test } from 'tap'
import type { ModelHandle } from '../lib/native/model.js'
import { completionLogprobs, generateBinding, generateIds, type PromptBatch } from '../lib/native/generate.js'
import { loadPreprocessorConfig, preprocessImage } from '../lib/model/preprocess.js'
import { EOS, IMAGES, goldenImage, PAD, caseMeta, casePrompt, goldenPixels, loadTiny, tinyCheckpointDir, type TinyName } from './generate-helpers.js'

const MODELS: TinyName[] = ['qwen2vl-tiny', 'qwen25vl-tiny']
const maxAbs = (a: number[], b: number[]) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0)

async function batch2Prompt(tt: Test, model: TinyName): Promise<{ prompt: PromptBatch; meta: Record<string, any> }> {
  const meta = caseMeta(model, 'batch2')
  const cfg = await loadPreprocessorConfig(tinyCheckpointDir(model))
  const img2 = await preprocessImage(goldenImage('img2_strip_57x1000'), cfg)
  tt.same(img2.imageGridThw, meta.image_grid_thw[1], 'img2 preprocesses to the golden grid')
  return {
    meta,
    prompt: {
      inputIds: Int32Array.from((meta.input_ids as number[][]).flat()),
      attentionMask: Int32Array.from((meta.attention_mask as number[][]).flat()),
      batchSize: 2,
      pixelValues: [goldenPixels('img0_noise_200x300'), img2.pixelValues],
      imageGridThw: meta.image_grid_thw,
    },
  }
}

for (const name of MODELS) {
  t.test(`${name}: greedy ids equal the goldens`, async (t) => {
    const m = await loadTiny(name)
    for (const img of IMAGES) {
      const { prompt, meta } = casePrompt(name, img)
      const r = await generateIds(m, prompt, { maxNewTokens: 16, temperature: 0, eosIds: EOS })
      t.same(r.completions[0], meta.generate.new_ids, `${img}: 16 greedy ids`)
      t.equal(r.raw.steps, 16)
    }
    const { prompt, meta } = await batch2Prompt(t, name)
    const r = await generateIds(m, prompt, { maxNewTokens: 16, temperature: 0, eosIds: EOS })
    t.same(r.completions, meta.generate.new_ids, 'batch2: both left-padded rows')
  })

  t.test(`${name}: logprobs of the golden completion equal the goldens`, async (t) => {
    const m = await loadTiny(name)
    for (const img of IMAGES) {
      const { prompt, meta } = casePrompt(name, img)
      const r = await completionLogprobs(m, prompt, [meta.completion.ids], { chunk: 5, entropy: true })
      t.ok(maxAbs(r.logprobs[0]!, meta.completion.logp) <= 1e-4, `${img}: max |Δlogp| ${maxAbs(r.logprobs[0]!, meta.completion.logp)} <= 1e-4`)
      const ent = r.entropies![0]!
      t.ok(ent.every((e) => e > 0 && e <= Math.log(151936) + 1e-3), 'entropies in (0, log V]')
    }
    const { prompt, meta } = await batch2Prompt(t, name)
    const ids = meta.completion.ids as number[]
    const r = await completionLogprobs(m, prompt, [ids, ids], { chunk: 7 })
    for (let b = 0; b < 2; b++) {
      const d = maxAbs(r.logprobs[b]!, meta.completion.logp[b])
      t.ok(d <= 1e-4, `batch2 row ${b}: max |Δlogp| ${d} <= 1e-4`)
    }
  })
}

t.test('greedy output is the same alone, in a batch with another prompt, and with G > 1', async (t) => {
  const name: TinyName = 'qwen2vl-tiny'
  const m = await loadTiny(name)
  const a = casePrompt(name, IMAGES[0])
  const b = casePrompt(name, IMAGES[1])
  const opts = { maxNewTokens: 10, temperature: 0, eosIds: EOS }
  const alone = (await generateIds(m, a.prompt, opts)).completions[0]!
  const aIds = a.meta.input_ids as number[]
  const bIds = b.meta.input_ids as number[]
  const T = Math.max(aIds.length, bIds.length)
  const pad = (ids: number[]) => [...new Array(T - ids.length).fill(PAD), ...ids]
  const maskOf = (ids: number[]) => [...new Array(T - ids.length).fill(0), ...new Array(ids.length).fill(1)]
  const batch: PromptBatch = {
    inputIds: [...pad(bIds), ...pad(aIds)], // the img1 prompt first, so img0's prompt is left-padded
    attentionMask: [...maskOf(bIds), ...maskOf(aIds)],
    batchSize: 2,
    pixelValues: [b.prompt.pixelValues as Float32Array, a.prompt.pixelValues as Float32Array],
    imageGridThw: [...b.meta.image_grid_thw, ...a.meta.image_grid_thw],
  }
  t.ok(aIds.length < T, 'the img0 prompt is padded in the batch')
  const inBatch = await generateIds(m, batch, opts)
  t.same(inBatch.completions[1], alone, 'in a batch')
  t.same(inBatch.completions[0], (await generateIds(m, b.prompt, opts)).completions[0], 'the other prompt too')
  const g = await generateIds(m, batch, { ...opts, numGenerations: 3 })
  t.equal(g.completions.length, 6)
  for (let s = 0; s < 3; s++) t.same(g.completions[3 + s], alone, `G = 3, sample ${s}`)
  for (const mode of ['nocache', 'per_sample_prefill'] as const) {
    const r = await generateIds(m, batch, { ...opts, numGenerations: 2, mode })
    t.same(r.completions[2], alone, `mode ${mode} gives the same greedy ids`)
    t.same(r.completions[3], alone, `mode ${mode}, second sample`)
  }
  // onTokens: one call per step with every row's token; together they are the result's ids
  const steps: Array<{ step: number; tokens: number[] }> = []
  const streamed = await generateIds(m, batch, { ...opts, numGenerations: 2, temperature: 1, seed: 5, onTokens: (tok, step) => steps.push({ step, tokens: Array.from(tok) }) })
  await new Promise((r) => setImmediate(r))
  t.same(steps.map((s) => s.step), Array.from({ length: streamed.raw.steps }, (_, i) => i), 'one call per step, in order')
  t.ok(steps.every((s) => s.tokens.length === 4), 'every row in each call')
  for (let r = 0; r < 4; r++) t.same(steps.map((s) => s.tokens[r]).slice(0, streamed.completions[r]!.length), streamed.completions[r], `row ${r}: the streamed tokens are its ids`)
  t.same((await generateIds(m, batch, { ...opts, numGenerations: 2, temperature: 1, seed: 5 })).completions, streamed.completions, 'streaming changes nothing')
  await t.rejects(generateIds(m, batch, { ...opts, onTokens: 3 as never }), { code: 'ERR_INVALID_ARG', message: /function for onTokens/ })
  const text: PromptBatch = { inputIds: [151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198], batchSize: 1 }
  const tc = await generateIds(m, text, { ...opts, maxNewTokens: 6 })
  const tn = await generateIds(m, text, { ...opts, maxNewTokens: 6, mode: 'nocache' })
  t.equal(tc.completions[0]!.length, 6, 'a text-only prompt generates')
  t.same(tc.completions, tn.completions, 'text-only: cache = no cache')
  // top-k 1 and a tiny top-p leave only the argmax
  const k1 = await generateIds(m, a.prompt, { ...opts, temperature: 0.7, topK: 1, seed: 3 })
  t.same(k1.completions[0], alone, 'top-k 1 sampling = greedy')
  const p0 = await generateIds(m, a.prompt, { ...opts, temperature: 1.3, topP: 1e-6, seed: 4 })
  t.same(p0.completions[0], alone, 'top-p 1e-6 sampling = greedy')
})

t.test('sampled log-probs equal teacher-forced logprobs; seeds reproduce', async (t) => {
  const name: TinyName = 'qwen25vl-tiny'
  const m = await loadTiny(name)
  const { prompt } = casePrompt(name, IMAGES[0])
  const opts = { maxNewTokens: 12, numGenerations: 4, temperature: 0.8, topP: 0.95, seed: 1234, eosIds: EOS }
  const r1 = await generateIds(m, prompt, opts)
  const r2 = await generateIds(m, prompt, opts)
  t.same(r1.completions, r2.completions, 'same seed -> same samples')
  t.same(r1.logprobs, r2.logprobs, 'same seed -> same log-probs')
  const r3 = await generateIds(m, prompt, { ...opts, seed: 99 })
  t.not(JSON.stringify(r3.completions), JSON.stringify(r1.completions), 'different seed -> different samples')
  t.not(JSON.stringify(r1.completions[0]), JSON.stringify(r1.completions[1]), 'samples of one prompt differ')
  const lp = await completionLogprobs(m, prompt, r1.completions, { chunk: 9 })
  const lpT = await completionLogprobs(m, prompt, r1.completions, { chunk: 9, temperature: 0.8 })
  for (let i = 0; i < 4; i++) {
    t.equal(r1.completions[i]!.length, r1.logprobs[i]!.length)
    const d = maxAbs(r1.logprobs[i]!, lp.logprobs[i]!)
    t.ok(d <= 1e-4, `row ${i}: generate vs logprobs max |Δ| ${d} <= 1e-4`)
    const dT = maxAbs(r1.logprobsAtTemperature![i]!, lpT.logprobs[i]!)
    t.ok(dT <= 1e-4, `row ${i}: at temperature 0.8, max |Δ| ${dT} <= 1e-4`)
    t.ok(r1.logprobs[i]!.every((x) => x < 0 && Number.isFinite(x)), 'log-probs are finite and negative')
  }
  // temperature 1 without top-k/top-p: the log-probs come from the sampling softmax itself (no log_softmax)
  const plain = await generateIds(m, prompt, { maxNewTokens: 12, numGenerations: 4, temperature: 1, seed: 5, eosIds: EOS })
  t.equal(plain.logprobsAtTemperature, undefined, 'no second set of log-probs at temperature 1')
  const lp1 = await completionLogprobs(m, prompt, plain.completions, { chunk: 9 })
  for (let i = 0; i < 4; i++) {
    const d = maxAbs(plain.logprobs[i]!, lp1.logprobs[i]!)
    t.ok(d <= 1e-4, `temperature 1, row ${i}: generate vs logprobs max |Δ| ${d} <= 1e-4`)
  }
})

t.test('stops at eos ids and pads after', async (t) => {
  const name: TinyName = 'qwen2vl-tiny'
  const m = await loadTiny(name)
  const { prompt, meta } = casePrompt(name, IMAGES[0])
  const gold = meta.generate.new_ids as number[]
  // treat the 3rd greedy token as an eos id: the row must stop right after it
  const r = await generateIds(m, prompt, { maxNewTokens: 16, temperature: 0, eosIds: [gold[2]!], padId: PAD })
  t.same(r.completions[0], gold.slice(0, 3))
  t.same(r.finished, [true])
  t.equal(r.raw.steps, 3, 'the loop ends when every row finished')
})

t.test('abort and argument errors', async (t) => {
  const name: TinyName = 'qwen2vl-tiny'
  const m = await loadTiny(name)
  const { prompt } = casePrompt(name, IMAGES[0])
  const ac = new AbortController()
  const started = Date.now()
  const p = generateIds(m, prompt, { maxNewTokens: 100000, numGenerations: 2, seed: 1, signal: ac.signal })
  setTimeout(() => ac.abort(), 300)
  await t.rejects(p, { code: 'ERR_ABORTED' }, 'aborting mid-generation rejects with ERR_ABORTED')
  t.ok(Date.now() - started < 60000, 'and promptly')
  const pre = new AbortController()
  pre.abort()
  await t.rejects(generateIds(m, prompt, { signal: pre.signal }), { code: 'ERR_ABORTED' }, 'an already aborted signal')
  const after = await generateIds(m, prompt, { maxNewTokens: 3, temperature: 0 })
  t.equal(after.completions[0]!.length, 3, 'the process keeps working after an abort')

  const bad = async (o: object, what: string) => t.rejects(generateIds(m, prompt, o), { code: 'ERR_INVALID_ARG' }, what)
  await bad({ maxNewTokens: 0 }, 'maxNewTokens 0')
  await bad({ temperature: -1 }, 'negative temperature')
  await bad({ topP: 0 }, 'topP 0')
  await bad({ numGenerations: 1.5 }, 'fractional numGenerations')
  await bad({ mode: 'fast' }, 'unknown mode')
  await bad({ seed: -2 }, 'negative seed')
  const n = generateBinding()
  const base = { inputIds: Int32Array.from(prompt.inputIds), batch: 1, maxNewTokens: 2, numGenerations: 1, temperature: 1, greedy: false, topP: 1, topK: 0, eosIds: [], padId: 0, mode: 'cache' as const }
  await t.rejects(async () => n.generate(m, { ...base }), { code: 'ERR_INVALID_ARG' }, 'native: image tokens without pixel values')
  await t.rejects(async () => n.generate(m, { ...base, pixelValues: new Float32Array(1176 * 308), imageGridThw: [1, 14, 22], topP: 2 }), { code: 'ERR_INVALID_ARG' }, 'native: topP 2')
  await t.rejects(async () => n.generate(m, { ...base, pixelValues: new Float32Array(1176 * 300), imageGridThw: [1, 14, 22] }), { code: 'ERR_INVALID_ARG' }, 'native: pixel rows vs grid')
  await t.rejects(async () => n.generate(m, { ...base, pixelValues: new Float32Array(1176 * 308), imageGridThw: [1, 14, 22], eosIds: [1e9] }), { code: 'ERR_INVALID_ARG' }, 'native: eos id out of range')
  await t.rejects(async () => n.generate({} as ModelHandle, { ...base }), { code: 'ERR_INVALID_ARG' }, 'native: not a model handle')
  await t.rejects(completionLogprobs(m, prompt, []), { code: 'ERR_INVALID_ARG' }, 'logprobs: no completions')
  await t.rejects(completionLogprobs(m, prompt, [[1e9]]), { code: 'ERR_INVALID_ARG' }, 'logprobs: id out of range')
  await t.rejects(completionLogprobs(m, prompt, [[1]], { chunk: 0 }), { code: 'ERR_INVALID_ARG' }, 'logprobs: chunk 0')
})

t.test('generation runs off the main thread', async (t) => {
  const m = await loadTiny('qwen2vl-tiny')
  const { prompt } = casePrompt('qwen2vl-tiny', IMAGES[0])
  let ticks = 0
  const iv = setInterval(() => ticks++, 5)
  await generateIds(m, prompt, { maxNewTokens: 40, numGenerations: 2, seed: 5 })
  clearInterval(iv)
  t.ok(ticks > 2, `the event loop ticked ${ticks} times during generate`)
})

t.test('logprobs with the prompt run once and shared by its rows = the prompt re-run in every row', async (t) => {
  for (const name of MODELS) {
    const m = await loadTiny(name)
    const { prompt } = await batch2Prompt(t, name) // two left-padded image prompts
    const g = await generateIds(m, prompt, { maxNewTokens: 9, numGenerations: 3, temperature: 1, seed: 7, eosIds: EOS })
    const comps = g.completions.map((c, i) => c.slice(0, 3 + (i % 4) * 2)) // ragged: 3, 5, 7, 9 tokens
    const shared = await completionLogprobs(m, prompt, comps, { chunk: 11, entropy: true })
    const full = await completionLogprobs(m, prompt, comps, { chunk: 11, entropy: true, sharePrefix: false })
    let d = 0, de = 0
    comps.forEach((c, i) => {
      t.equal(shared.logprobs[i]!.length, c.length)
      d = Math.max(d, maxAbs(shared.logprobs[i]!, full.logprobs[i]!))
      de = Math.max(de, maxAbs(shared.entropies![i]!, full.entropies![i]!))
    })
    t.ok(d <= 1e-5, `${name}: max |Δlogp| ${d} <= 1e-5`)
    t.ok(de <= 1e-5, `${name}: max |Δentropy| ${de} <= 1e-5`)
  }
})

t.test('the sampler draws each token in proportion to its probability and never a zero-probability one', async (t) => {
  const g = generateBinding()
  // unnormalised weights with zeros inside and at the end (total 10)
  const probs = [1, 0, 6, 0, 2.99, 0.01, 0]
  const draws = 200_000
  const c = await g.sampleCounts({ probs, draws, seed: 7 })
  t.equal(c.reduce((a, b) => a + b, 0), draws, 'one token per draw')
  t.equal(c[1], 0, 'zero weight inside: never drawn')
  t.equal(c[3], 0, 'zero weight inside: never drawn')
  t.equal(c[6], 0, 'zero weight at the end: never drawn')
  for (const i of [0, 2, 4, 5]) {
    const p = probs[i]! / 10
    const sd = Math.sqrt(draws * p * (1 - p))
    t.ok(Math.abs(c[i]! - draws * p) <= 5 * sd, `token ${i}: ${c[i]} draws, expected ${draws * p} ± ${(5 * sd).toFixed(0)}`)
  }
  t.same(await g.sampleCounts({ probs, draws: 1000, seed: 7 }), await g.sampleCounts({ probs, draws: 1000, seed: 7 }), 'same seed, same draws')
  t.not(JSON.stringify(await g.sampleCounts({ probs, draws: 1000, seed: 8 })), JSON.stringify(await g.sampleCounts({ probs, draws: 1000, seed: 7 })), 'another seed, other draws')
  t.same(await g.sampleCounts({ probs: [0, 0, 5e-30, 0], draws: 100 }), [0, 0, 100, 0], 'a single tiny positive weight is always the one drawn')
  t.throws(() => g.sampleCounts({ probs: [], draws: 5 }), { code: 'ERR_INVALID_ARG' })
  // no positive finite total: an error, as torch::multinomial gives (never an out-of-range token id)
  await t.rejects(g.sampleCounts({ probs: [0, 0, 0], draws: 3 }), { message: /invalid multinomial distribution/ })
  await t.rejects(g.sampleCounts({ probs: [0.5, NaN, 0.5], draws: 3 }), { message: /invalid multinomial distribution/ })
})
