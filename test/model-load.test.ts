// Loading and making models: both weight-naming schemes and sharded checkpoints load to identical logits;
// missing / unexpected / wrongly shaped tensors and bad inputs give typed errors; parameter counts without
// allocation (Qwen2-VL-2B = 2,208,985,600); init-model output loads back and runs a forward.
// Run: VRFT_NATIVE_ADDON=build-model/Release/vrft_native.node npx tap test/model-load.test.ts
import { tempDir } from './tmp.js'
import t from 'tap'
import { copyFileSync, existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { native, type RawTensor } from '../lib/native/binding.js'
import { parameterCount } from '../lib/native/model.js'
import { NativeModel } from '../lib/model/native-model.js'
import { parseModelConfig } from '../lib/model/config.js'
import { hubConfig, initModel } from '../lib/model/init-model.js'
import { IMAGES, flat, pixelValues, readMeta, unpackCheckpoint } from './model-helpers.js'

const n = native()
const tmp = () => tempDir('vrft-model-')
const base = unpackCheckpoint('qwen2vl-tiny')
t.teardown(() => rmSync(base, { recursive: true, force: true }))
const meta = readMeta('qwen2vl-tiny', IMAGES[0])
const ids = flat(meta.input_ids)
const px = pixelValues(IMAGES[0]).data as Float32Array
const grid = flat(meta.image_grid_thw)

async function readAll(dir: string): Promise<Array<RawTensor & { name: string }>> {
  const h = await n.safetensorsHeader(join(dir, 'model.safetensors'))
  return Promise.all(h.tensors.map(async (e) => ({ ...(await n.safetensorsReadTensor(join(dir, 'model.safetensors'), e.name)), name: e.name })))
}
function withConfig(dir: string, config: Record<string, unknown>): string {
  writeFileSync(join(dir, 'config.json'), JSON.stringify(config))
  return dir
}

t.test('weight naming schemes, shards and tied head', async (t) => {
  const ref = await NativeModel.load(base)
  const want = (await ref.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, logits: 'last' })).logits!
  const tensors = await readAll(base)
  // newer transformers: model.visual.* and model.language_model.*
  const renamed = tmp()
  copyFileSync(join(base, 'config.json'), join(renamed, 'config.json'))
  await n.safetensorsWrite(join(renamed, 'model.safetensors'), tensors.map((x) => ({
    ...x, name: x.name.startsWith('visual.') ? 'model.' + x.name : x.name.replace(/^model\./, 'model.language_model.'),
  })))
  // sharded, with lm_head.weight present although tied (ignored)
  const sharded = tmp()
  copyFileSync(join(base, 'config.json'), join(sharded, 'config.json'))
  const embed = tensors.find((x) => x.name === 'model.embed_tokens.weight')!
  await n.safetensorsWriteSharded(sharded, [...tensors, { ...embed, name: 'lm_head.weight' }], 2_000_000)
  t.ok(readdirSync(sharded).filter((f) => f.endsWith('.safetensors')).length > 1, 'several shards')
  for (const [name, dir] of [['model.language_model.* / model.visual.*', renamed], ['sharded', sharded]] as const) {
    const m = await NativeModel.load(dir)
    const got = (await m.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, logits: 'last' })).logits!
    t.ok(Buffer.from(got.buffer).equals(Buffer.from(want.buffer)), `${name}: identical logits`)
    m.dispose()
  }
  // untied config over a tied checkpoint: lm_head.weight is missing
  const cfg = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Record<string, any>
  cfg.text_config.tie_word_embeddings = false
  await t.rejects(NativeModel.load(withConfig(renamed, cfg)), { code: 'ERR_WEIGHTS_MISSING', message: /lm_head\.weight/ })
  ref.dispose()
  rmSync(renamed, { recursive: true, force: true })
  rmSync(sharded, { recursive: true, force: true })
})

