/**
 * The training CLI as a child process: --help documents every option with its default, a bad option is
 * ERR_CONFIG (exit 1) naming option/expected/received, SIGINT during `train` finishes the step, saves a
 * checkpoint and exits 0, and `plot RUN` writes PNGs. The policy is the in-memory fake of
 * test/train-fake.ts (VRFT_POLICY_MODULE), so no addon is needed. Run: npx tap test/cli-train.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import sharp from 'sharp'
import { readJsonl } from '../lib/train/checkpoint.js'
import { hubConfig } from '../lib/model/init-model.js'

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
const tmp = () => tempDir('vrft-cli-')

interface Run { code: number | null; signal: string | null; stdout: string; stderr: string }

function cli(args: string[], opts: { env?: Record<string, string>; onStderr?: (text: string, child: ReturnType<typeof spawn>) => void; cwd?: string } = {}): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], {
      cwd: opts.cwd ?? root, env: { ...process.env, ...opts.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d; opts.onStderr?.(stderr, child) })
    child.on('close', (code, signal) => res({ code, signal, stdout, stderr }))
  })
}

t.test('--help documents every option with its default', async (t) => {
  const r = await cli(['train', '--help'])
  t.equal(r.code, 0)
  for (const f of ['--num-generations', '--temperature', '--max-completion-length', '--beta', '--learning-rate', '--weight-decay', '--lr-scheduler',
    '--max-grad-norm', '--prompts-per-step', '--max-pixels', '--min-pixels', '--max-prompt-length', '--num-iterations', '--epsilon', '--loss-type',
    '--importance-sampling-level', '--dynamic-sampling', '--max-sampling-rounds', '--mask-truncated-completions', '--overlong-buffer', '--overlong-penalty',
    '--reward-normalization', '--top-entropy-quantile', '--rollout-correction', '--tis-cap',
    '--config', '--model', '--data', '--resume', '--save-every', '--output']) t.match(r.stdout, f, f)
  t.match(r.stdout, /completions per prompt \(G\) \[default: 8\]/)
  t.match(r.stdout, /KL coefficient β[^[]*\[default:\s+0\.04\]/)  // (the help may wrap before the default)
})

t.test('a bad option is ERR_CONFIG naming option, expected and received', async (t) => {
  const r = await cli(['train', '--beta', '-1', '--model', '/nonexistent'])
  t.equal(r.code, 1)
  t.match(r.stderr, /Invalid option --beta \(from flag --beta\): expected a number >= 0 but received -1 \[ERR_CONFIG\]/)
  const u = await cli(['train', '--betta', '1'])
  t.equal(u.code, 2, 'unknown flags are rejected by strict()')
  t.match(u.stderr, /Unknown argument: betta/)
})

t.test('the built-in demo (no --model, no --data) refuses an option it would ignore, from a flag or a config file', async (t) => {
  const r = await cli(['train', '--lora-rank', '8'])
  t.equal(r.code, 1)
  t.match(r.stderr, /The built-in demo \(no --model and no --data\) uses only --task, --output, --quiet, --seed, [^;]*; received --lora-rank, which applies to training a given --model on given --data \[ERR_CONFIG\]/)
  const dir = tmp()
  writeFileSync(join(dir, 'run.yaml'), 'max-steps: 2\nloss-type: dapo\nsave-every: 5\n')
  const c = await cli(['train', '--config', join(dir, 'run.yaml'), '--seed', '3'])
  t.equal(c.code, 1)
  t.match(c.stderr, /received --save-every, which applies to training/)
  t.notMatch(c.stderr, /received[^\n]*--(max-steps|seed|loss-type)/, 'options the demo uses are not named')
})

t.test('--epsilon 1.5 is rejected by the schema, naming --epsilon', async (t) => {
  const r = await cli(['train', '--epsilon', '1.5', '--model', '/nonexistent', '--data', '/nonexistent.jsonl'])
  t.equal(r.code, 1)
  t.match(r.stderr, /Invalid option --epsilon \(from flag --epsilon\): expected a number <= 1 but received 1\.5 \[ERR_CONFIG\]/)
  t.notMatch(r.stderr, /epsilonLow/)
})

t.test('SIGINT during train: the step finishes, a checkpoint is saved, exit code 0; then plot', async (t) => {
  const dir = tmp()
  const model = join(dir, 'model')
  mkdirSync(model)
  writeFileSync(join(model, 'config.json'), JSON.stringify(hubConfig('qwen2-vl', 'tiny', 'float32'))) // read by the model loader
  const lines: string[] = []
  for (let i = 0; i < 4; i++) {
    await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 60 * i, g: 100, b: 200 } } }).png().toFile(join(dir, `${i}.png`))
    lines.push(JSON.stringify({ image: `${i}.png`, problem: 'What shape?', solution: '<answer>circle</answer>', task: 'classification' }))
  }
  writeFileSync(join(dir, 'train.jsonl'), lines.join('\n') + '\n')
  const run = join(dir, 'run')
  let sent = false
  const r = await cli(['train', '--model', model, '--tokenizer', 'builtin', '--data', join(dir, 'train.jsonl'), '--output', run, '--max-steps', '100', '--prompts-per-step', '2',
    '--num-generations', '2', '--save-every', '0', '--max-pixels', '3136'], {
    env: { VRFT_POLICY_MODULE: join(root, 'test/train-fake.ts'), FAKE_DELAY_MS: '300' },
    onStderr: (text, child) => {
      if (!sent && /step 2\/100/.test(text)) { sent = true; child.kill('SIGINT') }
    },
  })
  t.ok(sent, 'saw step 2')
  t.equal(r.code, 0, 'exit code 0')
  if (r.code !== 0) t.comment(r.stderr.slice(-2000))
  t.match(r.stderr, /SIGINT received: finishing the current step/)
  t.match(r.stderr, /resolved configuration \(saved to config\.json\)/)
  const latest = readFileSync(join(run, 'latest'), 'utf8').trim()
  const state = JSON.parse(readFileSync(join(run, latest, 'trainer_state.json'), 'utf8')) as { step: number; position: number }
  t.ok(state.step >= 2 && state.step < 100, `stopped at step ${state.step}`)
  t.equal(state.position, state.step * 2)
  t.same(readJsonl<{ step: number }>(join(run, 'metrics.jsonl')).map((x) => x.step), Array.from({ length: state.step }, (_, i) => i + 1))
  const cfg = JSON.parse(readFileSync(join(run, 'config.json'), 'utf8')) as Record<string, unknown>
  t.match(cfg, { numGenerations: 2, beta: 0.04, maxPixels: 3136, task: 'classification' })
  t.ok(existsSync(join(run, 'plots', 'reward.png')), 'charts written at the end')
  t.match(JSON.parse(r.stdout.trim().split('\n').pop()!), { stopped: true, step: state.step })

  const p = await cli(['plot', run])
  t.equal(p.code, 0, 'plot exit code 0')
  const files = p.stdout.trim().split('\n')
  t.ok(files.some((f) => f.endsWith('kl.png')))
  for (const f of files) t.equal((await sharp(f).metadata()).format, 'png')
})
