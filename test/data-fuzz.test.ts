/**
 * Fuzzing the data readers: 1,000 truncated or bit-flipped copies of a good file per format (parquet in
 * every codec, JSONL records, JSON array records, COCO annotations; JSON formats also get one value
 * replaced by an arbitrary JSON value) are opened and read through (iteration and random access). Every
 * failure must be a coded VrftError (never a raw Error, TypeError, RangeError or a crash); what still
 * reads must yield well-formed samples. Seeded (fast-check), so a failure replays.
 * Run: npx tap test/data-fuzz.test.ts   (VRFT_FUZZ_RUNS=N changes the 1,000, VRFT_FUZZ_SEED the seed)
 */
import { tempDir } from './tmp.js'
import t, { type Test } from 'tap'
import fc from 'fast-check'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { VrftError } from '../lib/errors.js'
import { openDataset, openRecords } from '../lib/data/index.js'
import { buildDetectionKShot, openCocoDetection } from '../lib/data/coco.js'
import type { Dataset, Sample } from '../lib/data/types.js'

const RUNS = Number(process.env.VRFT_FUZZ_RUNS ?? 1000)
const FIX = resolve(import.meta.dirname, 'fixtures/parquet')
const dir = tempDir('vrft-fuzz-')
mkdirSync(join(dir, 'imgs'))
for (let i = 0; i < 4; i++) writeFileSync(join(dir, 'imgs', `${i}.png`), readFileSync(join(FIX, 'extra', 'imgs', `${i % 3}.png`)))

/**
 * A mutation of a file: cut it short, flip bits / overwrite bytes (half of them near the end, where parquet
 * keeps its footer), or (JSON formats) replace one value anywhere in the document with another JSON value.
 */
type Mutation = { kind: 'truncate'; at: number } | { kind: 'flip'; edits: Array<{ pos: number; tail: boolean; bit: number; byte: number | null }> } |
  { kind: 'value'; pick: number; value: unknown }
const bytewise: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('truncate' as const), at: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({
    kind: fc.constant('flip' as const),
    edits: fc.array(fc.record({ pos: fc.nat(), tail: fc.boolean(), bit: fc.integer({ min: 0, max: 7 }), byte: fc.option(fc.integer({ min: 0, max: 255 })) }), { minLength: 1, maxLength: 8 }),
  }),
)
const jsonwise: fc.Arbitrary<Mutation> = fc.oneof(bytewise, fc.record({ kind: fc.constant('value' as const), pick: fc.nat(), value: fc.jsonValue({ maxDepth: 2 }) }))

/** Replace the `pick`-th value (in document order, containers included) of each JSON document of `text` (one, or one per line). */
function replaceValue(text: string, pick: number, value: unknown, lines: boolean): string {
  const docs = lines ? text.split('\n').filter((l) => l.trim()).map((l) => JSON.parse(l) as unknown) : [JSON.parse(text) as unknown]
  const slots: Array<[Record<string, unknown> | unknown[], string | number]> = []
  const walk = (v: unknown): void => {
    if (v === null || typeof v !== 'object') return
    for (const k of Object.keys(v)) {
      slots.push([v as Record<string, unknown>, Array.isArray(v) ? Number(k) : k])
      walk((v as Record<string, unknown>)[k])
    }
  }
  docs.forEach(walk)
  const [obj, key] = slots[pick % slots.length]!
  ;(obj as Record<string | number, unknown>)[key] = value
  return lines ? docs.map((d) => JSON.stringify(d)).join('\n') + '\n' : JSON.stringify(docs[0])
}

function mutate(good: Buffer, m: Mutation, lines: boolean): Buffer {
  if (m.kind === 'truncate') return good.subarray(0, Math.floor(m.at * good.length))
  if (m.kind === 'value') return Buffer.from(replaceValue(good.toString('utf8'), m.pick, m.value, lines))
  const b = Buffer.from(good)
  for (const e of m.edits) {
    const span = e.tail ? Math.min(600, b.length) : b.length
    const i = b.length - span + (e.pos % span)
    b[i] = e.byte === null ? b[i]! ^ (1 << e.bit) : e.byte
  }
  return b
}

/** Read a data set through: iterate, then random access to the first and last rows. */
async function drain(ds: Dataset<Sample>): Promise<number> {
  let n = 0
  for await (const s of ds) {
    if (typeof s.problem !== 'string' || typeof s.solution !== 'string' || !('path' in s.image || 'bytes' in s.image)) throw new Error(`malformed sample ${s.id}`)
    n++
  }
  if (ds.length > 0) {
    await ds.get(0)
    await ds.get(ds.length - 1)
  }
  return n
}

