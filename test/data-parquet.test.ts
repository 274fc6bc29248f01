/**
 * Parquet data as people have it, on files written by the real `datasets` and pyarrow (test/fixtures/parquet,
 * copied from ../shared/fixtures/parquet; extra/ is made by make-extra.py): every codec, the sharded data set
 * by name from a Hugging Face cache (HF_HOME), by folder and by revision; large strings, data page v2,
 * image paths (inside the data set, refused outside), plain binary images; coded errors naming file,
 * column and what was found. Rows, solutions and image bytes are compared with expected.json.
 * Run: npx tap test/data-parquet.test.ts
 */
import { tempDir } from './tmp.js'
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { cpSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { execFileSync } from 'node:child_process'
import { openDataset, openParquet, PARQUET_CODECS, resolveData } from '../lib/data/index.js'
import type { Dataset, Sample } from '../lib/data/types.js'

const FIX = resolve(import.meta.dirname, 'fixtures/parquet')
const EXTRA = join(FIX, 'extra')
const REPO = 'datasets--vrft-fixtures--shapes-det'
const REV = '0123456789abcdef0123456789abcdef01234567'
const SNAP = join(FIX, 'hub', REPO, 'snapshots', REV)
const env = { HF_HOME: FIX, HOME: '/nonexistent-home' }
interface Expected { rows: number; codec: string; solutions: string[]; image_sha256: string[] }
const expected = JSON.parse(readFileSync(join(FIX, 'expected.json'), 'utf8')) as Record<string, Expected>
const root = tempDir('vrft-parquet-')

const sha = (s: Sample): string => createHash('sha256').update((s.image as { bytes: Uint8Array }).bytes).digest('hex')
const collect = async (ds: AsyncIterable<Sample>): Promise<Sample[]> => { const out: Sample[] = []; for await (const s of ds) out.push(s); return out }
const byIndex = async (ds: Dataset<Sample>): Promise<Sample[]> => { const out: Sample[] = []; for (let i = ds.length - 1; i >= 0; i--) out[i] = await ds.get(i); return out }

/** Compare samples with the expected rows of one or more fixture files, in order. */
function same(t: Test, got: Sample[], files: string[], what: string): void {
  const e = files.map((f) => expected[f]!)
  t.equal(got.length, e.reduce((a, x) => a + x.rows, 0), `${what}: rows`)
  t.same(got.map((s) => s.solution), e.flatMap((x) => x.solutions), `${what}: solutions`)
  t.same(got.map(sha), e.flatMap((x) => x.image_sha256), `${what}: image bytes`)
  t.ok(got.every((s) => typeof s.problem === 'string' && s.problem.includes('<think>')), `${what}: problems are the detection prompt`)
}

t.test('every codec pyarrow writes reads the same rows (iteration and random access)', async (t) => {
  const single = Object.keys(expected).filter((f) => !f.startsWith('hub/'))
  t.same(single.map((f) => expected[f]!.codec).sort(), ['BROTLI', 'GZIP', 'LZ4', 'SNAPPY', 'UNCOMPRESSED', 'ZSTD'], 'the fixtures cover every codec')
  for (const f of single) {
    const ds = await openDataset(join(FIX, f))
    t.equal(ds.length, expected[f]!.rows, `${f}: length from the footer`)
    same(t, await collect(ds), [f], `${f} iterated`)
    same(t, await byIndex(ds), [f], `${f} by index, backwards`)
  }
  for (const c of ['SNAPPY', 'GZIP', 'BROTLI', 'ZSTD', 'LZ4', 'LZ4_RAW']) t.ok(PARQUET_CODECS.includes(c), `${c} is supported`)
})

t.test('a data set by name from the Hugging Face cache: shards of a split in order', async (t) => {
  const shards = (split: string) => Object.keys(expected).filter((f) => f.includes(`/data/${split}-`)).sort()
  const train = await openDataset('vrft-fixtures/shapes-det', { env })
  t.equal(train.length, 6)
  t.equal(train.source, 'vrft-fixtures/shapes-det#train')
  same(t, await collect(train), shards('train'), 'train split (2 shards) iterated')
  same(t, await byIndex(train), shards('train'), 'train split by index across shards')
  same(t, await collect(await openDataset('vrft-fixtures/shapes-det', { split: 'test', env })), shards('test'), 'test split')
  const r = resolveData('vrft-fixtures/shapes-det', { split: 'test', env })
  t.same({ hubId: r.hubId, commit: r.commit, root: r.root, trustRoot: r.trustRoot }, { hubId: 'vrft-fixtures/shapes-det', commit: REV, root: SNAP, trustRoot: join(FIX, 'hub', REPO) })
  t.equal(resolveData(`vrft-fixtures/shapes-det@${REV}`, { env }).commit, REV, 'an explicit revision')
  t.equal(resolveData('vrft-fixtures/shapes-det', { env: { HF_HUB_CACHE: join(FIX, 'hub'), HOME: '/nonexistent-home' } }).commit, REV, 'HF_HUB_CACHE')
})

t.test('a data set by name: not found says where it looked; a missing split names the splits', async (t) => {
  const e = (() => { try { resolveData('vrft-fixtures/nope', { env }) } catch (x) { return x as { code: string; message: string; details: { looked: string[] } } } })()
  t.equal(e?.code, 'ERR_DATA_NOT_FOUND')
  t.match(e?.message, /nothing is downloaded/)
  t.ok(e?.details.looked.includes(join(FIX, 'hub', 'datasets--vrft-fixtures--nope')), 'looked in $HF_HOME/hub')
  t.ok(e?.details.looked.includes('/nonexistent-home/.cache/huggingface/hub/datasets--vrft-fixtures--nope'), 'and in ~/.cache/huggingface/hub')
  await t.rejects(openDataset('vrft-fixtures/shapes-det', { split: 'validation', env }), { code: 'ERR_DATA_OPEN', message: /split "validation".*found only the split\(s\) test, train/ })
  await t.rejects(openDataset(join(root, 'nope.parquet')), { code: 'ERR_DATA_NOT_FOUND' })
  await t.rejects(openDataset(SNAP, { split: '../x' }), { code: 'ERR_INVALID_ARG' })
  await t.rejects(openDataset(SNAP, { split: '..' }), { code: 'ERR_INVALID_ARG' }, 'a split is a name, never a folder up')
})

t.test('a folder of shards: data/<split>-*, <split>/*, and a copied cache without refs/main', async (t) => {
  same(t, await collect(await openDataset(SNAP)), ['train-00000-of-00002', 'train-00001-of-00002'].map((n) => `hub/${REPO}/snapshots/${REV}/data/${n}.parquet`), 'snapshot folder, default split train')
  const dir = join(root, 'bysplit')
  mkdirSync(join(dir, 'train'), { recursive: true })
  mkdirSync(join(dir, 'test'), { recursive: true })
  cpSync(join(FIX, 'zstd.parquet'), join(dir, 'train', 'a.parquet'))
  cpSync(join(FIX, 'gzip.parquet'), join(dir, 'train', 'b.parquet'))
  cpSync(join(FIX, 'lz4.parquet'), join(dir, 'test', 'a.parquet'))
  const train = await openDataset(dir)
  same(t, await collect(train), ['zstd.parquet', 'gzip.parquet'], '<split>/*.parquet')
  t.equal((await openDataset(dir, { split: 'test' })).length, 8)
  // a cache copied without refs/: the newest snapshot is taken
  const hub = join(root, 'copied', 'hub')
  cpSync(join(FIX, 'hub', REPO, 'snapshots'), join(hub, REPO, 'snapshots'), { recursive: true })
  t.equal(resolveData('vrft-fixtures/shapes-det', { env: { HF_HOME: join(root, 'copied'), HOME: '/nonexistent-home' } }).commit, REV)
})

t.test('large strings, no dictionary, data page v2, two row groups, page index', async (t) => {
  const ds = await openDataset(join(EXTRA, 'large-string.parquet'))
  const rows = await collect(ds)
  t.same(rows.map((s) => s.problem), ['problem 0', 'problem 1', 'problem 2'])
  t.same(rows.map((s) => s.solution), [0, 1, 2].map((i) => `<answer>[{'Position': [${i}, ${i}, ${i + 10}, ${i + 10}], 'Confidence': 1}]</answer>`))
  t.same((await ds.get(2)).image, { bytes: readFileSync(join(EXTRA, 'imgs', '2.png')) }, 'row of the second row group')
  const bin = await collect(await openDataset(join(EXTRA, 'image-binary.parquet')))
  t.same(bin.map((s) => Buffer.from((s.image as { bytes: Uint8Array }).bytes)), [0, 1, 2].map((i) => readFileSync(join(EXTRA, 'imgs', `${i}.png`))), 'a plain binary image column')
})

t.test('image paths: relative to the data set folder, refused outside it', async (t) => {
  const rows = await collect(await openDataset(join(EXTRA, 'image-path.parquet')))
  t.same(rows.map((s) => s.image), [0, 1, 2].map((i) => ({ path: join(EXTRA, 'imgs', `${i}.png`) })))
  t.equal(rows[1]!.problem, 'problem 1', 'an un-annotated binary problem column is read as UTF-8')
  await t.rejects((await openDataset(join(EXTRA, 'path-outside.parquet'))).get(0), { code: 'ERR_DATA_PARQUET', message: /path-outside\.parquet: row 0: column image: expected an image\.path inside the data set folder .* but received "\.\.\/outside\.png"/ })
  await t.rejects((await openDataset(join(EXTRA, 'path-absolute.parquet'))).get(0), { code: 'ERR_DATA_PARQUET', message: /inside the data set folder .* but received "\/etc\/hostname"/ })
  // a symlink inside the folder that leads out of it is refused too
  const dir = join(root, 'link')
  mkdirSync(join(dir, 'imgs'), { recursive: true })
  cpSync(join(EXTRA, 'image-path.parquet'), join(dir, 'image-path.parquet'))
  cpSync(join(EXTRA, 'imgs', '0.png'), join(dir, 'imgs', '0.png'))
  symlinkSync(join(EXTRA, 'imgs', '1.png'), join(dir, 'imgs', '1.png'))
  const linked = await openDataset(join(dir, 'image-path.parquet'))
  t.same((await linked.get(0)).image, { path: join(dir, 'imgs', '0.png') })
  await t.rejects(linked.get(1), { code: 'ERR_DATA_PARQUET', message: /inside the data set folder/ })
  await t.rejects(linked.get(2), { code: 'ERR_DATA_IMAGE', message: /2\.png/ }, 'a missing image file')
  const skip = await openParquet(join(dir, 'image-path.parquet'), { onError: 'skip' })
  t.equal((await collect(skip)).length, 1)
  t.same(skip.skipped.map((s) => [s.where, s.code]), [['row 1', 'ERR_DATA_PARQUET'], ['row 2', 'ERR_DATA_IMAGE']])
})

t.test('a hub snapshot of symlinks into blobs/: shards and image paths resolve, relative to the snapshot', async (t) => {
  const rev = 'a'.repeat(40)
  const repo = join(root, 'hf', 'hub', 'datasets--t--paths')
  const snap = join(repo, 'snapshots', rev)
  mkdirSync(join(repo, 'blobs'), { recursive: true })
  mkdirSync(join(repo, 'refs'))
  mkdirSync(join(snap, 'data'), { recursive: true })
  mkdirSync(join(snap, 'imgs'))
  writeFileSync(join(repo, 'refs', 'main'), rev)
  cpSync(join(EXTRA, 'image-path.parquet'), join(repo, 'blobs', 'p0'))
  symlinkSync('../../../blobs/p0', join(snap, 'data', 'train-00000-of-00001.parquet'))
  for (let i = 0; i < 3; i++) {
    cpSync(join(EXTRA, 'imgs', `${i}.png`), join(repo, 'blobs', `i${i}`))
    symlinkSync(`../../../blobs/i${i}`, join(snap, 'imgs', `${i}.png`))
  }
  const rows = await collect(await openDataset('t/paths', { env: { HF_HOME: join(root, 'hf'), HOME: '/nonexistent-home' } }))
  t.same(rows.map((s) => s.image), [0, 1, 2].map((i) => ({ path: join(snap, 'imgs', `${i}.png`) })), 'image paths relative to the snapshot, links into blobs/ allowed')
})

// hyparquet-writer runs in a plain node child process (the TS loader tap uses cannot resolve its subpath imports).
function writeParquet(file: string, spec: string): void {
  const code = `import { parquetWriteBuffer } from 'hyparquet-writer'; import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(file)}, Buffer.from(parquetWriteBuffer(${spec})))`
  const e = { ...process.env }
  delete e.NODE_OPTIONS
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: resolve(import.meta.dirname, '..'), env: e })
}

