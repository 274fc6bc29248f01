/**
 * A synthetic visual data set, drawn with sharp (SVG → PNG), deterministic by seed: coloured shapes
 * (circle, square, triangle, star, hexagon, diamond, cross, pentagon) on cluttered backgrounds (tinted
 * noise-like tiles, grey lines and dots). Small images (default 112 px: 16 image tokens in Qwen2-VL) so
 * a tiny model trains on a CPU.
 *
 * Tasks:
 * - classification: one object; the class is "<colour> <shape>" (e.g. "blue star"); the short prompt
 *   asks for both, or the reference classification prompt (`prompt: 'reference'`).
 * - detection: 1–`maxObjects` objects of several shapes; the question names one shape (the reference
 *   detection prompt, or a short one); boxes are Qwen2-VL 0–1000 integer coordinates.
 *
 * The open-vocabulary split of the built-in demo: classes are colour–shape combinations; `splitClasses`
 * holds out a Latin square of combinations as "novel" (every colour and every shape is seen in a base
 * class, never that combination), so a model warm-started on base classes knows every word but not the
 * novel pairs — the paper's base → novel setting in miniature.
 */
import sharp from 'sharp'
import { classificationSolution, detectionPrompt, detectionSolution } from '../prompts/index.js'
import { seededRandom } from './random.js'
import type { Sample } from './types.js'

/** Shape names, in a fixed order. */
export const SHAPES = ['circle', 'square', 'triangle', 'star', 'hexagon', 'diamond', 'cross', 'pentagon'] as const
/** Colour names and their RGB. */
export const COLORS: Readonly<Record<string, readonly [number, number, number]>> = Object.freeze({
  red: [214, 39, 40], green: [34, 150, 34], blue: [31, 79, 214], yellow: [240, 200, 15],
  purple: [140, 60, 180], orange: [250, 125, 15], cyan: [20, 190, 210], pink: [240, 110, 180],
})
export type Shape = (typeof SHAPES)[number]

/** One object to draw: centre and radius in pixels, rotation in degrees. */
export interface ShapeSpec { shape: Shape; color: string; cx: number; cy: number; r: number; rot: number }

/** Options of {@link makeSyntheticSet}. */
export interface SyntheticOptions {
  task: 'classification' | 'detection'
  count: number
  seed: number
  /** Image side in pixels (default 112). */
  size?: number
  /** Classification classes as "colour shape" strings (default: 4 colours × 4 shapes). */
  classes?: readonly string[]
  /** Detection: shapes to ask about / draw (default: the first 4 shapes). */
  shapes?: readonly Shape[]
  /** Detection: colours to draw (default red, green, blue, yellow). */
  colors?: readonly string[]
  /** Detection: most objects per image (default 3). */
  maxObjects?: number
  /** `short` (default: few tokens, for tiny models) or `reference` (the Visual-RFT text). */
  prompt?: 'short' | 'reference'
  /** Background clutter (default true). */
  clutter?: boolean
  idPrefix?: string
}

/** The short classification prompt of the built-in demo. */
export const SHORT_CLASSIFICATION_PROMPT =
  'What colour and shape is the object? Reply as <think>colour: ... shape: ...</think><answer>colour shape</answer>.'

/** Short detection prompt (`{category}` replaced). */
export function shortDetectionPrompt(category: string): string {
  return `Detect all objects belonging to the category '${category}'. Reply as <think>...</think><answer>[{'Position': [x1, y1, x2, y2], 'Confidence': c}]</answer> with 0-1000 integer coordinates, or No Objects.`
}

/** Every "colour shape" class of the given colours and shapes. */
export function allClasses(colors: readonly string[] = ['red', 'green', 'blue', 'yellow'], shapes: readonly string[] = SHAPES.slice(0, 4)): string[] {
  return colors.flatMap((c) => shapes.map((s) => `${c} ${s}`))
}

/**
 * Split colour × shape classes into base and novel: novel = the diagonal (colour i with shape
 * (i + shift) mod n) — a Latin square, so each colour and shape still appears in base classes.
 */
export function splitClasses(colors: readonly string[] = ['red', 'green', 'blue', 'yellow'], shapes: readonly string[] = SHAPES.slice(0, 4), shift = 3): { base: string[]; novel: string[] } {
  const novel = colors.map((c, i) => `${c} ${shapes[(i + shift) % shapes.length]}`)
  return { base: allClasses(colors, shapes).filter((k) => !novel.includes(k)), novel }
}

