/**
 * The built-in demo's three tasks (lib/app/builtin.ts runs them): their data sets (synthetic, deterministic
 * by seed, base classes for the warm start and held-out novel classes for few-shot training and testing),
 * their held-out metrics and the lines the demo prints.
 *
 * - detection (default, the paper's headline): scenes with 0–3 instances of the asked colour–shape class
 *   among distractors (lib/data/synthetic-scenes.ts); reward IoU + confidence + format; COCO mAP
 *   (AP@[.5:.95]), AP50, format rate and the share of absent-class images answered `No Objects`.
 * - grounding: one referring expression per image; reward IoU + format; mIoU and accuracy at IoU ≥ 0.5.
 * - classification: one object per image; reward accuracy + format; accuracy.
 */
import { makeSyntheticSet, splitClasses } from '../data/synthetic.js'
import { makeSceneSet } from '../data/synthetic-scenes.js'
import type { Sample, Task } from '../sample.js'
import type { PolicyEvaluation } from '../train/evaluate.js'
import { parseDetectionCompletion } from '../rewards/parse.js'
import { detectionTruth } from '../rewards/rewards.js'

/** The demo's tasks; the first is the default. */
export const BUILTIN_TASKS = ['detection', 'classification', 'grounding'] as const satisfies readonly Task[]

/** What the data sets of a demo run need. */
export interface BuiltinDataSettings {
  task: Task; seed: number; imageSize: number; warmStartImages: number; shots: number; testImages: number; grid?: number; maxInstances?: number
  /** Detection: images per novel class in which it is absent (answer `No Objects`), added to its `shots`. */
  absentShots?: number
}

/**
 * One part of a warm-start phase: base-class scenes of `task` on a `grid` × `grid` layout, the asked object
 * alone (`distractors` 0) or among 1..`distractors` others of unrelated classes, on a plain background,
 * fixed cells; `share` of the phase's images.
 */
export interface WarmStartStage { task: 'detection' | 'grounding'; grid: number; distractors: number; share: number }

/**
 * One phase of the box tasks' warm start: `steps` and `images` are its shares of the warm-start steps and
 * images; its images are the `stages`, and the task's own scenes (the held-out scenes' kind: near misses,
 * clutter, jitter, absent classes) for the share the stages leave.
 */
export interface WarmStartPhase { steps: number; images: number; stages: readonly WarmStartStage[] }

const stageOf = (task: WarmStartStage['task'], grid: number, distractors: number, share: number): WarmStartStage => Object.freeze({ task, grid, distractors, share })
/** Lone objects on the three grids, and the 2 × 2 grid among a distractor (probe V1). */
const LOCATE = Object.freeze({ steps: 1 / 3, images: 0.44, stages: Object.freeze([stageOf('grounding', 2, 0, 0.25), stageOf('grounding', 3, 0, 0.25), stageOf('grounding', 4, 0, 0.25), stageOf('grounding', 2, 1, 0.25)]) })
/** The 4 × 4 grid alone and every grid among a distractor (probe V3). */
const CHOOSE = Object.freeze({ steps: 1 / 3, images: 0.28, stages: Object.freeze([stageOf('grounding', 4, 0, 0.25), stageOf('grounding', 4, 1, 0.25), stageOf('grounding', 2, 1, 0.25), stageOf('grounding', 3, 1, 0.25)]) })

/**
 * The box tasks' warm start, phase by phase (one SFT run each, the optimizer carried over). A small model
 * does not learn to read a one-token object's cell on a 4 × 4 grid from random weights (1,000 steps at
 * chance), nor from every difficulty mixed evenly (probe V2), but it does in three phases: easy scenes
 * beside the 4 × 4 grid (V1), then the choice among a distractor (V3), then mostly the hardest scenes
 * (V5 for grounding; D1 for detection, whose last phase turns to the detection prompt and its lists of
 * boxes). Grounding splits its steps evenly; detection gives the first two phases a fifth each (lone
 * objects are learned within ~600 steps, probe V1) and the detection phase the rest.
 * bench/results/demo-detection-2026-12-06.md, sessions 12–14.
 */
