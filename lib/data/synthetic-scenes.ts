/**
 * Synthetic scenes for the built-in demo's detection and grounding tasks, drawn like the classification
 * shapes (lib/data/synthetic.ts: coloured shapes on a cluttered background, sharp SVG → PNG, deterministic
 * by seed). Classes are "colour shape" pairs, so the base/novel split of `splitClasses` carries over:
 * a model warm-started on base pairs knows every word of a novel pair but not the pair.
 *
 * - detection: one asked class per image, 0–`maxInstances` instances of it (absent with probability
 *   `absentRate`: `No Objects` is then the right answer) among `distractors` objects of other classes,
 *   half of them sharing the asked colour or shape (the hard negatives of an open-vocabulary detector).
 *   The paper's detection prompt (or a short one), boxes on Qwen2-VL's 0–1000 grid, listed in
 *   reading order (by cell row in grid scenes, then left to right).
 * - grounding: one referring expression per image ("the red square", or with a relation to another object:
 *   "the red square left of the blue circle"), the reference grounding prompt, one 0–1000 box.
 */
import { detectionPrompt, detectionSolution, groundingPrompt, groundingSolution } from '../prompts/index.js'
import { seededRandom } from './random.js'
import { VrftRangeError } from '../errors.js'
import { place, renderShapes, shapeBox, shortDetectionPrompt, to1000, type Shape, type ShapeSpec } from './synthetic.js'
import type { Box, Sample } from '../sample.js'

/** Options of {@link makeSceneSet}. */
export interface SceneOptions {
  task: 'detection' | 'grounding'
  count: number
  seed: number
  /** Classes ("colour shape") that are asked about. */
  classes: readonly string[]
  /** Classes distractors are drawn from (default: `classes`); the asked class itself never is a distractor. */
  allClasses?: readonly string[]
  /** Image side in pixels (default 112). */
  size?: number
  /** Detection: most instances of the asked class (default 3; the paper's scenes have up to 4). */
  maxInstances?: number
  /** Detection: share of images without the asked class (default 0.2). */
  absentRate?: number
  /** Other objects per image: 1..distractors (default 2); 0 = none (the asked class alone). */
  distractors?: number
  /**
   * Whether a distractor may be a near miss, sharing the colour or the shape of the asked class (default
   * true: half of the distractors are drawn from the near misses when there are any); false = distractors
   * differ from the asked class in both (an easier selection, for a curriculum).
   */
  nearMisses?: boolean
  /**
   * Grid scenes: distractors' radius as a fraction of the asked class's (default 1); below 1 the asked object
   * stands out by size, a curriculum stage toward selecting it by class.
   */
  distractorScale?: number
  /** Object radius range as a fraction of the image side (default [0.12, 0.2]). */
  radius?: readonly [number, number]
  /**
   * Objects centred in the cells of a `grid` × `grid` layout (one cell per merged image token of Qwen2-VL
   * when the image side is 28·grid px), unrotated, with a little jitter; 0 = anywhere, any rotation.
   */
  grid?: number
  /** Grid scenes: how far a centre and a radius may move, as a fraction of the cell (default 0.1). */
  gridJitter?: number
  /** `reference` (default: the paper's prompts) or `short`. */
  prompt?: 'reference' | 'short'
  clutter?: boolean
  idPrefix?: string
}

/** Defaults of {@link SceneOptions}. */
export const SCENE_DEFAULTS = Object.freeze({ size: 112, maxInstances: 3, absentRate: 0.2, distractors: 2, nearMisses: true, distractorScale: 1, radius: [0.12, 0.2] as const, grid: 0, gridJitter: 0.1 })

const pick = <T>(rnd: () => number, xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)]!

/**
 * A distractor class: shares the colour or the shape of `asked` half of the time (when such a class exists);
 * with `nearMisses` false, neither (when such a class exists).
 */
function distractorClass(rnd: () => number, asked: string, pool: readonly string[], nearMisses: boolean): string {
  const others = pool.filter((c) => c !== asked)
  const [col, sh] = asked.split(' ')
  const isNear = (c: string): boolean => c.startsWith(col + ' ') || c.endsWith(' ' + sh)
  if (!nearMisses) {
    const far = others.filter((c) => !isNear(c))
    return pick(rnd, far.length ? far : others)
  }
  const near = others.filter(isNear)
  return pick(rnd, near.length && rnd() < 0.5 ? near : others)
}

const spec = (cls: string, p: { cx: number; cy: number; r: number }, rnd: () => number): ShapeSpec => {
  const [color, shape] = cls.split(' ') as [string, Shape]
  return { shape, color, ...p, rot: Math.floor(rnd() * 360) }
}

const boxOf = (o: ShapeSpec, size: number): Box => shapeBox(o).map((v) => to1000(v, size)) as Box

/** Every object of a scene (asked class and distractors) with its 0–1000 box, in reading order (top to bottom, then left to right). */
export function sceneObjects(objs: readonly ShapeSpec[], size: number): Array<{ label: string; box: Box }> {
  return objs.map((o) => ({ label: `${o.color} ${o.shape}`, box: boxOf(o, size), cy: o.cy, cx: o.cx }))
    .sort((a, b) => a.cy - b.cy || a.cx - b.cx)
    .map(({ label, box }) => ({ label, box }))
}