t.test('missing, unexpected and wrongly shaped tensors', async (t) => {
  const raw = JSON.parse(readFileSync(join(base, 'config.json'), 'utf8')) as Record<string, any>
  const dir = tmp()
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  copyFileSync(join(base, 'model.safetensors'), join(dir, 'model.safetensors'))
  const mutate = (f: (c: Record<string, any>) => void) => { const c = JSON.parse(JSON.stringify(raw)); f(c); return withConfig(dir, c) }
  await t.rejects(NativeModel.load(mutate((c) => { c.text_config.num_hidden_layers = 3 })),
    { code: 'ERR_CONFIG', message: /num_hidden_layers .* holds, 2 text layers .*model\.layers\.0\..* found 3/ }, 'more layers than the checkpoint: ERR_CONFIG before allocating (config-check.ts)')
  await t.rejects(NativeModel.load(mutate((c) => { c.text_config.num_hidden_layers = 1 })),
    { code: 'ERR_WEIGHTS_UNEXPECTED', message: /found 12 unexpected: model\.layers\.1\./ })
  await t.rejects(NativeModel.load(mutate((c) => { c.text_config.intermediate_size = 96 })),
    { code: 'ERR_WEIGHTS_SHAPE', message: /Expected shape \[96, 64\] for tensor model\.layers\.0\.mlp\.gate_proj\.weight .* but found \[128, 64\]/ })
  await t.rejects(NativeModel.load(mutate((c) => { c.vision_config.mlp_ratio = 4 })),
    { code: 'ERR_WEIGHTS_SHAPE', message: /visual\.blocks\.0\.mlp\.fc1\.weight/ })
  rmSync(join(dir, 'model.safetensors'))
  await t.rejects(NativeModel.load(mutate(() => {})), { code: /ERR_/ }, 'no weights at all')
})

t.test('bad forward inputs give typed errors, not crashes', async (t) => {
  const m = await NativeModel.load(base)
  t.teardown(() => m.dispose())
  const img = ids.indexOf(151655)
  const noImage = ids.filter((x) => x !== 151655)
  await t.rejects(m.forward({ inputIds: noImage, batch: 1, pixelValues: px, imageGridThw: grid }),
    { code: 'ERR_INVALID_ARG', message: /Expected 1 image token runs \(one per image\) but the prompts hold 0/ }, 'missing image tokens')
  const twoRuns = [...ids.slice(0, img + 77), 198, ...ids.slice(img, img + 77), ...ids.slice(img + 77)]
  await t.rejects(m.forward({ inputIds: twoRuns, batch: 1, pixelValues: px, imageGridThw: grid }),
    { code: 'ERR_INVALID_ARG', message: /beyond the 1 image\(s\) given/ }, 'more image token runs than images')
  await t.rejects(m.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: [1, 14, 24] }),
    { code: 'ERR_INVALID_ARG', message: /Expected 84 image tokens for image 0 .* has a run of 77/ }, 'grid does not match the tokens')
  await t.rejects(m.forward({ inputIds: ids, batch: 1, pixelValues: px.subarray(0, 1176 * 300), imageGridThw: grid }),
    { code: 'ERR_INVALID_ARG', message: /Expected 308 pixel rows .* but received 300/ }, 'grid does not match the pixels')
  await t.rejects(m.forward({ inputIds: ids, batch: 1, imageGridThw: grid }), { code: 'ERR_INVALID_ARG', message: /together/ }, 'grid without pixels')
  await t.rejects(m.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: [1, 14] }), { code: 'ERR_INVALID_ARG', message: /3 integers per image/ })
  await t.rejects(m.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: [1, 13, 22] }), { code: 'ERR_INVALID_ARG', message: /multiples of 2/ })
  await t.rejects(m.forward({ inputIds: ids, batch: 1, pixelValues: new Float32Array(1000), imageGridThw: grid }), { code: 'ERR_INVALID_ARG', message: /multiple of 1176/ })
  await t.rejects(m.forward({ inputIds: ids, batch: 3 }), { code: 'ERR_INVALID_ARG', message: /batch \(3\) rows/ })
  await t.rejects(m.forward({ inputIds: ids, batch: 1, logits: 'positions', positions: [999] }), { code: 'ERR_INVALID_ARG', message: /positions between 0 and 231/ })
  // text-only prompts are fine
  const r = await m.forward({ inputIds: [151644, 8948, 198], batch: 1, logits: 'all' })
  t.same(r.logitsShape, [1, 3, 151936])
  t.same(Array.from(r.positionIds), [0, 1, 2, 0, 1, 2, 0, 1, 2])
})

