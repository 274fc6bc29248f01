/**
 * Qwen3-VL end to end on the CPU: `init-model --arch qwen3-vl --size tiny` (the goldens' shapes, hub key
 * names) loads and generates; 3 GRPO steps through the training loop (`runTrain`, full fine-tuning, the
 * Qwen3-VL chat template and patch-16 preprocessing), and 3 LoRA GRPO steps through the trainer binding
 * (sampled rollouts with the prompt's DeepStack prefill, then updates: only the adapters move). Also the
 * config of every released size parses and counts its parameters without allocating (meta device).
 */
import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSyntheticSet } from '../lib/data/synthetic.js'
import type { Sample } from '../lib/data/types.js'
import { parseModelConfig } from '../lib/model/config.js'
import { hubConfig, initModel } from '../lib/model/init-model.js'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { modelBinding } from '../lib/native/model.js'
import { runTrain } from '../lib/app/commands.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { resolveTrainConfig } from '../lib/train/config.js'
import type { StepRecord } from '../lib/train/loop.js'
import { resolveTrainerSettings, trainerBinding as tb } from '../lib/train/trainer-settings.js'
import { Q3, qwen3Case } from './qwen3vl-helpers.js'
import { readNpy } from '../lib/model/npy.js'
import { tempDir } from './tmp.js'

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const dir = tempDir('vrft-qwen3vl-train-')
  const model = join(dir, 'tiny')

  t.test('released shapes: config parses, parameters counted on the meta device', async (t) => {
    // Qwen3-VL-2B / -4B / -8B-Instruct: 2.13B, 4.44B, 8.77B parameters (the hub's model cards round them)
    const want: Record<string, [number, number]> = { '2b': [2.0e9, 2.3e9], '4b': [4.3e9, 4.6e9], '8b': [8.6e9, 8.9e9] }
    for (const size of ['2b', '4b', '8b'] as const) {
      const cfg = parseModelConfig(hubConfig('qwen3-vl', size, 'bfloat16'), size)
      t.equal(cfg.arch, 'qwen3-vl')
      const n = modelBinding().modelParameterCount(cfg)
      t.ok(n >= want[size]![0] && n <= want[size]![1], `${size}: ${(n / 1e9).toFixed(3)}B parameters`)
    }
    t.throws(() => hubConfig('qwen3-vl', '3b', 'bfloat16'), { code: 'ERR_INVALID_ARG' }, '3b is not a Qwen3-VL size')
  })

  t.test('init-model --arch qwen3-vl --size tiny: the golden shapes, hub key names', async (t) => {
    const r = await initModel({ arch: 'qwen3-vl', size: 'tiny', out: model, seed: 1 })
    t.equal(r.parameters, 9949760, 'as many parameters as the golden checkpoint')
    const golden = JSON.parse(readFileSync(join(Q3, 'ckpt', 'config.json'), 'utf8'))
    const { eosTokenIds: _e, padTokenId: _p, ...ours } = r.config
    const { eosTokenIds: _ge, padTokenId: _gp, ...theirs } = parseModelConfig(golden)
    t.same(ours, theirs, 'the same flat config as the golden checkpoint (special ids aside)')
    const info = await native().checkpointInfo(model)
    t.ok(info.tensors.every((x) => x.name.startsWith('model.visual.') || x.name.startsWith('model.language_model.')), 'model.visual.* / model.language_model.*')
    t.match(JSON.parse(readFileSync(join(model, 'preprocessor_config.json'), 'utf8')), { patch_size: 16, image_mean: [0.5, 0.5, 0.5], image_std: [0.5, 0.5, 0.5] })
  })

  t.test('3 GRPO steps through the training loop (full fine-tuning)', async (t) => {
    const samples: Sample[] = await makeSyntheticSet({ task: 'classification', count: 4, seed: 1 })
    const d = join(dir, 'data')
    mkdirSync(d, { recursive: true })
    writeFileSync(join(d, 'data.jsonl'), samples.map((s, i) => {
      writeFileSync(join(d, `${i}.png`), (s.image as { bytes: Uint8Array }).bytes)
      return JSON.stringify({ image: `${i}.png`, problem: s.problem, solution: s.solution, task: s.task })
    }).join('\n') + '\n')
    // A random tiny model never writes the answer format, so the task rewards are all 0 and so would be every
    // advantage; a reward on the completion's characters (their code-unit sum mod 97) gives the samples of
    // a prompt different advantages.
    const textReward = join(dir, 'text-reward.mjs')
    writeFileSync(textReward, 'export default (completion) => [...completion].reduce((s, c) => s + c.charCodeAt(0), 0) % 97 / 97\n')
    const run = join(dir, 'run')
    const cfg = resolveTrainConfig({
      model, data: join(d, 'data.jsonl'), output: run, maxSteps: 3, promptsPerStep: 2, numGenerations: 4, maxCompletionLength: 12,
      saveEvery: 3, sampleEvery: 1, learningRate: 1e-4, maxPixels: 12544, quiet: true, device: 'cpu', tokenizer: 'builtin', reward: [textReward],
    })
    const r = await runTrain(cfg, { handleSignals: false, log: () => {} })
    t.equal(r.step, 3)
    const m = readJsonl<StepRecord>(join(run, 'metrics.jsonl'))
    t.same(m.map((x) => x.step), [1, 2, 3])
    for (const x of m) {
      t.ok(Number.isFinite(x.loss) && x.kl >= -1e-6 && x.completionLength.min >= 1, `step ${x.step}: loss ${x.loss}, kl ${x.kl}`)
      t.ok(x.gradNorm > 0 && Number.isFinite(x.gradNorm), `step ${x.step}: an update with grad norm ${x.gradNorm}`)
    }
    t.ok(m[2]!.kl > 0, 'the policy moved away from the reference')
    const s = readJsonl<{ prompt?: string; completion: string }>(join(run, 'samples.jsonl'))
    t.equal(s.length, 3 * 8, 'every completion of every step')
  })

  t.test('3 LoRA GRPO steps through the trainer binding', async (t) => {
    const meta = qwen3Case()
    const px = readNpy(join(Q3, 'cases', 'img0_noise_200x300', 'pixel_values.npy.gz')).data as Float32Array
    const h = await native().modelLoad(model, parseModelConfig(JSON.parse(readFileSync(join(model, 'config.json'), 'utf8'))), { dtype: 'float32', device: 'cpu' })
    const trainer = await tb().trainerCreate(h, resolveTrainerSettings({ lr: 1e-2, schedule: 'constant', lora: { rank: 4 } }, model))
    t.teardown(() => { tb().trainerDispose(trainer); native().modelDispose(h) })
    const params = tb().trainerParameters(trainer)
    const trainable = params.filter((p) => p.trainable).map((p) => p.name)
    t.equal(trainable.length, 2 * 7 * 2, 'A and B for the 7 projections of 2 decoder layers (vision linear_fc1/2 and qkv untouched)')
    const before = new Map(trainable.map((n) => [n, tb().trainerParameter(trainer, n)]))
    const baseBefore = tb().trainerParameter(trainer, 'model.layers.0.self_attn.q_proj.weight')
    const prompt = { inputIds: Int32Array.from(meta.input_ids as number[]), pixelValues: px, imageGridThw: meta.image_grid_thw as number[] }
    for (let step = 1; step <= 3; step++) {
      const g = await tb().trainerGenerate(trainer, {
        prompts: [prompt], maxNewTokens: 6, numGenerations: 4, temperature: 1, greedy: false, topP: 1, topK: 0, eosIds: [151645], padId: 151643, seed: step, mode: 'cache',
      })
      t.equal(g.rows, 4)
      const r = await tb().trainerStep(trainer, g.rollouts, {
        advantages: [1, -1, 0.5, -0.5], beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2,
        clipped: true, maxCompletionLength: 0, update: true, details: false,
      })
      t.equal(r.skipped, false)
      t.equal(r.step, step)
      t.ok(Number.isFinite(r.loss) && r.gradNorm > 0, `step ${step}: loss ${r.loss}, grad norm ${r.gradNorm}`)
    }
    const moved = trainable.filter((n) => n.includes('lora_B') && tb().trainerParameter(trainer, n).some((x, i) => x !== before.get(n)![i]))
    t.equal(moved.length, 14, 'every lora_B moved from zero')
    t.same(Array.from(tb().trainerParameter(trainer, 'model.layers.0.self_attn.q_proj.weight')), Array.from(baseBefore), 'the base weight stays')
  })
}