export const WARM_START_PHASES: Readonly<Record<'detection' | 'grounding', readonly WarmStartPhase[]>> = Object.freeze({
  grounding: Object.freeze([LOCATE, CHOOSE, Object.freeze({
    steps: 1 / 3, images: 0.28, stages: Object.freeze([stageOf('grounding', 4, 1, 0.43), stageOf('grounding', 3, 1, 0.3), stageOf('grounding', 4, 0, 0.13), stageOf('grounding', 2, 1, 0.14)]),
  })]),
  detection: Object.freeze([Object.freeze({ ...LOCATE, steps: 0.2 }), Object.freeze({ ...CHOOSE, steps: 0.2 }), Object.freeze({
    steps: 0.6, images: 0.28, stages: Object.freeze([stageOf('detection', 4, 1, 0.27), stageOf('detection', 3, 1, 0.19), stageOf('grounding', 4, 1, 0.19), stageOf('detection', 2, 1, 0.08)]),
  })]),
})

/** Images per stage of a phase of `n` images: shares rounded cumulatively, so they never add up to more than `n` (at least 1 each). */
export function stageCounts(stages: readonly WarmStartStage[], n: number): number[] {
  let cum = 0
  let prev = 0
  return stages.map((m) => {
    cum += m.share
    const upto = Math.min(n, Math.round(cum * n))
    const c = Math.max(1, upto - prev)
    prev += c
    return c
  })
}

/** The demo's data sets. */
export interface BuiltinDataSets {
  /** The warm start's images (every phase's, in order). */
  base: Sample[]
  /** The warm start by phase, each with its share of the steps (the box tasks: WARM_START_PHASES; classification: one phase, `base`). */
  phases: Array<{ samples: Sample[]; steps: number }>
  shots: Sample[]
  test: Sample[]
  classes: { base: string[]; novel: string[] }
}

/** k samples per class from a pool (in pool order). */
function perClass(pool: readonly Sample[], classes: readonly string[], k: number, classOf: (s: Sample) => string | undefined): Sample[] {
  const out: Sample[] = []
  for (const c of classes) out.push(...pool.filter((x) => classOf(x) === c).slice(0, k))
  return out
}

/**
 * The demo's data sets (deterministic by seed). `base: false` leaves out the warm-start images (`base` and
 * `phases` empty): a run whose warm start is cached or trained by worker processes does not need them.
 */
export async function builtinData(s: BuiltinDataSettings, o: { base?: boolean } = {}): Promise<BuiltinDataSets> {
  const withBase = o.base ?? true
  const classes = splitClasses()
  const all = [...classes.base, ...classes.novel]
  const size = s.imageSize
  const seed = (k: number) => s.seed * 1000 + k
  // enough images to find the shots: 4 per shot, and for detection's absent shots 15 each (a fifth of the
  // scenes lack the asked class)
  const poolSize = Math.max(s.shots * 4, (s.absentShots ?? 0) * 15) * classes.novel.length
  if (s.task === 'classification') {
    const base = withBase ? await makeSyntheticSet({ task: 'classification', count: s.warmStartImages, seed: seed(1), size, classes: classes.base, idPrefix: 'base' }) : []
    // k shots per novel class: draw until every class has k.
    const pool = await makeSyntheticSet({ task: 'classification', count: poolSize, seed: seed(2), size, classes: classes.novel, idPrefix: 'shot' })
    const shots = perClass(pool, classes.novel, s.shots, (x) => x.label)
    const test = await makeSyntheticSet({ task: 'classification', count: s.testImages, seed: seed(3), size, classes: classes.novel, idPrefix: 'test' })
    for (const x of [...base, ...shots, ...test]) x.classes = all
    return { base, phases: withBase ? [{ samples: base, steps: 1 }] : [], shots, test, classes }
  }
  // Detection and grounding: distractors come from every class (base and novel), so the novel words appear
  // in the base images too, as they would in real scenes.
  const scenes = (classesAsked: readonly string[], count: number, k: number, idPrefix: string, stage?: WarmStartStage) =>
    makeSceneSet({
      task: stage?.task ?? (s.task as 'detection' | 'grounding'), count, seed: seed(k), size, classes: classesAsked, allClasses: all, idPrefix, grid: s.grid ?? 0,
      ...(s.maxInstances ? { maxInstances: s.maxInstances } : {}),
      ...(stage ? { grid: stage.grid, distractors: stage.distractors, nearMisses: false, clutter: false, gridJitter: 0 } : {}),
    })
  // the warm start, phase by phase: its stages, then the task's own scenes for the rest
  const phases: BuiltinDataSets['phases'] = []
  let k = 20
  for (const [p, phase] of (withBase ? WARM_START_PHASES[s.task] : []).entries()) {
    const n = Math.max(1, Math.round(phase.images * s.warmStartImages))
    const part: Sample[] = []
    const counts = stageCounts(phase.stages, n)
    for (const [i, m] of phase.stages.entries()) part.push(...await scenes(classes.base, counts[i]!, k++, `base${p}.${i}`, m))
    if (part.length < n) part.push(...await scenes(classes.base, n - part.length, 1 + 100 * p, `base${p}`))
    phases.push({ samples: part, steps: phase.steps })
  }
  const base = phases.flatMap((p) => p.samples)
  // k shots per novel class: for detection, k images in which the class is present (a few-shot data set
  // is annotated where the class occurs), and absentShots in which it is verified absent (as LVIS lists
  // the categories known to be absent from an image)
  const pool = await scenes(classes.novel, poolSize, 2, 'shot')
  const present = (x: Sample) => (x.boxes?.length ?? 0) > 0
  const shots = s.task === 'detection'
    ? [...perClass(pool.filter(present), classes.novel, s.shots, (x) => x.category), ...perClass(pool.filter((x) => !present(x)), classes.novel, s.absentShots ?? 0, (x) => x.category)]
    : perClass(pool, classes.novel, s.shots, (x) => x.category)
  const test = await scenes(classes.novel, s.testImages, 3, 'test')
  return { base, phases, shots, test, classes }
}

