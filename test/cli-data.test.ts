/**
 * `--data Org/Name` at the command line: `vrft-native train` runs 2 steps on the train split of the sharded
 * fixture data set found in a Hugging Face cache (HF_HOME → test/fixtures/parquet, which holds `hub/`),
 * evaluating on its test split (--eval-data by name), and `vrft-native eval` scores the test split from the
 * name alone. A missing data set or split, and a corrupt parquet file, are one coded line (no stack trace).
 * The policy is the in-memory fake of test/train-fake.ts (VRFT_POLICY_MODULE) as in test/cli-train.test.ts,
 * so no addon is needed. Run: npx tap test/cli-data.test.ts
 */
import { tempDir } from './tmp.js'
import t, { type Test } from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { readJsonl } from '../lib/train/checkpoint.js'
import { hubConfig } from '../lib/model/init-model.js'
import { defaultTokenizerPath } from '../lib/model/tokenizer.js'

const root = resolve(import.meta.dirname, '..')
const FIX = join(root, 'test/fixtures/parquet')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
const dir = tempDir('vrft-cli-data-')
const env = { HF_HOME: FIX, HOME: join(dir, 'home'), VRFT_POLICY_MODULE: join(root, 'test/train-fake.ts') }

interface Run { code: number | null; stdout: string; stderr: string }
function cli(args: string[]): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], {
      cwd: root, env: { ...process.env, ...env, NODE_OPTIONS: '', VRFT_DEBUG: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => res({ code, stdout, stderr }))
  })
}

const model = join(dir, 'model')
mkdirSync(model)
writeFileSync(join(model, 'config.json'), JSON.stringify(hubConfig('qwen2-vl', 'tiny', 'float32'))) // read by the model loader
writeFileSync(join(model, 'tokenizer.json'), readFileSync(defaultTokenizerPath())) // a model folder ships its tokenizer
const noStack = (t: Test, r: Run): void => { t.notMatch(r.stderr, /\n\s+at /, 'no stack trace') }

t.test('train: 2 steps on --data Org/Name, evaluated on --eval-data Org/Name --eval-split test', async (t) => {
  const run = join(dir, 'run')
  const r = await cli(['train', '--model', model, '--data', 'vrft-fixtures/shapes-det', '--eval-data', 'vrft-fixtures/shapes-det', '--eval-split', 'test',
    '--task', 'detection', '--output', run, '--max-steps', '2', '--prompts-per-step', '2', '--num-generations', '2', '--save-every', '0',
    '--eval-every', '2', '--max-pixels', '3136', '--quiet'])
  if (r.code !== 0) t.comment(r.stderr.slice(-3000))
  t.equal(r.code, 0, 'exit code 0')
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>
  t.match(cfg, { data: 'vrft-fixtures/shapes-det', split: 'train', evalData: 'vrft-fixtures/shapes-det', evalSplit: 'test', task: 'detection' })
  t.same(readJsonl<{ step: number }>(join(run, 'metrics.jsonl')).map((x) => x.step), [1, 2], 'two steps')
  const evals = readJsonl<{ step: number; report: { task: string; samples: number } }>(join(run, 'eval.jsonl'))
  t.same(evals.map((e) => e.step), [0, 2], 'evaluated before and after')
  t.same(evals.map((e) => [e.report.task, e.report.samples]), [['detection', 2], ['detection', 2]], 'on the 2 rows of the test split')
})

t.test('eval: scores the test split from the name alone', async (t) => {
  const out = join(dir, 'eval.json')
  const r = await cli(['eval', '--model', model, '--data', 'vrft-fixtures/shapes-det', '--task', 'detection', '--max-new-tokens', '4', '--max-pixels', '3136', '--json', '--output', out])
  if (r.code !== 0) t.comment(r.stderr.slice(-3000))
  t.equal(r.code, 0, 'exit code 0')
  const rows = readFileSync(out.replace(/\.json$/, '.completions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { id: string })
  t.equal(rows.length, 2, 'the 2 rows of the test split')
  t.ok(rows.every((x) => x.id.includes('/data/test-00000-of-00001.parquet#')), 'read from the test shard')
  const report = JSON.parse(readFileSync(out, 'utf8')) as { task: string; samples: number; AP: number }
  t.match(report, { task: 'detection', samples: 2 }, 'a detection report of the 2 rows')
  t.ok(Number.isFinite(report.AP), 'with an AP')
  t.same(JSON.parse(r.stdout.trim().split('\n').pop()!), report, 'the printed report is the written one')
})

t.test('a missing data set, a missing split and a corrupt file are one coded line', async (t) => {
  const a = await cli(['eval', '--model', model, '--data', 'vrft-fixtures/missing'])
  t.equal(a.code, 1)
  t.match(a.stderr, /^vrft-native: Data "vrft-fixtures\/missing" not found \(nothing is downloaded\)\. Looked in: .*datasets--vrft-fixtures--missing.* \[ERR_DATA_NOT_FOUND\]\n$/)
  noStack(t, a)
  const b = await cli(['train', '--model', model, '--data', 'vrft-fixtures/shapes-det', '--split', 'validation', '--task', 'detection', '--output', join(dir, 'r2')])
  t.equal(b.code, 1)
  t.match(b.stderr, /split "validation".*found only the split\(s\) test, train \(pass --split\) \[ERR_DATA_OPEN\]/)
  noStack(t, b)
  const bad = join(dir, 'corrupt.parquet')
  const buf = readFileSync(join(FIX, 'zstd.parquet'))
  buf.fill(0x55, 200, 1200)
  writeFileSync(bad, buf)
  const c = await cli(['eval', '--model', model, '--data', bad, '--task', 'detection', '--max-new-tokens', '4', '--max-pixels', '3136'])
  t.equal(c.code, 1)
  t.match(c.stderr, /corrupt\.parquet: column image: could not decode rows 0–7 \(.*\) \[ERR_DATA_PARQUET\]/)
  noStack(t, c)
})
