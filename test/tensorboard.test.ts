/**
 * TensorBoard export (`plot RUN --tensorboard DIR`, lib/view/tensorboard.ts), checked with a reader
 * written here from the event-file format, independent of the writer: TFRecord framing (u64 length,
 * masked CRC-32C of the length, data, masked CRC-32C of the data; CRC computed bit by bit) and a
 * generic protobuf decoder for Event {1 wall_time, 2 step, 3 file_version, 5 summary {1 value {1 tag,
 * 2 simple_value}}}. Run: npx tap test/tensorboard.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { readJsonl } from '../lib/train/checkpoint.js'
import { crc32c, eventFile, exportTensorboard } from '../lib/view/tensorboard.js'
import { makeDetectionRun } from './view-helpers.js'

// ------------------------------------------------------------------ the reader (from the format alone)

function crc32cBitwise(b: Uint8Array): number {
  let c = ~0 >>> 0
  for (const byte of b) {
    c ^= byte
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0x82f63b78 & -(c & 1))
  }
  return ~c >>> 0
}
const mask = (c: number) => ((((c >>> 15) | (c << 17)) >>> 0) + 0xa282ead8) >>> 0

/** The data of every record; throws on a bad CRC or a cut record. */
function readRecords(buf: Buffer): Buffer[] {
  const out: Buffer[] = []
  let o = 0
  while (o < buf.length) {
    if (o + 12 > buf.length) throw new Error(`record header cut at ${o}`)
    const lenBytes = buf.subarray(o, o + 8)
    if (buf.readUInt32LE(o + 8) !== mask(crc32cBitwise(lenBytes))) throw new Error(`length CRC mismatch at ${o}`)
    const n = Number(buf.readBigUInt64LE(o))
    const data = buf.subarray(o + 12, o + 12 + n)
    if (data.length !== n || o + 16 + n > buf.length) throw new Error(`record cut at ${o}`)
    if (buf.readUInt32LE(o + 12 + n) !== mask(crc32cBitwise(data))) throw new Error(`data CRC mismatch at ${o}`)
    out.push(Buffer.from(data))
    o += 16 + n
  }
  return out
}

type Field = { field: number; wire: number; value: bigint | Buffer }
function fields(b: Buffer): Field[] {
  const out: Field[] = []
  let o = 0
  const varint = (): bigint => {
    let v = 0n
    let s = 0n
    for (;;) {
      const byte = b[o++]!
      v |= BigInt(byte & 0x7f) << s
      if (!(byte & 0x80)) return v
      s += 7n
    }
  }
  while (o < b.length) {
    const key = Number(varint())
    const field = key >> 3
    const wire = key & 7
    if (wire === 0) out.push({ field, wire, value: varint() })
    else if (wire === 1) { out.push({ field, wire, value: b.subarray(o, o + 8) }); o += 8 }
    else if (wire === 2) { const n = Number(varint()); out.push({ field, wire, value: b.subarray(o, o + n) }); o += n }
    else if (wire === 5) { out.push({ field, wire, value: b.subarray(o, o + 4) }); o += 4 }
    else throw new Error(`wire type ${wire}`)
  }
  return out
}

interface Event { wallTime: number; step: number; fileVersion?: string; values: Array<{ tag: string; value: number }> }
function decodeEvent(b: Buffer): Event {
  const e: Event = { wallTime: NaN, step: 0, values: [] }
  for (const f of fields(b)) {
    if (f.field === 1 && f.wire === 1) e.wallTime = (f.value as Buffer).readDoubleLE(0)
    else if (f.field === 2 && f.wire === 0) e.step = Number(f.value)
    else if (f.field === 3 && f.wire === 2) e.fileVersion = (f.value as Buffer).toString('utf8')
    else if (f.field === 5 && f.wire === 2) {
      for (const v of fields(f.value as Buffer)) {
        if (v.field !== 1) continue
        let tag = ''
        let value = NaN
        for (const x of fields(v.value as Buffer)) {
          if (x.field === 1) tag = (x.value as Buffer).toString('utf8')
          if (x.field === 2 && x.wire === 5) value = (x.value as Buffer).readFloatLE(0)
        }
        e.values.push({ tag, value })
      }
    }
  }
  return e
}
const readEvents = (buf: Buffer) => readRecords(buf).map(decodeEvent)

// ------------------------------------------------------------------------------------------- tests

t.test('CRC-32C: the standard check value, table and bitwise agree', async (t) => {
  t.equal(crc32c(Buffer.from('123456789')), 0xe3069283)
  t.equal(crc32cBitwise(Buffer.from('123456789')), 0xe3069283)
  const rnd = Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 7919 + 13) & 255))
  t.equal(crc32c(rnd), crc32cBitwise(rnd))
})

