/**
 * Run directories as the viewer and the TensorBoard export see them: which directories are runs (a
 * demo's folder expands to its grpo/ and sft/ sub-runs), their config.json and summary.json, the
 * folders their images may come from (the run directory and the data folders recorded in config.json),
 * the metrics of a record flattened to named scalars, and a tail that reads a .jsonl file as it grows.
 */
import { closeSync, existsSync, fstatSync, openSync, readFileSync, readSync, readdirSync, realpathSync, statSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, resolve, sep } from 'node:path'
import { VrftError } from '../errors.js'

/** Files that make a directory a run. */
const RUN_FILES = ['metrics.jsonl', 'samples.jsonl', 'eval.jsonl'] as const

/** One run directory. */
export interface RunDir {
  /** Display name: the path as given, or `<given>/<sub>` for a demo's sub-run. */
  name: string
  /** Absolute, symlinks resolved. */
  dir: string
  /** The parent folder of a demo's sub-run (its summary.json and config.json describe the demo). */
  parent?: string
}

const isRun = (d: string) => RUN_FILES.some((f) => existsSync(join(d, f)))

/**
 * Resolve the directories given on the command line to runs. A directory with metrics/samples/eval
 * files is a run; one without them whose sub-folders are runs (the demo's grpo/ and sft/) stands for
 * those; a directory with only a config.json is a run that has not logged a step yet.
 * Throws ERR_RUN_DIR for a path that is not a directory or holds no run.
 */
export function discoverRuns(paths: readonly string[]): RunDir[] {
  if (paths.length === 0) throw new VrftError('ERR_RUN_DIR', 'Expected at least one run directory but received none')
  const out: RunDir[] = []
  for (const p of paths) {
    let st
    try {
      st = statSync(p)
    } catch {
      throw new VrftError('ERR_RUN_DIR', `Expected a run directory but ${p} does not exist`)
    }
    if (!st.isDirectory()) throw new VrftError('ERR_RUN_DIR', `Expected a run directory but ${p} is not a directory`)
    const dir = realpathSync(p)
    const name = p.replace(/\/+$/, '') || p
    if (isRun(dir)) {
      out.push({ name, dir })
      continue
    }
    const subs = readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() && isRun(join(dir, e.name))).map((e) => e.name).sort()
    if (subs.length) for (const s of subs) out.push({ name: `${name}/${s}`, dir: join(dir, s), parent: dir })
    else if (existsSync(join(dir, 'config.json'))) out.push({ name, dir })
    else throw new VrftError('ERR_RUN_DIR', `Expected a run directory (metrics.jsonl, samples.jsonl, eval.jsonl or config.json, or sub-runs with them) but ${p} has none`)
  }
  const seen = new Set<string>()
  return out.filter((r) => (seen.has(r.dir) ? false : (seen.add(r.dir), true)))
}

/** Parse a JSON file; undefined when absent or unreadable (a run still starting). */
export function readJsonFile(file: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(readFileSync(file, 'utf8')) as unknown
    return v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined
  } catch {
    return undefined
  }
}

/**
 * Folders a run's images may be read from: the run directory and the folders of the data files in
 * its config.json (`data`, `evalData`; a data folder itself, else the file's folder; relative paths
 * against `cwd`). Absolute and symlink-free; folders that do not exist are left out.
 */
export function imageRoots(run: RunDir, cwd = process.cwd()): string[] {
  const roots = [run.dir]
  const cfg = readJsonFile(join(run.dir, 'config.json'))
  for (const key of ['data', 'evalData']) {
    const v = cfg?.[key]
    if (typeof v !== 'string' || !v) continue
    const abs = isAbsolute(v) ? v : resolve(cwd, v)
    try {
      const real = realpathSync(abs)
      roots.push(statSync(real).isDirectory() ? real : dirname(real))
    } catch { /* data moved or gone: nothing to serve from it */ }
  }
  return [...new Set(roots)]
}

/** True when `file` (absolute, symlink-free) is `root` or inside it. */
export function isInside(file: string, root: string): boolean {
  return file === root || file.startsWith(root.endsWith(sep) ? root : root + sep)
}

/** Keys of a metrics record that are bookkeeping, not metrics. */
const SKIP = new Set(['step', 'position', 'indices', 'epoch', 'time'])

/**
 * The numeric leaves of a record as dotted names (`reward.mean`, `rewards.iou.mean`, `kl`, ...).
 * Bookkeeping fields (step, position, indices, epoch, time), strings, booleans and arrays are left
 * out; non-finite numbers are kept (a NaN loss is worth seeing) and the reader decides.
 */
export function flattenMetrics(rec: Record<string, unknown>, prefix = '', out: Record<string, number> = {}, depth = 0): Record<string, number> {
  for (const [k, v] of Object.entries(rec)) {
    if (!prefix && SKIP.has(k)) continue
    const name = prefix ? `${prefix}.${k}` : k
    if (typeof v === 'number') out[name] = v
    else if (v && typeof v === 'object' && !Array.isArray(v) && depth < 4) flattenMetrics(v as Record<string, unknown>, name, out, depth + 1)
  }
  return out
}

/**
 * Reads a .jsonl file as it grows: `poll()` returns the complete lines appended since the last call
 * (a torn last line waits for its newline), or `reset` when the file was replaced or shrank (a resumed
 * run rewrites its logs) — then `records` holds the file's lines from the start again.
 */
export class JsonlTail<T = Record<string, unknown>> {
  readonly file: string
  records: T[] = []
  private offset = 0
  private ino = -1
  private rest: Buffer = Buffer.alloc(0)

  constructor(file: string) {
    this.file = file
  }

  poll(): { reset: boolean; added: T[] } {
    let fd: number
    try {
      fd = openSync(this.file, 'r')
    } catch {
      if (this.offset === 0) return { reset: false, added: [] }
      this.records = []
      this.offset = 0
      this.rest = Buffer.alloc(0)
      return { reset: true, added: [] }
    }
    try {
      const st = fstatSync(fd)
      let reset = false
      if ((this.ino !== -1 && st.ino !== this.ino) || st.size < this.offset) {
        reset = this.offset > 0 || this.records.length > 0
        this.records = []
        this.offset = 0
        this.rest = Buffer.alloc(0)
      }
      this.ino = st.ino
      if (st.size === this.offset) return { reset, added: [] }
      const buf = Buffer.alloc(st.size - this.offset)
      let got = 0
      while (got < buf.length) {
        const n = readSync(fd, buf, got, buf.length - got, this.offset + got)
        if (n === 0) break
        got += n
      }
      this.offset += got
      // Decode only up to the last newline: a line (or a UTF-8 character) cut by the writer waits.
      const all = this.rest.length ? Buffer.concat([this.rest, buf.subarray(0, got)]) : buf.subarray(0, got)
      const end = all.lastIndexOf(10)
      this.rest = Buffer.from(all.subarray(end + 1))
      const lines = end < 0 ? [] : all.subarray(0, end).toString('utf8').split('\n')
      const added: T[] = []
      for (const line of lines) {
        if (!line.trim()) continue
        try {
          added.push(JSON.parse(line) as T)
        } catch { /* a torn line from a killed writer */ }
      }
      this.records.push(...added)
      return { reset, added }
    } finally {
      closeSync(fd)
    }
  }
}

/** The display name of a run folder for a file name or tag: its last path parts. */
export function runLabel(run: RunDir): string {
  return run.parent ? `${basename(run.parent)}/${basename(run.dir)}` : basename(run.dir)
}
