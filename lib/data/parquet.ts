/**
 * Reader of parquet data sets in the layout of the Visual-RFT releases and of Hugging Face `datasets`
 * (columns `image` = struct {bytes: binary, path: string} or plain binary, `problem`, `solution` =
 * string or large string), read with hyparquet. Every codec pyarrow writes is decoded (UNCOMPRESSED,
 * SNAPPY, GZIP, BROTLI, ZSTD, LZ4, LZ4_RAW: parquet-codecs.ts), and every encoding hyparquet reads
 * (plain, dictionary, RLE/bit-packed, delta, byte-stream-split), data pages v1 and v2.
 *
 * Lazy: opening reads only the footer and checks the schema, every column chunk and the codecs. Rows are
 * read in batches of one row group (a group larger than BATCH_BYTES is read in row slices; with the page
 * index pyarrow can write, only the pages of the slice are fetched, without it the group's column chunk
 * is), each column separately so a failure names its column, in a worker thread (parquet-decode.ts) so a
 * damaged page that sends a decoder into a runaway loop is a timeout, not a hung process. `get(i)` keeps
 * the last batch it read, iteration keeps none, so memory is one batch whatever the file size.
 *
 * An image with no bytes but a `path` is read from that path relative to the data set's folder (`root`:
 * the file's folder unless the caller says, e.g. a hub snapshot); a path leading outside it (`..`, an
 * absolute path, a symlink out of `trustRoot`) is refused.
 *
 * Errors are ERR_DATA_PARQUET naming the file, the column or row, and what was found (an unreadable
 * footer, a missing or mistyped column, an unsupported codec or encoding, a corrupt page, a bad row);
 * a missing image file is ERR_DATA_IMAGE.
 *
 * Classification (`task: 'classification'`): the data set's labels are known — every row's solution answer —
 * so on open the `solution` column alone is read once (`parquetLabels`) and each sample gets `classes` (the
 * distinct labels, sorted), which the substring reward's guard uses; `classes` in the options wins (a sharded
 * set passes the union over its shards). With `onError: 'skip'` iteration counts bad rows (and batches
 * that cannot be decoded) in `skipped` instead; `get(i)` always throws.
 */
import { realpathSync } from 'node:fs'
import { asyncBufferFromFile, parquetMetadataAsync, parquetSchema } from 'hyparquet'
import type { AsyncBuffer, FileMetaData, SchemaTree } from 'hyparquet'
import { PARQUET_CODECS } from './parquet-codecs.js'
import { decodeColumn } from './parquet-decode.js'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { VrftError, describeValue } from '../errors.js'
import { parseClassificationCompletion } from '../rewards/parse.js'
import { ErrorPolicy, checkImage } from './records.js'
import type { Dataset, OnDataError, Sample, SkippedRecord, Task } from './types.js'

/** Options of `openParquet`. */
export interface ParquetOptions {
  onError?: OnDataError
  task?: Task
  /** Folder image `path`s are relative to and must stay inside (default: the file's folder). */
  root?: string
  /** Folder symlinked image paths must resolve into (default `root`; a hub repository folder for its snapshots). */
  trustRoot?: string
  /** Longest the decoding of one column of one batch may take (default PARQUET_DECODE_TIMEOUT_MS). */
  decodeTimeoutMs?: number
  /** Class names to set on every sample (default with task classification: the file's distinct labels). */
  classes?: readonly string[]
}

export { PARQUET_CODECS }

/** Largest compressed size of a batch of rows read at once (a bigger row group is read in row slices). */
export const BATCH_BYTES = 64 * 1024 * 1024

const COLUMNS = ['image', 'problem', 'solution'] as const
type Column = (typeof COLUMNS)[number]

/** A half-open range of rows read together. */
interface Batch { start: number; end: number }

/** One row as read: each column's value. */
type RawRow = Record<Column, unknown>

const utf8 = new TextDecoder('utf-8', { fatal: true })

function parquetError(file: string, what: string, details: Record<string, unknown> = {}, cause?: unknown): VrftError {
  return new VrftError('ERR_DATA_PARQUET', `${file}: ${what}`, { file, ...details }, cause === undefined ? undefined : { cause })
}

/** "a struct {bytes, path}", "BYTE_ARRAY (STRING)", "INT64" ... for error messages. */
function describeSchema(node: SchemaTree): string {
  const e = node.element
  if (node.children.length > 0) return `a group {${node.children.map((c) => c.element.name).join(', ')}}`
  const ann = e.logical_type?.type ?? e.converted_type
  return `${e.type ?? 'no type'}${ann ? ` (${ann})` : ''}`
}

