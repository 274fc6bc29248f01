/**
 * Lazy readers of the reference record format `{image | image_path, problem, solution}` in JSONL (one
 * record a line) or JSON (one top-level array). Opening streams the file once to validate every
 * record and remember the byte range of each good one; `get(i)` later reads just that range, so a
 * large set never sits in memory. Image paths are resolved relative to the data file and checked to
 * exist and be readable (decoding is lib/model/images.ts' job). Optional integer fields `image_id`,
 * `width`, `height` (COCO image id and original size) become `sample.meta` for evaluation.
 * Errors name the file and line: ERR_DATA_JSONL (a line that is not JSON), ERR_DATA_JSON (a broken
 * array), ERR_DATA_RECORD (missing or mistyped field), ERR_DATA_IMAGE (missing/unreadable image).
 * With `onError: 'skip'` each is counted in `dataset.skipped` instead; nothing is dropped silently.
 */
import { createReadStream, constants as fsc, promises as fsp } from 'node:fs'
import { dirname, isAbsolute, relative, resolve } from 'node:path'
import { VrftError, describeValue } from '../errors.js'
import type { Dataset, OnDataError, Sample, SkippedRecord, Task } from './types.js'

/** Options of `openRecords`. */
export interface RecordsOptions {
  /** `throw` (default) or `skip` (count bad records in `skipped`). */
  onError?: OnDataError
  /** Check that each image file exists and is readable when opening (default true). */
  checkImages?: boolean
  /** Folder image paths are relative to (default: the data file's folder). */
  imageRoot?: string
  /** Task to stamp on samples that do not say. */
  task?: Task
}

/** Collects skipped records or throws, per `onError`. */
export class ErrorPolicy {
  readonly skipped: SkippedRecord[] = []
  constructor(readonly onError: OnDataError = 'throw') {
    if (onError !== 'throw' && onError !== 'skip') {
      throw new VrftError('ERR_INVALID_ARG', `Expected 'throw' or 'skip' for onError but received ${describeValue(onError)}`)
    }
  }
  /** Throw `e` (mode throw) or record it (mode skip). */
  fail(e: VrftError, file: string, where: string): void {
    if (this.onError === 'throw') throw e
    this.skipped.push({ file, where, code: e.code, message: e.message })
  }
}

/** Turn a parsed record into a Sample, or throw ERR_DATA_RECORD. */
export function recordToSample(rec: unknown, file: string, where: string, imageRoot: string, task?: Task): Sample {
  const bad = (what: string, got: unknown): VrftError =>
    new VrftError('ERR_DATA_RECORD', `${file}:${where}: expected ${what} but received ${describeValue(got)}`, { file, where })
  if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw bad('an object {image, problem, solution}', rec)
  const r = rec as Record<string, unknown>
  const img = r.image ?? r.image_path
  if (typeof img !== 'string' || img.length === 0) throw bad('a string "image" or "image_path"', img)
  if (typeof r.problem !== 'string') throw bad('a string "problem"', r.problem)
  if (typeof r.solution !== 'string') throw bad('a string "solution"', r.solution)
  const t = r.task ?? task
  const s: Sample = { id: `${file}:${where}`, image: { path: isAbsolute(img) ? img : resolve(imageRoot, img) }, problem: r.problem, solution: r.solution }
  if (t === 'detection' || t === 'classification' || t === 'grounding') s.task = t
  // Optional provenance for evaluation: the COCO image id (exist maps are keyed by it) and the original size.
  const meta: NonNullable<Sample['meta']> = {}
  for (const [key, field] of [['image_id', 'imageId'], ['width', 'width'], ['height', 'height']] as const) {
    const v = r[key]
    if (v === undefined) continue
    if (typeof v !== 'number' || !Number.isInteger(v) || v < (key === 'image_id' ? 0 : 1)) throw bad(`an integer "${key}"`, v)
    meta[field] = v
  }
  if (Object.keys(meta).length) s.meta = meta
  return s
}

/** Check an image path is a readable file, else ERR_DATA_IMAGE. */
export async function checkImage(path: string, file: string, where: string): Promise<void> {
  try {
    await fsp.access(path, fsc.R_OK)
    const st = await fsp.stat(path)
    if (!st.isFile()) throw new Error('not a file')
  } catch (e) {
    throw new VrftError('ERR_DATA_IMAGE', `${file}:${where}: image ${path} is missing or unreadable (${(e as Error).message})`, { file, where, image: path })
  }
}

/** Byte ranges of the top-level items of a file, with their 1-based line numbers. */
interface Item { start: number; end: number; line: number }

/** Stream a JSONL file, yielding each non-empty line's byte range. */
async function* jsonlItems(path: string): AsyncGenerator<Item> {
  let offset = 0
  let line = 1
  let start = 0
  let startLine = 1
  let nonEmpty = false
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!
      if (c === 0x0a) {
        if (nonEmpty) yield { start, end: offset + i, line: startLine }
        line++
        start = offset + i + 1
        startLine = line
        nonEmpty = false
      } else if (c !== 0x20 && c !== 0x0d && c !== 0x09) nonEmpty = true
    }
    offset += chunk.length
  }
  if (nonEmpty) yield { start, end: offset, line: startLine }
}

