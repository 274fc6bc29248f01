/**
 * Detection evaluation at LVIS size: `vrft-native eval --annotations lvis_val.json --predictions dets.json
 * --json` as a child process (JSON reading, LVIS federated AP, report) on a synthetic LVIS-shaped file —
 * 5,000 images, 1,203 classes in LVIS v1's frequency mix (337 rare, 461 common, 405 frequent), ~10 boxes
 * per image, each image listing ~6 negative and ~1 not-exhaustive class — and ~50,000 detections (jittered
 * true boxes, false positives on negative classes, detections of unverified classes). Wall clock of the
 * whole command, one run (it is seconds long; a warm-up would only warm the page cache).
 * Baseline, same process, same files: the COCO protocol (pycocotools' rules, lib/eval/cocoeval.ts) scoring
 * the same detections in-process; the LVIS in-process time is in the notes, so the process start and JSON
 * reading can be told apart from the evaluation itself.
 * Target: the command finishes in under a minute on this machine.
 *
 * Run alone: node dist/bench/run.js --only eval
 */
import { spawn } from 'node:child_process'
import { existsSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { CocoDataset, CocoDetection } from '../../lib/eval/cocoeval.js'
import { evaluateCoco } from '../../lib/eval/cocoeval.js'
import { evaluateLvis } from '../../lib/eval/lvis.js'
import { seededRandom } from '../../lib/data/random.js'
import type { Context, Row, Suite } from '../harness.js'
import { loadNote } from './cputime.js'

/** A synthetic LVIS-shaped validation file and detections for it (deterministic). */
export function syntheticLvis(images: number, classes = 1203, seed = 7): { gt: CocoDataset; dets: CocoDetection[] } {
  const r = seededRandom(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo))
  const nr = Math.round(classes * 337 / 1203), nc = Math.round(classes * 461 / 1203)
  const gt: CocoDataset = {
    images: [], annotations: [],
    categories: Array.from({ length: classes }, (_, i) => ({ id: i + 1, name: `class_${i + 1}`, frequency: i < nr ? 'r' : i < nr + nc ? 'c' : 'f' })),
  }
  const dets: CocoDetection[] = []
  // frequent classes appear more often: draw a class with weight f 10, c 3, r 1
  const weights = gt.categories.map((c) => (c.frequency === 'f' ? 10 : c.frequency === 'c' ? 3 : 1))
  const total = weights.reduce((a, b) => a + b, 0)
  const drawClass = (): number => {
    let x = r() * total
    for (let k = 0; k < classes; k++) { x -= weights[k]!; if (x < 0) return k + 1 }
    return classes
  }
  for (let id = 1; id <= images; id++) {
    const W = int(480, 1024), H = int(480, 1024)
    const present = new Set<number>()
    const nPresent = int(2, 6)
    while (present.size < nPresent) present.add(drawClass())
    const neg = new Set<number>()
    while (neg.size < 6) { const c = drawClass(); if (!present.has(c)) neg.add(c) }
    const nel = [...present].filter(() => r() < 0.2)
    gt.images.push({ id, width: W, height: H, neg_category_ids: [...neg], not_exhaustive_category_ids: nel })
    for (const c of present) {
      const n = int(1, 5)
      for (let k = 0; k < n; k++) {
        const w = int(8, W / 2), h = int(8, H / 2), x = int(0, W - w), y = int(0, H - h)
        gt.annotations.push({ id: gt.annotations.length + 1, image_id: id, category_id: c, bbox: [x, y, w, h], area: w * h * 0.7 })
        if (r() < 0.8) {
          const j = () => (r() - 0.5) * 0.3
          dets.push({ image_id: id, category_id: c, bbox: [x + j() * w, y + j() * h, w * (1 + j()), h * (1 + j())], score: Math.round(r() * 1000) / 1000 })
        }
      }
    }
    for (const c of neg) if (r() < 0.4) dets.push({ image_id: id, category_id: c, bbox: [int(0, W / 2), int(0, H / 2), int(8, W / 2), int(8, H / 2)], score: Math.round(r() * 1000) / 1000 })
    for (let k = 0; k < 1; k++) dets.push({ image_id: id, category_id: drawClass(), bbox: [int(0, W / 2), int(0, H / 2), int(8, W / 2), int(8, H / 2)], score: Math.round(r() * 1000) / 1000 })
  }
  return { gt, dets }
}

