/**
 * GRPO end to end on the real native policy and a tiny Qwen2-VL (init-model): 3 steps per task type
 * (classification, detection, grounding) through `runTrain` with data files, checking metrics.jsonl,
 * samples.jsonl, eval.jsonl, the charts and the checkpoint files; then a resume continues at step 3.
 * Needs the addon with the trainer bindings; without them it says so and skips. Run: VRFT_NATIVE_ADDON=/work/main/build-x/Release/vrft_native.node npx tap test/train-native.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { makeSyntheticSet } from '../lib/data/synthetic.js'
import type { Sample } from '../lib/data/types.js'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { groundingPrompt, groundingSolution } from '../lib/prompts/index.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { runTrain } from '../lib/app/commands.js'
import { resolveTrainConfig } from '../lib/train/config.js'
import type { StepRecord } from '../lib/train/loop.js'
import { createTinyModel } from '../lib/app/tiny.js'

const why = !nativeAvailable()
  ? 'the native addon is not built'
  : typeof (native() as unknown as Record<string, unknown>).trainerCreate !== 'function'
    ? 'the addon has no trainer bindings yet'
    : undefined

if (why) {
  t.comment(`SKIPPED: ${why}`)
  t.test('native GRPO end to end', { skip: why }, async () => {})
} else {
  const dir = tempDir('vrft-native-train-')
  const model = join(dir, 'tiny')

  async function writeSet(name: string, samples: Sample[]): Promise<string> {
    const d = join(dir, name)
    mkdirSync(d, { recursive: true })
    const lines: string[] = []
    for (const [i, s] of samples.entries()) {
      writeFileSync(join(d, `${i}.png`), (s.image as { bytes: Uint8Array }).bytes)
      lines.push(JSON.stringify({ image: `${i}.png`, problem: s.problem, solution: s.solution, task: s.task }))
    }
    writeFileSync(join(d, 'data.jsonl'), lines.join('\n') + '\n')
    return join(d, 'data.jsonl')
  }

  t.before(async () => {
    await createTinyModel(model, 0)
  })

  const sets: Record<string, () => Promise<Sample[]>> = {
    classification: () => makeSyntheticSet({ task: 'classification', count: 6, seed: 1 }),
    detection: () => makeSyntheticSet({ task: 'detection', count: 6, seed: 2 }),
    grounding: async () => (await makeSyntheticSet({ task: 'detection', count: 12, seed: 3 }))
      .filter((s) => s.boxes!.length === 1).slice(0, 6)
      .map((s) => ({ ...s, task: 'grounding' as const, problem: groundingPrompt(`Where is the ${s.category}?`), solution: groundingSolution(s.boxes![0]!) })),
  }

  for (const [task, make] of Object.entries(sets)) {
    t.test(`${task}: 3 GRPO steps on the tiny model`, async (t) => {
      const samples = await make()
      const train = await writeSet(`${task}-train`, samples.slice(0, 4))
      const evalData = await writeSet(`${task}-eval`, samples.slice(4, 6))
      const run = join(dir, `run-${task}`)
      const cfg = resolveTrainConfig({
        model, data: train, evalData, output: run, maxSteps: 3, promptsPerStep: 2, numGenerations: 4, maxCompletionLength: 12,
        saveEvery: 2, evalEvery: 3, sampleEvery: 1, learningRate: 1e-4, maxPixels: 12544, quiet: true, device: 'cpu',
      })
      const r = await runTrain(cfg, { handleSignals: false, log: () => {} })
      t.equal(r.step, 3)
      const m = readJsonl<StepRecord>(join(run, 'metrics.jsonl'))
      t.same(m.map((x) => x.step), [1, 2, 3])
      for (const x of m) {
        t.ok(Number.isFinite(x.loss) && Number.isFinite(x.kl) && x.kl >= -1e-6, `step ${x.step}: finite loss ${x.loss}, kl ${x.kl}`)
        t.ok(x.completionLength.max <= 12 && x.completionLength.min >= 1)
        t.ok(x.seconds.generation > 0 && x.seconds.update > 0)
        t.ok(Object.keys(x.rewards).includes('format'))
        t.equal(x.lr > 0, true)
      }
      const s = readJsonl<{ step: number; completion: string; rewards: Record<string, number> }>(join(run, 'samples.jsonl'))
      t.equal(s.length, 3 * 8, 'every completion of every step (sampleEvery 1)')
      t.ok(s.every((x) => typeof x.completion === 'string'))
      const ev = readJsonl<{ step: number; score: number }>(join(run, 'eval.jsonl'))
      t.same(ev.map((e) => e.step), [0, 3])
      for (const p of ['reward', 'kl', 'length', 'loss', 'eval']) t.equal((await sharp(join(run, 'plots', `${p}.png`)).metadata()).format, 'png', `${p}.png`)
      t.equal(readFileSync(join(run, 'latest'), 'utf8').trim(), 'checkpoint-3')
      const ck = join(run, 'checkpoint-3')
      t.ok(existsSync(join(ck, 'model', 'config.json')))
      t.ok(readdirSync(join(ck, 'model')).some((f) => f.endsWith('.safetensors')))
      t.ok(readdirSync(join(ck, 'state')).length > 0)
      t.match(JSON.parse(readFileSync(join(ck, 'trainer_state.json'), 'utf8')), { kind: 'grpo', step: 3, position: 6 })
      t.ok(existsSync(join(run, 'checkpoint-2')), 'periodic checkpoint kept (keep 2)')
      if (task === 'classification') {
        // Resume to 4 steps: continues at step 3 with the saved data position.
        const r2 = await runTrain(resolveTrainConfig({ ...cfg, maxSteps: 4, resume: true }), { handleSignals: false, log: () => {} })
        t.equal(r2.step, 4)
        const m2 = readJsonl<StepRecord>(join(run, 'metrics.jsonl'))
        t.same(m2.map((x) => x.step), [1, 2, 3, 4])
        t.equal(m2[3]!.position, 8)
      }
    })
  }
}
