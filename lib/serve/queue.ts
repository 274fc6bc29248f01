/**
 * Dynamic batching: concurrent requests wait in a bounded FIFO queue and go to the generator together,
 * one batch (one native `generate` call) at a time.
 *
 * A batch starts when the oldest waiting request has waited `maxWaitMs`, or as soon as the compatible
 * waiting requests fill `maxBatchSize` sequences (Σ n), or right after the previous batch ends if its
 * oldest request has already waited that long. Requests are compatible when they share temperature and
 * top-p (one sampler per call); a seeded request runs in a batch of its own, so the same seed gives the
 * same answer whatever else is in flight. A full queue (`maxQueue` waiting requests) refuses new ones
 * with ERR_QUEUE_FULL (HTTP 429); close() refuses new ones with ERR_SHUTTING_DOWN and lets the queue
 * drain (or fails the waiting ones).
 */
import { VrftError } from '../errors.js'
import type { GenerationOutput, GenerationRequest, Generator } from './types.js'

/** Settings of a {@link BatchQueue}. */
export interface BatchQueueOptions {
  /** Most sequences (Σ n over requests) in one generator call. */
  maxBatchSize: number
  /** How long the oldest waiting request may wait for others before its batch starts (ms). */
  maxWaitMs: number
  /** Most requests waiting (not yet in a batch); more are refused with ERR_QUEUE_FULL. */
  maxQueue: number
}

/** What the queue reports about each batch (for metrics). */
export interface BatchInfo {
  /** Requests in the batch. */
  requests: number
  /** Sequences (Σ n). */
  sequences: number
  /** Wall time of the generator call, seconds. */
  seconds: number
  /** New tokens generated over all completions of the batch. */
  completionTokens: number
  /** Prompt tokens of the requests that succeeded. */
  promptTokens: number
  /** Time each request waited in the queue, seconds. */
  waits: number[]
  /** True when the generator threw for the whole batch. */
  failed: boolean
}

interface Entry {
  req: GenerationRequest
  key: string
  enqueued: number
  resolve: (o: GenerationOutput) => void
  reject: (e: unknown) => void
  detach?: () => void
}

let seedCounter = 0

/** Batch key: requests with equal keys may share a generator call. */
export function batchKey(req: GenerationRequest): string {
  return req.seed === undefined ? `t=${req.temperature};p=${req.topP}` : `seeded#${++seedCounter}`
}

/** A bounded queue that feeds a {@link Generator} batches of compatible requests. */
export class BatchQueue {
  readonly options: Readonly<BatchQueueOptions>
  private readonly generator: Generator
  private readonly waiting: Entry[] = []
  private running: Promise<void> | null = null
  private timer: NodeJS.Timeout | null = null
  private closed = false
  /** Called after each batch (success or failure). */
  onBatch?: (info: BatchInfo) => void

  constructor(generator: Generator, options: BatchQueueOptions) {
    for (const k of ['maxBatchSize', 'maxQueue'] as const) {
      if (!Number.isInteger(options[k]) || options[k] < 1) throw new VrftError('ERR_INVALID_ARG', `Expected a positive integer for ${k} but received ${options[k]}`)
    }
    if (!(options.maxWaitMs >= 0) || !Number.isFinite(options.maxWaitMs)) throw new VrftError('ERR_INVALID_ARG', `Expected a non-negative number of ms for maxWaitMs but received ${options.maxWaitMs}`)
    this.generator = generator
    this.options = Object.freeze({ ...options })
  }

  /** Requests waiting for a batch. */
  get depth(): number {
    return this.waiting.length
  }

  /** True while a batch is with the generator. */
  get busy(): boolean {
    return this.running !== null
  }

