/**
 * Issue 17 item 3 end to end through the CLI on the tiny model (the real native trainer, child processes):
 *   - `--lora-rank/--lora-alpha/--lora-targets/--gradient-checkpointing` reach the trainer, are logged at the
 *     start and saved in config.json; the checkpoint is a PEFT adapter with those settings;
 *   - `--merge-lora` saves the merged model instead, which `generate` loads back and which gives the same
 *     greedy ids as the base model with the adapter (the trainer's state loaded onto the base);
 *   - `--freeze-vision --freeze-merger` in full fine-tuning leave the vision tower and merger as they were
 *     while the decoder changes;
 *   - `--merge-lora` without `--lora-rank` is ERR_CONFIG.
 * Run: npx tap test/cli-lora.test.ts
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import sharp from 'sharp'
import { nativeAvailable, native } from '../lib/native/binding.js'
import { initModel } from '../lib/model/init-model.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import { tempDir } from './tmp.js'

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => res({ code, stdout, stderr }))
  })
}

const f32 = (r: { data: Uint8Array }) => new Float32Array(r.data.buffer.slice(r.data.byteOffset, r.data.byteOffset + r.data.byteLength))
const same = (a: Float32Array, b: Float32Array) => a.length === b.length && a.every((x, i) => x === b[i])

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const dir = tempDir('vrft-lora-cli-')
  const model = join(dir, 'base')
  await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 3 })
  const lines: string[] = []
  for (let i = 0; i < 2; i++) {
    await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 90 * i, g: 100, b: 200 } } }).png().toFile(join(dir, `${i}.png`))
    lines.push(JSON.stringify({ image: `${i}.png`, problem: 'What shape?', solution: '<answer>circle</answer>', task: 'classification' }))
  }
  writeFileSync(join(dir, 'train.jsonl'), lines.join('\n') + '\n')
  // a reward that tells completions apart (the untrained model's answers all score 0 on the task's own): a hash of the text
  writeFileSync(join(dir, 'hash.mjs'), 'export default (c) => { let h = 7; for (const ch of c) h = (h * 31 + ch.charCodeAt(0)) % 1009; return h / 1009 }\n')
  const base = ['train', '--model', model, '--data', join(dir, 'train.jsonl'), '--max-steps', '2', '--prompts-per-step', '2', '--num-generations', '2',
    '--micro-batch-size', '2', '--max-completion-length', '8', '--max-pixels', '3136', '--save-every', '0', '--sample-every', '0', '--quiet',
    '--learning-rate', '0.05', '--lr-scheduler', 'constant', '--seed', '5', '--reward', join(dir, 'hash.mjs')]
  const lora = ['--lora-rank', '4', '--lora-alpha', '8', '--lora-targets', 'q_proj', '--lora-targets', 'v_proj', '--lora-targets', 'down_proj', '--gradient-checkpointing']
  const targets = ['q_proj', 'v_proj', 'down_proj']
  const [adapterRun, mergedRun, fullRun, sftRun] = await Promise.all([
    cli([...base, ...lora, '--output', join(dir, 'adapter')]),
    cli([...base, ...lora, '--merge-lora', '--output', join(dir, 'merged')]),
    cli([...base, '--freeze-vision', '--freeze-merger', '--gradient-checkpointing', '--output', join(dir, 'full')]),
    cli(['sft', '--model', model, '--data', join(dir, 'train.jsonl'), '--max-steps', '1', '--prompts-per-step', '2', '--micro-batch-size', '2', '--max-pixels', '3136',
      '--save-every', '0', '--quiet', '--learning-rate', '0.01', ...lora, '--merge-lora', '--output', join(dir, 'sft')]),
  ])

  t.test('the LoRA flags are logged, saved and reach the trainer: a PEFT adapter', async (t) => {
    t.equal(adapterRun.code, 0, 'train with LoRA exits 0')
    if (adapterRun.code !== 0) t.comment(adapterRun.stderr.slice(-2000))
    for (const re of [/--lora-rank\s+4\n/, /--lora-alpha\s+8\n/, /--lora-targets\s+\["q_proj","v_proj","down_proj"\]/, /--gradient-checkpointing\s+true/, /--merge-lora\s+false/, /--freeze-vision\s+false/])
      t.match(adapterRun.stderr, re, `logged at the start: ${re}`)
    t.match(adapterRun.stderr, /memory plan: estimated peak [\d.]+ GiB/, 'the memory plan is logged')
    t.match(adapterRun.stderr, /reference model\s+0\.00 GiB\s+the base with the adapters off \(no copy\)/, 'LoRA: no reference copy in the plan')
    const cfg = JSON.parse(readFileSync(join(dir, 'adapter', 'config.json'), 'utf8')) as Record<string, unknown>
    t.match(cfg, { loraRank: 4, loraAlpha: 8, loraTargets: targets, gradientCheckpointing: true, mergeLora: false })
    const ad = join(dir, 'adapter', 'checkpoint-2', 'model')
    t.match(JSON.parse(readFileSync(join(ad, 'adapter_config.json'), 'utf8')), { peft_type: 'LORA', r: 4, lora_alpha: 8, target_modules: targets })
    const hdr = await native().safetensorsHeader(join(ad, 'adapter_model.safetensors'))
    t.equal(hdr.tensors.length, 2 * 2 * targets.length, 'A and B of 3 targets in 2 layers')
    t.notOk(existsSync(join(ad, 'model.safetensors')), 'no full model in an adapter checkpoint')
  })

  t.test('--merge-lora: the merged model loads in generate with the greedy ids of base + adapter', async (t) => {
    t.equal(mergedRun.code, 0, 'train --merge-lora exits 0')
    if (mergedRun.code !== 0) t.comment(mergedRun.stderr.slice(-2000))
    const merged = join(dir, 'merged', 'checkpoint-2', 'model')
    t.ok(existsSync(join(merged, 'config.json')) && existsSync(join(merged, 'tokenizer.json')), 'a complete model folder')
    t.notOk(existsSync(join(merged, 'adapter_config.json')), 'not an adapter')
    const gen = async (m: string) => {
      const r = await cli(['generate', '--model', m, '--prompt', 'What shape is it?', '--max-new-tokens', '12', '--json'])
      t.equal(r.code, 0, `generate --model ${m} exits 0`)
      if (r.code !== 0) t.comment(r.stderr.slice(-1500))
      return JSON.parse(r.stdout.trim().split('\n').at(-1)!) as { promptIds: number[]; samples: Array<{ ids: number[]; logprobs: number[] }> }
    }
    const [fromMerged, fromBase] = await Promise.all([gen(merged), gen(model)])
    // base + adapter: the base model with LoRA adapters set from the adapter run's saved trainer state
    const policy = await NativePolicy.create({ modelDir: model, device: 'cpu', dtype: 'float32', train: { lora: { rank: 4, alpha: 8, targets } } })
    t.teardown(() => policy.dispose())
    await policy.loadState(join(dir, 'adapter', 'checkpoint-2', 'state'))
    const adapterFile = join(dir, 'adapter', 'checkpoint-2', 'model', 'adapter_model.safetensors')
    const names = native().trainerParameters(policy.trainer).filter((p) => p.trainable).map((p) => p.name)
    t.equal(names.length, 12)
    let equal = 0
    for (const n of names) if (same(native().trainerParameter(policy.trainer, n), f32(await native().safetensorsReadTensor(adapterFile, n, 'F32')))) equal++
    t.equal(equal, names.length, 'the PEFT adapter file holds exactly the adapters of the loaded state')
    let nonzeroB = 0
    for (const n of names.filter((x) => x.endsWith('lora_B.weight'))) if (native().trainerParameter(policy.trainer, n).some((x) => x !== 0)) nonzeroB++
    t.equal(nonzeroB, 6, 'training moved every B off its zero init (the adapter changes the model)')
    const r = await policy.generate([{ inputIds: Int32Array.from(fromMerged.promptIds), pixelValues: [], imageGridThw: [] }],
      { numGenerations: 1, maxNewTokens: 12, temperature: 0, topP: 1, topK: 0, eosTokenIds: [151645, 151643] })
    const adapterIds = [...r.completions[0]!.tokens]
    t.same(fromMerged.samples[0]!.ids, adapterIds, `merged model (generate CLI) = base + adapter: ${JSON.stringify(adapterIds)}`)
    t.comment(`base model alone: ${JSON.stringify(fromBase.samples[0]!.ids)} (${JSON.stringify(fromBase.samples[0]!.ids) === JSON.stringify(adapterIds) ? 'same' : 'different'} greedy ids)`)
    // the log-probs of those tokens: merged = base + adapter (float32 rounding), and both differ from the base's
    const lpAdapter = [...r.completions[0]!.logprobs]
    const lpMerged = fromMerged.samples[0]!.logprobs
    const diff = (a: number[], b: number[]) => Math.max(...a.map((x, i) => Math.abs(x - b[i]!)))
    t.ok(diff(lpMerged, lpAdapter) < 1e-3, `log-probs: merged vs base + adapter differ by ${diff(lpMerged, lpAdapter).toExponential(2)} at most`)
    const n = Math.min(fromBase.samples[0]!.ids.length, adapterIds.length)
    let firstDiff = 0
    while (firstDiff < n && fromBase.samples[0]!.ids[firstDiff] === adapterIds[firstDiff]) firstDiff++
    if (firstDiff > 0) {
      const d = diff(fromBase.samples[0]!.logprobs.slice(0, firstDiff), lpAdapter.slice(0, firstDiff))
      t.ok(d > 1e-3, `and the adapter moved the base's log-probs of the shared tokens (by up to ${d.toExponential(2)})`)
    }
    // the merged weights differ from the base's in an adapted layer, and equal them in a layer without adapters
    const q = 'model.layers.0.self_attn.q_proj.weight'
    const k = 'model.layers.0.self_attn.k_proj.weight'
    const read = async (d: string, n: string) => f32(await native().safetensorsReadTensor(join(d, 'model.safetensors'), n, 'F32'))
    t.notOk(same(await read(merged, q), await read(model, q)), `${q} merged with its adapter`)
    t.ok(same(await read(merged, k), await read(model, k)), `${k} (not a target) unchanged`)
  })

  t.test('--freeze-vision --freeze-merger: vision tower and merger unchanged, the decoder trained', async (t) => {
    t.equal(fullRun.code, 0, 'full fine-tuning exits 0')
    if (fullRun.code !== 0) t.comment(fullRun.stderr.slice(-2000))
    t.match(fullRun.stderr, /--freeze-vision\s+true/)
    t.match(fullRun.stderr, /--freeze-merger\s+true/)
    t.match(fullRun.stderr, /trainable state .*\(vision tower frozen\) \(merger frozen\)/, 'the plan counts only the decoder as trainable')
    const out = join(dir, 'full', 'checkpoint-2', 'model', 'model.safetensors')
    const info = await native().checkpointInfo(join(dir, 'full', 'checkpoint-2', 'model'))
    let vision = 0
    let merger = 0
    let decoderChanged = 0
    let decoder = 0
    for (const x of info.tensors) {
      const a = f32(await native().safetensorsReadTensor(out, x.name, 'F32'))
      const b = f32(await native().safetensorsReadTensor(join(model, 'model.safetensors'), x.name, 'F32'))
      if (x.name.startsWith('visual.merger.')) merger += same(a, b) ? 0 : 1
      else if (x.name.startsWith('visual.')) vision += same(a, b) ? 0 : 1
      else if (/layers\.\d+\.mlp\./.test(x.name)) (decoder++, (decoderChanged += same(a, b) ? 0 : 1))
    }
    t.equal(vision, 0, 'no vision tensor changed')
    t.equal(merger, 0, 'no merger tensor changed')
    t.equal(decoderChanged, decoder, `every decoder MLP tensor changed (${decoderChanged}/${decoder})`)
  })

  t.test('sft: the same LoRA flags, merged on save', async (t) => {
    t.equal(sftRun.code, 0, 'sft --lora-rank 4 --merge-lora exits 0')
    if (sftRun.code !== 0) t.comment(sftRun.stderr.slice(-2000))
    t.match(sftRun.stderr, /--lora-rank\s+4\n/)
    t.match(sftRun.stderr, /--merge-lora\s+true/)
    t.match(sftRun.stderr, /memory plan: estimated peak/)
    const out = join(dir, 'sft', 'checkpoint-1', 'model')
    t.notOk(existsSync(join(out, 'adapter_config.json')), 'a merged model, not an adapter')
    const q = 'model.layers.1.mlp.down_proj.weight'
    const read = async (d: string) => f32(await native().safetensorsReadTensor(join(d, 'model.safetensors'), q, 'F32'))
    t.notOk(same(await read(out), await read(model)), `${q} merged with its trained adapter`)
  })

  t.test('--merge-lora without --lora-rank is ERR_CONFIG', async (t) => {
    const r = await cli([...base, '--merge-lora', '--output', join(dir, 'x')])
    t.equal(r.code, 1)
    t.match(r.stderr, /Invalid option --merge-lora \(from flag --merge-lora\): expected false without LoRA \(merging needs --lora-rank > 0\) but received true \[ERR_CONFIG\]/)
  })
}
