/**
 * Box geometry shared by rewards and evaluation: corner boxes [x1, y1, x2, y2], IoU, GIoU, and
 * conversions between model coordinates (Qwen2-VL 0–1000 grid, Qwen2.5-VL resized pixels) and image
 * pixels. Pure functions on plain arrays; no allocation in the IoU hot path.
 */

import type { Box } from '../sample.js'

/** A box as corners [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2 (after normalization); declared in lib/sample.ts. */
export type { Box }

/** Area of a corner box (0 for degenerate boxes). */
export function boxArea(b: ArrayLike<number>): number {
  const w = b[2]! - b[0]!
  const h = b[3]! - b[1]!
  return w > 0 && h > 0 ? w * h : 0
}

/** Intersection over union of two corner boxes; 0 when the union is empty. Always in [0, 1]. */
export function iou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)
  if (!(iw > 0)) return 0
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!)
  if (!(ih > 0)) return 0
  const inter = iw * ih
  const union = boxArea(a) + boxArea(b) - inter
  if (!(union > 0)) return 0
  const v = inter / union
  return v > 1 ? 1 : v
}

/** Generalized IoU in [-1, 1]: IoU − (|C| − |A∪B|)/|C| with C the smallest enclosing box. */
export function giou(a: ArrayLike<number>, b: ArrayLike<number>): number {
  const aa = boxArea(a)
  const ab = boxArea(b)
  const iw = Math.min(a[2]!, b[2]!) - Math.max(a[0]!, b[0]!)
  const ih = Math.min(a[3]!, b[3]!) - Math.max(a[1]!, b[1]!)
  const inter = iw > 0 && ih > 0 ? iw * ih : 0
  const union = aa + ab - inter
  const cw = Math.max(a[2]!, b[2]!) - Math.min(a[0]!, b[0]!)
  const ch = Math.max(a[3]!, b[3]!) - Math.min(a[1]!, b[1]!)
  const c = cw > 0 && ch > 0 ? cw * ch : 0
  if (!(c > 0)) return -1 // both boxes degenerate: no overlap information at all
  const i = union > 0 ? inter / union : 0
  const g = i - (c - union) / c
  return g < -1 ? -1 : g > 1 ? 1 : g
}

/**
 * Normalize corners: swap reversed corners, clamp to [0, maxX] × [0, maxY] when limits are given.
 * Returns a new array.
 */
export function normalizeBox(x1: number, y1: number, x2: number, y2: number, maxX = Infinity, maxY = Infinity): Box {
  if (x1 > x2) { const t = x1; x1 = x2; x2 = t }
  if (y1 > y2) { const t = y1; y1 = y2; y2 = t }
  return [clamp(x1, 0, maxX), clamp(y1, 0, maxY), clamp(x2, 0, maxX), clamp(y2, 0, maxY)]
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v
}

/** How a model writes box coordinates. `grid1000`: Qwen2-VL; `pixels`: Qwen2.5-VL absolute pixels of the resized image. */
export type CoordSpace =
  | { kind: 'grid1000' }
  | { kind: 'pixels'; resizedWidth: number; resizedHeight: number }

/** Map a box from model coordinates back to original image pixels (x·W/1000 or x·W/resizedW). */
export function modelToImage(b: ArrayLike<number>, space: CoordSpace, width: number, height: number): Box {
  const sx = space.kind === 'grid1000' ? width / 1000 : width / space.resizedWidth
  const sy = space.kind === 'grid1000' ? height / 1000 : height / space.resizedHeight
  return [b[0]! * sx, b[1]! * sy, b[2]! * sx, b[3]! * sy]
}

/** Map a box from image pixels to model coordinates, rounded to integers as the training data does. */
export function imageToModel(b: ArrayLike<number>, space: CoordSpace, width: number, height: number): Box {
  const sx = space.kind === 'grid1000' ? 1000 / width : space.resizedWidth / width
  const sy = space.kind === 'grid1000' ? 1000 / height : space.resizedHeight / height
  const mx = space.kind === 'grid1000' ? 1000 : space.resizedWidth
  const my = space.kind === 'grid1000' ? 1000 : space.resizedHeight
  return normalizeBox(Math.round(b[0]! * sx), Math.round(b[1]! * sy), Math.round(b[2]! * sx), Math.round(b[3]! * sy), mx, my)
}

/** COCO [x, y, w, h] → corners. */
export function xywhToCorners(b: ArrayLike<number>): Box {
  return [b[0]!, b[1]!, b[0]! + b[2]!, b[1]! + b[3]!]
}

/** Corners → COCO [x, y, w, h]. */
export function cornersToXywh(b: ArrayLike<number>): Box {
  return [b[0]!, b[1]!, b[2]! - b[0]!, b[3]! - b[1]!]
}
