/**
 * Issue 24 item 5: `stop` ends generation. With the tiny real model (greedy), a stop string that the
 * completion reaches after a few tokens ends the request there: finish_reason "stop", the text cut before
 * the stop string, and usage counting only the tokens up to the one that completed it (it used to run on
 * to max_tokens and count every token). The same through the library (`chat`), the server, and a stream.
 * Needs the native addon. Run: npx tap test/serve-stop.test.ts
 */
import t from 'tap'
import { modelGenerator } from '../lib/serve/model-generator.js'
import { createServer } from '../lib/serve/server.js'
import { loadTinyModel, post, realModelAvailable, sseEvents } from './serve-helpers.js'

if (!(await realModelAvailable())) {
  t.comment('skipped: the native addon is not built')
} else {
  t.test('stop ends generation and usage counts only what came before it', async (t) => {
    const model = await loadTinyModel()
    t.teardown(() => model[Symbol.asyncDispose]())
    const messages = [{ role: 'user' as const, content: 'Describe the picture in detail.' }]
    const MAX = 48
    const full = await model.chat(messages, { maxTokens: MAX, temperature: 0 })
    t.ok(full.ids.length > 12, `the free completion has ${full.ids.length} tokens`)
    // the stop string: the text a token between the 6th and the 12th adds (the first that adds some)
    const decode = (ids: number[]) => model.inner.tokenizer.decode(ids, { skipSpecialTokens: true })
    let stop = ''
    for (let k = 6; k < 12 && stop.trim().length === 0; k++) stop = (await decode(full.ids.slice(0, k + 1))).slice((await decode(full.ids.slice(0, k))).length)
    stop = stop.trim() ? stop : full.text.slice(8, 12)
    t.ok(stop.length > 0, `stop string ${JSON.stringify(stop)}`)
    // the expected cut: the fewest tokens whose text holds the stop string
    let want = 0
    while (!(await decode(full.ids.slice(0, want))).includes(stop)) want++
    t.ok(want < full.ids.length, `the stop string is reached after ${want} of ${full.ids.length} tokens`)
    const cutText = full.text.slice(0, full.text.indexOf(stop))

    const lib = await model.chat(messages, { maxTokens: MAX, temperature: 0, stop: [stop] })
    t.equal(lib.finishReason, 'stop')
    t.equal(lib.text, cutText, 'library: text cut before the stop string')
    t.equal(lib.ids.length, want, 'library: ids end at the token that completed the stop string')

    const server = createServer(modelGenerator(model), { port: 0 })
    const url = await server.listen()
    t.teardown(() => server.close())
    const body = { messages, max_tokens: MAX, temperature: 0 }
    const plain = await post(`${url}/v1/chat/completions`, body)
    t.equal(plain.json.usage.completion_tokens, full.ids.length, 'without stop: every token')
    const r = await post(`${url}/v1/chat/completions`, { ...body, stop })
    t.equal(r.status, 200)
    t.equal(r.json.choices[0].message.content, cutText)
    t.equal(r.json.choices[0].finish_reason, 'stop')
    t.equal(r.json.usage.completion_tokens, want, `usage counts ${want} tokens, not ${full.ids.length}`)
    const s = await post(`${url}/v1/chat/completions`, { ...body, stop: [stop, 'never-there'], stream: true, stream_options: { include_usage: true } })
    const chunks = sseEvents(s.text).slice(0, -1).map((e) => JSON.parse(e))
    t.equal(chunks.flatMap((c) => c.choices).map((c: any) => c.delta.content ?? '').join(''), cutText, 'stream: the same text')
    t.equal(chunks.at(-1).usage.completion_tokens, want, 'stream: the same usage')
    // n = 2 with one request without stop in the same batch: only the request with stop is cut
    const [a, b] = await Promise.all([
      post(`${url}/v1/chat/completions`, { ...body, stop, n: 2 }),
      post(`${url}/v1/chat/completions`, { ...body, n: 2 }),
    ])
    t.same(a.json.choices.map((c: any) => c.message.content), [cutText, cutText])
    t.equal(a.json.usage.completion_tokens, 2 * want)
    t.same(b.json.choices.map((c: any) => c.message.content), [full.text, full.text], 'a request without stop in the same batch runs on')
    t.equal(b.json.usage.completion_tokens, 2 * full.ids.length)
  })
}