/** Run `read` over RUNS mutations of one of `goods` written to `file`; every error must be a VrftError with a code. */
async function fuzz(t: Test, name: string, goods: Buffer[], file: string, read: () => Promise<unknown>): Promise<void> {
  const arb = name === 'parquet' ? bytewise : jsonwise
  const codes = new Map<string, number>()
  let ok = 0
  await fc.assert(
    fc.asyncProperty(fc.nat({ max: goods.length - 1 }), arb, async (g, m) => {
      writeFileSync(file, mutate(goods[g]!, m, name === 'jsonl'))
      try {
        await read()
        ok++
      } catch (e) {
        if (!(e instanceof VrftError) || !/^ERR_[A-Z_]+$/.test(e.code)) throw e
        codes.set(e.code, (codes.get(e.code) ?? 0) + 1)
      }
    }),
    { numRuns: RUNS, seed: Number(process.env.VRFT_FUZZ_SEED ?? 26), endOnFailure: true },
  )
  t.pass(`${name}: ${RUNS} mutated files, ${ok} still read, coded errors ${JSON.stringify(Object.fromEntries(codes))}`)
  t.ok(codes.size > 0, `${name}: the mutations do break files`)
}

t.test('parquet: every codec, truncated and bit-flipped', async (t) => {
  const files = ['datasets-to_parquet', 'snappy', 'zstd', 'gzip', 'brotli', 'lz4'].map((c) => join(FIX, `${c}.parquet`)).concat(join(FIX, 'extra', 'large-string.parquet'))
  const file = join(dir, 'fuzz.parquet')
  await fuzz(t, 'parquet', files.map((f) => readFileSync(f)), file, async () => {
    await drain(await openDataset(file, { onError: 'skip', decodeTimeoutMs: 5000 }))
    await drain(await openDataset(file, { decodeTimeoutMs: 5000 }))
  })
})

t.test('JSONL records, truncated and bit-flipped', async (t) => {
  const lines = [0, 1, 2, 3].map((i) => JSON.stringify({ image: `imgs/${i}.png`, problem: `what is ${i}?`, solution: '<answer>circle</answer>', task: 'classification', image_id: i, width: 1, height: 1 }))
  const file = join(dir, 'fuzz.jsonl')
  await fuzz(t, 'jsonl', [Buffer.from(lines.join('\n') + '\n')], file, async () => {
    await drain(await openRecords(file, { onError: 'skip' }))
    await drain(await openRecords(file))
  })
})

t.test('JSON array records, truncated and bit-flipped', async (t) => {
  const recs = [0, 1, 2].map((i) => ({ image_path: `imgs/${i}.png`, problem: `box ${i} [1, 2]`, solution: `<answer>[{"Position": [${i}, 2, 3, 4]}]</answer>`, task: 'detection' }))
  const file = join(dir, 'fuzz.json')
  await fuzz(t, 'json', [Buffer.from(JSON.stringify(recs, null, 1))], file, async () => {
    await drain(await openRecords(file, { onError: 'skip' }))
    await drain(await openRecords(file))
  })
})

t.test('COCO annotations, truncated and bit-flipped', async (t) => {
  const images = [0, 1, 2, 3].map((i) => ({ id: i + 1, file_name: `${i}.png`, width: 64, height: 48 }))
  const annotations = [[1, 1], [1, 2], [2, 1], [3, 2], [4, 2]].map(([img, cat], k) => ({ id: k + 1, image_id: img, category_id: cat, bbox: [1 + k, 2, 10, 20], area: 200, iscrowd: 0 }))
  const categories = [{ id: 1, name: 'circle' }, { id: 2, name: 'square' }]
  const file = join(dir, 'fuzz-coco.json')
  const root = join(dir, 'imgs')
  await fuzz(t, 'coco', [Buffer.from(JSON.stringify({ images, annotations, categories }))], file, async () => {
    await drain(await openCocoDetection({ annotations: file, imageRoot: root, onError: 'skip' }))
    await drain(await openCocoDetection({ annotations: file, imageRoot: root }))
    await buildDetectionKShot({ annotations: file, imageRoot: root, shots: 1, negatives: 1, onError: 'skip' })
  })
})
