/**
 * Issue 24 items 7 and 8, through the CLI as a child process (the training policy is the in-memory fake of
 * test/train-fake.ts, so no addon is needed):
 *   - a flag that takes one value, given twice, is ERR_CONFIG naming it (yargs used to sum numbers:
 *     `--max-steps 3 --max-steps 1` ran 4 steps), for every command; array flags repeat;
 *   - `--on-data-error skip` and `--reward-errors skip` work as the README says;
 *   - a model folder without tokenizer.json is ERR_TOKENIZER_MISSING unless `--tokenizer builtin`, which warns;
 *   - every flag in the README's tables is in some command's --help, with the README's default.
 * Run: npx tap test/cli-flags.test.ts
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import sharp from 'sharp'
import { checkRepeatedFlags } from '../lib/cli/flags.js'
import { resolveModelTokenizer } from '../lib/model/tokenizer.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { tempDir } from './tmp.js'
import { hubConfig } from '../lib/model/init-model.js'

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

function cli(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], {
      cwd: root, env: { ...process.env, ...env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => res({ code, stdout, stderr }))
  })
}

t.test('a repeated one-value flag is ERR_CONFIG naming it, for every command', async (t) => {
  const cases: Array<[string[], string, string]> = [
    [['train', '--max-steps', '3', '--max-steps', '1'], 'max-steps', '"3", "1"'],
    [['sft', '--learning-rate=1e-5', '--learningRate', '2e-5'], 'learning-rate', '"1e-5", "2e-5"'],
    [['train', '--quiet', '--no-quiet'], 'quiet', '"true", "false"'],
    [['serve', '--model', 'x', '--port', '1', '--port', '2'], 'port', '"1", "2"'],
    [['generate', '--model', 'x', '--prompt', 'a', '--max-new-tokens', '1', '--max-new-tokens', '2'], 'max-new-tokens', '"1", "2"'],
    [['eval', '--data', 'd.jsonl', '--limit', '1', '--limit', '2'], 'limit', '"1", "2"'],
  ]
  await Promise.all(cases.map(async ([args, flag, values]) => {
    const r = await cli(args)
    t.equal(r.code, 1, `${args.join(' ')}: exit 1`)
    t.match(r.stderr, `Invalid option --${flag}: expected it once but it was given 2 times (${values}); give it once [ERR_CONFIG]`, flag)
  }))
  // array options repeat; the table decides, whatever the spelling
  const table = { array: ['reward', 'classes'], boolean: ['quiet'], key: { reward: true, classes: true, quiet: true, 'max-steps': true, help: true }, alias: { help: ['h'] } }
  t.doesNotThrow(() => checkRepeatedFlags(['--reward', 'a.js', '--reward', 'b.js', '--classes', 'x', '--classes=y'], table))
  t.doesNotThrow(() => checkRepeatedFlags(['--max-steps', '3', '--', '--max-steps', '1'], table), 'nothing after --')
  t.throws(() => checkRepeatedFlags(['--maxSteps', '3', '--max-steps=1'], table), { code: 'ERR_CONFIG', message: /--max-steps/ })
  t.throws(() => checkRepeatedFlags(['-h', '--help'], table), { code: 'ERR_CONFIG', message: /--help/ })
})

async function fakeRunSetup(withTokenizer: boolean) {
  const dir = tempDir('vrft-flags-')
  const model = join(dir, 'model')
  mkdirSync(model)
  writeFileSync(join(model, 'config.json'), JSON.stringify(hubConfig('qwen2-vl', 'tiny', 'float32'))) // read by the model loader
  if (withTokenizer) writeFileSync(join(model, 'tokenizer.json'), readFileSync(resolveModelTokenizer(model, 'builtin', () => {})))
  const lines: string[] = []
  for (let i = 0; i < 4; i++) {
    await sharp({ create: { width: 56, height: 56, channels: 3, background: { r: 60 * i, g: 100, b: 200 } } }).png().toFile(join(dir, `${i}.png`))
    lines.push(JSON.stringify({ image: `${i}.png`, problem: 'What shape?', solution: '<answer>circle</answer>', task: 'classification' }))
  }
  lines.splice(2, 0, '{"image": "0.png", "problem": broken')
  writeFileSync(join(dir, 'train.jsonl'), lines.join('\n') + '\n')
  writeFileSync(join(dir, 'flaky.mjs'), 'export default () => { throw new Error("flaky reward") }\n')
  const base = ['train', '--model', model, '--data', join(dir, 'train.jsonl'), '--max-steps', '2', '--prompts-per-step', '2', '--num-generations', '4',
    '--save-every', '0', '--max-pixels', '3136', '--reward', join(dir, 'flaky.mjs'), '--quiet']
  return { dir, model, base }
}
const env = { VRFT_POLICY_MODULE: join(root, 'test/train-fake.ts') }

t.test('--on-data-error skip and --reward-errors skip', async (t) => {
  const { dir, base } = await fakeRunSetup(true)
  const strict = await cli([...base, '--output', join(dir, 'a')], env)
  t.equal(strict.code, 1, 'default: a malformed record stops the run')
  t.match(strict.stderr, /train\.jsonl:3: expected a JSON record .*\[ERR_DATA_JSONL\]/)
  const noSkipRewards = await cli([...base, '--output', join(dir, 'b'), '--on-data-error', 'skip'], env)
  t.equal(noSkipRewards.code, 1, 'default: a throwing reward stops the run')
  t.match(noSkipRewards.stderr, /flaky reward.*\[ERR_REWARD\]/)
  const r = await cli([...base, '--output', join(dir, 'c'), '--on-data-error', 'skip', '--reward-errors', 'skip'], env)
  t.equal(r.code, 0, 'both skipped: the run finishes')
  if (r.code !== 0) t.comment(r.stderr.slice(-1500))
  t.match(r.stderr, /--on-data-error skip: skipped 1 malformed record\(s\) of .*train\.jsonl \(first: .*train\.jsonl:3/)
  const metrics = readJsonl<{ step: number; rewardErrors: number }>(join(dir, 'c', 'metrics.jsonl'))
  t.same(metrics.map((m) => m.step), [1, 2])
  t.ok(metrics.some((m) => m.rewardErrors > 0), `reward errors counted (${metrics.map((m) => m.rewardErrors).join(', ')})`)
  const cfg = JSON.parse(readFileSync(join(dir, 'c', 'config.json'), 'utf8')) as Record<string, unknown>
  t.match(cfg, { onDataError: 'skip', rewardErrors: 'skip' })
  const bad = await cli([...base, '--on-data-error', 'ignore'], env)
  t.equal(bad.code, 2)
  t.match(bad.stderr, /Invalid values:[\s\S]*on-data-error[\s\S]*"throw", "skip"/)
})

t.test('no tokenizer.json: ERR_TOKENIZER_MISSING unless --tokenizer builtin (with a warning)', async (t) => {
  const { dir, model, base } = await fakeRunSetup(false)
  const args = [...base, '--on-data-error', 'skip', '--reward-errors', 'skip']
  const r = await cli([...args, '--output', join(dir, 'a')], env)
  t.equal(r.code, 1)
  t.match(r.stderr, `No tokenizer.json in model folder ${JSON.stringify(model)}`)
  t.match(r.stderr, /--tokenizer builtin to use the bundled Qwen tokenizer \[ERR_TOKENIZER_MISSING\]/)
  const b = await cli([...args, '--output', join(dir, 'b'), '--tokenizer', 'builtin'], env)
  t.equal(b.code, 0, 'explicit opt-in: runs')
  t.match(b.stderr, /Warning: vrft-native: using the bundled Qwen tokenizer .* as asked \(--tokenizer builtin\)/)
  t.throws(() => resolveModelTokenizer(model), { code: 'ERR_TOKENIZER_MISSING' })
  const warned: string[] = []
  t.match(resolveModelTokenizer(model, 'builtin', (m) => warned.push(m)), /tokenizer\.json$/)
  t.equal(warned.length, 1)
  const g = await cli(['generate', '--model', model, '--prompt', 'hi'])
  t.equal(g.code, 1)
  t.match(g.stderr, /\[ERR_TOKENIZER_MISSING\]/, 'generate: the same rule')
})

t.test("every flag in the README's tables is in --help, with the README's default", async (t) => {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const commands = ['train', 'sft', 'eval', 'generate', 'serve', 'init-model', 'inspect', 'plot', 'view', 'doctor']
  const helps = await Promise.all(commands.map(async (c) => [c, (await cli([c, '--help'])).stdout] as const))
  const all = helps.map(([, h]) => h).join('\n')
  const rows = readme.split('\n').filter((l) => l.startsWith('|'))
  // (a flag followed by '_' is another program's, e.g. torchrun's --max_restarts in the multi-node table)
  const flags = new Set(rows.flatMap((l) => [...l.matchAll(/`(--[a-z][a-z0-9-]*)(?![a-z0-9_])/g)].map((m) => m[1]!)))
  t.ok(flags.size > 55, `${flags.size} flags in the README's tables`)
  for (const f of flags) t.ok(new RegExp(`${f}(?![a-z-])`).test(all), `${f} is in some command's --help`)
  // rows `| --flag | default | ...`: the help of the command that has the flag shows the same default
  let checked = 0
  for (const l of rows) {
    const m = /^\| `(--[a-z0-9-]+)` \| ([^|]+?) \|/.exec(l)
    if (!m || !/^["\d]/.test(m[2]!)) continue
    const [, flag, value] = m
    const owner = helps.find(([, h]) => new RegExp(`${flag}(?![a-z-])`).test(h))
    if (!owner) continue
    const line = owner[1].slice(owner[1].search(new RegExp(`${flag}(?![a-z-])`))).split(/\n {1,8}(?:-\w, )?--/)[0]!.replace(/\s+/g, ' ')
    const want = value!.replace(/^"(.*)"$/, '$1').replaceAll('`', '')
    const shown = /\[default: "?([^"\]]+)"?\]/.exec(line)?.[1]
    t.ok(shown !== undefined && (shown === want || Number(shown) === Number(want)), `${flag}: README ${value}, ${owner[0]} --help ${shown}`)
    checked++
  }
  t.ok(checked > 50, `${checked} defaults compared`)
})