function ring(n: number, r: number, rot: number, cx: number, cy: number, inner?: number): Array<[number, number]> {
  const pts: Array<[number, number]> = []
  const k = inner ? 2 * n : n
  for (let i = 0; i < k; i++) {
    const rr = inner && i % 2 ? inner : r
    const a = ((rot - 90) * Math.PI) / 180 + (i * 2 * Math.PI) / k
    pts.push([cx + rr * Math.cos(a), cy + rr * Math.sin(a)])
  }
  return pts
}

/** Outline points of a shape in pixels (null for a circle). */
export function shapePoints(s: ShapeSpec): Array<[number, number]> | null {
  const { cx, cy, r, rot } = s
  switch (s.shape) {
    case 'circle': return null
    case 'square': return ring(4, r * 1.2, rot + 45, cx, cy)
    case 'diamond': return ring(4, r * 1.15, rot, cx, cy).map(([x, y], i) => (i % 2 ? [cx + (x - cx) * 0.7, y] : [x, y]) as [number, number])
    case 'triangle': return ring(3, r * 1.2, rot, cx, cy)
    case 'star': return ring(5, r * 1.15, rot, cx, cy, r * 0.48)
    case 'hexagon': return ring(6, r, rot, cx, cy)
    case 'pentagon': return ring(5, r * 1.05, rot, cx, cy)
    case 'cross': {
      const w = r * 0.36
      const base: Array<[number, number]> = [[-w, -r], [w, -r], [w, -w], [r, -w], [r, w], [w, w], [w, r], [-w, r], [-w, w], [-r, w], [-r, -w], [-w, -w]]
      const a = (rot * Math.PI) / 180
      return base.map(([x, y]) => [cx + x * Math.cos(a) - y * Math.sin(a), cy + x * Math.sin(a) + y * Math.cos(a)])
    }
  }
}

/** SVG element of a shape. */
export function shapeSvg(s: ShapeSpec): string {
  const [r, g, b] = COLORS[s.color] ?? [0, 0, 0]
  const fill = `rgb(${r},${g},${b})`
  const pts = shapePoints(s)
  if (!pts) return `<circle cx="${s.cx.toFixed(1)}" cy="${s.cy.toFixed(1)}" r="${s.r.toFixed(1)}" fill="${fill}"/>`
  return `<polygon points="${pts.map(([x, y]) => `${x.toFixed(1)},${y.toFixed(1)}`).join(' ')}" fill="${fill}"/>`
}

/** Tight bounding box [x1, y1, x2, y2] of a shape in pixels. */
export function shapeBox(s: ShapeSpec): [number, number, number, number] {
  const pts = shapePoints(s)
  if (!pts) return [s.cx - s.r, s.cy - s.r, s.cx + s.r, s.cy + s.r]
  const xs = pts.map((p) => p[0])
  const ys = pts.map((p) => p[1])
  return [Math.min(...xs), Math.min(...ys), Math.max(...xs), Math.max(...ys)]
}

function clutterSvg(rnd: () => number, size: number): string {
  const parts: string[] = []
  const base = 200 + Math.floor(rnd() * 45)
  const tint = () => base - 25 + Math.floor(rnd() * 50)
  parts.push(`<rect width="${size}" height="${size}" fill="rgb(${tint()},${tint()},${tint()})"/>`)
  const tile = size / 4
  for (let y = 0; y < 4; y++) for (let x = 0; x < 4; x++) {
    const v = base - 30 + Math.floor(rnd() * 60)
    parts.push(`<rect x="${x * tile}" y="${y * tile}" width="${tile}" height="${tile}" fill="rgb(${v},${v},${v})" opacity="0.5"/>`)
  }
  for (let i = 0; i < 6; i++) {
    const v = 90 + Math.floor(rnd() * 100)
    parts.push(`<line x1="${(rnd() * size).toFixed(1)}" y1="${(rnd() * size).toFixed(1)}" x2="${(rnd() * size).toFixed(1)}" y2="${(rnd() * size).toFixed(1)}" stroke="rgb(${v},${v},${v})" stroke-width="${(0.5 + rnd() * 1.5).toFixed(1)}"/>`)
  }
  for (let i = 0; i < 10; i++) {
    const v = 100 + Math.floor(rnd() * 120)
    parts.push(`<circle cx="${(rnd() * size).toFixed(1)}" cy="${(rnd() * size).toFixed(1)}" r="${(0.8 + rnd() * 2.2).toFixed(1)}" fill="rgb(${v},${v},${v})"/>`)
  }
  return parts.join('')
}

