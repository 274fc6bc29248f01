/**
 * `--dtype bfloat16` reaches the native model in every command that loads one — train, sft, eval, generate
 * and serve — end to end on a tiny init-model checkpoint (bfloat16 on disk, so it is also mapped): each
 * child process runs with VRFT_TRACE_LOAD=1, and the native side's own report of its weights' dtype
 * (lib/native/model.ts traceModelLoad: modelInfo of the loaded handle) must say bfloat16; the same command
 * with --dtype float32 reports float32 (the trace tells the two apart). Data: the sharded fixture data set
 * in test/fixtures/parquet (HF_HOME), as in test/cli-data.test.ts. Run: npx tap test/cli-bf16.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawn } from 'node:child_process'
import { join, resolve } from 'node:path'
import { initModel } from '../lib/model/init-model.js'
import { goldenImage } from './generate-helpers.js'

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
const dir = tempDir('vrft-cli-bf16-')
const env = { HF_HOME: join(root, 'test/fixtures/parquet'), HOME: join(dir, 'home'), VRFT_TRACE_LOAD: '1', NODE_OPTIONS: '', VRFT_DEBUG: '' }
const model = join(dir, 'model')
await initModel({ arch: 'qwen2-vl', size: 'tiny', out: model, seed: 5, dtype: 'bfloat16' })

interface Run { code: number | null; stdout: string; stderr: string }
/** Runs the CLI; `until` (a stderr pattern) ends a long-running command (serve) with SIGTERM once it appears. */
function cli(args: string[], until?: RegExp): Promise<Run> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = '', stderr = ''
    const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => {
      stderr += d
      if (until && until.test(stderr)) child.kill('SIGTERM')
    })
    child.on('close', (code) => { clearTimeout(timer); res({ code, stdout, stderr }) })
  })
}
const loaded = (r: Run) => [...r.stderr.matchAll(/\[vrft\] model loaded: .* dtype=(\w+) device=cpu/g)].map((m) => m[1])

const data = ['--data', 'vrft-fixtures/shapes-det', '--task', 'detection', '--max-pixels', '3136']
const commands: Array<[string, (dtype: string) => string[], RegExp?]> = [
  ['train', (d) => ['train', '--model', model, ...data, '--output', join(dir, `train-${d}`), '--max-steps', '1', '--prompts-per-step', '1', '--num-generations', '2',
    '--max-completion-length', '4', '--save-every', '0', '--eval-every', '0', '--quiet', '--dtype', d]],
  ['sft', (d) => ['sft', '--model', model, ...data, '--output', join(dir, `sft-${d}`), '--max-steps', '1', '--save-every', '0', '--quiet', '--dtype', d]],
  ['eval', (d) => ['eval', '--model', model, ...data, '--split', 'test', '--max-new-tokens', '4', '--json', '--dtype', d]],
  ['generate', (d) => ['generate', '--model', model, '--image', goldenImage('img0_noise_200x300'), '--prompt', 'What is this?', '--max-new-tokens', '4', '--temperature', '0', '--json', '--dtype', d]],
  ['serve', (d) => ['serve', '--model', model, '--port', '0', '--dtype', d], /model loaded: .*\n/],
]

for (const [name, args, until] of commands) {
  t.test(`${name} --dtype bfloat16 loads the native model in bfloat16`, async (t) => {
    const bf = await cli(args('bfloat16'), until)
    if (!until && bf.code !== 0) t.comment(bf.stderr.slice(-3000))
    if (!until) t.equal(bf.code, 0, 'exit code 0')
    t.ok(loaded(bf).length >= 1, 'the model load is traced')
    t.ok(loaded(bf).every((d) => d === 'bfloat16'), `every model in bfloat16 (${loaded(bf).join(', ')})`)
    const f32 = await cli(args('float32'), until)
    t.ok(loaded(f32).length >= 1 && loaded(f32).every((d) => d === 'float32'), `--dtype float32: float32 (${loaded(f32).join(', ')})`)
  })
}