const isBinaryLeaf = (n: SchemaTree | undefined): boolean => !!n && n.children.length === 0 && n.element.type === 'BYTE_ARRAY' && n.element.repetition_type !== 'REPEATED'

/** Check the columns exist with usable types; throws ERR_DATA_PARQUET naming the column and what it found. */
function checkSchema(file: string, metadata: FileMetaData, size: number): void {
  const top = parquetSchema(metadata).children
  const byName = new Map(top.map((c) => [c.element.name, c]))
  const missing = COLUMNS.filter((c) => !byName.has(c))
  if (missing.length > 0) {
    throw parquetError(file, `expected columns image, problem, solution but columns ${missing.join(', ')} are missing (found ${top.map((c) => c.element.name).join(', ') || 'none'})`, { column: missing[0] })
  }
  const image = byName.get('image')!
  const sub = new Map(image.children.map((c) => [c.element.name, c]))
  const imageOk = image.children.length === 0
    ? isBinaryLeaf(image)
    : image.element.repetition_type !== 'REPEATED' && (sub.has('bytes') || sub.has('path')) &&
      (!sub.has('bytes') || isBinaryLeaf(sub.get('bytes'))) && (!sub.has('path') || isBinaryLeaf(sub.get('path')))
  if (!imageOk) {
    throw parquetError(file, `column image: expected a struct {bytes: binary, path: string} or binary but found ${describeSchema(image)}${image.children.length ? ` of ${image.children.map(describeSchema).join(', ')}` : ''}`, { column: 'image' })
  }
  for (const c of ['problem', 'solution'] as const) {
    const n = byName.get(c)!
    if (!isBinaryLeaf(n)) throw parquetError(file, `column ${c}: expected a string (or large string) column but found ${describeSchema(n)}`, { column: c })
  }
  // Every chunk must name a leaf of the schema and lie inside the file: hyparquet resolves chunk paths
  // while it starts the reads of a row group, and a path it cannot resolve leaves the reads already
  // started with no one awaiting them (an unhandled rejection, fatal in Node) instead of an error.
  const leaves = new Set<string>()
  const walk = (n: SchemaTree): void => {
    if (n.children.length === 0) leaves.add(n.path.join('.'))
    else n.children.forEach(walk)
  }
  for (const c of COLUMNS) walk(byName.get(c)!)
  for (const [g, rg] of metadata.row_groups.entries()) {
    const seen = new Set<string>()
    for (const chunk of rg.columns) {
      const meta = chunk.meta_data
      if (!meta) throw parquetError(file, `row group ${g}: expected column chunk metadata but found none`)
      const path = meta.path_in_schema.join('.')
      if (!COLUMNS.includes(meta.path_in_schema[0] as Column)) continue
      if (!leaves.has(path)) throw parquetError(file, `column ${meta.path_in_schema[0]}: row group ${g}: expected a chunk of a column of the schema but found one of ${JSON.stringify(path)}`, { column: meta.path_in_schema[0] })
      if (chunk.file_path) throw parquetError(file, `column ${path}: row group ${g}: expected the data in this file but found it in ${JSON.stringify(chunk.file_path)}`, { column: path })
      const start = Number(meta.dictionary_page_offset || meta.data_page_offset)
      const end = start + Number(meta.total_compressed_size)
      if (!(Number.isSafeInteger(start) && start >= 0 && Number.isSafeInteger(end) && end <= size)) {
        throw parquetError(file, `column ${path}: row group ${g}: expected the column chunk inside the file (${size} bytes) but found bytes ${start}–${end} (truncated file?)`, { column: path })
      }
      seen.add(path)
      if (!PARQUET_CODECS.includes(meta.codec)) {
        throw parquetError(file, `column ${meta.path_in_schema.join('.')}: row group ${g}: expected a codec among ${PARQUET_CODECS.join(', ')} but found ${meta.codec}`, { column: meta.path_in_schema.join('.') })
      }
    }
    const absent = [...leaves].filter((l) => !seen.has(l))
    if (absent.length) throw parquetError(file, `column ${absent[0]}: row group ${g}: expected a chunk of every column but found none of ${absent.join(', ')}`, { column: absent[0] })
  }
}

/** Rows read together: whole row groups, a group whose chunks exceed BATCH_BYTES split into equal row slices. */
function planBatches(metadata: FileMetaData): Batch[] {
  const out: Batch[] = []
  let start = 0
  for (const rg of metadata.row_groups) {
    const rows = Number(rg.num_rows)
    let bytes = 0
    for (const c of rg.columns) if (COLUMNS.includes(c.meta_data?.path_in_schema[0] as Column)) bytes += Number(c.meta_data?.total_compressed_size ?? 0)
    const parts = Math.max(1, Math.min(rows, Math.ceil(bytes / BATCH_BYTES)))
    for (let p = 0; p < parts; p++) {
      const a = start + Math.floor((rows * p) / parts)
      const b = start + Math.floor((rows * (p + 1)) / parts)
      if (b > a) out.push({ start: a, end: b })
    }
    start += rows
  }
  return out
}

