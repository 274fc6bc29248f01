/**
 * The library facade (lib/api.ts): answer parsing and disposal rules (pure, always run), then a tiny real
 * model through loadModel: chat with images as Buffer / file path / data URL, text + ids + parsed answer,
 * greedy determinism, parity with lib/generate.ts, batched = one-by-one, per-request failures, the event
 * loop kept free, dispose while running. The model part is skipped (saying so) without the native addon.
 * Run: npx tap test/api.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadModel, parseAnswer, wrapModel, type VisionLanguageModel } from '../lib/api.js'
import { generate } from '../lib/generate.js'
import type { GenerationRequest } from '../lib/serve/types.js'
import { dataUrl, loadTinyModel, png, realModelAvailable } from './serve-helpers.js'

t.test('parseAnswer', async (t) => {
  const text = "<think> two cats </think> <answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.8}]</answer>"
  t.same(parseAnswer(text), { think: 'two cats', answer: "[{'Position': [1, 2, 30, 40], 'Confidence': 0.8}]" })
  t.match(parseAnswer(text, 'detection').detection, { kind: 'boxes', boxes: [{ box: [1, 2, 30, 40], confidence: 0.8 }] })
  t.same(parseAnswer('<answer>(1,2),(3,4)</answer>', 'grounding').grounding, [1, 2, 3, 4])
  t.same(parseAnswer('<think>x</think><answer> Boeing 707 </answer>', 'classification').label, 'Boeing 707')
  t.same(parseAnswer('no tags at all', 'detection'), { think: null, answer: null, detection: { kind: 'malformed', reason: 'no <answer> tag' } })
})

t.test('dispose is idempotent; later calls reject with ERR_MODEL_DISPOSED', async (t) => {
  let released = 0
  const fake = { handle: {}, tokenizer: {}, preprocessor: {}, eosIds: [1], padId: 0 } as never
  const m = wrapModel(fake, { dispose: () => released++ })
  t.equal(m.disposed, false)
  m.dispose()
  m.dispose()
  await m[Symbol.asyncDispose]()
  t.equal(released, 1, 'released once')
  t.equal(m.disposed, true)
  await t.rejects(m.chat([{ role: 'user', content: 'x' }]), { code: 'ERR_MODEL_DISPOSED' })
  const m2 = wrapModel(fake)
  const r = (o: Partial<GenerationRequest>): GenerationRequest => ({ messages: [{ role: 'user', content: 'x' }], n: 1, maxTokens: 1, temperature: 1, topP: 1, stop: [], maxPromptTokens: 9, ...o })
  await t.rejects(m2.generateBatch([r({}), r({ temperature: 0.5 })]), { code: 'ERR_INVALID_ARG', message: /one temperature, top_p and seed/ })
  await t.rejects(m2.chat([{ role: 'user', content: 'x' }], { n: 0 }), { code: 'ERR_INVALID_ARG', message: /n but received 0/ })
  await t.rejects(loadModel(tempDir('vrft-empty-')), { code: 'ERR_MODEL_MISSING', message: /No config\.json/ })
})

const real = await realModelAvailable()
t.test('a tiny real model through loadModel', { skip: real ? false : 'the native addon with generate is not built' }, async (t) => {
  const model: VisionLanguageModel = await loadTinyModel()
  t.teardown(() => model[Symbol.asyncDispose]())
  const img = await png(56, 84, [10, 120, 240])
  const dir = tempDir('vrft-api-')
  writeFileSync(join(dir, 'a.png'), img)
  const conv = (image: Buffer | string, text = 'What is this?') => [{ role: 'user' as const, content: [{ type: 'image' as const, image }, { type: 'text' as const, text }] }]

  const a = await model.chat(conv(img), { maxTokens: 6 })
  t.ok(a.ids.length >= 1 && a.ids.length <= 6, 'at most maxTokens ids')
  t.equal(typeof a.text, 'string')
  t.equal(a.finishReason, a.ids.length < 6 ? 'stop' : 'length')
  t.same(a.choices, [{ text: a.text, ids: a.ids, finishReason: a.finishReason, answer: a.answer }])
  t.ok(a.promptTokens > 6, 'prompt with image pads')
  t.same((await model.chat(conv(join(dir, 'a.png')), { maxTokens: 6 })).ids, a.ids, 'file path = Buffer (greedy)')
  t.same((await model.chat(conv(dataUrl(img)), { maxTokens: 6 })).ids, a.ids, 'data URL = Buffer (greedy)')
  const plain = await generate(model.inner, [conv(img)], { maxNewTokens: 6, temperature: 0 })
  t.same(plain.samples[0]![0]!.ids, a.ids, 'same ids as lib/generate.ts')

  const sampled = await model.chat(conv(img), { maxTokens: 5, temperature: 1, n: 3, seed: 11 })
  t.equal(sampled.choices.length, 3)
  t.same((await model.chat(conv(img), { maxTokens: 5, temperature: 1, n: 3, seed: 11 })).choices.map((c) => c.ids), sampled.choices.map((c) => c.ids), 'a seed reproduces')

  // One native call for mixed requests = each request alone.
  const base = { temperature: 0, topP: 1, stop: [], maxPromptTokens: 10_000 }
  const reqs: GenerationRequest[] = [
    { ...base, messages: conv(img, 'First question, a longer one with more words'), n: 1, maxTokens: 3 },
    { ...base, messages: conv(await png(112, 56), 'Second'), n: 2, maxTokens: 7 },
    { ...base, messages: [{ role: 'user', content: 'text only' }], n: 1, maxTokens: 5 },
    { ...base, messages: conv(Buffer.from('not an image')), n: 1, maxTokens: 5 },
    { ...base, messages: conv(img, 'too long'), n: 1, maxTokens: 5, maxPromptTokens: 10 },
  ]
  const batched = await model.generateBatch(reqs)
  t.match(batched[3], { code: 'ERR_IMAGE_DECODE' }, 'a bad image fails only its request')
  t.match(batched[4], { code: 'ERR_PROMPT_TOO_LONG', message: /limit is 10/ })
  for (const i of [0, 1, 2]) {
    const alone = await model.chat(reqs[i]!.messages, { maxTokens: reqs[i]!.maxTokens, n: reqs[i]!.n })
    const b = batched[i] as { choices: Array<{ ids: number[] }>; promptTokens: number }
    t.equal(b.choices.length, reqs[i]!.n)
    t.ok(b.choices.every((c) => c.ids.length <= reqs[i]!.maxTokens))
    t.same(b.choices[0]!.ids, alone.ids, `request ${i}: batched = alone`)
    t.equal(b.promptTokens, alone.promptTokens)
  }

  // Streaming: onText gets text deltas while the native call runs, each a piece of the final text.
  const events: Array<{ choice: number; delta: string; at: number }> = []
  let resolvedAt = Infinity
  const streamReq = (o: Partial<GenerationRequest>): GenerationRequest => ({ ...base, messages: conv(img), n: 2, maxTokens: 24, onText: (choice, delta) => events.push({ choice, delta, at: performance.now() }), ...o })
  const streamed = (await model.generateBatch([streamReq({}), { ...base, messages: conv(img), n: 2, maxTokens: 24 }]).then((r) => { resolvedAt = performance.now(); return r }))
  const out = streamed[0] as { choices: Array<{ text: string; ids: number[] }> }
  t.ok(events.length >= 2, `several deltas (${events.length})`)
  t.ok(events.every((e) => e.at <= resolvedAt), 'every delta arrives before the call resolves')
  for (const c of [0, 1]) {
    const joined = events.filter((e) => e.choice === c).map((e) => e.delta).join('')
    t.ok(out.choices[c]!.text.startsWith(joined), `choice ${c}: the deltas are a prefix of the final text (${joined.length}/${out.choices[c]!.text.length} chars)`)
  }
  t.same(out.choices[0]!.ids, (streamed[1] as typeof out).choices[0]!.ids, 'streaming does not change the ids')
  const short: string[] = []
  await model.generateBatch([streamReq({ n: 1, maxTokens: 2, onText: (_c, d) => short.push(d) }), { ...base, messages: conv(img), n: 1, maxTokens: 20 }])
  const shortIds = (await model.chat(conv(img), { maxTokens: 2 })).ids
  t.ok(short.join('').length <= (await model.inner.tokenizer.decode(shortIds, { skipSpecialTokens: true })).length, 'a row streams no more than its own maxTokens')

  let ticks = 0
  const timer = setInterval(() => ticks++, 1)
  await model.chat(conv(img), { maxTokens: 32 })
  clearInterval(timer)
  t.ok(ticks > 3, `the event loop kept ticking during chat (${ticks} ticks)`)

  const other = await loadTinyModel()
  const running = other.chat(conv(img), { maxTokens: 4 })
  other.dispose()
  t.ok((await running).ids.length > 0, 'a running call finishes after dispose()')
  await t.rejects(other.chat(conv(img)), { code: 'ERR_MODEL_DISPOSED' })
  other.dispose()
})
