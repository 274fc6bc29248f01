/**
 * Prometheus metrics of `vrft-native serve`, on a registry of its own (several servers can live in one
 * process): requests by route and status, request latency, queue depth and wait, batch sizes and
 * durations, generated tokens and tokens/s. `GET /metrics` serves `registry.metrics()`.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import type { BatchInfo } from './queue.js'

const LATENCY_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]
const BATCH_BUCKETS = [1, 2, 4, 8, 16, 32, 64, 128, 256]

/** The server's metrics. */
export class ServeMetrics {
  /** The registry every metric below lives in (`registry.metrics()` is the /metrics body). */
  readonly registry: Registry
  /** `vrft_http_requests_total{route,status}`. */
  readonly requests: Counter<'route' | 'status'>
  /** `vrft_http_request_duration_seconds{route}`. */
  readonly latency: Histogram<'route'>
  /** `vrft_queue_depth`: requests waiting for a batch (read at scrape time). */
  readonly queueDepth: Gauge
  /** `vrft_queue_wait_seconds`. */
  readonly queueWait: Histogram
  /** `vrft_batch_requests`: requests per generator call. */
  readonly batchSize: Histogram
  /** `vrft_batch_sequences`: Σ n per generator call. */
  readonly batchSequences: Histogram
  /** `vrft_batch_duration_seconds`. */
  readonly batchSeconds: Histogram
  /** `vrft_batch_failures_total`. */
  readonly batchFailures: Counter
  /** `vrft_prompt_tokens_total`. */
  readonly promptTokens: Counter
  /** `vrft_completion_tokens_total`. */
  readonly completionTokens: Counter
  /** `vrft_tokens_per_second` of the last generator call. */
  readonly tokensPerSecond: Gauge
  /** `vrft_connections_refused_total`: connections closed at once because the cap and its reserve were full. */
  readonly refusedConnections: Counter

  /**
   * @param depth reads the current queue depth at scrape time.
   * @param opts `defaultMetrics`: also export the process metrics of prom-client (RSS, heap, event-loop lag).
   */
  constructor(depth: () => number, opts: { defaultMetrics?: boolean } = {}) {
    const r = (this.registry = new Registry())
    const registers = [r]
    this.requests = new Counter({ name: 'vrft_http_requests_total', help: 'HTTP requests answered, by route and status code', labelNames: ['route', 'status'], registers })
    this.latency = new Histogram({ name: 'vrft_http_request_duration_seconds', help: 'Time from request to full answer, by route', labelNames: ['route'], buckets: LATENCY_BUCKETS, registers })
    this.queueDepth = new Gauge({ name: 'vrft_queue_depth', help: 'Generation requests waiting for a batch', registers, collect() { this.set(depth()) } })
    this.queueWait = new Histogram({ name: 'vrft_queue_wait_seconds', help: 'Time a generation request waited before its batch started', buckets: LATENCY_BUCKETS, registers })
    this.batchSize = new Histogram({ name: 'vrft_batch_requests', help: 'Requests per generator call', buckets: BATCH_BUCKETS, registers })
    this.batchSequences = new Histogram({ name: 'vrft_batch_sequences', help: 'Sequences (sum of n) per generator call', buckets: BATCH_BUCKETS, registers })
    this.batchSeconds = new Histogram({ name: 'vrft_batch_duration_seconds', help: 'Wall time of one generator call', buckets: LATENCY_BUCKETS, registers })
    this.batchFailures = new Counter({ name: 'vrft_batch_failures_total', help: 'Generator calls that failed as a whole', registers })
    this.promptTokens = new Counter({ name: 'vrft_prompt_tokens_total', help: 'Prompt tokens of answered requests (image pads included)', registers })
    this.completionTokens = new Counter({ name: 'vrft_completion_tokens_total', help: 'Tokens generated', registers })
    this.tokensPerSecond = new Gauge({ name: 'vrft_tokens_per_second', help: 'Generated tokens per second of the last generator call', registers })
    this.refusedConnections = new Counter({ name: 'vrft_connections_refused_total', help: 'Connections closed on arrival: the connection cap and its /healthz reserve were full', registers })
    if (opts.defaultMetrics) collectDefaultMetrics({ register: r, prefix: 'vrft_' })
  }

  /** Record one batch reported by the queue. */
  observeBatch(b: BatchInfo): void {
    this.batchSize.observe(b.requests)
    this.batchSequences.observe(b.sequences)
    this.batchSeconds.observe(b.seconds)
    for (const w of b.waits) this.queueWait.observe(w)
    if (b.failed) this.batchFailures.inc()
    this.completionTokens.inc(b.completionTokens)
    this.promptTokens.inc(b.promptTokens)
    if (b.seconds > 0 && !b.failed) this.tokensPerSecond.set(b.completionTokens / b.seconds)
  }

  /** Prometheus text exposition. */
  text(): Promise<string> {
    return this.registry.metrics()
  }

  /** Mean requests per batch so far (0 before the first batch). */
  async meanBatchSize(): Promise<number> {
    const m = await this.batchSize.get()
    const sum = m.values.find((v) => v.metricName === 'vrft_batch_requests_sum')?.value ?? 0
    const count = m.values.find((v) => v.metricName === 'vrft_batch_requests_count')?.value ?? 0
    return count ? sum / count : 0
  }
}
