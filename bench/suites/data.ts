/**
 * Data loading: iterating a parquet data set of random "images" (bench/parquet-stream.ts: 1 GiB at `small`
 * and up, 128 MiB with --quick; row groups of 100 rows as `datasets` writes image data sets) with
 * `openDataset`, in a fresh process. Row: read throughput against a raw fs read of the same file in the same
 * process, with the target "peak RSS while iterating < 300 MB above the RSS after opening".
 *
 * Run alone: node dist/bench/run.js --only data   (or without the addon: node dist/bench/parquet-stream.js)
 */
import { measureStreaming, STREAM_RSS_TARGET_MB } from '../parquet-stream.js'
import type { Context, Row, Suite } from '../harness.js'

export const dataSuite: Suite = {
  name: 'data',
  async run(ctx: Context): Promise<Row[]> {
    const mb = ctx.quick ? 128 : 1024
    const r = measureStreaming(mb, ctx.workdir)
    return [{
      bench: `parquet data set of ${(r.fileBytes / 2 ** 20).toFixed(0)} MiB (${r.rows} images of 200 KiB, ${r.rowGroups} row groups): iterate with openDataset`,
      metric: 'MB/s', value: r.mbPerSecond,
      baseline: { name: 'raw fs read of the file', value: r.rawMbPerSecond }, ratio: r.mbPerSecond / r.rawMbPerSecond,
      target: { description: `peak RSS while iterating < ${STREAM_RSS_TARGET_MB} MB above the RSS after opening (${r.peakAboveMb.toFixed(0)} MB)`, met: r.peakAboveMb < STREAM_RSS_TARGET_MB },
      notes: `RSS ${r.baselineRssMb.toFixed(0)} MB after opening, peak ${r.peakRssMb.toFixed(0)} MB`,
    }]
  },
}