/** The held-out numbers of one evaluation, by task (all in [0, 1]). */
export type BuiltinMetrics = Record<string, number>

/** Share of test images without the asked class whose answer is `No Objects` (NaN when there are none). */
export function noObjectsRate(ev: Pick<PolicyEvaluation, 'samples' | 'completions'>): number {
  let n = 0, ok = 0
  ev.samples.forEach((s, i) => {
    if (detectionTruth(s).length > 0) return
    n++
    if (parseDetectionCompletion(ev.completions[i]!).kind === 'none') ok++
  })
  return n ? ok / n : NaN
}

/**
 * The demo's metrics of one evaluation; `headline` is the first key. Detection also reports `iouReward`, the
 * mean IoU reward (R_IoU) of the greedy answers on the held-out images: what GRPO optimizes, measured where
 * it did not train. Every box the model writes says `'Confidence': 1` (as the reference's targets do), so
 * COCO AP ranks tied detections in image order and moves with how many boxes a model writes; R_IoU scores
 * each answer on its own (bench/results/demo-detection-2026-12-06.md, session 18).
 */
export function builtinMetrics(task: Task, ev: PolicyEvaluation): BuiltinMetrics {
  const r = ev.report
  const format = ev.rewards.format ?? NaN
  if (r.task === 'detection' && task === 'detection') return { mAP: r.AP, AP50: r.AP50, format, noObjects: noObjectsRate(ev), iouReward: ev.rewards.iou ?? NaN }
  if (r.task === 'grounding') return { mIoU: r.mIoU, acc50: r.iou50, format }
  if (r.task === 'classification') return { accuracy: r.accuracy, format }
  return { score: ev.score, format }
}

/** Display name of a metric. */
export const METRIC_LABELS: Readonly<Record<string, string>> = Object.freeze({
  mAP: 'mAP (AP@[.5:.95])', AP50: 'AP50', format: 'format rate', noObjects: '"No Objects" correct', mIoU: 'mIoU', acc50: 'accuracy (IoU ≥ 0.5)', accuracy: 'accuracy', iouReward: 'IoU reward',
})

/** One line per task explaining the demo. */
export const TASK_BLURB: Readonly<Record<Task, string>> = Object.freeze({
  detection: 'Few-shot open-vocabulary detection in miniature: warm start on base colour–shape classes, few-shot GRPO (IoU + confidence + format reward) on held-out novel classes.',
  grounding: 'Referring-expression grounding in miniature: warm start on base colour–shape classes, few-shot GRPO (IoU + format reward) on expressions about held-out novel classes.',
  classification: 'Open-vocabulary Visual-RFT in miniature: warm start on base colour–shape classes, few-shot GRPO on held-out novel pairs.',
})