/** Stream a JSON array file, yielding each element's byte range (strings and nesting tracked). */
async function* jsonArrayItems(path: string): AsyncGenerator<Item> {
  let offset = 0, line = 1, depth = 0, inStr = false, esc = false, started = false, done = false
  let itemStart = -1, itemLine = 0
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i]!
      const pos = offset + i
      if (c === 0x0a) line++
      if (inStr) {
        if (esc) esc = false
        else if (c === 0x5c) esc = true
        else if (c === 0x22) inStr = false
        continue
      }
      if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) continue
      if (done) throw new VrftError('ERR_DATA_JSON', `${path}:${line}: unexpected text after the end of the top-level array`, { file: path, line })
      if (!started) {
        if (c !== 0x5b) throw new VrftError('ERR_DATA_JSON', `${path}:${line}: expected a JSON array of records ('[') but found '${String.fromCharCode(c)}'`, { file: path, line })
        started = true
        depth = 1
        continue
      }
      if (depth === 1 && (c === 0x2c || c === 0x5d)) {
        if (itemStart >= 0) yield { start: itemStart, end: pos, line: itemLine }
        else if (c === 0x2c) throw new VrftError('ERR_DATA_JSON', `${path}:${line}: empty array element`, { file: path, line })
        itemStart = -1
        if (c === 0x5d) { depth = 0; done = true }
        continue
      }
      if (itemStart < 0) { itemStart = pos; itemLine = line }
      if (c === 0x22) inStr = true
      else if (c === 0x7b || c === 0x5b) depth++
      else if (c === 0x7d || c === 0x5d) depth--
    }
    offset += chunk.length
  }
  if (!done) throw new VrftError('ERR_DATA_JSON', `${path}:${line}: the JSON array is not closed (file truncated?)`, { file: path, line })
}

class RecordsDataset implements Dataset<Sample> {
  constructor(
    readonly source: string,
    private readonly items: Item[],
    readonly skipped: readonly SkippedRecord[],
    private readonly imageRoot: string,
    private readonly task: Task | undefined,
  ) {}
  get length(): number {
    return this.items.length
  }
  async get(i: number): Promise<Sample> {
    const it = this.items[i]
    if (it === undefined) throw new VrftError('ERR_INVALID_ARG', `Expected an index in [0, ${this.items.length}) for ${this.source} but received ${describeValue(i)}`)
    const fh = await fsp.open(this.source, 'r')
    try {
      const buf = Buffer.alloc(it.end - it.start)
      await fh.read(buf, 0, buf.length, it.start)
      return recordToSample(JSON.parse(buf.toString('utf8')), this.source, String(it.line), this.imageRoot, this.task)
    } finally {
      await fh.close()
    }
  }
  async *[Symbol.asyncIterator](): AsyncIterator<Sample> {
    for (let i = 0; i < this.items.length; i++) yield await this.get(i)
  }
}

/** Open a `.jsonl` or `.json` records file lazily (validated on open, read per index later). */
export async function openRecords(path: string, opts: RecordsOptions = {}): Promise<Dataset<Sample>> {
  const file = resolve(path)
  try {
    await fsp.access(file, fsc.R_OK)
  } catch (e) {
    throw new VrftError('ERR_DATA_OPEN', `Could not open data file ${file}: ${(e as Error).message}`, { file })
  }
  const policy = new ErrorPolicy(opts.onError)
  const imageRoot = opts.imageRoot ?? dirname(file)
  const isJsonl = !file.endsWith('.json')
  const items: Item[] = []
  const fh = await fsp.open(file, 'r')
  try {
    for await (const it of isJsonl ? jsonlItems(file) : jsonArrayItems(file)) {
      const where = String(it.line)
      const buf = Buffer.alloc(it.end - it.start)
      await fh.read(buf, 0, buf.length, it.start)
      let rec: unknown
      try {
        rec = JSON.parse(buf.toString('utf8'))
      } catch (e) {
        policy.fail(new VrftError(isJsonl ? 'ERR_DATA_JSONL' : 'ERR_DATA_JSON', `${file}:${where}: expected a JSON record but it does not parse (${(e as Error).message})`, { file, line: it.line }), file, where)
        continue
      }
      try {
        const s = recordToSample(rec, file, where, imageRoot, opts.task)
        if (opts.checkImages ?? true) await checkImage((s.image as { path: string }).path, file, where)
      } catch (e) {
        if (!(e instanceof VrftError)) throw e
        policy.fail(e, file, where)
        continue
      }
      items.push(it)
    }
  } finally {
    await fh.close()
  }
  return new RecordsDataset(file, items, policy.skipped, imageRoot, opts.task)
}

/**
 * Write samples as a JSONL records file `{image, problem, solution, task?}` (image paths relative to the
 * file's folder), atomically (temp + rename). Samples with in-memory image bytes cannot be written
 * (ERR_DATA_RECORD).
 */
export async function writeRecords(path: string, samples: Iterable<Sample>): Promise<number> {
  const file = resolve(path)
  const dir = dirname(file)
  const lines: string[] = []
  for (const s of samples) {
    if (!('path' in s.image) || typeof s.image.path !== 'string' || 'bytes' in s.image) {
      throw new VrftError('ERR_DATA_RECORD', `Expected an image path on sample ${s.id} to write ${file} but received image bytes`)
    }
    const rel = relative(dir, s.image.path)
    lines.push(JSON.stringify({ image: rel.startsWith('..') ? s.image.path : rel, problem: s.problem, solution: s.solution, ...(s.task ? { task: s.task } : {}) }))
  }
  const tmp = `${file}.${process.pid}.tmp`
  await fsp.writeFile(tmp, lines.join('\n') + (lines.length ? '\n' : ''))
  await fsp.rename(tmp, file)
  return lines.length
}
