/**
 * Compact vocabularies (lib/model/compact-vocab.ts, initModel's `vocabulary`, the demo's `boxes` model):
 * texts made of kept tokens encode to the same token strings as with the full Qwen tokenizer, anything
 * else still round-trips through the byte-level symbols, special ids and the config agree, bad input is a
 * typed error, and the demo model loads and runs with its ~600-word vocabulary.
 * Run: npx tap test/compact-vocab.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { byteLevelAlphabet, compactVocabulary } from '../lib/model/compact-vocab.js'
import { defaultTokenizerPath, loadTokenizer } from '../lib/model/tokenizer.js'
import { initModel } from '../lib/model/init-model.js'
import { nativeAvailable } from '../lib/native/binding.js'

const fullPath = defaultTokenizerPath()
const full = loadTokenizer(fullPath)
const fullJson = () => JSON.parse(readFileSync(fullPath, 'utf8')) as Record<string, unknown>
const fullConfig = () => JSON.parse(readFileSync(join(fullPath, '..', 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>
const texts = [
  '<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Detect all red squares in the image.<|im_end|>\n<|im_start|>assistant\n',
  '<think>2 red square</think><answer>[{"bbox_2d": [49, 299, 201, 451], "confidence": 0.9}]</answer>',
  '<answer>No Objects</answer>',
]

async function written(dir: string, keep: number[]) {
  const cv = compactVocabulary(fullJson(), fullConfig(), keep)
  writeFileSync(join(dir, 'tokenizer.json'), JSON.stringify(cv.tokenizer))
  writeFileSync(join(dir, 'tokenizer_config.json'), JSON.stringify(cv.tokenizerConfig))
  return { cv, tok: loadTokenizer(join(dir, 'tokenizer.json')) }
}

t.test('the kept texts encode to the same tokens; other text round-trips in smaller pieces', async (t) => {
  const ids = (await full.encodeBatch(texts)).flat()
  const { cv, tok } = await written(tempDir('vrft-cv-'), ids)
  t.ok(cv.size < 1200, `a compact vocabulary (${cv.size} ids)`)
  t.ok(cv.size >= 256 + 26, 'at least the byte-level symbols and the added tokens')
  for (const text of texts) {
    const a = (await full.encode(text)).map((i) => cv.idMap.get(i))
    t.same(await tok.encode(text), a, `same tokens: ${text.slice(0, 40)}`)
    t.equal(await tok.decode(await tok.encode(text)), text)
  }
  const other = 'zebra crossing ☃ 1234 Ünïcödé'
  const enc = await tok.encode(other)
  t.ok(enc.length > (await full.encode(other)).length, 'unseen words take more, smaller tokens')
  t.ok(enc.every((i) => i >= 0 && i < cv.size))
  t.equal(await tok.decode(enc), other, 'and decode back to the same text')
  // special tokens: the same strings, renumbered
  for (const s of ['<|im_start|>', '<|im_end|>', '<|image_pad|>', '<|vision_start|>', '<think>', '<|endoftext|>']) {
    const [id] = await tok.encode(s)
    t.equal(id, cv.idMap.get((await full.encode(s))[0]!), s)
  }
  t.equal(tok.special.imagePad, cv.idMap.get(full.special.imagePad))
  t.equal(tok.special.eos, cv.idMap.get(full.special.eos))
  t.equal(byteLevelAlphabet().length, 256)
  t.equal(new Set(byteLevelAlphabet()).size, 256)
})

t.test('bad input is ERR_TOKENIZER / ERR_INVALID_ARG', async (t) => {
  t.throws(() => compactVocabulary({ model: { type: 'WordPiece', vocab: {} }, added_tokens: [] }, {}, []), { code: 'ERR_TOKENIZER', message: /Expected a byte-level BPE tokenizer.json/ })
  t.throws(() => compactVocabulary(fullJson(), fullConfig(), [10_000_000]), { code: 'ERR_TOKENIZER', message: /received 10000000/ })
  await t.rejects(initModel({ arch: 'qwen3-vl', size: 'tiny', out: tempDir('vrft-cv-'), vocabulary: [] }), { code: 'ERR_INVALID_ARG', message: /non-empty array of strings for vocabulary/ })
})

t.test('initModel with a vocabulary: vocab_size, special ids and generation config agree with the tokenizer', async (t) => {
  for (const arch of ['qwen2-vl', 'qwen3-vl'] as const) {
    const out = tempDir('vrft-cv-')
    const r = await initModel({ arch, size: 'tiny', out, seed: 1, vocabulary: texts })
    const tok = loadTokenizer(join(out, 'tokenizer.json'))
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as Record<string, Record<string, unknown> & number>
    const vocab = arch === 'qwen3-vl' ? cfg.text_config!.vocab_size : cfg.vocab_size
    t.equal(r.config.vocabSize, vocab)
    t.equal(Number(vocab) % 64, 0, `${arch}: vocab_size a multiple of 64`)
    t.ok(Number(vocab) < 1300 && Number(vocab) >= tok.vocabSize, `${arch}: vocab_size ${vocab} ≥ the tokenizer's ${tok.vocabSize}`)
    t.equal(cfg.image_token_id, tok.special.imagePad, `${arch}: image_token_id`)
    t.equal(cfg.vision_start_token_id, tok.special.visionStart)
    t.equal(cfg.vision_end_token_id, tok.special.visionEnd)
    const gen = JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')) as { eos_token_id: number[]; pad_token_id: number }
    t.same(gen.eos_token_id, [tok.special.imEnd, tok.special.pad])
    t.ok(r.parameters < 1_000_000, `${arch}: ${r.parameters} parameters, not 10M`)
  }
})

if (!nativeAvailable()) {
  t.comment('SKIPPED: the native addon is not built (the demo model check runs the model)')
  t.test('the demo boxes model with its compact vocabulary', { skip: 'the native addon is not built' }, async () => {})
} else {
  t.test('the demo boxes model: every demo text keeps its Qwen tokens, and the model runs', async (t) => {
    const { createTinyModel, demoTexts } = await import('../lib/app/tiny.js')
    const { modelIO } = await import('../lib/train/setup.js')
    const { NativeModel } = await import('../lib/model/native-model.js')
    const { makeSceneSet } = await import('../lib/data/synthetic-scenes.js')
    const { splitClasses, syntheticTarget } = await import('../lib/data/synthetic.js')
    const dir = tempDir('vrft-cv-boxes-')
    await createTinyModel(dir, 3, 'boxes')
    const tok = loadTokenizer(join(dir, 'tokenizer.json'))
    t.ok(tok.vocabSize < 1200, `the demo vocabulary has ${tok.vocabSize} ids`)
    const all = await demoTexts()
    const inv = (ids: number[]) => Promise.all(ids.map((i) => tok.decode([i])))
    for (const text of all.filter((_, i) => i % 16 === 0)) t.same(await inv(await tok.encode(text)), await Promise.all((await full.encode(text)).map((i) => full.decode([i]))), 'same token strings as Qwen')
    const io = await modelIO(dir, { minPixels: 3136, maxPixels: 128 * 128 })
    const cls = splitClasses()
    const [s] = await makeSceneSet({ task: 'detection', count: 1, seed: 9, size: 128, classes: cls.novel, allClasses: [...cls.base, ...cls.novel], grid: 4 })
    const e = await io.encode(s!)
    t.ok(e.inputIds.every((i) => i < tok.vocabSize), 'prompt ids inside the vocabulary')
    const target = await tok.encode(syntheticTarget(s!))
    t.equal(await tok.decode(target), syntheticTarget(s!))
    const m = await NativeModel.load(dir)
    try {
      const r = await m.forward({ inputIds: e.inputIds, batch: 1, pixelValues: e.pixelValues[0], imageGridThw: e.imageGridThw.flat(), logits: 'last' })
      t.same(r.logitsShape, [1, io.folder.config.vocabSize], 'logits over the compact vocabulary')
      t.ok(r.logits!.every(Number.isFinite))
    } finally {
      m.dispose()
    }
  })
}
