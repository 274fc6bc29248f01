/**
 * The parquet decoder's worker thread (started by lib/data/parquet-decode.ts): reads one column of a row
 * range with hyparquet and posts the values back, moving their byte buffers instead of copying them.
 * Decoding runs here, off the event loop, so that a damaged file that sends a decoder into a runaway
 * loop or allocation costs this thread (stopped by a timeout or its heap limit), never the process.
 */
import { parentPort } from 'node:worker_threads'
import { asyncBufferFromFile, parquetReadObjects } from 'hyparquet'
import type { FileMetaData } from 'hyparquet'
import { compressors } from './parquet-codecs.js'

/** A request: column `column` of rows [rowStart, rowEnd) of `file`, whose footer is `metadata`. */
export interface DecodeRequest { id: number; file: string; metadata: FileMetaData; column: string; rowStart: number; rowEnd: number }
/** The answer: the column's values in row order, or the decoder's error message. */
export type DecodeReply = { id: number; values: unknown[] } | { id: number; error: string }

/** Every ArrayBuffer under `v` (Uint8Arrays in values and structs), each once. */
function buffers(v: unknown, out: Set<ArrayBuffer>): void {
  if (v instanceof Uint8Array) {
    if (v.buffer instanceof ArrayBuffer) out.add(v.buffer)
  } else if (v !== null && typeof v === 'object') {
    for (const x of Object.values(v)) buffers(x, out)
  }
}

parentPort!.on('message', (req: DecodeRequest) => {
  void (async () => {
    let reply: DecodeReply
    let transfer: ArrayBuffer[] = []
    try {
      const file = await asyncBufferFromFile(req.file)
      const rows = (await parquetReadObjects({
        file, metadata: req.metadata, columns: [req.column], rowStart: req.rowStart, rowEnd: req.rowEnd, utf8: false, compressors,
      })) as Record<string, unknown>[]
      const values = rows.map((r) => r[req.column])
      const set = new Set<ArrayBuffer>()
      for (const v of values) buffers(v, set)
      transfer = [...set]
      reply = { id: req.id, values }
    } catch (e) {
      reply = { id: req.id, error: e instanceof Error ? e.message : String(e) }
    }
    parentPort!.postMessage(reply, transfer)
  })()
})
