// Config parsing (pure TS, no addon): every layout of the goldens parses to the same flat config, and bad
// configs give ERR_CONFIG naming the field, what was expected and what was found.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseModelConfig, readModelConfig } from '../lib/model/config.js'
import { GOLDENS } from './model-helpers.js'

const read = (m: string, f: string) => JSON.parse(readFileSync(join(GOLDENS, 'ckpt', m, f), 'utf8')) as Record<string, any>

t.test('nested (transformers 4.57) and flat hub layouts parse identically', async (t) => {
  for (const m of ['qwen2vl-tiny', 'qwen25vl-tiny']) {
    const a = readModelConfig(join(GOLDENS, 'ckpt', m))
    const b = readModelConfig(join(GOLDENS, 'ckpt', m), 'config_hubstyle_flat.json')
    t.same(a, b, m)
    t.equal(a.arch, m === 'qwen2vl-tiny' ? 'qwen2-vl' : 'qwen2.5-vl')
    t.same(a.mropeSection, [2, 3, 3])
    t.equal(a.headDim, 16)
    t.equal(a.imageTokenId, 151655)
    t.equal(a.visionStartTokenId, 151652)
    t.equal(a.tieWordEmbeddings, true)
  }
  const v = readModelConfig(join(GOLDENS, 'ckpt', 'qwen2vl-tiny')).vision
  t.same(v, { depth: 2, width: 32, numHeads: 4, intermediate: 64, act: 'quick_gelu', patchSize: 14, temporalPatchSize: 2, spatialMergeSize: 2, inChannels: 3, outHidden: 64, windowSize: 112, fullattBlockIndexes: [], tokensPerSecond: 2 })
  const v25 = readModelConfig(join(GOLDENS, 'ckpt', 'qwen25vl-tiny')).vision
  t.same([v25.width, v25.intermediate, v25.act, v25.fullattBlockIndexes, v25.windowSize], [32, 64, 'silu', [1], 112])
})

t.test('rope_parameters (newest layout) is accepted', async (t) => {
  const raw = read('qwen2vl-tiny', 'config.json')
  const tc = raw.text_config
  tc.rope_parameters = { rope_type: 'default', mrope_section: [2, 3, 3], rope_theta: 1e6 }
  delete tc.rope_scaling
  delete tc.rope_theta
  t.same(parseModelConfig(raw), readModelConfig(join(GOLDENS, 'ckpt', 'qwen2vl-tiny')))
})

t.test('bad configs give ERR_CONFIG naming field, expected and found', async (t) => {
  const cases: Array<[string, (c: Record<string, any>) => void, RegExp]> = [
    ['missing hidden_size', (c) => { delete c.text_config.hidden_size }, /Expected a number for text_config\.hidden_size but found undefined/],
    ['wrong type', (c) => { c.text_config.num_hidden_layers = '2' }, /Expected a number for text_config\.num_hidden_layers but found "2"/],
    ['bad model_type', (c) => { c.model_type = 'llama' }, /Expected one of "qwen2_vl", "qwen2_5_vl", "qwen3_vl" for model_type but found "llama"/],
    ['contradiction', (c) => { c.hidden_size = 128 }, /Expected the same value at the top level and in text_config \(64\) for hidden_size but found 128/],
    ['no mrope', (c) => { delete c.text_config.rope_scaling }, /Expected an object with mrope_section .* for text_config\.rope_scaling but found undefined/],
    ['mrope sum', (c) => { c.text_config.rope_scaling.mrope_section = [2, 3, 4] }, /Expected 3 entries summing to head_dim\/2 = 8 for mrope_section but found "\[2,3,4\]"/],
    ['mrope length', (c) => { c.text_config.rope_scaling.mrope_section = [2, 6] }, /Expected an array of 3 entries for text_config\.rope_scaling\.mrope_section/],
    ['missing image token id', (c) => { delete c.image_token_id }, /Expected a token id .* for image_token_id but found undefined/],
    ['token id out of range', (c) => { c.vision_start_token_id = 999999 }, /Expected a token id below vocab_size 151936 for vision_start_token_id but found 999999/],
    ['kv heads', (c) => { c.text_config.num_key_value_heads = 3 }, /Expected a divisor of num_attention_heads 4 for num_key_value_heads but found 3/],
    ['vision width', (c) => { c.vision_config.embed_dim = 30 }, /vision_config\.num_heads/],
    ['vision hidden vs LLM', (c) => { c.vision_config.hidden_size = 32 }, /Expected the LLM hidden_size 64 \(the merger output\) for vision_config\.hidden_size but found 32/],
    ['vision act', (c) => { c.vision_config.hidden_act = 'relu' }, /for vision_config\.hidden_act but found "relu"/],
    ['missing vision config', (c) => { delete c.vision_config }, /for vision_config but found undefined/],
  ]
  for (const [name, mutate, re] of cases) {
    const raw = read('qwen2vl-tiny', 'config.json')
    mutate(raw)
    t.throws(() => parseModelConfig(raw), { code: 'ERR_CONFIG', message: re }, name)
  }
  const r25 = read('qwen25vl-tiny', 'config_hubstyle_flat.json')
  r25.vision_config.fullatt_block_indexes = [5]
  t.throws(() => parseModelConfig(r25), { code: 'ERR_CONFIG', message: /indexes below depth 2 for vision_config\.fullatt_block_indexes but found 5/ })
  t.throws(() => readModelConfig('/nonexistent-dir'), { code: 'ERR_CONFIG', message: /readable config\.json/ })
})