/** The CLI entry next to this file: dist/lib/cli/main.js when built, else lib/cli/main.ts under the TS loader. */
function cliEntry(): string[] {
  const js = fileURLToPath(new URL('../../lib/cli/main.js', import.meta.url))
  if (existsSync(js)) return [js]
  return [...process.execArgv.filter((a) => a.includes('typescript') || a.includes('tsx')), fileURLToPath(new URL('../../lib/cli/main.ts', import.meta.url))]
}

function runCli(args: string[]): Promise<{ seconds: number; stdout: string }> {
  return new Promise((res, rej) => {
    const t0 = performance.now()
    const child = spawn(process.execPath, [...cliEntry(), ...args], { env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = '', stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => (code === 0 ? res({ seconds: (performance.now() - t0) / 1000, stdout }) : rej(new Error(`eval CLI exited ${code}: ${stderr.slice(-500)}`))))
  })
}

export const evalSuite: Suite = {
  name: 'eval',
  async run(ctx: Context): Promise<Row[]> {
    const images = 5000
    const { gt, dets } = syntheticLvis(images)
    const gtPath = join(ctx.workdir, 'lvis_val.json')
    const dtPath = join(ctx.workdir, 'dets.json')
    writeFileSync(gtPath, JSON.stringify(gt))
    writeFileSync(dtPath, JSON.stringify(dets))
    const run = await runCli(['eval', '--annotations', gtPath, '--predictions', dtPath, '--json'])
    const report = JSON.parse(run.stdout) as Record<string, unknown>
    for (const k of ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf']) {
      const v = report[k]
      if (typeof v !== 'number' || !(v >= 0 && v <= 1)) throw new Error(`eval: --json report has ${k} = ${String(v)}, expected a fraction`)
    }
    if (report.protocol !== 'lvis') throw new Error(`eval: expected the lvis protocol to be detected, got ${String(report.protocol)}`)
    let t0 = performance.now()
    const lvis = evaluateLvis(gt, dets)
    const lvisSeconds = (performance.now() - t0) / 1000
    if (Math.abs(lvis.AP - (report.AP as number)) > 1e-12) throw new Error(`eval: CLI AP ${String(report.AP)} differs from in-process ${lvis.AP}`)
    t0 = performance.now()
    const coco = evaluateCoco(gt, dets)
    const cocoSeconds = (performance.now() - t0) / 1000
    return [{
      bench: `eval: vrft-native eval --json, LVIS protocol, ${images} images x ${gt.categories.length} classes, ${(gt.annotations.length / 1000).toFixed(1)}k boxes, ${(dets.length / 1000).toFixed(1)}k detections (whole command)`,
      metric: 's',
      value: run.seconds,
      baseline: { name: 'COCO protocol in-process (evaluateCoco)', value: cocoSeconds },
      ratio: cocoSeconds / run.seconds,
      target: { description: 'the command finishes in < 60 s', met: run.seconds < 60 },
      notes: `wall clock, 1 run, ${loadNote()}; evaluateLvis in-process ${lvisSeconds.toFixed(2)} s (the rest is node start, JSON reading and the report); ` +
        `AP ${(lvis.AP * 100).toFixed(1)}, APr ${(lvis.APr * 100).toFixed(1)}, APc ${(lvis.APc * 100).toFixed(1)}, APf ${(lvis.APf * 100).toFixed(1)}; ` +
        `dropped: ${lvis.dropped.unverified} unverified, ${lvis.dropped.overCap} over the cap; COCO AP of the same ${(coco.AP * 100).toFixed(1)}`,
    }]
  },
}
