/**
 * Data sets of vrft-native: lazy readers and k-shot builders. `openDataset` takes what `--data` takes: a
 * file (.parquet, .jsonl, .json by extension), a folder of shards, or a Hugging Face data set id from the
 * local cache (lib/data/sources.ts).
 */
import { openDataSource, type DataSourceOptions } from './sources.js'
import type { Dataset, Sample } from './types.js'

export * from './types.js'
export * from './random.js'
export * from '../classes.js'
export { openRecords, writeRecords, recordToSample, checkImage, ErrorPolicy, type RecordsOptions } from './records.js'
export { openParquet, PARQUET_CODECS, type ParquetOptions } from './parquet.js'
export { DATA_DEFAULTS, resolveData, splitShards, type DataSourceOptions, type ResolvedData } from './sources.js'
export { buildDetectionKShot, openCocoDetection, type CocoDetectionOptions, type KShotDetectionOptions, type CocoPairsOptions, type ResizeFn } from './coco.js'
export { buildClassificationSet, type FolderOptions } from './folder.js'
export { readLisa, type LisaOptions } from './lisa.js'

/** Open a data file, a folder of shards or a cached hub data set lazily (`opts.split` picks a split). */
export async function openDataset(path: string, opts: DataSourceOptions = {}): Promise<Dataset<Sample>> {
  return openDataSource(path, opts)
}