  /**
   * Queue a request; resolves with its output when its batch is done. Throws at once (synchronously)
   * ERR_QUEUE_FULL, ERR_SHUTTING_DOWN or ERR_CANCELLED (signal already aborted); rejects with
   * ERR_CANCELLED when `signal` aborts while it waits (an abort during its batch only drops the answer).
   */
  submit(req: GenerationRequest, signal?: AbortSignal): Promise<GenerationOutput> {
    if (this.closed) throw new VrftError('ERR_SHUTTING_DOWN', 'The server is shutting down and takes no new requests')
    if (this.waiting.length >= this.options.maxQueue) {
      throw new VrftError('ERR_QUEUE_FULL', `Too many requests: the queue holds its limit of ${this.options.maxQueue} waiting requests; retry later`, { maxQueue: this.options.maxQueue })
    }
    if (signal?.aborted) throw cancelled()
    return new Promise<GenerationOutput>((resolve, reject) => {
      const entry: Entry = { req, key: batchKey(req), enqueued: performance.now(), resolve, reject }
      if (signal) {
        const onAbort = () => {
          const i = this.waiting.indexOf(entry)
          if (i >= 0) {
            this.waiting.splice(i, 1)
            reject(cancelled())
          }
        }
        signal.addEventListener('abort', onAbort, { once: true })
        entry.detach = () => signal.removeEventListener('abort', onAbort)
      }
      this.waiting.push(entry)
      this.pump()
    })
  }

  /**
   * Refuse new requests (ERR_SHUTTING_DOWN). With `drain` (default) the waiting requests are still
   * served; without, they fail with ERR_SHUTTING_DOWN. Resolves when no batch is left to run.
   */
  async close(opts: { drain?: boolean } = {}): Promise<void> {
    this.closed = true
    if (opts.drain === false) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = null
      for (const e of this.waiting.splice(0)) {
        e.detach?.()
        e.reject(new VrftError('ERR_SHUTTING_DOWN', 'The server shut down before this request was served'))
      }
    }
    while (this.running || this.waiting.length > 0) {
      if (this.running) await this.running
      else await new Promise((r) => setTimeout(r, Math.max(1, this.options.maxWaitMs)))
    }
  }

  private pump(): void {
    if (this.running || this.waiting.length === 0) return
    const head = this.waiting[0]!
    const waited = performance.now() - head.enqueued
    let seqs = 0
    for (const e of this.waiting) if (e.key === head.key) seqs += e.req.n
    if (waited >= this.options.maxWaitMs || seqs >= this.options.maxBatchSize) {
      if (this.timer) clearTimeout(this.timer)
      this.timer = null
      this.running = this.runBatch(this.take(head.key)).finally(() => {
        this.running = null
        this.pump()
      })
    } else if (!this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null
        this.pump()
      }, Math.max(0, this.options.maxWaitMs - waited))
    }
  }

  /** Remove and return the waiting requests of `key`, oldest first, up to maxBatchSize sequences (at least one). */
  private take(key: string): Entry[] {
    const out: Entry[] = []
    let seqs = 0
    for (let i = 0; i < this.waiting.length; ) {
      const e = this.waiting[i]!
      if (e.key === key && (out.length === 0 || seqs + e.req.n <= this.options.maxBatchSize)) {
        out.push(e)
        seqs += e.req.n
        this.waiting.splice(i, 1)
        if (seqs >= this.options.maxBatchSize) break
      } else i++
    }
    return out
  }

  private async runBatch(batch: Entry[]): Promise<void> {
    const t0 = performance.now()
    const waits = batch.map((e) => (t0 - e.enqueued) / 1000)
    for (const e of batch) e.detach?.()
    let outputs: Array<GenerationOutput | Error>
    let failed = false
    try {
      outputs = await this.generator(batch.map((e) => e.req))
      if (!Array.isArray(outputs) || outputs.length !== batch.length) {
        throw new VrftError('ERR_GENERATOR', `The generator returned ${Array.isArray(outputs) ? outputs.length : 'no array of'} outputs for a batch of ${batch.length} requests`)
      }
    } catch (e) {
      failed = true
      outputs = batch.map(() => (e instanceof Error ? e : new VrftError('ERR_GENERATOR', String(e))))
    }
    let completionTokens = 0
    let promptTokens = 0
    batch.forEach((e, i) => {
      const o = outputs[i]!
      if (o instanceof Error) e.reject(o)
      else {
        promptTokens += o.promptTokens
        for (const c of o.choices) completionTokens += c.ids.length
        e.resolve(o)
      }
    })
    const info: BatchInfo = {
      requests: batch.length,
      sequences: batch.reduce((s, e) => s + e.req.n, 0),
      seconds: (performance.now() - t0) / 1000,
      completionTokens,
      promptTokens,
      waits,
      failed,
    }
    try {
      this.onBatch?.(info)
    } catch { /* metrics must never break serving */ }
  }
}

function cancelled(): VrftError {
  return new VrftError('ERR_CANCELLED', 'The client went away before this request was served')
}
