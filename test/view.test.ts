/**
 * `vrft-native view`: the server's API over a detection run written by the real trainer code (fake
 * policy, see view-helpers.ts) — runs, samples grouped and parsed like the rewards, filters, the image
 * guard (recorded and under the run or data folder, else 403/404) — and the page in headless Chromium
 * (Debian's chromium through playwright-core): curves drawn with the right number of points, the sample
 * image loaded with the ground-truth and predicted boxes at the right pixels, a step appended to
 * metrics.jsonl appearing without a reload; then a real tiny demo run (native addon) with its GRPO and
 * SFT sub-runs overlaid and its summary. Run: npx tap test/view.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawn } from 'node:child_process'
import { appendFileSync, mkdirSync, readFileSync, renameSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { readJsonl } from '../lib/train/checkpoint.js'
import { VIEW_DEFAULTS, createViewServer } from '../lib/view/server.js'
import { discoverRuns, flattenMetrics, JsonlTail } from '../lib/view/runs.js'
import type { ViewGroup } from '../lib/view/samples.js'
import { detectionTruth } from '../lib/rewards/rewards.js'
import { nativeAvailable, native } from '../lib/native/binding.js'
import { CHROMIUM, DET_ANSWERS, haveChromium, makeDetectionRun } from './view-helpers.js'

// The page functions below run in Chromium, where these globals exist.
declare const window: any
declare const document: any

const root = tempDir('vrft-view-')
const run = join(root, 'run')
const data = join(root, 'data')
const made = makeDetectionRun(run, data, 3)

t.test('discoverRuns, flattenMetrics and JsonlTail', async (t) => {
  await made
  t.same(discoverRuns([run]).map((r) => r.name), [run])
  const readme = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8')
  t.match(readme, `[--port ${VIEW_DEFAULTS.port}] [--host ${VIEW_DEFAULTS.host}] [--poll-ms ${VIEW_DEFAULTS.pollMs}]`, 'the README states the defaults of the code')
  t.throws(() => discoverRuns([join(root, 'nope')]), { code: 'ERR_RUN_DIR' })
  t.throws(() => discoverRuns([data]), { code: 'ERR_RUN_DIR' }, 'a folder without run files is refused')
  t.same(flattenMetrics({ step: 1, position: 2, indices: [1], time: 'x', reward: { mean: 0.5, std: 0.1 }, kl: 0.01, skippedUpdate: false }), { 'reward.mean': 0.5, 'reward.std': 0.1, kl: 0.01 })
  const f = join(root, 'tail.jsonl')
  writeFileSync(f, '{"a":1}\n{"a":')
  const tail = new JsonlTail(f)
  t.same(tail.poll(), { reset: false, added: [{ a: 1 }] }, 'a torn last line waits')
  appendFileSync(f, '2}\n{"a":"é')
  t.same(tail.poll().added, [{ a: 2 }])
  appendFileSync(f, '"}\n')
  t.same(tail.poll().added, [{ a: 'é' }])
  writeFileSync(f + '.new', '{"a":9}\n')
  renameSync(f + '.new', f)
  t.same(tail.poll(), { reset: true, added: [{ a: 9 }] }, 'a rewritten file starts over')
})

t.test('API: runs, samples parsed like the rewards, filters, image guard', async (t) => {
  const { samples } = await made
  const v = createViewServer({ runs: [run], port: 0 })
  t.teardown(() => v.close())
  const url = await v.listen()
  const get = async (p: string) => fetch(url + p)
  const runs = (await (await get('/api/runs')).json()) as Array<{ name: string; steps: number; config: { data: string } }>
  t.equal(runs.length, 1)
  t.equal(runs[0]!.steps, 3)
  t.equal(runs[0]!.config.data, join(data, 'train.jsonl'))

  const lines = readJsonl<{ step: number; promptId: string; completion: string; image: string; solution: string; total: number }>(join(run, 'samples.jsonl'))
  t.equal(lines.length, 3 * 2 * 4, 'every step logged: 2 prompts × G=4')
  t.ok(lines.every((l) => l.image.startsWith(data + '/')), 'samples.jsonl records the image path')
  const body = (await (await get('/api/runs/0/samples')).json()) as { steps: number[]; step: number; groups: ViewGroup[] }
  t.same(body.steps, [1, 2, 3])
  t.equal(body.step, 3, 'the latest step by default')
  t.equal(body.groups.length, 2)
  for (const g of body.groups) {
    const s = samples.find((x) => x.id === g.promptId)!
    t.same(g.truth.boxes, detectionTruth(s), `ground truth of ${g.promptId}`)
    t.same(g.frame, { width: 1000, height: 1000, kind: 'grid1000' })
    t.equal(g.completions.length, 4)
    for (const c of g.completions) {
      const k = DET_ANSWERS.indexOf(c.completion)
      t.ok(k >= 0, 'a known answer')
      const want = [
        { kind: 'boxes', boxes: [{ box: [100, 200, 400, 500], confidence: 0.9 }], truncated: false },
        { kind: 'none' },
        { kind: 'boxes', boxes: [{ box: [50, 60, 300, 310], confidence: 0.7 }, { box: [600, 650, 900, 950], confidence: 0.4 }], truncated: false },
        { kind: 'malformed', reason: 'no <answer> tag' },
      ][k]
      t.same(c.prediction, want)
      t.equal(c.formatOk, k !== 3)
    }
  }
  const failed = (await (await get('/api/runs/0/samples?step=1&formatFailed=1')).json()) as { groups: ViewGroup[] }
  const nFailed = lines.filter((l) => l.step === 1 && l.completion === DET_ANSWERS[3]).length
  t.equal(failed.groups.flatMap((g) => g.completions).length, nFailed, 'format-failed filter')
  t.ok(failed.groups.flatMap((g) => g.completions).every((c) => !c.formatOk))
  const hi = (await (await get('/api/runs/0/samples?step=2&minReward=1.5')).json()) as { groups: ViewGroup[] }
  t.same(hi.groups.flatMap((g) => g.completions.map((c) => c.total)).sort(), lines.filter((l) => l.step === 2 && l.total >= 1.5).map((l) => l.total).sort(), 'reward filter')
  t.equal((await get('/api/runs/0/samples?minReward=abc')).status, 400)
  t.equal((await get('/api/runs/7/samples')).status, 404)

  // Images: recorded and under the data folder → served; anything else → 404 / 403.
  const img = await get(`/api/runs/0/image?path=${encodeURIComponent(lines[0]!.image)}`)
  t.equal(img.status, 200)
  t.equal(img.headers.get('content-type'), 'image/png')
  t.same(Buffer.from(await img.arrayBuffer()), readFileSync(lines[0]!.image))
  for (const p of ['/etc/passwd', join(data, 'train.jsonl'), '../data/train.jsonl', join(run, 'metrics.jsonl'), '']) {
    t.equal((await get(`/api/runs/0/image?path=${encodeURIComponent(p)}`)).status, 404, `not recorded: ${p}`)
  }
  const outside = tempDir('vrft-outside-')
  await sharp({ create: { width: 8, height: 8, channels: 3, background: '#f00' } }).png().toFile(join(outside, 'secret.png'))
  mkdirSync(join(run, 'images'), { recursive: true })
  symlinkSync(join(outside, 'secret.png'), join(run, 'images', 'link.png'))
  const extra = (image: string) => JSON.stringify({ step: 99, promptId: 'x', index: 0, completion: '', rewards: {}, total: 0, advantage: 0, image }) + '\n'
  appendFileSync(join(run, 'samples.jsonl'), extra(join(outside, 'secret.png')) + extra('images/link.png') + extra(join(data, 'train.jsonl')))
  v.poll()
  t.equal((await get(`/api/runs/0/image?path=${encodeURIComponent(join(outside, 'secret.png'))}`)).status, 403, 'recorded but outside the run and data folders')
  t.equal((await get('/api/runs/0/image?path=images%2Flink.png')).status, 403, 'a symlink inside the run pointing outside')
  t.equal((await get(`/api/runs/0/image?path=${encodeURIComponent(join(data, 'train.jsonl'))}`)).status, 403, 'not an image')
  // Server-sent events: the snapshot, then new metrics lines, then a reset when the log is rewritten.
  const events = await get('/api/events')
  t.match(events.headers.get('content-type'), /text\/event-stream/)
  const reader = events.body!.getReader()
  let buffered = ''
  const next = async (): Promise<{ event: string; data: any }> => {
    for (;;) {
      const end = buffered.indexOf('\n\n')
      if (end >= 0) {
        const block = buffered.slice(0, end)
        buffered = buffered.slice(end + 2)
        const ev = /^event: (.*)$/m.exec(block)
        const data = /^data: (.*)$/m.exec(block)
        if (ev && data) return { event: ev[1]!, data: JSON.parse(data[1]!) }
        continue
      }
      const r = await reader.read()
      if (r.done) throw new Error('event stream ended')
      buffered += Buffer.from(r.value).toString('utf8')
    }
  }
  const snap = await next()
  t.equal(snap.event, 'snapshot')
  t.same(snap.data[0].metrics.map((p: { step: number }) => p.step), [1, 2, 3])
  const metricsFile = join(run, 'metrics.jsonl')
  const original = readFileSync(metricsFile, 'utf8')
  appendFileSync(metricsFile, JSON.stringify({ step: 4, kl: 0.5, reward: { mean: 1 } }) + '\n')
  v.poll()
  t.same(await next(), { event: 'metrics', data: { run: 0, points: [{ step: 4, values: { kl: 0.5, 'reward.mean': 1 } }] } })
  writeFileSync(metricsFile + '.tmp', original.split('\n').slice(0, 1).join('\n') + '\n')
  renameSync(metricsFile + '.tmp', metricsFile)
  v.poll()
  const reset = await next()
  t.equal(reset.event, 'reset')
  t.same(reset.data.metrics.map((p: { step: number }) => p.step), [1], 'a rewritten log (resume) sends the run again')
  writeFileSync(metricsFile, original)
  v.poll()
  await reader.cancel()

  t.equal((await get('/vendor/uplot.js')).status, 200)
  t.equal((await get('/vendor/..%2F..%2Fpackage.json')).status, 404)
  t.equal((await get('/assets/../../package.json')).status, 404)
  // Leave samples.jsonl as the trainer wrote it for the browser test.
  writeFileSync(join(run, 'samples.jsonl'), lines.map((l) => JSON.stringify(l) + '\n').join(''))
})

t.test('CLI: view RUN --port 0 prints the URL, serves, stops on SIGINT', async (t) => {
  await made
  const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const main = join(import.meta.dirname, '..', 'lib/cli/main.ts')
  const child = spawn(process.execPath, [...tsImport, main, 'view', run, '--port', '0'], { env: { ...process.env, NODE_OPTIONS: '' } })
  let stderr = ''
  child.stderr.on('data', (d: Buffer) => { stderr += d })
  const url = await new Promise<string>((res, rej) => {
    let out = ''
    child.stdout.on('data', (d: Buffer) => { out += d; const m = /^(http:\/\/127\.0\.0\.1:\d+)$/m.exec(out); if (m) res(m[1]!) })
    child.on('close', () => rej(new Error(`view exited: ${stderr}`)))
  })
  const runs = (await (await fetch(url + '/api/runs')).json()) as Array<{ name: string }>
  t.same(runs.map((r) => r.name), [run])
  t.match(await (await fetch(url + '/')).text(), /vrft-native view/)
  const code = await new Promise<number | null>((res) => { child.on('close', res); child.kill('SIGINT') })
  t.equal(code, 0, 'exit 0 after SIGINT')
})

if (!haveChromium()) {
  t.test('page in Chromium', { skip: `${CHROMIUM} is missing (apt-get install chromium; .ci/run installs it)` }, async () => {})
} else {
  t.test('page in Chromium: curves, boxes at the right pixels, a new step without reload', async (t) => {
    const { samples } = await made
    const { chromium } = await import('playwright-core')
    const v = createViewServer({ runs: [run], port: 0, pollMs: 100 })
    const url = await v.listen()
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
    t.teardown(async () => { await browser.close(); await v.close() })
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    const errors: string[] = []
    page.on('pageerror', (e) => errors.push(String(e)))
    await page.goto(url)
    await page.waitForFunction(() => window.vrftView?.charts.get('kl')?.u.data[0].length === 3, undefined, { timeout: 15000 })
    const metrics = readJsonl<{ step: number; kl: number; reward: { mean: number } }>(join(run, 'metrics.jsonl'))
    const kl = await page.evaluate(() => window.vrftView.charts.get('kl').u.data as number[][])
    t.same(kl, [[1, 2, 3], metrics.map((m) => m.kl)], 'KL chart: one point per step, the logged values')
    const reward = await page.evaluate(() => window.vrftView.charts.get('reward').series.map((s: { path: string }) => s.path))
    t.same(reward.sort(), ['reward.mean', 'rewards.confidence.mean', 'rewards.format.mean', 'rewards.iou.mean'], 'reward total and each component in one chart')
    const keys = await page.evaluate(() => [...window.vrftView.charts.keys()])
    for (const k of ['loss', 'clipFraction', 'gradNorm', 'lr', 'completionLength']) t.ok(keys.includes(k), `chart ${k}`)
    // The canvas has ink: count pixels that are neither transparent nor white.
    const ink = await page.evaluate(() => {
      const c = document.querySelector('.chart[data-key="kl"] canvas') as any
      const d = c.getContext('2d')!.getImageData(0, 0, c.width, c.height).data
      let n = 0
      for (let i = 0; i < d.length; i += 4) if (d[i + 3]! > 0 && (d[i]! < 200 || d[i + 1]! < 200 || d[i + 2]! < 200)) n++
      return n
    })
    t.ok(ink > 200, `the KL canvas is drawn on (${ink} inked pixels)`)

    // Samples of the latest step: the image loads, boxes sit at x · 112 / 1000 in image pixels.
    await page.waitForSelector('.figure[data-drawn="1"]', { timeout: 15000 })
    const figs = await page.evaluate(() => [...document.querySelectorAll('.group')].map((g) => {
      const img = g.querySelector('img') as any
      const ib = img.getBoundingClientRect()
      const rects = [...g.querySelectorAll('rect')].map((r) => {
        const b = r.getBoundingClientRect()
        return {
          cls: r.getAttribute('class'), completion: r.getAttribute('data-completion'),
          attr: ['x', 'y', 'width', 'height'].map((a) => Number(r.getAttribute(a))),
          screen: [b.left - ib.left, b.top - ib.top, b.width, b.height],
        }
      })
      return { prompt: g.getAttribute('data-prompt'), natural: [img.naturalWidth, img.naturalHeight], shown: [ib.width, ib.height], rects, rows: [...g.querySelectorAll('tr[data-index]')].map((r) => ({ index: r.getAttribute('data-index'), text: r.querySelector('pre')!.textContent })) }
    }))
    t.equal(figs.length, 2)
    let predicted = 0
    for (const f of figs) {
      t.same(f.natural, [112, 112], 'the image loaded')
      const s = samples.find((x) => x.id === f.prompt)!
      const k = 112 / 1000
      const gt = f.rects.filter((r) => r.cls === 'gt')
      t.same(gt.map((r) => r.attr.map((x) => Math.round(x * 1000) / 1000)), detectionTruth(s).map((b) => [b[0] * k, b[1] * k, (b[2] - b[0]) * k, (b[3] - b[1]) * k].map((x) => Math.round(x * 1000) / 1000)), 'ground-truth boxes in image pixels')
      const scale = f.shown[0]! / 112
      for (const r of gt) r.screen.forEach((v, i) => t.ok(Math.abs(v - r.attr[i]! * scale) < 2.5, `on screen where the image pixel is (${v} vs ${r.attr[i]! * scale})`))
      // Each completion's parsed boxes, in image pixels: answer 0 has one box, answer 2 two, the others none.
      const expected = [[[100, 200, 400, 500]], [], [[50, 60, 300, 310], [600, 650, 900, 950]], []]
      for (const { index: c, text } of f.rows) {
        const mine = f.rects.filter((r) => r.cls === 'pred' && r.completion === c).map((r) => r.attr.map((x) => Math.round(x * 1000) / 1000))
        const want = expected[DET_ANSWERS.indexOf(text!)]!.map((b) => [b[0]! * k, b[1]! * k, (b[2]! - b[0]!) * k, (b[3]! - b[1]!) * k].map((x) => Math.round(x * 1000) / 1000))
        t.same(mine, want, `completion ${c}: its parsed boxes at image pixels`)
        predicted += mine.length
      }
    }

    t.ok(predicted > 0, `predicted boxes were drawn (${predicted})`)

    // Zoom: drag across the KL chart narrows its step range.
    const over = (await page.locator('.chart[data-key="kl"] .u-over').boundingBox())!
    await page.mouse.move(over.x + over.width * 0.45, over.y + over.height / 2)
    await page.mouse.down()
    await page.mouse.move(over.x + over.width * 0.98, over.y + over.height / 2, { steps: 5 })
    await page.mouse.up()
    const zoom = await page.evaluate(() => { const c = window.vrftView.charts.get('kl'); return { min: c.u.scales.x.min, max: c.u.scales.x.max, zoomed: c.zoomed } })
    t.ok(zoom.zoomed && zoom.min > 1.5 && zoom.max <= 3, `dragging zooms into steps ${zoom.min.toFixed(2)}–${zoom.max.toFixed(2)}`)

    // Live: a new step appended to metrics.jsonl shows up without a reload (and the zoom stays).
    await page.evaluate(() => { window.notReloaded = true })
    const next = { ...metrics[2]!, step: 4, kl: 0.123, time: new Date().toISOString() }
    appendFileSync(join(run, 'metrics.jsonl'), JSON.stringify(next) + '\n')
    await page.waitForFunction(() => window.vrftView.charts.get('kl').u.data[0].length === 4, undefined, { timeout: 10000 })
    t.same(await page.evaluate(() => window.vrftView.charts.get('kl').u.data[1][3]), 0.123)
    t.equal(await page.evaluate(() => window.notReloaded), true, 'same page, no reload')
    t.equal(await page.evaluate(() => window.vrftView.charts.get('kl').u.scales.x.min), zoom.min, 'the zoom survives the update')
    await page.dblclick('.chart[data-key="kl"] .u-over')
    t.same(await page.evaluate(() => { const u = window.vrftView.charts.get('kl').u; return [u.scales.x.min, u.scales.x.max] }), [1, 4], 'double-click shows every step again')
    // New samples of step 4 appear in the step list and, following the latest step, on the page.
    const last = readJsonl<Record<string, unknown>>(join(run, 'samples.jsonl')).filter((l) => l.step === 3)
    appendFileSync(join(run, 'samples.jsonl'), last.map((l) => JSON.stringify({ ...l, step: 4 }) + '\n').join(''))
    await page.waitForFunction(() => document.querySelector('.group h3')?.textContent?.startsWith('step 4'), undefined, { timeout: 10000 })
    t.ok(await page.evaluate(() => [...document.querySelectorAll('#sample-step option')].some((o) => (o as any).value === '4')))
    // A request for a file outside the run from the page is refused.
    t.equal(await page.evaluate(async () => (await fetch('/api/runs/0/image?path=%2Fetc%2Fpasswd')).status), 404)
    if (process.env.VRFT_VIEW_SCREENSHOT) await page.screenshot({ path: process.env.VRFT_VIEW_SCREENSHOT, fullPage: true })
    t.same(errors, [], 'no script errors')
  })
}

const canNative = nativeAvailable() && typeof (native() as unknown as Record<string, unknown>).modelWriteRandom === 'function'
if (!haveChromium() || !canNative) {
  t.test('a real tiny demo run in the browser', { skip: 'needs the native addon (with modelWriteRandom) and Chromium' }, async () => {})
} else {
  t.test('a real tiny demo run: GRPO and SFT sub-runs overlaid, summary, sample image', async (t) => {
    const { runBuiltin } = await import('../lib/app/builtin.js')
    const { chromium } = await import('playwright-core')
    const out = join(root, 'demo')
    const settings = {
      cacheDir: tempDir('vrft-view-cache-'), output: out, quiet: true, warmStartImages: 4, warmStartSteps: 1, warmStartPromptsPerStep: 4,
      shots: 1, testImages: 2, maxSteps: 3, evalEvery: 3, promptsPerStep: 2, numGenerations: 2, maxCompletionLength: 8,
    }
    const t0 = performance.now()
    await runBuiltin({ handleSignals: false, log: () => {}, flags: { task: 'classification' }, settings: settings as never })
    t.comment(`tiny demo: ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const v = createViewServer({ runs: [out], port: 0 })
    const url = await v.listen()
    t.same(v.runs.map((r) => r.name), [`${out}/grpo`, `${out}/sft`], 'the demo folder stands for its sub-runs')
    const browser = await chromium.launch({ executablePath: CHROMIUM, args: ['--no-sandbox', '--disable-gpu'] })
    t.teardown(async () => { await browser.close(); await v.close() })
    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } })
    await page.goto(url)
    await page.waitForFunction(() => window.vrftView?.charts.get('loss')?.u.data[0].length === 3, undefined, { timeout: 15000 })
    const loss = await page.evaluate(() => window.vrftView.charts.get('loss'))
    t.same(loss.series.map((s: { runId: number }) => s.runId).sort(), [0, 1], 'GRPO and SFT loss overlaid')
    const data = await page.evaluate(() => window.vrftView.charts.get('loss').u.data as Array<Array<number | null>>)
    t.same(data.slice(1).map((ys) => ys.filter((y) => y !== null).length), [3, 3], 'three points per run')
    const ev = await page.evaluate(() => window.vrftView.charts.get('eval').u.data[0])
    t.same(ev, readJsonl<{ step: number }>(join(out, 'grpo', 'eval.jsonl')).map((e) => e.step), 'evaluation points at the eval steps')
    await page.waitForSelector('.figure[data-drawn="1"]', { timeout: 15000 })
    t.same(await page.evaluate(() => { const i = document.querySelector('.figure img') as any; return [i.naturalWidth, i.naturalHeight] }), [112, 112], 'the in-memory demo image, saved in the run, loads')
    const summary = await page.evaluate(() => document.querySelector('.run table.summary')?.textContent ?? '')
    t.match(summary, /warmStart.*grpo.*sft.*accuracy/s, 'the before/after summary of the classification demo is shown')
  })
}
