/**
 * The benchmark suite's own checks: the synthetic inputs and the FLOP model the roofline figures rest on,
 * and `bench/run.ts --quick` on the suites that need no model (limits, rewards, tokenizer) printing a
 * table and then one line of valid JSON with well-formed rows, and writing the same result to --out.
 * (CI runs the whole `npm run bench -- --quick` separately.) Needs the addon (the limits are measured by it).
 * Run: npx tap test/bench.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { syntheticDetection } from '../bench/suites/rewards.js'
import { syntheticLvis } from '../bench/suites/eval.js'
import { evaluateLvis } from '../lib/eval/lvis.js'
import { benchModelConfig, forwardFlops } from '../bench/suites/shapes.js'
import { timeCpu } from '../bench/suites/cputime.js'
import { sourceCommit } from '../bench/harness.js'
import { parseDetectionCompletion, rewardSet, scoreCompletions } from '../lib/rewards/index.js'

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))

// First in the file: the tests below allocate heavily, and V8's concurrent GC threads (counted in process
// CPU, by design: timeCpu is for code whose work may run on other threads) can still be busy during a later
// "sleep". A broken timeCpu (wall time as CPU, or a missing subtraction) shows on every rep, so the idle
// check reads the least of its reps (at least five, over at least a second): one quiet rep is enough to tell
// sleeping from working.
t.test('timeCpu counts CPU seconds of busy work and leaves out sleeping', async (t) => {
  const idle = await timeCpu(() => new Promise((r) => setTimeout(r, 30)), { warmup: 0, reps: 5, minSeconds: 1 })
  t.ok(idle.cpu.min < idle.wall.min / 2, `sleeping 30 ms: ${(idle.cpu.min * 1000).toFixed(1)} ms CPU of ${(idle.wall.min * 1000).toFixed(1)} ms (least of ${idle.cpu.runs}; median ${(idle.cpu.median * 1000).toFixed(1)} ms)`)
  let x = 0
  const busy = await timeCpu(() => { for (let i = 0; i < 2e6; i++) x = (x + i * i) % 1000003 }, { warmup: 0, reps: 3 })
  t.ok(busy.cpu.median > 0.002, `busy loop: ${(busy.cpu.median * 1000).toFixed(1)} ms CPU (${x})`)
  t.ok(busy.cpu.median <= busy.wall.median * 1.5 + 0.005, `one thread cannot use much more CPU than wall time (${(busy.wall.median * 1000).toFixed(1)} ms wall)`)
})

t.test('sourceCommit: the HEAD of the given checkout (not the working directory\'s), +dirty when tracked files changed', (t) => {
  const repo = tempDir('vrft-commit-')
  const git = (...args: string[]) => execFileSync('git', ['-C', repo, '-c', 'user.name=t', '-c', 'user.email=t@t', ...args], { encoding: 'utf8' }).trim()
  t.equal(sourceCommit(repo), 'unknown', 'not a checkout')
  git('init', '-q')
  writeFileSync(join(repo, 'a.txt'), '1\n')
  git('add', 'a.txt')
  git('commit', '-q', '-m', 'one')
  const head = git('rev-parse', '--short', 'HEAD')
  t.equal(sourceCommit(repo), head, 'clean: the short hash')
  mkdirSync(join(repo, 'new'))
  writeFileSync(join(repo, 'new', 'untracked.txt'), 'x')
  t.equal(sourceCommit(repo), head, 'an untracked file is not a change to the code that ran')
  writeFileSync(join(repo, 'a.txt'), '2\n')
  t.equal(sourceCommit(repo), `${head}+dirty`, 'a changed tracked file')
  t.notOk(sourceCommit(root).startsWith(head), 'the default is this package\'s own checkout')
  t.end()
})

t.test('synthetic detection completions: five parseable boxes each, G per sample, rewards spread out', async (t) => {
  const { completions, samples } = syntheticDetection(800, 8, 9)
  t.equal(completions.length, 800)
  t.equal(samples.length, 100)
  for (const c of completions.slice(0, 50)) {
    const p = parseDetectionCompletion(c)
    t.equal(p.kind, 'boxes')
    if (p.kind === 'boxes') t.equal(p.boxes.length + p.duplicates, 5)
  }
  const per = completions.map((_, i) => samples[Math.floor(i / 8)]!)
  const { totals } = await scoreCompletions(rewardSet('detection'), completions, per)
  const min = Math.min(...totals), max = Math.max(...totals)
  t.ok(max - min > 0.5, `totals vary (${min.toFixed(2)}..${max.toFixed(2)}): the benchmark exercises matches and misses`)
})

t.test('synthetic LVIS file: LVIS v1 class and frequency counts, verified lists on every image, ~10 detections per image', async (t) => {
  const { gt, dets } = syntheticLvis(300)
  t.equal(gt.categories.length, 1203)
  const count = (f: string) => gt.categories.filter((c) => c.frequency === f).length
  t.same([count('r'), count('c'), count('f')], [337, 461, 405])
  t.ok(gt.images.every((i) => Array.isArray(i.neg_category_ids) && Array.isArray(i.not_exhaustive_category_ids)))
  t.ok(dets.length > 8 * 300 && dets.length < 13 * 300, `${dets.length} detections for 300 images`)
  const r = evaluateLvis(gt, dets)
  t.ok(r.AP > 0.05 && r.AP < 0.95 && r.dropped.unverified > 0, `AP ${r.AP.toFixed(3)}: hits, misses and unverified detections all occur`)
})

t.test('FLOP model: Qwen2-VL-2B decoder linears are ~1.31 B parameters, i.e. 2.62 GFLOP per token', (t) => {
  const c = benchModelConfig('2b')
  const one = forwardFlops(c, 1, 4, 0)
  const two = forwardFlops(c, 2, 4, 0)
  // attention adds 4·T²·q per layer; remove it to get the per-token linear cost
  const attn = (T: number) => c.numLayers * 4 * T * T * c.numHeads * c.headDim
  const perToken = two.text - attn(2) - (one.text - attn(1))
  t.ok(Math.abs(perToken / 2.62e9 - 1) < 0.01, `${(perToken / 1e9).toFixed(3)} GFLOP per token`)
  t.equal(forwardFlops(c, 1, 4, 3).head, 2 * 3 * c.hiddenSize * c.vocabSize, 'LM head: 2·rows·H·V')
  t.ok(one.vision > 0 && one.total === one.vision + one.text + one.head)
  t.end()
})

t.test('run.ts --quick prints a table, then one JSON line with valid rows, and writes it to --out', async (t) => {
  const out = tempDir('vrft-bench-test-')
  const { code, stdout, stderr } = await new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'bench/run.ts'), '--quick', '--only', 'limits,rewards,tokenizer', '--out', out], {
      cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'],
    })
    let so = '', se = ''
    child.stdout.on('data', (d: Buffer) => { so += d })
    child.stderr.on('data', (d: Buffer) => { se += d })
    child.on('close', (c) => res({ code: c, stdout: so, stderr: se }))
  })
  t.equal(code, 0, stderr.slice(-2000))
  const lines = stdout.trim().split('\n')
  t.match(lines[0], /^benchmark\s+value/, 'table header first')
  const result = JSON.parse(lines[lines.length - 1]!)
  t.same(result.errors, {})
  t.equal(result.size, 'tiny')
  t.ok(result.limits.matmulFlops > 0 && result.limits.bandwidth > 0, 'limits measured')
  const names = result.rows.map((r: { bench: string }) => r.bench).join('\n')
  t.match(names, /rewards: detection/)
  t.match(names, /tokenizer: encodeBatch/)
  for (const r of result.rows) {
    t.ok(typeof r.bench === 'string' && typeof r.metric === 'string' && Number.isFinite(r.value) && r.value > 0, `row ${r.bench}`)
    if (r.ratio !== undefined) t.ok(Number.isFinite(r.ratio) && r.ratio > 0 && r.baseline.value > 0, `ratio of ${r.bench}`)
    if (r.target !== undefined) t.type(r.target.met, 'boolean')
  }
  const files = readdirSync(out)
  t.equal(files.length, 1)
  t.same(JSON.parse(readFileSync(join(out, files[0]!), 'utf8')).rows, result.rows, 'the file holds the printed result')
})
