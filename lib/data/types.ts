/**
 * Data-reader types: the lazy Dataset interface every reader returns and the skip-and-count bookkeeping.
 * The sample record itself (Sample, Task, ImageSource) lives in lib/sample.ts and is re-exported here.
 */
export type { ImageSource, Sample, SampleMeta, Task } from '../sample.js'
import type { Sample } from '../sample.js'

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