const root = tempDir('vrft-tb-')
const run = join(root, 'run')
const made = makeDetectionRun(run, join(root, 'data'), 3)

t.test('event file of a run: version event, then every scalar of every step and evaluation', async (t) => {
  await made
  const metrics = readJsonl<Record<string, any>>(join(run, 'metrics.jsonl'))
  const evals = [{ step: 0, score: 0.25, rewards: { format: 0.5 }, time: '2026-01-01T00:00:00.000Z' }, { step: 3, score: 0.75, rewards: { format: 1 }, time: '2026-01-01T00:01:00.000Z' }]
  const events = readEvents(eventFile(metrics, evals))
  t.equal(events[0]!.fileVersion, 'brain.Event:2')
  t.equal(events.length, 1 + metrics.length + evals.length)
  const train = events.slice(1, 1 + metrics.length)
  t.same(train.map((e) => e.step), [1, 2, 3])
  metrics.forEach((m, i) => {
    const e = train[i]!
    const v = Object.fromEntries(e.values.map((x) => [x.tag, x.value]))
    t.equal(v['reward/mean'], Math.fround(m.reward.mean))
    t.equal(v['rewards/iou/mean'], Math.fround(m.rewards.iou.mean))
    t.equal(v['rewards/format/mean'], Math.fround(m.rewards.format.mean))
    t.equal(v.kl, Math.fround(m.kl))
    t.equal(v.loss, Math.fround(m.loss))
    t.equal(v['completionLength/mean'], Math.fround(m.completionLength.mean))
    t.notOk('step' in v || 'position' in v || 'time' in v, 'bookkeeping fields are not scalars')
    t.equal(e.wallTime, Date.parse(m.time) / 1000, 'wall time from the record')
  })
  const ev = events.slice(1 + metrics.length)
  t.same(ev.map((e) => [e.step, e.values]), [[0, [{ tag: 'eval/score', value: 0.25 }, { tag: 'eval/rewards/format', value: 0.5 }]], [3, [{ tag: 'eval/score', value: 0.75 }, { tag: 'eval/rewards/format', value: 1 }]]])
})

t.test('the reader refuses a corrupted or cut file', async (t) => {
  await made
  const buf = eventFile(readJsonl(join(run, 'metrics.jsonl')), [])
  const bad = Buffer.from(buf)
  bad[40]! ^= 0x01
  t.throws(() => readRecords(bad), /CRC mismatch/)
  t.throws(() => readRecords(buf.subarray(0, buf.length - 3)), /cut/)
})

t.test('exportTensorboard: one file per run; a demo folder gets one sub-folder per sub-run', async (t) => {
  await made
  const demo = join(root, 'demo')
  for (const sub of ['grpo', 'sft']) {
    mkdirSync(join(demo, sub), { recursive: true })
    writeFileSync(join(demo, sub, 'metrics.jsonl'), [1, 2].map((step) => JSON.stringify({ step, loss: step / 10, time: '2026-01-01T00:00:0' + step + '.000Z' })).join('\n') + '\n')
  }
  const out = join(root, 'tb-demo')
  const files = exportTensorboard([demo], out)
  t.same(files.map((f) => f.slice(out.length + 1).replace(/\/events\.out\.tfevents\.\d+\.vrft-native$/, '')), ['demo/grpo', 'demo/sft'])
  for (const f of files) {
    const ev = readEvents(readFileSync(f))
    t.same(ev.slice(1).map((e) => [e.step, e.values]), [[1, [{ tag: 'loss', value: Math.fround(0.1) }]], [2, [{ tag: 'loss', value: Math.fround(0.2) }]]])
  }
})

t.test('CLI: plot RUN --tensorboard DIR writes an event file and the PNGs', async (t) => {
  await made
  const cliRoot = resolve(import.meta.dirname, '..')
  const tb = join(root, 'tb')
  const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
  const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((res) => {
    const child = spawn(process.execPath, [...tsImport, join(cliRoot, 'lib/cli/main.ts'), 'plot', run, '--tensorboard', tb], { env: { ...process.env, NODE_OPTIONS: '' } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => res({ code, stdout, stderr }))
  })
  t.equal(r.code, 0, r.stderr)
  const names = readdirSync(tb)
  t.equal(names.length, 1)
  t.match(names[0], /^events\.out\.tfevents\.\d+\.vrft-native$/)
  t.match(r.stdout, /tfevents/)
  t.match(r.stdout, /kl\.png/)
  const ev = readEvents(readFileSync(join(tb, names[0]!)))
  t.same(ev.slice(1).map((e) => e.step), [1, 2, 3])
})
