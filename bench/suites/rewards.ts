/**
 * Reward throughput (completions/s, single core — rewards are JS on the main thread): the detection reward
 * set of Visual-RFT (parse + greedy IoU matching + confidence + format, lib/rewards) scored with
 * `scoreCompletions` on 50,000 synthetic completions of five boxes each (G = 8 per sample).
 *
 * Baseline, same process, same inputs: a straightforward port of the reference Python reward — regex the
 * `<answer>` body, turn single quotes into double quotes and `JSON.parse` it (the reference uses
 * `ast.literal_eval` / `json.loads`), then the same matching, IoU, confidence and format rules. The two must
 * agree on every total (checked: a benchmark of a wrong answer is worthless).
 * Target: >= 50k detection completions/s on one core, judged on CPU time (user + system seconds of this
 * single-threaded work), which a shared, loaded machine does not inflate; the wall-clock rate is in the notes.
 *
 * Run alone: node dist/bench/run.js --only rewards
 */
import { iou, rewardSet, scoreCompletions, type Box } from '../../lib/rewards/index.js'
import type { Sample } from '../../lib/data/types.js'
import { seededRandom } from '../../lib/data/random.js'
import { type Context, type Row, type Suite, spreadOf } from '../harness.js'
import { loadNote, timeCpu } from './cputime.js'

/** Deterministic uniform [0, 1) (mulberry32, the data module's generator). */
export const rng = seededRandom

/**
 * `n` synthetic detection completions (five boxes each: jittered ground truth and strays, shuffled
 * confidences, Python-style quotes as Qwen writes them) and their samples, G completions per sample.
 */
export function syntheticDetection(n: number, G = 8, seed = 1): { completions: string[]; samples: Sample[] } {
  const r = rng(seed)
  const int = (lo: number, hi: number) => lo + Math.floor(r() * (hi - lo))
  const samples: Sample[] = []
  const completions: string[] = []
  for (let s = 0; s * G < n; s++) {
    const gt: Box[] = []
    const ng = int(1, 6)
    for (let k = 0; k < ng; k++) {
      const x = int(0, 800), y = int(0, 800)
      gt.push([x, y, x + int(40, 200), y + int(40, 200)])
    }
    samples.push({ id: `s${s}`, image: { path: 'none.jpg' }, problem: 'Detect all objects belonging to the category \'dog\' in the image.', solution: '', task: 'detection', boxes: gt })
    for (let g = 0; g < G && completions.length < n; g++) {
      const objs: string[] = []
      for (let k = 0; k < 5; k++) {
        let b: number[]
        if (k < ng && r() < 0.8) {
          const t = gt[k]!
          b = t.map((v) => Math.max(0, v + int(-25, 26)))
        } else {
          const x = int(0, 850), y = int(0, 850)
          b = [x, y, x + int(20, 150), y + int(20, 150)]
        }
        objs.push(`{'Position': [${b.join(', ')}], 'Confidence': ${(0.05 + 0.9 * r()).toFixed(2)}}`)
      }
      const think = `The image shows several dogs. I look for each one and estimate its box. There are about ${ng} of them.`
      completions.push(`<think>${think}</think> <answer>[${objs.join(', ')}]</answer>`)
    }
  }
  return { completions, samples }
}

// ------------------------------------------------------------ the naive baseline (reference-style port)

const ANSWER_RE = /<answer>([\s\S]*?)<\/answer>/
const FORMAT_RE = /^<think>.*?<\/think>\s*<answer>.*?<\/answer>$/s

function naiveParse(completion: string): { box: number[]; conf: number }[] | null {
  const m = ANSWER_RE.exec(completion)
  if (m === null) return null
  let list: unknown
  try {
    list = JSON.parse(m[1]!.trim().replace(/'/g, '"'))
  } catch {
    return null
  }
  if (!Array.isArray(list)) return null
  const out: { box: number[]; conf: number }[] = []
  for (const o of list as Record<string, unknown>[]) {
    const p = o.Position as number[], c = o.Confidence as number
    if (!Array.isArray(p) || p.length !== 4 || typeof c !== 'number') return null
    const b = p.map((v) => Math.min(1000, Math.max(0, v)))
    out.push({ box: [Math.min(b[0]!, b[2]!), Math.min(b[1]!, b[3]!), Math.max(b[0]!, b[2]!), Math.max(b[1]!, b[3]!)], conf: c })
  }
  return out
}

/** IoU + confidence + format of one completion, parsed once, written the obvious way. */
function naiveReward(completion: string, gt: readonly Box[]): number {
  const fmt = FORMAT_RE.test(completion) ? 1 : 0
  const preds = naiveParse(completion)
  if (preds === null || preds.length === 0) return fmt
  const sorted = [...preds].sort((a, b) => b.conf - a.conf)
  const used = gt.map(() => false)
  let sumIou = 0, sumConf = 0
  for (const p of sorted) {
    let best = -1, bestIou = -1
    gt.forEach((g, j) => {
      if (used[j]) return
      const v = iou(p.box, g)
      if (v > bestIou) { bestIou = v; best = j }
    })
    const hit = best >= 0 && bestIou > 0.5
    if (hit) { used[best] = true; sumIou += bestIou }
    sumConf += hit ? p.conf : 1 - p.conf
  }
  return Math.min(1, sumIou / Math.max(sorted.length, gt.length)) + Math.min(1, Math.max(0, sumConf / sorted.length)) + fmt
}

export const rewardsSuite: Suite = {
  name: 'rewards',
  async run(ctx: Context): Promise<Row[]> {
    const N = 50_000
    const G = 8
    const { completions, samples } = syntheticDetection(N, G)
    const perCompletion = completions.map((_, i) => samples[Math.floor(i / G)]!)
    const set = rewardSet('detection')
    const reps = { warmup: 1, reps: ctx.quick ? 2 : 5 }

    let ours: Float64Array = new Float64Array(0)
    const tOurs = await timeCpu(async () => { ours = (await scoreCompletions(set, completions, perCompletion)).totals }, reps)
    const naive = new Float64Array(N)
    const tNaive = await timeCpu(() => {
      for (let i = 0; i < N; i++) naive[i] = naiveReward(completions[i]!, perCompletion[i]!.boxes!)
    }, reps)
    let worst = 0
    for (let i = 0; i < N; i++) worst = Math.max(worst, Math.abs(ours[i]! - naive[i]!))
    if (worst > 1e-9) throw new Error(`rewards: lib/rewards and the naive baseline disagree by up to ${worst} on the synthetic completions`)
    let mean = 0
    for (let i = 0; i < N; i++) mean += ours[i]!
    mean /= N

    const value = N / tOurs.cpu.median
    return [{
      bench: `rewards: detection set (iou + confidence + format), ${N / 1000}k completions x 5 boxes, per CPU-second of 1 core`,
      metric: 'completions/s',
      value,
      spread: spreadOf(tOurs.cpu),
      baseline: { name: 'regex + JSON.parse port of the reference', value: N / tNaive.cpu.median },
      ratio: tNaive.cpu.median / tOurs.cpu.median,
      target: { description: '>= 50k detection completions/s on one core', met: value >= 50_000 },
      notes: `CPU time of the single JS thread (wall clock: ${(N / tOurs.wall.median / 1000).toFixed(1)}k/s vs baseline ${(N / tNaive.wall.median / 1000).toFixed(1)}k/s, ${loadNote()}); ` +
        `scoreCompletions over the batch; totals equal the baseline's (max |diff| ${worst.toExponential(1)}), mean total ${mean.toFixed(3)}`,
    }]
  },
}