/** True when `child` is `root` or inside it. */
function inside(root: string, child: string): boolean {
  const r = relative(root, child)
  return r === '' || (!r.startsWith('..') && !isAbsolute(r))
}

class ParquetDataset implements Dataset<Sample> {
  private readonly policy: ErrorPolicy
  private readonly batches: Batch[]
  private cached: { batch: number; rows: RawRow[] } | undefined
  constructor(
    readonly source: string,
    private readonly metadata: FileMetaData,
    readonly length: number,
    private readonly opts: ParquetOptions & { root: string; trustRoot: string },
  ) {
    this.policy = new ErrorPolicy(opts.onError)
    this.batches = planBatches(metadata)
  }
  get skipped(): readonly SkippedRecord[] {
    return this.policy.skipped
  }
  /** Set the class list every sample carries (openParquet: the labels of the file or of all shards). */
  setClasses(classes: readonly string[]): void {
    this.opts.classes = classes
  }
  /** Forget the batch `get` keeps (a sharded set calls it when it moves to another shard). */
  release(): void {
    this.cached = undefined
  }
  /** The distinct answers of the `solution` column (classification labels), read batch by batch. */
  async labels(): Promise<Set<string>> {
    const out = new Set<string>()
    for (const b of this.batches) {
      let got: unknown[]
      try {
        got = await decodeColumn(this.source, this.metadata, 'solution', b.start, b.end, this.opts.decodeTimeoutMs)
      } catch (e) {
        throw parquetError(this.source, `column solution: could not decode rows ${b.start}–${b.end - 1} (${e instanceof Error ? e.message : String(e)})`, { column: 'solution', rows: [b.start, b.end] }, e)
      }
      for (const v of got) if (typeof v === 'string') out.add(parseClassificationCompletion(v))
    }
    out.delete('')
    return out
  }
  /** Rows [b.start, b.end), each column read on its own so an error names it. */
  private async readBatch(b: Batch): Promise<RawRow[]> {
    const n = b.end - b.start
    const rows: RawRow[] = []
    for (const column of COLUMNS) {
      let got: unknown[]
      try {
        got = await decodeColumn(this.source, this.metadata, column, b.start, b.end, this.opts.decodeTimeoutMs)
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e)
        throw parquetError(this.source, `column ${column}: could not decode rows ${b.start}–${b.end - 1} (${msg})`, { column, rows: [b.start, b.end] }, e)
      }
      if (got.length !== n) {
        throw parquetError(this.source, `column ${column}: expected ${n} values for rows ${b.start}–${b.end - 1} but found ${got.length}`, { column, rows: [b.start, b.end] })
      }
      for (let k = 0; k < n; k++) (rows[k] ??= { image: undefined, problem: undefined, solution: undefined })[column] = got[k]
    }
    return rows
  }
  private batchOf(i: number): number {
    let lo = 0
    let hi = this.batches.length - 1
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1
      if (this.batches[mid]!.start <= i) lo = mid
      else hi = mid - 1
    }
    return lo
  }
  /** Row i; throws for a bad row whatever `onError` says (random access cannot skip). */
  async get(i: number): Promise<Sample> {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new VrftError('ERR_INVALID_ARG', `Expected a row index in [0, ${this.length}) for ${this.source} but received ${describeValue(i)}`)
    }
    const bi = this.batchOf(i)
    if (this.cached?.batch !== bi) {
      this.cached = undefined
      this.cached = { batch: bi, rows: await this.readBatch(this.batches[bi]!) }
    }
    return this.toSample(this.cached.rows[i - this.batches[bi]!.start]!, i)
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (const b of this.batches) {
      let rows: RawRow[]
      try {
        rows = await this.readBatch(b)
      } catch (e) {
        this.policy.fail(e as VrftError, this.source, `rows ${b.start}–${b.end - 1}`)
        continue
      }
      for (let k = 0; k < rows.length; k++) {
        let s: Sample
        try {
          s = await this.toSample(rows[k]!, b.start + k)
        } catch (e) {
          if (!(e instanceof VrftError)) throw e
          this.policy.fail(e, this.source, `row ${b.start + k}`)
          continue
        }
        yield s
      }
      rows = []
    }
  }
  private async toSample(row: RawRow, index: number): Promise<Sample> {
    const file = this.source
    const bad = (column: string, what: string, got: unknown): VrftError =>
      new VrftError('ERR_DATA_PARQUET', `${file}: row ${index}: column ${column}: expected ${what} but received ${describeValue(got)}`, { file, row: index, column })
    const text = (column: 'problem' | 'solution'): string => {
      const v = row[column]
      if (typeof v === 'string') return v
      if (v instanceof Uint8Array) {
        try {
          return utf8.decode(v)
        } catch {
          throw bad(column, 'UTF-8 text', v)
        }
      }
      throw bad(column, 'a string', v)
    }
    const problem = text('problem')
    const solution = text('solution')
    const img = row.image
    let image: Sample['image']
    if (img instanceof Uint8Array) {
      if (img.length === 0) throw bad('image', 'the encoded image bytes', img)
      image = { bytes: img }
    } else if (img !== null && typeof img === 'object') {
      const { bytes, path } = img as { bytes?: unknown; path?: unknown }
      const p = path instanceof Uint8Array ? Buffer.from(path).toString('utf8') : path
      if (bytes instanceof Uint8Array && bytes.length > 0) image = typeof p === 'string' ? { bytes, path: p } : { bytes }
      else if (bytes !== null && bytes !== undefined && !(bytes instanceof Uint8Array)) throw bad('image.bytes', 'binary image bytes', bytes)
      else if (typeof p === 'string' && p.length > 0) image = { path: await this.imagePath(p, index) }
      else throw bad('image', 'image.bytes with the encoded image or an image.path', bytes)
    } else {
      throw bad('image', 'an image struct {bytes, path}', img)
    }
    const s: Sample = { id: `${file}#${index}`, image, problem, solution }
    if (this.opts.task) s.task = this.opts.task
    if (this.opts.classes) s.classes = this.opts.classes
    return s
  }
  /** An image `path` resolved inside the data set's folder, existing and readable. */
  private async imagePath(p: string, index: number): Promise<string> {
    const { root, trustRoot } = this.opts
    const full = resolve(root, p)
    const refuse = (where: string): VrftError =>
      new VrftError('ERR_DATA_PARQUET', `${this.source}: row ${index}: column image: expected an image.path inside the data set folder ${where} but received ${describeValue(p)}`, { file: this.source, row: index, column: 'image' })
    if (!inside(root, full)) throw refuse(root)
    await checkImage(full, this.source, `row ${index}`)
    let real: string
    let trusted: string
    try {
      real = realpathSync(full)
      trusted = realpathSync(trustRoot)
    } catch (e) {
      throw new VrftError('ERR_DATA_IMAGE', `${this.source}:row ${index}: image ${full} is missing or unreadable (${(e as Error).message})`, { file: this.source, image: full })
    }
    if (!inside(trusted, real)) throw refuse(trustRoot)
    return full
  }
}

