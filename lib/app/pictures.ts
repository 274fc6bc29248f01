/**
 * Pictures of the built-in demo: for a few held-out images, the image drawn twice side by side — answers
 * of the warm start and of the GRPO model — with the ground-truth boxes (green, dashed) and the predicted
 * boxes (red, with their confidence) on it, the question above and each answer's gist below. Detection and
 * grounding boxes are on Qwen2-VL's 0–1000 grid; classification pictures show the answered label. One PNG
 * per image (SVG rasterized with sharp, like the charts).
 */
import { join } from 'node:path'
import type { Box, Sample, Task } from '../sample.js'
import { parseClassificationCompletion, parseDetectionCompletion, parseGroundingCompletion } from '../rewards/parse.js'
import { detectionTruth, groundingTruth } from '../rewards/rewards.js'
import { writeFileAtomic } from '../train/checkpoint.js'
import { esc, svgToPng } from './plot.js'

/** Size of one picture: two panels of PANEL px with a margin, a title line and a caption line. */
export const PICTURE = Object.freeze({ panel: 336, margin: 12, title: 40, caption: 44 })
export const PICTURE_WIDTH = 2 * PICTURE.panel + 3 * PICTURE.margin
export const PICTURE_HEIGHT = PICTURE.title + PICTURE.panel + PICTURE.caption

const clip = (s: string, n: number) => (s.length > n ? s.slice(0, n - 1) + '…' : s)

/** What an answer says, for drawing: boxes with confidences (detection, grounding) and a short caption. */
export function answerBoxes(task: Task, completion: string): { boxes: Array<{ box: Box; confidence?: number }>; caption: string } {
  if (task === 'detection') {
    const p = parseDetectionCompletion(completion)
    if (p.kind === 'malformed') return { boxes: [], caption: `unreadable answer (${p.reason})` }
    if (p.kind === 'none') return { boxes: [], caption: 'No Objects' }
    return { boxes: p.boxes.map((b) => ({ box: b.box, confidence: b.confidence })), caption: `${p.boxes.length} box${p.boxes.length === 1 ? '' : 'es'}` }
  }
  if (task === 'grounding') {
    const b = parseGroundingCompletion(completion)
    return b ? { boxes: [{ box: b }], caption: `(${b[0]},${b[1]}),(${b[2]},${b[3]})` } : { boxes: [], caption: 'no box' }
  }
  return { boxes: [], caption: `answer: ${parseClassificationCompletion(completion) || '(none)'}` }
}

function truthOf(task: Task, s: Sample): Box[] {
  if (task === 'detection') return detectionTruth(s)
  if (task === 'grounding') return [groundingTruth(s)]
  return []
}

const rect = (b: Box, x0: number, y0: number, k: number, style: string) =>
  `<rect x="${(x0 + b[0] * k).toFixed(1)}" y="${(y0 + b[1] * k).toFixed(1)}" width="${((b[2] - b[0]) * k).toFixed(1)}" height="${((b[3] - b[1]) * k).toFixed(1)}" fill="none" ${style}/>`

/** The SVG of one picture: `answers` are [label, completion] per panel (two panels). */
export function pictureSvg(task: Task, sample: Sample, pngBase64: string, answers: ReadonlyArray<readonly [string, string]>): string {
  const { panel: P, margin: M, title: T } = PICTURE
  const k = P / 1000
  const question = task === 'detection' ? `Detect: ${sample.category}` : task === 'grounding' ? String(sample.meta?.expression ?? sample.problem) : `label: ${sample.label}`
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${PICTURE_WIDTH}" height="${PICTURE_HEIGHT}" font-family="DejaVu Sans, sans-serif" font-size="13">`,
    `<rect width="${PICTURE_WIDTH}" height="${PICTURE_HEIGHT}" fill="white"/>`,
    `<text x="${M}" y="18" font-weight="bold">${esc(clip(question, 90))}</text>`,
    `<text x="${M}" y="34" fill="#555">green dashed: ground truth · red: predicted (confidence)</text>`,
  ]
  answers.slice(0, 2).forEach(([label, completion], i) => {
    const x0 = M + i * (P + M)
    parts.push(`<image x="${x0}" y="${T}" width="${P}" height="${P}" xlink:href="data:image/png;base64,${pngBase64}" href="data:image/png;base64,${pngBase64}" image-rendering="pixelated"/>`)
    for (const b of truthOf(task, sample)) parts.push(rect(b, x0, T, k, 'stroke="#1a9e1a" stroke-width="3" stroke-dasharray="7,4"'))
    const a = answerBoxes(task, completion)
    for (const b of a.boxes) {
      parts.push(rect(b.box, x0, T, k, 'stroke="#e0201b" stroke-width="2.5"'))
      if (b.confidence !== undefined) parts.push(`<text x="${(x0 + b.box[0] * k + 2).toFixed(1)}" y="${(T + b.box[1] * k + 13).toFixed(1)}" fill="#e0201b" font-weight="bold">${b.confidence.toFixed(2)}</text>`)
    }
    parts.push(`<text x="${x0}" y="${T + P + 18}" font-weight="bold">${esc(label)}</text>`)
    parts.push(`<text x="${x0}" y="${T + P + 36}" fill="#333">${esc(clip(a.caption, 48))}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/**
 * Write pictures of the first `count` samples into `dir` (`<i>-<sample id>.png`), each comparing the
 * answers of two evaluations on the same samples. Returns the paths.
 */
export async function writePictures(dir: string, task: Task, samples: readonly Sample[], panels: ReadonlyArray<{ label: string; completions: readonly string[] }>, count: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < Math.min(count, samples.length); i++) {
    const s = samples[i]!
    if (!('bytes' in s.image)) continue
    const b64 = Buffer.from(s.image.bytes).toString('base64')
    const svg = pictureSvg(task, s, b64, panels.map((p) => [p.label, p.completions[i] ?? ''] as const))
    const file = join(dir, `${String(i).padStart(2, '0')}-${s.id.replace(/[^\w.-]/g, '_')}.png`)
    writeFileAtomic(file, await svgToPng(svg))
    out.push(file)
  }
  return out
}
