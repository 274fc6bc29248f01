/**
 * The sample record every room shares: a training/eval sample in the reference format ({image, problem,
 * solution}) with optional structured ground truth, its image source (path or bytes; decoding is
 * lib/model/images.ts' job), its task, and the corner box of its ground truth. Plain types with no
 * imports, so data readers, rewards, evaluation, training and serving all import them downwards.
 */

/** A box as corners [x1, y1, x2, y2] with x1 ≤ x2, y1 ≤ y2 (after normalization). */
export type Box = [number, number, number, number]

/** Where an image comes from. Readers never decode. */
export type ImageSource = { path: string } | { bytes: Uint8Array; path?: string }

/** Which task a sample belongs to. */
export type Task = 'detection' | 'classification' | 'grounding'

/** One sample. `solution` is the reference `<answer>…</answer>` string; structured fields, when present, win. */
export interface Sample {
  /** Stable id (file:line, parquet row, coco image/category ...). */
  id: string
  image: ImageSource
  /** The user-turn prompt text. */
  problem: string
  /** Reference solution string, e.g. `<answer>[{'Position': [...], 'Confidence': 1}]</answer>`. */
  solution: string
  task?: Task
  /** Detection ground truth in model coordinates (0–1000 or resized pixels). */
  boxes?: Box[]
  /** Grounding ground truth box in model coordinates. */
  box?: Box
  /** Classification label. */
  label?: string
  /** Classification: all class names of the data set (used by the substring-mode guard). */
  classes?: readonly string[]
  /** Detection: the category asked about. */
  category?: string
  /** Extra provenance for evaluation (COCO image id, category id, original size, resized size ...). */
  meta?: SampleMeta
}

/** Provenance a detection evaluation needs to map boxes back to image pixels. */
export interface SampleMeta {
  imageId?: number
  categoryId?: number
  /** Original image size in pixels. */
  width?: number
  height?: number
  /** Resized size the model saw (Qwen2.5-VL absolute coordinates). */
  resizedWidth?: number
  resizedHeight?: number
  [k: string]: unknown
}