t.test('coded errors name the file, the column and what was found', async (t) => {
  await t.rejects(openDataset(join(EXTRA, 'int-solution.parquet')), { code: 'ERR_DATA_PARQUET', message: /int-solution\.parquet: column solution: expected a string \(or large string\) column but found INT64/ })
  await t.rejects(openDataset(join(EXTRA, 'no-solution.parquet')), { code: 'ERR_DATA_PARQUET', message: /no-solution\.parquet: expected columns image, problem, solution but columns solution are missing \(found image, problem\)/ })
  // an unsupported codec (LZO: pyarrow cannot write it; hyparquet-writer can label pages with it)
  const lzo = join(root, 'lzo.parquet')
  writeParquet(lzo, `{ codec: 'LZO', compressors: { LZO: (b) => b }, columnData: [
    { name: 'image', data: [new Uint8Array([1, 2, 3])], type: 'BYTE_ARRAY' },
    { name: 'problem', data: ['p'], type: 'STRING' }, { name: 'solution', data: ['s'], type: 'STRING' }] }`)
  await t.rejects(openDataset(lzo), { code: 'ERR_DATA_PARQUET', message: /lzo\.parquet: column image: row group 0: expected a codec among UNCOMPRESSED, SNAPPY, GZIP, BROTLI, ZSTD, LZ4, LZ4_RAW but found LZO/ })
  // a corrupt page: zero the middle of the zstd file's image chunk
  const bad = join(root, 'corrupt.parquet')
  const buf = readFileSync(join(FIX, 'zstd.parquet'))
  buf.fill(0x55, 200, 1200)
  writeFileSync(bad, buf)
  const ds = await openDataset(bad)
  await t.rejects(ds.get(0), { code: 'ERR_DATA_PARQUET', message: /corrupt\.parquet: column image: could not decode rows 0–7/ })
  const skip = await openParquet(bad, { onError: 'skip' })
  t.same(await collect(skip), [])
  t.same(skip.skipped.map((s) => s.where), ['rows 0–7'], 'skip mode counts the batch it could not decode')
  writeFileSync(join(root, 'junk.parquet'), 'PAR1 not really')
  await t.rejects(openDataset(join(root, 'junk.parquet')), { code: 'ERR_DATA_PARQUET', message: /junk\.parquet: could not read the parquet footer/ })
})
