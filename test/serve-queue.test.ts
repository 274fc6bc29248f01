/**
 * Unit tests of the serving pieces that need no HTTP: the batching queue (batch formation, sampling
 * compatibility, seeded isolation, bounds, cancellation, drain on close), stop strings in streams, the
 * API-key checker, option validation and the error mapping. Needs no native addon.
 * Run: npx tap test/serve-queue.test.ts
 */
import t from 'tap'
import { bearerChecker } from '../lib/serve/auth.js'
import { toHttpError } from '../lib/serve/errors.js'
import { isInside } from '../lib/serve/images.js'
import { StopStream, applyStop } from '../lib/serve/openai.js'
import { resolveServeOptions } from '../lib/serve/options.js'
import { BatchQueue, type BatchInfo } from '../lib/serve/queue.js'
import type { GenerationOutput, GenerationRequest, Generator } from '../lib/serve/types.js'

const req = (over: Partial<GenerationRequest> = {}): GenerationRequest => ({
  messages: [{ role: 'user', content: 'x' }], n: 1, maxTokens: 4, temperature: 1, topP: 1, stop: [], maxPromptTokens: 100, ...over,
})
const echo = (calls: GenerationRequest[][], ms = 5): Generator => async (batch) => {
  calls.push([...batch])
  await new Promise((r) => setTimeout(r, ms))
  return batch.map((r): GenerationOutput => ({ choices: Array.from({ length: r.n }, () => ({ text: String(r.maxTokens), ids: [1, 2], finishReason: 'stop' as const })), promptTokens: 3 }))
}

t.test('batches by time and size; groups only compatible sampling settings', async (t) => {
  const calls: GenerationRequest[][] = []
  const q = new BatchQueue(echo(calls), { maxBatchSize: 4, maxWaitMs: 20, maxQueue: 100 })
  const infos: BatchInfo[] = []
  q.onBatch = (i) => infos.push(i)
  const ps = [
    q.submit(req({ maxTokens: 1 })), q.submit(req({ maxTokens: 2, temperature: 0.5 })), q.submit(req({ maxTokens: 3 })),
    q.submit(req({ maxTokens: 4, n: 2 })), q.submit(req({ maxTokens: 5 })), q.submit(req({ maxTokens: 6, temperature: 0.5 })),
  ]
  t.equal(q.depth, 3, 'the fourth request filled a batch, which left at once')
  const outs = await Promise.all(ps)
  t.same(outs.map((o) => o.choices[0]!.text), ['1', '2', '3', '4', '5', '6'], 'each caller gets its own answer')
  t.same(outs[3]!.choices.length, 2)
  // t=1: [1, 3, 4(n=2)] fills 4 sequences at once; then t=0.5 [2, 6]; then [5].
  t.same(calls.map((c) => c.map((r) => r.maxTokens)), [[1, 3, 4], [2, 6], [5]])
  t.same(infos.map((i) => [i.requests, i.sequences, i.completionTokens, i.promptTokens]), [[3, 4, 8, 9], [2, 2, 4, 6], [1, 1, 2, 3]])
  t.ok(infos.every((i) => !i.failed && i.seconds > 0 && i.waits.length === i.requests))
  t.equal(q.depth, 0)
})

t.test('waits at most maxWaitMs for company; seeded requests run alone', async (t) => {
  const calls: GenerationRequest[][] = []
  const q = new BatchQueue(echo(calls, 1), { maxBatchSize: 64, maxWaitMs: 30, maxQueue: 100 })
  const t0 = performance.now()
  await q.submit(req())
  const waited = performance.now() - t0
  t.ok(waited >= 25 && waited < 500, `a lone request waited ${waited.toFixed(0)} ms`)
  await Promise.all([q.submit(req({ seed: 1 })), q.submit(req({ seed: 1 })), q.submit(req())])
  t.same(calls.slice(1).map((c) => c.length).sort(), [1, 1, 1])
})

