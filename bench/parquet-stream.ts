/**
 * Streaming a large parquet data set: memory stays flat while iterating (lib/data/parquet.ts reads a row
 * group at a time). Writes a parquet file of random "image" bytes (200 KB each, incompressible like JPEG/PNG)
 * in the layout `datasets` writes for image data sets (row groups of 100 rows; columns image {bytes, path},
 * problem, solution), then, in a fresh process, iterates it with `openDataset`, touching every image byte,
 * sampling RSS after every row and every 20 ms; and reads the same file raw (fs stream) for a baseline.
 * Target: peak RSS while iterating < 300 MB above the RSS after opening.
 *
 * Run: node dist/bench/parquet-stream.js [--mb 1024] [--dir /tmp]   (prints a table, then one JSON line;
 * the file is written in a temporary folder and deleted). Also run by `npm run bench` as suite `data`.
 * Internal mode (a process of its own): `read FILE`.
 */
import { spawnSync } from 'node:child_process'
import { createReadStream, mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const ROWS_PER_GROUP = 100
const IMAGE_BYTES = 200 * 1024
/** The target: peak RSS above the RSS after opening, while iterating. */
export const STREAM_RSS_TARGET_MB = 300

/** What `measureStreaming` reports. */
export interface StreamResult {
  fileBytes: number; rows: number; rowGroups: number
  seconds: number; mbPerSecond: number
  rawSeconds: number; rawMbPerSecond: number
  baselineRssMb: number; peakRssMb: number; peakAboveMb: number
}

/**
 * The writer, run as plain node ESM (`node --input-type=module -e WRITER FILE MB`): hyparquet-writer's own
 * imports of hyparquet subpaths do not resolve under the TypeScript loader the tests use.
 */
const WRITER = `
import { ParquetWriter, fileWriter } from 'hyparquet-writer'
import { randomFillSync } from 'node:crypto'
const [file, mb] = process.argv.slice(1)
const rows = Math.max(${ROWS_PER_GROUP}, Math.round((Number(mb) * 2 ** 20) / ${IMAGE_BYTES}))
const writer = new ParquetWriter({
  writer: fileWriter(file), codec: 'UNCOMPRESSED', statistics: false,
  schema: [
    { name: 'root', num_children: 3 },
    { name: 'image', repetition_type: 'OPTIONAL', num_children: 2 },
    { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
    { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'problem', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
    { name: 'solution', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  ],
})
for (let start = 0; start < rows; start += ${ROWS_PER_GROUP}) {
  const ids = Array.from({ length: Math.min(${ROWS_PER_GROUP}, rows - start) }, (_, k) => start + k)
  await writer.write({
    rowGroupSize: ${ROWS_PER_GROUP},
    columnData: [
      { name: 'image', data: ids.map(() => ({ bytes: randomFillSync(new Uint8Array(${IMAGE_BYTES})), path: null })) },
      { name: 'problem', data: ids.map((i) => 'Detect all objects in image ' + i + '.') },
      { name: 'solution', data: ids.map((i) => "<answer>[{'Position': [" + (i % 900) + ', 10, ' + ((i % 900) + 50) + ", 90], 'Confidence': 1}]</answer>") },
    ],
  })
}
writer.finish()
`

async function read(file: string): Promise<void> {
  const { openDataset } = await import('../lib/data/index.js')
  const ds = await openDataset(file)
  globalThis.gc?.()
  const baseline = process.memoryUsage.rss()
  let peak = baseline
  const sample = (): void => { peak = Math.max(peak, process.memoryUsage.rss()) }
  const timer = setInterval(sample, 20)
  const t0 = performance.now()
  let rows = 0
  let sum = 0
  for await (const s of ds) {
    const b = (s.image as { bytes: Uint8Array }).bytes
    for (let i = 0; i < b.length; i += 4096) sum += b[i]!
    rows++
    sample()
  }
  const seconds = (performance.now() - t0) / 1000
  clearInterval(timer)
  const t1 = performance.now()
  for await (const chunk of createReadStream(file) as AsyncIterable<Buffer>) sum += chunk[0]!
  const rawSeconds = (performance.now() - t1) / 1000
  process.stdout.write(JSON.stringify({ rows, seconds, rawSeconds, baselineRss: baseline, peakRss: peak, checksum: sum }) + '\n')
}

/** Write a parquet file of about `mb` MB in `dir`, iterate it in a fresh process, delete it. */
export function measureStreaming(mb: number, dir: string): StreamResult {
  const self = fileURLToPath(import.meta.url)
  const work = mkdtempSync(join(dir, 'vrft-stream-'))
  const file = join(work, 'images.parquet')
  try {
    const node = (args: string[]): string => {
      // keep a TypeScript loader (`--import=…typescript…` or `--import …typescript…`) when running from source
      const loader = process.execArgv.flatMap((x, i, all) => (x.includes('typescript') ? (x.startsWith('--') ? [x] : [all[i - 1]!, x]) : []))
      const r = spawnSync(process.execPath, ['--expose-gc', ...loader, self, ...args], { encoding: 'utf8', maxBuffer: 1 << 20 })
      if (r.status !== 0) throw new Error(`parquet-stream ${args[0]} failed: ${r.stderr.slice(-2000)}`)
      return r.stdout
    }
    const env = { ...process.env }
    delete env.NODE_OPTIONS
    const w = spawnSync(process.execPath, ['--input-type=module', '-e', WRITER, file, String(mb)], { cwd: join(dirname(self), '..'), env, encoding: 'utf8' })
    if (w.status !== 0) throw new Error(`parquet-stream: writing the file failed: ${w.stderr.slice(-2000)}`)
    const fileBytes = statSync(file).size
    const r = JSON.parse(node(['read', file]).trim().split('\n').pop()!) as { rows: number; seconds: number; rawSeconds: number; baselineRss: number; peakRss: number }
    const MB = 2 ** 20
    return {
      fileBytes, rows: r.rows, rowGroups: Math.ceil(r.rows / ROWS_PER_GROUP), seconds: r.seconds, mbPerSecond: fileBytes / MB / r.seconds,
      rawSeconds: r.rawSeconds, rawMbPerSecond: fileBytes / MB / r.rawSeconds,
      baselineRssMb: r.baselineRss / MB, peakRssMb: r.peakRss / MB, peakAboveMb: (r.peakRss - r.baselineRss) / MB,
    }
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [mode, a] = process.argv.slice(2)
  if (mode === 'read') await read(a!)
  else {
    const arg = (k: string): string | undefined => { const i = process.argv.indexOf(k); return i > 0 ? process.argv[i + 1] : undefined }
    const r = measureStreaming(Number(arg('--mb') ?? 1024), arg('--dir') ?? tmpdir())
    const met = r.peakAboveMb < STREAM_RSS_TARGET_MB
    console.log(`parquet streaming: ${(r.fileBytes / 2 ** 30).toFixed(2)} GiB, ${r.rows} rows in ${r.rowGroups} row groups of ${ROWS_PER_GROUP}`)
    console.log(`  iterate (openDataset, every image byte touched): ${r.seconds.toFixed(1)} s, ${r.mbPerSecond.toFixed(0)} MB/s   (raw fs read of the file: ${r.rawMbPerSecond.toFixed(0)} MB/s)`)
    console.log(`  RSS: ${r.baselineRssMb.toFixed(0)} MB after opening, peak ${r.peakRssMb.toFixed(0)} MB: ${r.peakAboveMb.toFixed(0)} MB above (target < ${STREAM_RSS_TARGET_MB} MB: ${met ? 'met' : 'NOT met'})`)
    console.log(JSON.stringify({ bench: 'parquet-stream', ...r, targetMb: STREAM_RSS_TARGET_MB, met }))
  }
}
