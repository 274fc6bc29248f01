/**
 * Run directories for the viewer tests, written by the real trainer code (GRPOTrainer → metrics.jsonl,
 * samples.jsonl, config.json): a detection run over synthetic images written to a data folder and read
 * back by the records reader, with the in-memory fake policy of train-fake.ts whose few "tokens" decode
 * to fixed detection answers (boxes, No Objects, a malformed one), so the samples have parsed boxes at
 * known coordinates. Also a headless Chromium (Debian's /usr/bin/chromium) through playwright-core.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSyntheticSet } from '../lib/data/synthetic.js'
import { openDataset } from '../lib/data/index.js'
import { rewardSet } from '../lib/rewards/scorer.js'
import { GRPOTrainer } from '../lib/train/grpo.js'
import type { Sample } from '../lib/data/types.js'
import { FakePolicy } from './train-fake.js'

/** What the fake tokens 1..4 decode to in the detection run (0–1000 grid coordinates). */
export const DET_ANSWERS = [
  '<think>one</think><answer>[{"Position": [100, 200, 400, 500], "Confidence": 0.9}]</answer>',
  '<think>none here</think><answer>No Objects</answer>',
  '<think>two</think><answer>[{"Position": [50, 60, 300, 310], "Confidence": 0.7}, {"Position": [600, 650, 900, 950], "Confidence": 0.4}]</answer>',
  '[{"Position": [10, 20',
]

export const detDecoder = {
  async decode(ids: ArrayLike<number>): Promise<string> {
    return Array.from(ids).map((i) => DET_ANSWERS[i - 1] ?? '').join('')
  },
}

/** Write `count` synthetic detection images (size px) and a records file; returns the file and the samples as read back. */
export async function writeDetectionData(dir: string, count: number, size = 112): Promise<{ file: string; samples: Sample[] }> {
  mkdirSync(dir, { recursive: true })
  const set = await makeSyntheticSet({ task: 'detection', count, seed: 11, size })
  const lines: string[] = []
  for (const s of set) {
    const name = `${s.id}.png`
    writeFileSync(join(dir, name), (s.image as { bytes: Uint8Array }).bytes)
    lines.push(JSON.stringify({ image: name, problem: s.problem, solution: s.solution, task: 'detection' }))
  }
  const file = join(dir, 'train.jsonl')
  writeFileSync(file, lines.join('\n') + '\n')
  const ds = await openDataset(file, { task: 'detection' })
  const samples: Sample[] = []
  for (let i = 0; i < ds.length; i++) samples.push(await ds.get(i))
  return { file, samples }
}

/** A GRPO detection run of `steps` steps (2 prompts × G=4, samples every step) in `runDir`. */
export async function makeDetectionRun(runDir: string, dataDir: string, steps = 3): Promise<{ dataFile: string; samples: Sample[] }> {
  const { file, samples } = await writeDetectionData(dataDir, 4)
  const byId = new Map(samples.map((s, i) => [s.id, i]))
  const tr = new GRPOTrainer({
    policy: new FakePolicy(), decoder: detDecoder, eosTokenIds: [0], runDir, progress: false, plots: false, task: 'detection',
    encode: async (s) => ({ inputIds: Int32Array.from([100, byId.get(s.id)!, 101]), pixelValues: [new Float32Array(4)], imageGridThw: [[1, 2, 2]] }),
    train: { length: samples.length, get: (i) => samples[i]! }, rewards: rewardSet('detection'),
    config: { data: file, task: 'detection', numGenerations: 4 },
    settings: { maxSteps: steps, promptsPerStep: 2, numGenerations: 4, sampleEvery: 1, evalEvery: 0, saveEvery: 0, seed: 3 },
  })
  await tr.train()
  return { dataFile: file, samples }
}

/** Debian's Chromium, if installed (.ci/run installs it). */
export const CHROMIUM = '/usr/bin/chromium'
export const haveChromium = () => existsSync(CHROMIUM)
