// `vrft-native train --nproc 2`: the launcher spawns two ranks over Gloo on loopback; each takes its half
// of every step's prompts, metrics are averaged, rank 0 alone writes the run directory; exit code 0.
// A bad option combination (--prompts-per-step not divisible by the ranks) is a clear error.
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { makeSyntheticSet } from '../lib/data/synthetic.js'
import { createTinyModel } from '../lib/app/tiny.js'

const cli = join(import.meta.dirname, '..', 'lib', 'cli', 'main.ts')
const dir = tempDir('vrft-dist-cli-')

t.test('train --nproc 2 runs two data-parallel ranks end to end', async (t) => {
  const model = join(dir, 'tiny')
  await createTinyModel(model, 0)
  const d = join(dir, 'data')
  mkdirSync(d, { recursive: true })
  const samples = await makeSyntheticSet({ task: 'classification', count: 8, seed: 1 })
  writeFileSync(join(d, 'data.jsonl'), samples.map((s, i) => {
    writeFileSync(join(d, `${i}.png`), (s.image as { bytes: Uint8Array }).bytes)
    return JSON.stringify({ image: `${i}.png`, problem: s.problem, solution: s.solution, task: s.task })
  }).join('\n') + '\n')
  const out = join(dir, 'run')
  const argsFor = (pps: string, output: string) => ['train', '--model', model, '--data', join(d, 'data.jsonl'), '--output', output, '--nproc', '2', '--max-steps', '2',
    '--prompts-per-step', pps, '--num-generations', '2', '--max-completion-length', '4', '--micro-batch-size', '4',
    '--save-every', '0', '--check-every', '1', '--quiet']
  const args = argsFor('2', out)
  const r = spawnSync(process.execPath, [...process.execArgv, cli, ...args], { encoding: 'utf8', timeout: 240000, env: { ...process.env, VRFT_NUM_THREADS: '1' } })
  t.equal(r.status, 0, r.stderr.slice(-3000))
  t.match(r.stderr, /launching 2 data-parallel ranks/)
  t.match(r.stderr, /rank 1 of 2 joined/)
  const metrics = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { step: number })
  t.same(metrics.map((m) => m.step), [1, 2], 'rank 0 alone wrote one line per step')
  t.ok(existsSync(join(out, 'config.json')))
  t.ok(readdirSync(out).some((f) => f.startsWith('checkpoint-2')), 'final checkpoint written')
  // resume the 2-rank run on 1 rank for one more step: checkpoints do not depend on the number of ranks
  const again = spawnSync(process.execPath, [...process.execArgv, cli, 'train', '--model', model, '--data', join(d, 'data.jsonl'), '--output', out,
    '--resume', '--max-steps', '3', '--prompts-per-step', '2', '--num-generations', '2', '--max-completion-length', '4', '--micro-batch-size', '4',
    '--save-every', '0', '--quiet'], { encoding: 'utf8', timeout: 240000 })
  t.equal(again.status, 0, again.stderr.slice(-2000))
  t.match(again.stderr, /resuming from .*checkpoint-2/)
  const after = readFileSync(join(out, 'metrics.jsonl'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { step: number }).step)
  t.same(after, [1, 2, 3], 'step 3 continues the 2-rank run on 1 rank')
  const bad = spawnSync(process.execPath, [...process.execArgv, cli, ...argsFor('3', join(dir, 'bad'))], { encoding: 'utf8', timeout: 240000 })
  t.not(bad.status, 0)
  t.match(bad.stderr, /prompts-per-step: expected a multiple of the number of ranks \(2\) but received 3/)
})
