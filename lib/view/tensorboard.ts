/**
 * TensorBoard export of a run's scalars (`vrft-native plot RUN --tensorboard DIR`): one event file
 * `events.out.tfevents.<time>.vrft-native` per run, which TensorBoard reads like any other. Written by
 * hand, no TensorFlow and no protobuf library:
 *
 *   file    = record*            record = u64 length | u32 masked_crc32c(length) | data | u32 masked_crc32c(data)
 *   masked  = ((crc >>> 15) | (crc << 17)) + 0xa282ead8  (mod 2^32; CRC-32C, Castagnoli, little-endian fields)
 *   data    = an Event protobuf:  1 wall_time (double) · 2 step (int64) · 3 file_version (string) · 5 summary (Summary)
 *   Summary = 1 value (repeated Value)     Value = 1 tag (string) · 2 simple_value (float)
 *
 * The first event carries file_version "brain.Event:2"; then one event per line of metrics.jsonl (all of
 * its scalars, tags like `reward/mean`, `rewards/iou/mean`, `kl`) and per line of eval.jsonl (`eval/score`,
 * `eval/rewards/format`, ...). A demo folder writes one sub-folder per sub-run (TensorBoard's runs).
 */
import { join } from 'node:path'
import { readJsonl, writeFileAtomic } from '../train/checkpoint.js'
import { discoverRuns, flattenMetrics, runLabel } from './runs.js'

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1
    t[i] = c >>> 0
  }
  return t
})()

/** CRC-32C (Castagnoli) of bytes. */
export function crc32c(b: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** TFRecord's masked CRC: rotate right by 15, add a constant. */
export function maskedCrc32c(b: Uint8Array): number {
  const c = crc32c(b)
  return (((c >>> 15) | (c << 17)) + 0xa282ead8) >>> 0
}

/** One TFRecord around `data`. */
export function tfrecord(data: Uint8Array): Buffer {
  const len = Buffer.alloc(8)
  len.writeBigUInt64LE(BigInt(data.length))
  const out = Buffer.alloc(8 + 4 + data.length + 4)
  len.copy(out, 0)
  out.writeUInt32LE(maskedCrc32c(len), 8)
  out.set(data, 12)
  out.writeUInt32LE(maskedCrc32c(data), 12 + data.length)
  return out
}

// ------------------------------------------------------------------------------- protobuf, by hand

function varint(n: number | bigint): number[] {
  let v = BigInt.asUintN(64, BigInt(n))
  const out: number[] = []
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80)
    v >>= 7n
  }
  out.push(Number(v))
  return out
}

const key = (field: number, wire: number) => varint((field << 3) | wire)

function lengthDelimited(field: number, bytes: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(key(field, 2)), Buffer.from(varint(bytes.length)), bytes])
}

/** A Summary.Value with a tag and a float simple_value. */
function scalarValue(tag: string, value: number): Buffer {
  const f = Buffer.alloc(4)
  f.writeFloatLE(value)
  return Buffer.concat([lengthDelimited(1, Buffer.from(tag, 'utf8')), Buffer.from(key(2, 5)), f])
}

/** An Event protobuf. */
export function encodeEvent(e: { wallTime: number; step?: number; fileVersion?: string; scalars?: Record<string, number> }): Buffer {
  const wt = Buffer.alloc(8)
  wt.writeDoubleLE(e.wallTime)
  const parts: Buffer[] = [Buffer.from(key(1, 1)), wt]
  if (e.step !== undefined) parts.push(Buffer.from([...key(2, 0), ...varint(e.step)]))
  if (e.fileVersion !== undefined) parts.push(lengthDelimited(3, Buffer.from(e.fileVersion, 'utf8')))
  if (e.scalars) {
    const summary = Buffer.concat(Object.entries(e.scalars).map(([tag, v]) => lengthDelimited(1, scalarValue(tag, v))))
    parts.push(lengthDelimited(5, summary))
  }
  return Buffer.concat(parts)
}

// ------------------------------------------------------------------------------------------ export

type Line = Record<string, unknown> & { step?: unknown; time?: unknown }

const wallTime = (r: Line, fallback: number) => {
  const t = typeof r.time === 'string' ? Date.parse(r.time) : NaN
  return Number.isFinite(t) ? t / 1000 : fallback
}

/** Scalars of a line as TensorBoard tags (`reward.mean` → `reward/mean`), under `prefix/` when given. */
export function scalarTags(r: Record<string, unknown>, prefix = ''): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(flattenMetrics(r))) out[(prefix ? `${prefix}/` : '') + k.replace(/\./g, '/')] = v
  return out
}

/** The event file bytes of metrics and eval lines. */
export function eventFile(metrics: readonly Line[], evals: readonly Line[], now = Date.now() / 1000): Buffer {
  const lines = [...metrics.map((r) => ({ r, prefix: '' })), ...evals.map((r) => ({ r, prefix: 'eval' }))]
    .filter(({ r }) => typeof r.step === 'number' && Number.isInteger(r.step))
  const start = lines.length ? Math.min(...lines.map(({ r }) => wallTime(r, now))) : now
  const records = [tfrecord(encodeEvent({ wallTime: start, fileVersion: 'brain.Event:2' }))]
  for (const { r, prefix } of lines) {
    const scalars = scalarTags(r, prefix)
    if (Object.keys(scalars).length) records.push(tfrecord(encodeEvent({ wallTime: wallTime(r, now), step: r.step as number, scalars })))
  }
  return Buffer.concat(records)
}

/**
 * Write the scalars of the runs under `paths` (run directories or a demo folder) as TensorBoard event
 * files into `outDir` (one run: directly; several: one sub-folder each). Returns the files written.
 */
export function exportTensorboard(paths: readonly string[], outDir: string): string[] {
  const runs = discoverRuns(paths)
  const out: string[] = []
  for (const run of runs) {
    const metrics = readJsonl<Line>(join(run.dir, 'metrics.jsonl'))
    const evals = readJsonl<Line>(join(run.dir, 'eval.jsonl'))
    const bytes = eventFile(metrics, evals)
    const first = [...metrics, ...evals].map((r) => wallTime(r, NaN)).filter(Number.isFinite)
    const stamp = Math.floor(first.length ? Math.min(...first) : Date.now() / 1000)
    const dir = runs.length > 1 ? join(outDir, runLabel(run)) : outDir
    const file = join(dir, `events.out.tfevents.${stamp}.vrft-native`)
    writeFileAtomic(file, bytes)
    out.push(file)
  }
  return out
}