/** Where `a` is relative to `b`, in words, when the two are clearly apart on one axis (else undefined). */
export function relation(a: ShapeSpec, b: ShapeSpec): string | undefined {
  const dx = a.cx - b.cx
  const dy = a.cy - b.cy
  if (Math.abs(dx) >= Math.abs(dy) * 1.5) return dx < 0 ? 'left of' : 'right of'
  if (Math.abs(dy) >= Math.abs(dx) * 1.5) return dy < 0 ? 'above' : 'below'
  return undefined
}

/** Generate `count` scene samples (deterministic for a given seed and options). */
export async function makeSceneSet(o: SceneOptions): Promise<Sample[]> {
  const size = o.size ?? SCENE_DEFAULTS.size
  const [rMin, rMax] = o.radius ?? SCENE_DEFAULTS.radius
  const pool = o.allClasses ?? o.classes
  const grid = o.grid ?? SCENE_DEFAULTS.grid
  const maxD = o.distractors ?? SCENE_DEFAULTS.distractors
  const nearMisses = o.nearMisses ?? SCENE_DEFAULTS.nearMisses
  const dScale = o.distractorScale ?? SCENE_DEFAULTS.distractorScale
  if (!(dScale > 0 && dScale <= 1)) throw new VrftRangeError(`Expected distractorScale in (0, 1] but received ${dScale}`)
  if (dScale !== 1 && !(grid > 0)) throw new VrftRangeError(`Expected grid > 0 with distractorScale ${dScale} (it sizes grid scenes' distractors) but received grid ${grid}`)
  const w = grid > 0 ? size / grid : 0  // grid scenes: cell side in px
  const j = o.gridJitter ?? SCENE_DEFAULTS.gridJitter
  const rnd = seededRandom(o.seed)
  const prefix = o.idPrefix ?? `scene-${o.task}-${o.seed}`
  const out: Sample[] = []
  for (let i = 0; i < o.count; i++) {
    const asked = pick(rnd, o.classes)
    const objs: ShapeSpec[] = []
    const free = grid > 0 ? [...Array(grid * grid).keys()] : []
    const add = (cls: string, scale = 1): ShapeSpec | undefined => {
      if (grid > 0) {
        if (!free.length) return undefined
        const cell = free.splice(Math.floor(rnd() * free.length), 1)[0]!
        const jitter = () => (rnd() - 0.5) * w * j
        const p = { cx: ((cell % grid) + 0.5) * w + jitter(), cy: (Math.floor(cell / grid) + 0.5) * w + jitter(), r: w * 0.36 * (1 - j / 2 + rnd() * j) * scale }
        const s = { ...spec(cls, p, rnd), rot: 0 }
        objs.push(s)
        return s
      }
      const p = place(rnd, size, size * rMin, size * rMax, objs)
      if (!p) return undefined
      const s = spec(cls, p, rnd)
      objs.push(s)
      return s
    }
    const nd = maxD > 0 ? 1 + Math.floor(rnd() * maxD) : 0
    if (o.task === 'detection') {
      const absent = rnd() < (o.absentRate ?? SCENE_DEFAULTS.absentRate)
      const n = absent ? 0 : 1 + Math.floor(rnd() * (o.maxInstances ?? SCENE_DEFAULTS.maxInstances))
      const targets: ShapeSpec[] = []
      for (let k = 0; k < n; k++) {
        const t = add(asked)
        if (t) targets.push(t)
      }
      for (let k = 0; k < nd; k++) add(distractorClass(rnd, asked, pool, nearMisses), dScale)
      // reading order: top to bottom by row (a grid scene's cell row, so the jitter never reorders a row),
      // then left to right; a model can learn which instance comes next
      const row = (t: ShapeSpec) => (grid > 0 ? Math.floor(t.cy / w) : t.cy)
      const boxes = [...targets].sort((a, b) => row(a) - row(b) || a.cx - b.cx).map((t) => boxOf(t, size))
      const bytes = await renderShapes(objs, size, rnd, o.clutter ?? true)
      out.push({
        id: `${prefix}-${i}`, image: { bytes }, task: 'detection', category: asked, boxes,
        problem: o.prompt === 'short' ? shortDetectionPrompt(asked) : detectionPrompt(asked),
        solution: detectionSolution(boxes),
        meta: { width: size, height: size, reasoning: boxes.length ? `${boxes.length} ${asked}` : `no ${asked}`, objects: sceneObjects(objs, size) },
      })
      continue
    }
    const target = add(asked)!
    for (let k = 0; k < nd; k++) add(distractorClass(rnd, asked, pool, nearMisses), dScale)
    const others = objs.slice(1)
    const ref = others.length && rnd() < 0.5 ? pick(rnd, others) : undefined
    const rel = ref ? relation(target, ref) : undefined
    const expression = `the ${asked}${ref && rel ? ` ${rel} the ${ref.color} ${ref.shape}` : ''}`
    const box = boxOf(target, size)
    const bytes = await renderShapes(objs, size, rnd, o.clutter ?? true)
    out.push({
      id: `${prefix}-${i}`, image: { bytes }, task: 'grounding', box, category: asked,
      problem: groundingPrompt(`Where is ${expression}?`),
      solution: groundingSolution(box),
      meta: { width: size, height: size, expression, reasoning: expression, objects: sceneObjects(objs, size) },
    })
  }
  return out
}