t.test('bounded queue, cancellation, per-request and whole-batch errors, close', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((r) => (release = r))
  const gen: Generator = async (batch) => {
    await gate
    return batch.map((r) => (r.maxTokens === 13 ? new Error('only this one') : { choices: [{ text: 'ok', ids: [1], finishReason: 'length' as const }], promptTokens: 1 }))
  }
  const q = new BatchQueue(gen, { maxBatchSize: 1, maxWaitMs: 0, maxQueue: 2 })
  const first = q.submit(req())
  await new Promise((r) => setTimeout(r, 5))
  t.ok(q.busy, 'first is running')
  const ac = new AbortController()
  const second = q.submit(req({ maxTokens: 13 }))
  const third = q.submit(req(), ac.signal)
  t.throws(() => q.submit(req()), { code: 'ERR_QUEUE_FULL', message: /limit of 2 waiting/ })
  ac.abort()
  await t.rejects(third, { code: 'ERR_CANCELLED' })
  t.equal(q.depth, 1, 'the cancelled request left the queue')
  t.throws(() => q.submit(req(), AbortSignal.abort()), { code: 'ERR_CANCELLED' })
  release()
  t.same((await first).choices[0]!.text, 'ok')
  await t.rejects(second, { message: 'only this one' })

  const boom = new BatchQueue(async () => { throw new Error('crash') }, { maxBatchSize: 4, maxWaitMs: 0, maxQueue: 4 })
  const failed: BatchInfo[] = []
  boom.onBatch = (i) => failed.push(i)
  await t.rejects(boom.submit(req()), { message: 'crash' })
  t.equal(failed[0]!.failed, true)
  const wrong = new BatchQueue(async () => [], { maxBatchSize: 4, maxWaitMs: 0, maxQueue: 4 })
  await t.rejects(wrong.submit(req()), { code: 'ERR_GENERATOR' })

  const calls: GenerationRequest[][] = []
  const d = new BatchQueue(echo(calls), { maxBatchSize: 1, maxWaitMs: 10, maxQueue: 10 })
  const pending = [d.submit(req()), d.submit(req()), d.submit(req())]
  await d.close()
  t.equal((await Promise.all(pending)).length, 3, 'close drains the waiting requests')
  t.throws(() => d.submit(req()), { code: 'ERR_SHUTTING_DOWN' })
  const e = new BatchQueue(echo([], 50), { maxBatchSize: 1, maxWaitMs: 0, maxQueue: 10 })
  const running = e.submit(req())
  const dropped = e.submit(req())
  const droppedCheck = t.rejects(dropped, { code: 'ERR_SHUTTING_DOWN' })
  await new Promise((r) => setTimeout(r, 5))
  await e.close({ drain: false })
  await t.resolves(running)
  await droppedCheck
  t.throws(() => new BatchQueue(gen, { maxBatchSize: 0, maxWaitMs: 0, maxQueue: 1 }), { code: 'ERR_INVALID_ARG' })
})

t.test('stop strings, whole and streamed', async (t) => {
  t.same(applyStop('abc</think>def', ['</think>']), { text: 'abc', cut: true })
  t.same(applyStop('abcdef', ['x', 'cd', 'b']), { text: 'a', cut: true }, 'earliest stop wins')
  t.same(applyStop('abc', []), { text: 'abc', cut: false })
  const s = new StopStream(['STOP'])
  const got = ['ab', 'cS', 'TO', 'xP', 'ST', 'OP', 'zz'].map((d) => s.push(d))
  t.same(got.join(''), 'abcSTOxP', 'nothing after the stop, nothing of it')
  t.equal(s.finish('whatever'), '')
  const u = new StopStream(['END'])
  t.equal(u.push('abE'), 'a', 'holds back what could begin a stop string')
  t.equal(u.finish('abEN'), 'bEN', 'released at the end')
  const none = new StopStream([])
  t.equal(none.push('xyz'), 'xyz')
  t.equal(none.finish('xyz!'), '!')
})

t.test('API key check, path containment, options, error mapping', async (t) => {
  const check = bearerChecker('k3y')
  t.ok(check('Bearer k3y'))
  t.ok(check('bearer   k3y'))
  t.notOk(check(undefined))
  t.notOk(check('Bearer k3'))
  t.notOk(check('Bearer k3yy'))
  t.notOk(check('k3y'))
  t.ok(isInside('/a/b', '/a/b'))
  t.ok(isInside('/a/b', '/a/b/c/d'))
  t.ok(isInside('/a/b', '/a/b/..c'), 'a name starting with .. is still inside')
  t.notOk(isInside('/a/b', '/a/bc'))
  t.notOk(isInside('/a/b', '/a'))
  t.notOk(isInside('/a/b', '/etc/passwd'))
  const o = resolveServeOptions({})
  t.match(o, { host: '127.0.0.1', port: 8000, apiKey: undefined, allowedRoot: undefined, maxBatchSize: 16, maxQueue: 256, defaultMaxTokens: 256 })
  t.throws(() => resolveServeOptions({ port: 70000 }), { code: 'ERR_INVALID_ARG', message: /between 0 and 65535 for port but received 70000/ })
  t.throws(() => resolveServeOptions({ allowedRoot: '/does/not/exist' }), { message: /existing folder for allowedRoot/ })
  t.throws(() => resolveServeOptions({ limits: { maxN: 0 } }), { message: /limits\.maxN/ })
  t.throws(() => resolveServeOptions({ limits: { nope: 1 } as never }), { message: /limits\.nope/ })
  t.throws(() => resolveServeOptions({ apiKey: '' }), { message: /non-empty string for apiKey/ })
  t.equal(resolveServeOptions({ maxBatchSize: 2 }).limits.maxN, 2, 'n never exceeds a batch')
  t.match(toHttpError(Object.assign(new Error('x'), { code: 'ERR_IMAGE_DECODE' })), { status: 400, body: { error: { type: 'invalid_request_error', code: 'ERR_IMAGE_DECODE' } } })
  t.match(toHttpError(Object.assign(new Error('x'), { code: 'ERR_TORCH_OOM' })), { status: 503, internal: false })
  t.match(toHttpError(new TypeError('secret detail')), { status: 500, internal: true, body: { error: { message: 'Internal server error' } } })
})