/** Render objects on a cluttered background to PNG bytes. */
export async function renderShapes(objects: readonly ShapeSpec[], size: number, rnd: () => number, clutter = true): Promise<Buffer> {
  const bg = clutter ? clutterSvg(rnd, size) : `<rect width="${size}" height="${size}" fill="rgb(230,230,230)"/>`
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${size}" height="${size}">${bg}${objects.map(shapeSvg).join('')}</svg>`
  return sharp(Buffer.from(svg)).removeAlpha().png({ compressionLevel: 6 }).toBuffer()
}

export function place(rnd: () => number, size: number, rMin: number, rMax: number, taken: ShapeSpec[]): { cx: number; cy: number; r: number } | undefined {
  for (let tries = 0; tries < 50; tries++) {
    const r = rMin + rnd() * (rMax - rMin)
    const m = r * 1.25
    const cx = m + rnd() * (size - 2 * m)
    const cy = m + rnd() * (size - 2 * m)
    if (taken.every((o) => Math.hypot(o.cx - cx, o.cy - cy) > (o.r + r) * 1.3)) return { cx, cy, r }
  }
  return undefined
}

/** Pixel coordinate → Qwen2-VL's 0–1000 integer grid. */
export const to1000 = (v: number, size: number) => Math.max(0, Math.min(1000, Math.round((v / size) * 1000)))

/** Generate `count` samples (deterministic for a given seed and options). Images are PNG bytes in memory. */
export async function makeSyntheticSet(o: SyntheticOptions): Promise<Sample[]> {
  const size = o.size ?? 112
  const rnd = seededRandom(o.seed)
  const prefix = o.idPrefix ?? `syn-${o.task}-${o.seed}`
  const out: Sample[] = []
  if (o.task === 'classification') {
    const classes = o.classes ?? allClasses()
    for (let i = 0; i < o.count; i++) {
      const label = classes[Math.floor(rnd() * classes.length)]!
      const [color, shape] = label.split(' ') as [string, Shape]
      const p = place(rnd, size, size * 0.2, size * 0.32, [])!
      const spec: ShapeSpec = { shape, color, ...p, rot: Math.floor(rnd() * 360) }
      const bytes = await renderShapes([spec], size, rnd, o.clutter ?? true)
      out.push({
        id: `${prefix}-${i}`, image: { bytes }, task: 'classification', label, classes,
        problem: o.prompt === 'reference'
          ? 'This is an image containing a shape. Please identify the colour and shape of the object based on the image.\nOutput the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should be as follows:\n<think> ... </think> <answer>species name</answer>\nPlease strictly follow the format.'
          : SHORT_CLASSIFICATION_PROMPT,
        solution: classificationSolution(label),
        meta: { width: size, height: size, color, shape, reasoning: `colour: ${color} shape: ${shape}` },
      })
    }
    return out
  }
  const shapes = o.shapes ?? (SHAPES.slice(0, 4) as Shape[])
  const colors = o.colors ?? ['red', 'green', 'blue', 'yellow']
  const maxObjects = o.maxObjects ?? 3
  for (let i = 0; i < o.count; i++) {
    const n = 1 + Math.floor(rnd() * maxObjects)
    const objs: ShapeSpec[] = []
    for (let k = 0; k < n; k++) {
      const p = place(rnd, size, size * 0.1, size * 0.2, objs)
      if (!p) break
      objs.push({ shape: shapes[Math.floor(rnd() * shapes.length)]!, color: colors[Math.floor(rnd() * colors.length)]!, ...p, rot: Math.floor(rnd() * 360) })
    }
    // Ask about a drawn shape most of the time, sometimes about an absent one ("No Objects").
    const present = [...new Set(objs.map((x) => x.shape))]
    const category = rnd() < 0.85 ? present[Math.floor(rnd() * present.length)]! : shapes[Math.floor(rnd() * shapes.length)]!
    const boxes = objs.filter((x) => x.shape === category).map((x) => shapeBox(x).map((v) => to1000(v, size)) as [number, number, number, number])
    const bytes = await renderShapes(objs, size, rnd, o.clutter ?? true)
    out.push({
      id: `${prefix}-${i}`, image: { bytes }, task: 'detection', category, boxes,
      problem: o.prompt === 'reference' ? detectionPrompt(category) : shortDetectionPrompt(category),
      solution: detectionSolution(boxes),
      meta: { width: size, height: size, reasoning: boxes.length ? `${boxes.length} ${category}` : `no ${category}` },
    })
  }
  return out
}

/** The warm-start target text of a synthetic sample: a short reasoning and the solution. */
export function syntheticTarget(s: Sample): string {
  const why = typeof s.meta?.reasoning === 'string' ? s.meta.reasoning : ''
  return `<think>${why}</think><answer>${s.solution.replace(/^<answer>|<\/answer>$/g, '')}</answer>`
}
