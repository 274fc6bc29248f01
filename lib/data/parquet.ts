/**
 * Reader of the authors' released parquet files (ViRFT_*: columns `image` {bytes, path}, `problem`,
 * `solution`), read directly with hyparquet. Only the footer is read on open; rows are read on demand
 * (`get(i)` reads one row, iteration reads one row group at a time), so image bytes never all sit in
 * memory. A row without image bytes or with a non-string problem/solution raises ERR_DATA_PARQUET
 * naming the file and row, or with `onError: 'skip'` is counted in `skipped` while iterating.
 * Classification (`task: 'classification'`): the data set's labels are known — every row's solution
 * answer — so on open the `solution` column alone is read once and each sample gets `classes` (the
 * distinct labels, sorted), which the substring reward's guard uses; `classes` in the options wins.
 */
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects, parquetSchema } from 'hyparquet'
import type { AsyncBuffer, FileMetaData } from 'hyparquet'
import { resolve } from 'node:path'
import { VrftError, describeValue } from '../errors.js'
import { parseClassificationCompletion } from '../rewards/parse.js'
import { ErrorPolicy } from './records.js'
import type { Dataset, OnDataError, Sample, SkippedRecord, Task } from './types.js'

/** Options of `openParquet`. */
export interface ParquetOptions {
  onError?: OnDataError
  task?: Task
  /** Class names to set on every sample (default with task classification: the file's distinct labels). */
  classes?: readonly string[]
}

const COLUMNS = ['image', 'problem', 'solution']

function rowToSample(row: Record<string, unknown>, file: string, index: number, task?: Task, classes?: readonly string[]): Sample {
  const bad = (what: string, got: unknown): VrftError =>
    new VrftError('ERR_DATA_PARQUET', `${file}: row ${index}: expected ${what} but received ${describeValue(got)}`, { file, row: index })
  const img = row.image as { bytes?: unknown; path?: unknown } | null | undefined
  if (!img || typeof img !== 'object') throw bad('an image struct {bytes, path}', img)
  if (!(img.bytes instanceof Uint8Array) || img.bytes.length === 0) throw bad('image.bytes with the encoded image', img.bytes)
  if (typeof row.problem !== 'string') throw bad('a string problem', row.problem)
  if (typeof row.solution !== 'string') throw bad('a string solution', row.solution)
  const s: Sample = {
    id: `${file}#${index}`,
    image: typeof img.path === 'string' ? { bytes: img.bytes, path: img.path } : { bytes: img.bytes },
    problem: row.problem,
    solution: row.solution,
  }
  if (task) s.task = task
  if (classes) s.classes = classes
  return s
}

class ParquetDataset implements Dataset<Sample> {
  private readonly policy: ErrorPolicy
  constructor(
    readonly source: string,
    private readonly file: AsyncBuffer,
    private readonly metadata: FileMetaData,
    readonly length: number,
    onError: OnDataError | undefined,
    private readonly task: Task | undefined,
    private readonly classes?: readonly string[],
  ) {
    this.policy = new ErrorPolicy(onError)
  }
  get skipped(): readonly SkippedRecord[] {
    return this.policy.skipped
  }
  private async rows(start: number, end: number): Promise<Record<string, unknown>[]> {
    return (await parquetReadObjects({ file: this.file, metadata: this.metadata, columns: COLUMNS, rowStart: start, rowEnd: end, utf8: false })) as Record<string, unknown>[]
  }
  /** Row i; throws ERR_DATA_PARQUET for a bad row whatever `onError` says (random access cannot skip). */
  async get(i: number): Promise<Sample> {
    if (!(Number.isInteger(i) && i >= 0 && i < this.length)) {
      throw new VrftError('ERR_INVALID_ARG', `Expected a row index in [0, ${this.length}) for ${this.source} but received ${describeValue(i)}`)
    }
    const [row] = await this.rows(i, i + 1)
    return rowToSample(row!, this.source, i, this.task, this.classes)
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    let start = 0
    for (const rg of this.metadata.row_groups) {
      const end = start + Number(rg.num_rows)
      const rows = await this.rows(start, end)
      for (let k = 0; k < rows.length; k++) {
        let s: Sample
        try {
          s = rowToSample(rows[k]!, this.source, start + k, this.task, this.classes)
        } catch (e) {
          this.policy.fail(e as VrftError, this.source, `row ${start + k}`)
          continue
        }
        yield s
      }
      start = end
    }
  }
}

/** Open a ViRFT parquet file. Checks the columns exist; rows are read lazily. */
export async function openParquet(path: string, opts: ParquetOptions = {}): Promise<Dataset<Sample>> {
  const file = resolve(path)
  let buf: AsyncBuffer
  let metadata: FileMetaData
  try {
    buf = await asyncBufferFromFile(file)
    metadata = await parquetMetadataAsync(buf)
  } catch (e) {
    throw new VrftError('ERR_DATA_PARQUET', `Could not read parquet file ${file}: ${(e as Error).message}`, { file }, { cause: e })
  }
  const top = parquetSchema(metadata).children.map((c) => c.element.name)
  const missing = COLUMNS.filter((c) => !top.includes(c))
  if (missing.length > 0) {
    throw new VrftError('ERR_DATA_PARQUET', `Expected columns image, problem, solution in ${file} but columns ${missing.join(', ')} are missing (found ${top.join(', ')})`, { file })
  }
  let classes = opts.classes
  if (!classes && opts.task === 'classification') {
    const rows = (await parquetReadObjects({ file: buf, metadata, columns: ['solution'] })) as Array<{ solution?: unknown }>
    const labels = new Set<string>()
    for (const r of rows) if (typeof r.solution === 'string') labels.add(parseClassificationCompletion(r.solution))
    labels.delete('')
    classes = [...labels].sort()
  }
  return new ParquetDataset(file, buf, metadata, Number(metadata.num_rows), opts.onError, opts.task, classes)
}
