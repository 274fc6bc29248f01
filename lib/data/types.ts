/**
 * Shared data types: a training/eval sample in the reference format ({image, problem, solution}) with
 * optional structured ground truth, image sources (path or bytes; decoding is lib/model/images.ts'
 * job), the lazy Dataset interface every reader returns, and the skip-and-count bookkeeping.
 */
import type { Box } from '../rewards/boxes.js'

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

/** A record that was skipped (onError: 'skip'). */
export interface SkippedRecord {
  file: string
  /** 1-based line for text files, 0-based row for parquet, or the annotation/image id. */
  where: string
  code: string
  message: string
}

/** How a reader reacts to a bad record: throw a typed error (default) or skip and count it. */
export type OnDataError = 'throw' | 'skip'

/** A lazily read data set: random access by index and async iteration, nothing held beyond indexes. */
export interface Dataset<T = Sample> extends AsyncIterable<T> {
  /** Number of readable records (after skips). */
  readonly length: number
  /** Record i (0 ≤ i < length). */
  get(i: number): Promise<T>
  /** Records skipped so far (always empty with onError 'throw'). */
  readonly skipped: readonly SkippedRecord[]
  /** Where it was read from. */
  readonly source: string
}
