/**
 * Data as people have it: `--data` names a file (.parquet, .jsonl, .json), a folder of shards, or a
 * Hugging Face data set id (`Org/Name[@revision]`) resolved in the local hub cache
 * (`datasets--Org--Name/snapshots/<commit>/`, through lib/hub.ts like models; nothing is downloaded).
 * A folder (or snapshot) holds a split's shards as `data/<split>-*.parquet`, `data/<split>/*.parquet`,
 * `<split>/*.parquet` or `<split>-*.parquet` (JSONL shards likewise); the shards of a split are read in
 * name order as one lazy data set, each shard's rows read only when reached.
 * Errors: ERR_DATA_NOT_FOUND (a path or id that is neither a file, a folder nor a cached data set:
 * it says every place it looked), ERR_DATA_OPEN (a folder without shards of the split: it names the
 * splits it found).
 */
import { readdirSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { VrftError, describeValue } from '../errors.js'
import { HUB_ID, findSnapshot, isDir } from '../hub.js'
import { openParquet, parquetLabels, type ParquetOptions } from './parquet.js'
import { openRecords, type RecordsOptions } from './records.js'
import type { Dataset, Sample, SkippedRecord } from './types.js'

export { DATA_DEFAULTS } from '../defaults.js'
import { DATA_DEFAULTS } from '../defaults.js'

/** Options of `openDataset`: the records options plus the split of a folder or hub data set. */
export interface DataSourceOptions extends RecordsOptions {
  /** Split of a folder or hub data set (default `DATA_DEFAULTS.split`); ignored for a single file. */
  split?: string
  /** Environment the hub cache is found from (default process.env). */
  env?: NodeJS.ProcessEnv
  /** Parquet: longest the decoding of one column of one batch may take (default PARQUET_DECODE_TIMEOUT_MS). */
  decodeTimeoutMs?: number
}

/** What a `--data` value names. */
export interface ResolvedData {
  /** Data files in reading order (one for a plain file). */
  files: string[]
  /** The data set's folder: image paths inside the data are relative to it and may not leave it. */
  root: string
  /** Folder symlinks may resolve into (the hub repository, whose snapshots link into `blobs/`). */
  trustRoot: string
  /** The split read (folders and hub data sets). */
  split?: string
  hubId?: string
  commit?: string
}

const EXTS = ['.parquet', '.jsonl']

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile()
  } catch {
    return false
  }
}

function listFiles(dir: string, keep: (name: string) => boolean): string[] {
  if (!isDir(dir)) return []
  return readdirSync(dir).filter((n) => keep(n) && EXTS.some((e) => n.endsWith(e)) && isFile(join(dir, n))).sort().map((n) => join(dir, n))
}

/** The shards of `split` in folder `dir`, by the first layout that has any. */
export function splitShards(dir: string, split: string): string[] {
  const prefixed = (n: string): boolean => n.startsWith(`${split}-`) || n.startsWith(`${split}.`) || n.startsWith(`${split}_`)
  for (const files of [
    () => listFiles(join(dir, 'data'), prefixed),
    () => listFiles(join(dir, 'data', split), () => true),
    () => listFiles(join(dir, split), () => true),
    () => listFiles(dir, prefixed),
  ]) {
    const f = files()
    if (f.length > 0) return f
  }
  return []
}

/** Split names a folder has shards of (for error messages). */
function foundSplits(dir: string): string[] {
  const names = new Set<string>()
  for (const d of [dir, join(dir, 'data')]) {
    if (!isDir(d)) continue
    for (const n of readdirSync(d)) {
      const m = /^([A-Za-z0-9_.]+?)[-_.]/.exec(n)
      if (m && EXTS.some((e) => n.endsWith(e))) names.add(m[1]!)
      else if (n !== 'data' && splitShards(d, n).length > 0 && isDir(join(d, n))) names.add(n)
    }
  }
  return [...names].sort()
}

function folderData(dir: string, split: string, trustRoot: string, extra: Partial<ResolvedData> = {}): ResolvedData {
  const files = splitShards(dir, split)
  if (files.length === 0) {
    const splits = foundSplits(dir)
    throw new VrftError('ERR_DATA_OPEN',
      `Expected shards of split ${JSON.stringify(split)} in ${dir} (data/${split}-*.parquet, data/${split}/*.parquet, ${split}/*.parquet or ${split}-*.parquet; .jsonl likewise) but found ` +
      (splits.length ? `only the split(s) ${splits.join(', ')} (pass --split)` : 'no data files'),
      { dir, split, splits })
  }
  return { files, root: dir, trustRoot, split, ...extra }
}