t.test('parameter counts without allocating', async (t) => {
  const qwen2vl2b = {
    architectures: ['Qwen2VLForConditionalGeneration'], model_type: 'qwen2_vl', hidden_size: 1536, intermediate_size: 8960,
    num_attention_heads: 12, num_hidden_layers: 28, num_key_value_heads: 2, rms_norm_eps: 1e-6, rope_theta: 1000000.0,
    rope_scaling: { type: 'mrope', mrope_section: [16, 24, 24] }, tie_word_embeddings: true, vocab_size: 151936,
    bos_token_id: 151643, eos_token_id: 151645, vision_start_token_id: 151652, vision_end_token_id: 151653,
    vision_token_id: 151654, image_token_id: 151655, video_token_id: 151656,
    vision_config: { depth: 32, embed_dim: 1280, mlp_ratio: 4, num_heads: 16, in_chans: 3, hidden_size: 1536, patch_size: 14, spatial_merge_size: 2, spatial_patch_size: 14, temporal_patch_size: 2 },
  }
  t.equal(parameterCount(parseModelConfig(qwen2vl2b)), 2_208_985_600, 'Qwen2-VL-2B: 2,208,985,600')
  t.equal(parameterCount(parseModelConfig(hubConfig('qwen2-vl', '2b', 'bfloat16'))), 2_208_985_600, "init-model's 2b config")
  t.equal(parameterCount(parseModelConfig(hubConfig('qwen2-vl', 'tiny', 'float32'))), 9_877_760, 'tiny = the goldens\' qwen2vl-tiny')
  const small = parameterCount(parseModelConfig(hubConfig('qwen2-vl', 'small', 'float32')))
  t.ok(small > 90e6 && small < 110e6, `small ≈ 100M (${small})`)
  const p7 = parameterCount(parseModelConfig(hubConfig('qwen2.5-vl', '7b', 'bfloat16')))
  t.ok(p7 > 8.0e9 && p7 < 8.6e9, `Qwen2.5-VL-7B ≈ 8.3B (${p7})`)
  t.throws(() => hubConfig('qwen2-vl', '3b', 'bfloat16'), { code: 'ERR_INVALID_ARG' })
})

t.test('init-model output loads back and runs a forward', async (t) => {
  for (const arch of ['qwen2-vl', 'qwen2.5-vl'] as const) {
    const out = tmp()
    const r = await initModel({ arch, size: 'tiny', out, seed: 7 })
    for (const f of ['config.json', 'model.safetensors', 'tokenizer.json', 'tokenizer_config.json', 'preprocessor_config.json', 'generation_config.json'])
      t.ok(existsSync(join(out, f)), `${arch}: ${f}`)
    const m = await NativeModel.load(out)
    t.equal(m.info().parameters, r.parameters)
    const f = await m.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, logits: 'last', logsumexp: true })
    t.ok(f.logits!.every(Number.isFinite) && f.logsumexp!.every(Number.isFinite), `${arch}: finite logits`)
    t.same(f.ropeDeltas, meta.rope_deltas)
    // sharded init also loads
    const out2 = tmp()
    await initModel({ arch, size: 'tiny', out: out2, seed: 7, maxShardBytes: 3_000_000 })
    t.ok(existsSync(join(out2, 'model.safetensors.index.json')), 'sharded when larger than maxShardBytes')
    const m2 = await NativeModel.load(out2)
    const f2 = await m2.forward({ inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, logits: 'last' })
    t.ok(Buffer.from(f2.logits!.buffer).equals(Buffer.from(f.logits!.buffer)), 'same seed, same weights, sharded or not')
    m.dispose(), m2.dispose()
    rmSync(out, { recursive: true, force: true }), rmSync(out2, { recursive: true, force: true })
  }
})

t.test('init-model configPatch: shape changes merged key by key, the checkpoint matches them, bad patches are typed errors', async (t) => {
  const out = tmp()
  const r = await initModel({ arch: 'qwen2-vl', size: 'tiny', out, seed: 3, configPatch: { hidden_size: 96, num_hidden_layers: 3, rope_scaling: { mrope_section: [2, 5, 5] }, vision_config: { depth: 3, hidden_size: 96 } } })
  const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { hidden_size: number; num_hidden_layers: number; vision_config: { depth: number; embed_dim: number } }
  t.equal(cfg.hidden_size, 96)
  t.equal(cfg.num_hidden_layers, 3)
  t.equal(cfg.vision_config.depth, 3)
  t.equal(cfg.vision_config.embed_dim, 32, 'keys the patch does not name keep the size\'s values')
  t.same((cfg as unknown as { rope_scaling: unknown }).rope_scaling, { type: 'mrope', mrope_section: [2, 5, 5] }, 'nested objects merge key by key')
  t.equal(r.parameters, parameterCount(parseModelConfig(cfg)))
  t.ok(r.parameters > 151936 * 96, 'the embedding has the patched width')
  const m = await NativeModel.load(out)
  t.equal(m.info().parameters, r.parameters, 'the checkpoint loads with the patched shapes')
  m.dispose()
  rmSync(out, { recursive: true, force: true })
  await t.rejects(initModel({ arch: 'qwen2-vl', size: 'tiny', out: tmp(), configPatch: [1] as unknown as Record<string, unknown> }), { code: 'ERR_INVALID_ARG', message: /object for configPatch/ })
  await t.rejects(initModel({ arch: 'qwen2-vl', size: 'tiny', out: tmp(), configPatch: { hidden_size: 96 } }), { code: 'ERR_CONFIG', message: /mrope_section/ }, 'a patch the config check refuses writes nothing')
})
