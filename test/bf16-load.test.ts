// Loading a bfloat16 checkpoint for bfloat16 compute maps it instead of copying it (native/model/weights.cpp):
//   - peak RSS during the load of a ~100M-parameter sharded bf16 checkpoint and a first forward (which makes
//     the weights resident) stays within 1.15 × the file size (a child process reading VmHWM), while a float32 load of the same files needs the converted copy
//     (>= 2 × the file size: the measurement can tell the two apart);
//   - the mapped model computes exactly what a converted copy computes (bf16 from a bf16 file vs bf16 from
//     the float32 file: identical logits);
//   - training a mapped model (full fine-tuning, an AdamW step) changes the parameters, never the file
//     (the map is private, copy-on-write), and its float32 master weights are what the step updated.
import { tempDir } from './tmp.js'
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../lib/native/binding.js'
import { parseModelConfig } from '../lib/model/config.js'
import { hubConfig } from '../lib/model/init-model.js'
import { NativeModel } from '../lib/model/native-model.js'
import { resolveTrainerSettings, trainerBinding } from '../lib/train/trainer-settings.js'
import { IMAGES, flat, pixelValues, readMeta, unpackCheckpoint } from './model-helpers.js'

const n = native()
const worker = join(import.meta.dirname ?? new URL('.', import.meta.url).pathname, 'load-rss-worker.mjs')

t.test('a bf16 checkpoint loaded for bf16 is mapped: peak RSS <= 1.15 x file size (sharded, ~100M parameters)', async (t) => {
  const dir = tempDir('vrft-bf16-load-')
  const config = parseModelConfig(hubConfig('qwen2-vl', 'small', 'bfloat16'))
  await n.modelWriteRandom(dir, config, { seed: 3, dtype: 'bfloat16', maxShardBytes: 64e6 })
  t.ok(readdirSync(dir).includes('model.safetensors.index.json'), 'sharded (model.safetensors.index.json)')
  const cfgPath = join(dir, 'flat-config.json')
  writeFileSync(cfgPath, JSON.stringify(config))
  const run = (dtype: string) => JSON.parse(execFileSync(process.execPath, [worker, dir, cfgPath, dtype], { encoding: 'utf8' }).trim()) as
    { fileBytes: number; growth: number; reset: boolean }
  const bf = run('bfloat16')
  t.comment(`bf16 load: file ${(bf.fileBytes / 2 ** 20).toFixed(0)} MiB, peak RSS growth ${(bf.growth / 2 ** 20).toFixed(0)} MiB (${(bf.growth / bf.fileBytes).toFixed(2)}x); VmHWM reset: ${bf.reset}`)
  t.ok(bf.fileBytes > 150e6, `a mid-size checkpoint (${bf.fileBytes} bytes)`)
  t.ok(bf.growth <= 1.15 * bf.fileBytes, `bf16 -> bf16: peak RSS growth ${(bf.growth / bf.fileBytes).toFixed(2)} x file size <= 1.15`)
  const f32 = run('float32')
  t.comment(`float32 load of the same files: peak RSS growth ${(f32.growth / 2 ** 20).toFixed(0)} MiB (${(f32.growth / f32.fileBytes).toFixed(2)}x)`)
  t.ok(f32.growth >= 2 * f32.fileBytes, `bf16 -> float32 (a converted copy): growth ${(f32.growth / f32.fileBytes).toFixed(2)} x >= 2 (the measurement sees a copy)`)
})

t.test('the mapped bf16 model computes what a converted bf16 copy computes', async (t) => {
  const f32dir = unpackCheckpoint('qwen2vl-tiny')
  const meta = readMeta('qwen2vl-tiny', IMAGES[0])
  const input = { inputIds: flat(meta.input_ids), batch: 1, pixelValues: pixelValues(IMAGES[0]).data as Float32Array, imageGridThw: flat(meta.image_grid_thw), logits: 'last' as const }
  // the same weights stored as bf16 (round to nearest even, as the load's conversion does)
  const bfdir = unpackCheckpoint('qwen2vl-tiny')
  const file = join(f32dir, 'model.safetensors')
  const h = await n.safetensorsHeader(file)
  const tensors = await Promise.all(h.tensors.map(async (e) => ({ ...(await n.safetensorsReadTensor(file, e.name, 'BF16')), name: e.name })))
  t.ok(tensors.every((x) => x.dtype === 'BF16'), 'converted to BF16')
  await n.safetensorsWrite(join(bfdir, 'model.safetensors'), tensors)
  const mapped = await NativeModel.load(bfdir, { dtype: 'bfloat16' })
  const copied = await NativeModel.load(f32dir, { dtype: 'bfloat16' })
  t.equal(mapped.info().dtype, 'bfloat16')
  const a = (await mapped.forward(input)).logits!, b = (await copied.forward(input)).logits!
  t.ok(a.every(Number.isFinite), 'finite logits')
  t.ok(Buffer.from(a.buffer).equals(Buffer.from(b.buffer)), 'identical logits: mapped bf16 file vs bf16 converted from float32')
  mapped.dispose(), copied.dispose()
})

t.test('training a mapped model updates the parameters, never the file', async (t) => {
  const dir = unpackCheckpoint('qwen2vl-tiny')
  const file = join(dir, 'model.safetensors')
  const h = await n.safetensorsHeader(file)
  const tensors = await Promise.all(h.tensors.map(async (e) => ({ ...(await n.safetensorsReadTensor(file, e.name, 'BF16')), name: e.name })))
  await n.safetensorsWrite(file, tensors)
  const sha = () => createHash('sha256').update(readFileSync(file)).digest('hex')
  const before = sha()
  const cfg = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')))
  const model = await n.modelLoad(dir, cfg, { dtype: 'bfloat16', device: 'cpu' })
  const tb = trainerBinding()
  const tr = await tb.trainerCreate(model, resolveTrainerSettings({ lr: 1e-2, reference: false }, dir))
  const name = 'model.layers.0.mlp.down_proj.weight'
  const p0 = Float32Array.from(tb.trainerParameter(tr, name))
  const batch = {
    prompts: [{ inputIds: Int32Array.from([151644, 8948, 198, 2610, 525]) }],
    rollouts: [0, 1].map((r) => ({ prompt: 0, tokens: Int32Array.from([10 + r, 20, 30 + r, 40]), advantage: r ? 1 : -1 })),
  }
  const rep = await tb.trainerGrpoStep(tr, batch, { beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: true, details: false })
  t.notOk(rep.skipped, 'the step ran')
  const p1 = tb.trainerParameter(tr, name)
  let moved = 0
  for (let i = 0; i < p1.length; i++) if (p1[i] !== p0[i]) moved++
  t.ok(moved > p1.length / 2, `the parameter moved (${moved} of ${p1.length} entries)`)
  t.equal(sha(), before, 'the checkpoint file is unchanged (private copy-on-write map)')
  tb.trainerDispose(tr)
  n.modelDispose(model)
  const again = await n.modelLoad(dir, cfg, { dtype: 'bfloat16', device: 'cpu' })
  t.ok(again, 'loads again from the untouched file')
  n.modelDispose(again)
})
