/**
 * What samples.jsonl records about a completion's prompt, so that a reader (the run viewer, lib/view/)
 * can show the image with the ground truth without the data set: the image path, the task, the
 * question, the reference solution, structured ground truth (detection boxes, grounding box, label,
 * category, in model coordinates) and the image sizes that fix the coordinate frame (Qwen2-VL's 0–1000
 * grid, or Qwen2.5-VL's resized pixels when `resized` is present).
 *
 * Images held only in memory (synthetic sets, parquet bytes) are written once into the run directory as
 * `images/<id>-<hash>.<ext>`; their samples.jsonl path is then relative to the run directory.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import type { Sample } from '../data/types.js'
import { writeFileAtomic } from './checkpoint.js'

/** The prompt fields of a samples.jsonl line (see the file header). */
export interface PromptRecord {
  /** Image file: absolute, or relative to the run directory. Absent for an in-memory image not yet saved. */
  image?: string
  task?: string
  problem: string
  solution: string
  boxes?: number[][]
  box?: number[]
  label?: string
  category?: string
  /** Original image size in pixels, when the data set knows it. */
  size?: { width: number; height: number }
  /** The resized size the model saw, when its boxes are in resized pixels (Qwen2.5-VL). */
  resized?: { width: number; height: number }
}

/** The image file name of an in-memory image in the run directory. */
export function sampleImageName(id: string, bytes: Uint8Array): string {
  const ext = imageExtension(bytes)
  const hash = createHash('sha256').update(id).digest('hex').slice(0, 8)
  return `images/${id.replace(/[^A-Za-z0-9._-]+/g, '_').slice(-60)}-${hash}.${ext}`
}

/** File extension from an image's magic bytes (png, jpg, gif, webp; bin when unknown). */
export function imageExtension(b: Uint8Array): string {
  if (b[0] === 0x89 && b[1] === 0x50 && b[2] === 0x4e && b[3] === 0x47) return 'png'
  if (b[0] === 0xff && b[1] === 0xd8) return 'jpg'
  if (b[0] === 0x47 && b[1] === 0x49 && b[2] === 0x46) return 'gif'
  if (b[0] === 0x52 && b[1] === 0x49 && b[2] === 0x46 && b[3] === 0x46 && b[8] === 0x57 && b[9] === 0x45) return 'webp'
  return 'bin'
}

/** The prompt fields of a sample; with `runDir`, an in-memory image is saved there (once) and referenced. */
export function promptRecord(s: Sample, runDir?: string): PromptRecord {
  const r: PromptRecord = { problem: s.problem, solution: s.solution }
  if ('bytes' in s.image) {
    if (runDir) {
      const name = sampleImageName(s.id, s.image.bytes)
      const file = join(runDir, name)
      if (!existsSync(file)) writeFileAtomic(file, s.image.bytes)
      r.image = name
    }
  } else {
    r.image = s.image.path
  }
  if (s.task) r.task = s.task
  if (s.boxes) r.boxes = s.boxes.map((b) => [...b])
  if (s.box) r.box = [...s.box]
  if (s.label !== undefined) r.label = s.label
  if (s.category !== undefined) r.category = s.category
  const m = s.meta
  if (m?.width && m.height) r.size = { width: m.width, height: m.height }
  if (m?.resizedWidth && m.resizedHeight) r.resized = { width: m.resizedWidth, height: m.resizedHeight }
  return r
}