/** Resolve a `--data` value: a file, a folder of shards, or a hub data set id in the local cache. */
export function resolveData(spec: string, opts: { split?: string; env?: NodeJS.ProcessEnv } = {}): ResolvedData {
  const split = opts.split ?? DATA_DEFAULTS.split
  if (typeof spec !== 'string' || spec.length === 0) throw new VrftError('ERR_INVALID_ARG', `Expected a data file, folder or hub id but received ${describeValue(spec)}`)
  if (!/^[\w.-]+$/.test(split) || /^\.+$/.test(split)) throw new VrftError('ERR_INVALID_ARG', `Expected a split name (letters, digits, _ . -) but received ${describeValue(split)}`)
  if (isFile(spec)) {
    const file = resolve(spec)
    return { files: [file], root: dirname(file), trustRoot: dirname(file) }
  }
  if (isDir(spec)) {
    const dir = resolve(spec)
    return folderData(dir, split, dir)
  }
  const looked: string[] = []
  if (HUB_ID.test(spec) && !spec.startsWith('.')) {
    const snap = findSnapshot('dataset', spec, isDir, looked, opts.env)
    if (snap) return folderData(snap.dir, split, snap.repo, { hubId: snap.hubId, commit: snap.commit })
  }
  looked.unshift(resolve(spec))
  throw new VrftError('ERR_DATA_NOT_FOUND',
    `Data ${JSON.stringify(spec)} not found (nothing is downloaded). Looked in: ${looked.join(', ')}. Pass a data file, a folder of shards, ` +
    `or a data set in the local Hugging Face cache (e.g. \`huggingface-cli download --repo-type dataset ${HUB_ID.test(spec) ? spec.split('@')[0] : 'Org/Name'}\`).`,
    { looked })
}

/** Open one data file by extension. */
export async function openFile(path: string, opts: RecordsOptions & ParquetOptions = {}): Promise<Dataset<Sample> & { release?(): void }> {
  if (path.endsWith('.parquet')) {
    const { onError, task, root, trustRoot, decodeTimeoutMs, classes } = opts
    return openParquet(path, {
      ...(onError ? { onError } : {}), ...(task ? { task } : {}), ...(root ? { root } : {}), ...(trustRoot ? { trustRoot } : {}),
      ...(decodeTimeoutMs ? { decodeTimeoutMs } : {}), ...(classes ? { classes } : {}),
    })
  }
  if (path.endsWith('.jsonl') || path.endsWith('.json')) return openRecords(path, opts)
  throw new VrftError('ERR_DATA_OPEN', `Expected a .jsonl, .json or .parquet data file but received ${path}`)
}

/** Shards read as one data set: global index → (shard, row); each shard only when reached. */
class ShardedDataset implements Dataset<Sample> {
  private readonly offsets: number[] = [0]
  private current: number | undefined
  constructor(readonly source: string, private readonly shards: Array<Dataset<Sample> & { release?(): void }>) {
    for (const s of shards) this.offsets.push(this.offsets[this.offsets.length - 1]! + s.length)
  }
  get length(): number {
    return this.offsets[this.offsets.length - 1]!
  }
  get skipped(): readonly SkippedRecord[] {
    return this.shards.flatMap((s) => s.skipped)
  }
  async get(i: number): Promise<Sample> {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new VrftError('ERR_INVALID_ARG', `Expected an index in [0, ${this.length}) for ${this.source} but received ${describeValue(i)}`)
    }
    let k = 0
    let hi = this.shards.length - 1
    while (k < hi) {
      const mid = (k + hi + 1) >> 1
      if (this.offsets[mid]! <= i) k = mid
      else hi = mid - 1
    }
    if (this.current !== undefined && this.current !== k) this.shards[this.current]!.release?.()
    this.current = k
    return this.shards[k]!.get(i - this.offsets[k]!)
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (const s of this.shards) yield* s
  }
}

/**
 * Open `--data`: a file, a folder of shards or a hub data set id (see `resolveData`), lazily. A single
 * file is returned as its reader; shards as one data set whose `source` is the folder (plus `#split`).
 */
export async function openDataSource(spec: string, opts: DataSourceOptions = {}): Promise<Dataset<Sample>> {
  const r = resolveData(spec, { ...(opts.split ? { split: opts.split } : {}), ...(opts.env ? { env: opts.env } : {}) })
  const fileOpts = { ...opts, root: r.root, trustRoot: r.trustRoot }
  if (r.files.length === 1 && r.split === undefined) return openFile(r.files[0]!, fileOpts)
  // classification over parquet shards: every sample carries the labels of the whole split, not of its shard
  const parquet = r.files.filter((f) => f.endsWith('.parquet'))
  const classes = opts.task === 'classification' && !('classes' in opts) && parquet.length > 1
    ? await parquetLabels(parquet, opts.decodeTimeoutMs ? { decodeTimeoutMs: opts.decodeTimeoutMs } : {}) : undefined
  const shards: Array<Dataset<Sample> & { release?(): void }> = []
  for (const f of r.files) shards.push(await openFile(f, { ...fileOpts, ...(classes ? { classes } : {}) }))
  return new ShardedDataset(`${r.hubId ?? r.root}#${r.split}`, shards)
}