/** Open a parquet data file. Reads the footer and checks columns and codecs; rows are read lazily. */
export async function openParquet(path: string, opts: ParquetOptions = {}): Promise<Dataset<Sample> & { release(): void }> {
  const file = resolve(path)
  let buf: AsyncBuffer
  let metadata: FileMetaData
  try {
    buf = await asyncBufferFromFile(file)
    metadata = await parquetMetadataAsync(buf)
    checkSchema(file, metadata, buf.byteLength)
  } catch (e) {
    if (e instanceof VrftError) throw e
    throw parquetError(file, `could not read the parquet footer (${e instanceof Error ? e.message : String(e)})`, {}, e)
  }
  const n = Number(metadata.num_rows)
  const sum = metadata.row_groups.reduce((a, g) => a + Number(g.num_rows), 0)
  if (!(Number.isSafeInteger(n) && n >= 0) || n !== sum) {
    throw parquetError(file, `expected the footer's row count to equal the sum over its row groups but found ${n} and ${sum}`)
  }
  const root = resolve(opts.root ?? dirname(file))
  const ds = new ParquetDataset(file, metadata, n, { ...opts, root, trustRoot: resolve(opts.trustRoot ?? root) })
  if (!opts.classes && opts.task === 'classification') ds.setClasses([...(await ds.labels())].sort())
  return ds
}

/** The distinct classification labels (solution answers) of parquet files, sorted: the union over shards. */
export async function parquetLabels(files: readonly string[], opts: Pick<ParquetOptions, 'decodeTimeoutMs'> = {}): Promise<string[]> {
  const all = new Set<string>()
  for (const f of files) {
    const ds = (await openParquet(f, { ...opts, classes: [] })) as unknown as ParquetDataset
    for (const l of await ds.labels()) all.add(l)
  }
  return [...all].sort()
}
