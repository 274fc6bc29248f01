/**
 * `vrft-native serve` as a process: bad options fail fast with a clear message (no model load), and — with
 * the native addon — it serves a tiny checkpoint on a free loopback port with the API key taken from
 * VRFT_API_KEY, then drains and exits 0 on SIGTERM.
 * Run: npx tap test/serve-cli.test.ts
 */
import t from 'tap'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'
import { chatBody, dataUrl, png, post, realModelAvailable, tinyModelDir } from './serve-helpers.js'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const tsLoader = join(root, 'node_modules/@tapjs/typescript/dist/esm/import.mjs')
const cli = (args: string[], env: Record<string, string> = {}) =>
  spawn(process.execPath, [`--import=${tsLoader}`, join(root, 'lib/cli/main.ts'), 'serve', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })

t.test('bad options fail before loading anything', async (t) => {
  for (const [args, msg] of [
    [['--model', '/nonexistent', '--port', '99999'], /between 0 and 65535 for port but received 99999/],
    [['--model', '/nonexistent', '--allowed-root', '/no/such/dir'], /existing folder for allowedRoot/],
    [['--model', '/nonexistent', '--max-n', '0'], /limits\.maxN/],
    [['--model', '/nonexistent'], /No config\.json in "\/nonexistent"/],
  ] as const) {
    const p = cli([...args])
    let err = ''
    p.stderr.on('data', (d) => (err += d))
    const code = await new Promise((r) => p.on('exit', r))
    t.equal(code, 1, args.join(' '))
    t.match(err, msg)
  }
})

const real = await realModelAvailable()
t.test('serves a checkpoint, key from VRFT_API_KEY, clean exit on SIGTERM', { skip: real ? false : 'the native addon with generate is not built' }, async (t) => {
  const p = cli(['--model', await tinyModelDir(), '--port', '0'], { VRFT_API_KEY: 'from-env' })
  let err = ''
  p.stderr.on('data', (d) => (err += d))
  const exited = new Promise<number | null>((r) => p.on('exit', r))
  const url = await new Promise<string>((resolve, reject) => {
    const iv = setInterval(() => {
      const m = /on (http:\/\/127\.0\.0\.1:\d+) \(API key required/.exec(err)
      if (m) { clearInterval(iv); resolve(m[1]!) }
    }, 50)
    void exited.then((c) => { clearInterval(iv); reject(new Error(`exited ${c}: ${err}`)) })
  })
  t.equal((await fetch(`${url}/healthz`)).status, 200)
  const body = chatBody('hi', [dataUrl(await png(56, 56))], { max_tokens: 3 })
  t.equal((await post(`${url}/v1/chat/completions`, body)).status, 401)
  const ok = await post(`${url}/v1/chat/completions`, body, { authorization: 'Bearer from-env' })
  t.equal(ok.status, 200)
  t.ok(ok.json.usage.completion_tokens <= 3)
  const metrics = await (await fetch(`${url}/metrics`, { headers: { authorization: 'Bearer from-env' } })).text()
  t.match(metrics, /vrft_process_resident_memory_bytes/, 'process metrics in the CLI')
  p.kill('SIGTERM')
  t.equal(await exited, 0)
  t.match(err, /draining and shutting down/)
})
