/**
 * Parquet decoding off the event loop, in one shared worker thread (lib/data/parquet-worker.ts), started on
 * the first read and not keeping the process alive while idle. A damaged file can send a JavaScript decoder
 * into a runaway loop or allocation (an RLE run of a billion values, say); in the worker that ends in a
 * timeout (`timeoutMs`, default PARQUET_DECODE_TIMEOUT_MS) or the worker's heap limit, the worker is
 * replaced and the read fails with a message, instead of the process hanging or dying.
 */
import { Worker } from 'node:worker_threads'
import { extname } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { FileMetaData } from 'hyparquet'
import type { DecodeReply, DecodeRequest } from './parquet-worker.js'

/** Longest a read of one column of one batch may take before the decoder is stopped. */
export const PARQUET_DECODE_TIMEOUT_MS = 60_000
/** Heap limit of the decoder thread (decoded bytes live outside the heap; this bounds runaway arrays). */
const WORKER_HEAP_MB = 512

interface Pending { resolve: (v: unknown[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }

let worker: Worker | undefined
const pending = new Map<number, Pending>()
let nextId = 1

function failAll(reason: string): void {
  for (const [id, p] of pending) {
    clearTimeout(p.timer)
    pending.delete(id)
    p.reject(new Error(reason))
  }
}

function theWorker(): Worker {
  if (worker) return worker
  // lib/data/parquet-worker.ts when running from source (tests), dist/lib/data/parquet-worker.js when built
  const ext = extname(fileURLToPath(import.meta.url))
  const w = new Worker(new URL(`./parquet-worker${ext}`, import.meta.url), { resourceLimits: { maxOldGenerationSizeMb: WORKER_HEAP_MB } })
  w.unref()
  w.on('message', (m: DecodeReply) => {
    const p = pending.get(m.id)
    if (!p) return
    pending.delete(m.id)
    clearTimeout(p.timer)
    if (pending.size === 0) w.unref()
    if ('error' in m) p.reject(new Error(m.error))
    else p.resolve(m.values)
  })
  w.on('error', (e: Error & { code?: string }) => {
    if (worker === w) worker = undefined
    failAll(e.code === 'ERR_WORKER_OUT_OF_MEMORY' ? `the decoder ran out of memory (over ${WORKER_HEAP_MB} MB of heap)` : `the decoder failed: ${e.message}`)
  })
  w.on('exit', () => {
    if (worker === w) worker = undefined
    failAll('the decoder stopped')
  })
  worker = w
  return w
}

/** Column `column` of rows [rowStart, rowEnd) of `file` (footer `metadata`), one value per row. Rejects with the decoder's message. */
export function decodeColumn(file: string, metadata: FileMetaData, column: string, rowStart: number, rowEnd: number, timeoutMs = PARQUET_DECODE_TIMEOUT_MS): Promise<unknown[]> {
  const w = theWorker()
  const id = nextId++
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pending.delete(id)
      reject(new Error(`decoding took longer than ${timeoutMs} ms (a damaged page?); the decoder was stopped`))
      if (worker === w) worker = undefined
      void w.terminate()
    }, timeoutMs)
    timer.unref()
    pending.set(id, { resolve, reject, timer })
    w.ref()
    const req: DecodeRequest = { id, file, metadata, column, rowStart, rowEnd }
    w.postMessage(req)
  })
}
