/** Data sets of vrft-native: lazy readers and k-shot builders. `openDataset` picks the reader by extension. */
import { VrftError } from '../errors.js'
import { openParquet } from './parquet.js'
import { openRecords, type RecordsOptions } from './records.js'
import type { Dataset, Sample } from './types.js'

export * from './types.js'
export * from './random.js'
export * from '../classes.js'
export { openRecords, writeRecords, recordToSample, checkImage, ErrorPolicy, type RecordsOptions } from './records.js'
export { openParquet, type ParquetOptions } from './parquet.js'
export { buildDetectionKShot, openCocoDetection, type CocoDetectionOptions, type KShotDetectionOptions, type CocoPairsOptions, type ResizeFn } from './coco.js'
export { buildClassificationSet, type FolderOptions } from './folder.js'
export { readLisa, type LisaOptions } from './lisa.js'

/** Open `.jsonl`/`.json` (records) or `.parquet` lazily. */
export async function openDataset(path: string, opts: RecordsOptions = {}): Promise<Dataset<Sample>> {
  if (path.endsWith('.parquet')) return openParquet(path, { onError: opts.onError, task: opts.task })
  if (path.endsWith('.jsonl') || path.endsWith('.json')) return openRecords(path, opts)
  throw new VrftError('ERR_DATA_OPEN', `Expected a .jsonl, .json or .parquet data file but received ${path}`)
}
