/**
 * The HTTP server of `vrft-native serve` (fastify): an OpenAI-compatible chat endpoint with dynamic
 * batching, a rewards endpoint, health and Prometheus metrics.
 *
 *   POST /v1/chat/completions   OpenAI chat completions (JSON or server-sent events with `stream`)
 *   POST /v1/rewards            score completions with a named reward (lib/serve/rewards.ts)
 *   GET  /v1/models             the one model served
 *   GET  /healthz               liveness, never needs the key
 *   GET  /metrics               Prometheus text format
 *
 * Every error is JSON `{error: {message, type, param, code}}` (lib/serve/errors.ts); a failing request never
 * stops the server. The server listens on 127.0.0.1 unless told otherwise. Slow or idle clients are cut
 * off (header, request and keep-alive timeouts) and open connections are capped; past the cap a small
 * reserve still answers /healthz (see ServeConnectionOptions). Usage:
 *
 *   const server = createServer(modelGenerator(model), { port: 0 })
 *   const url = await server.listen()
 *   ...
 *   await server.close()
 */
import { PassThrough } from 'node:stream'
import { randomUUID } from 'node:crypto'
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http'
import type { Socket } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply } from 'fastify'
import { bearerChecker } from './auth.js'
import { answerClientError, HttpError, RETRY_AFTER_SECONDS, toHttpError } from './errors.js'
import { ServeMetrics } from './metrics.js'
import { StopStream, applyStop, parseChatRequest, type ChatCompletion, type ChatCompletionChunk, type ChatRequest } from './openai.js'
import { HEALTH_RESERVE_CONNECTIONS, OVER_CAP_IDLE_MS, resolveServeOptions, type ResolvedServeOptions, type ServeOptions } from './options.js'
import { BatchQueue } from './queue.js'
import { scoreRewardsRequest } from './rewards.js'
import type { GenerationOutput, Generator } from './types.js'

/** A running (or ready to run) server. Close it with `close()` or `await using`. */
export interface VrftServer extends AsyncDisposable {
  /** The fastify instance (routes are registered; add your own before `listen`). */
  readonly app: FastifyInstance
  readonly options: ResolvedServeOptions
  readonly metrics: ServeMetrics
  readonly queue: BatchQueue
  /** Start listening; resolves with the base URL, e.g. `http://127.0.0.1:8000`. */
  listen(): Promise<string>
  /** Base URL once listening. */
  readonly url: string | undefined
  /**
   * Stop taking requests, serve those already queued, close connections. Idempotent. Does not dispose
   * the model behind the generator (its owner does).
   */
  close(): Promise<void>
}

const ROUTE_UNMATCHED = 'unmatched'

/** Build the server around a generator (see `modelGenerator` for a loaded model). */
export function createServer(generator: Generator, options: ServeOptions = {}): VrftServer {
  if (typeof generator !== 'function') throw new HttpError(500, 'ERR_INVALID_ARG', 'Expected a generator function (batch => outputs) for createServer; wrap a model with modelGenerator(model)')
  const o = resolveServeOptions(options)
  const queue = new BatchQueue(generator, { maxBatchSize: o.maxBatchSize, maxWaitMs: o.maxWaitMs, maxQueue: o.maxQueue })
  const metrics = new ServeMetrics(() => queue.depth, { defaultMetrics: o.defaultMetrics })
  queue.onBatch = (b) => metrics.observeBatch(b)
  const c = o.connections
  const overCap = new WeakSet<Socket>()
  let open = 0
  const serverFactory = (handler: Parameters<typeof createHttpServer>[1]): HttpServer => {
    const srv = createHttpServer({
      headersTimeout: c.headersTimeoutMs,
      requestTimeout: c.requestTimeoutMs,
      keepAliveTimeout: c.keepAliveTimeoutMs,
      // how often Node checks the header and request timeouts (its default, 30 s, would let them overrun)
      connectionsCheckingInterval: Math.max(100, Math.min(1000, Math.floor(c.headersTimeoutMs / 4))),
    }, handler)
    srv.on('connection', (sock: Socket) => {
      if (open >= c.maxConnections + HEALTH_RESERVE_CONNECTIONS) {
        metrics.refusedConnections.inc()
        sock.destroy()
        return
      }
      open++
      sock.once('close', () => open--)
      if (open > c.maxConnections) {
        overCap.add(sock)
        sock.setTimeout(OVER_CAP_IDLE_MS, () => sock.destroy())
      }
    })
    return srv
  }
  // clientErrorHandler: timeouts and unparsable bytes are answered in the same coded JSON as every other error
  const app = Fastify({ bodyLimit: o.limits.maxBodyBytes, logger: o.logger, return503OnClosing: true, serverFactory, clientErrorHandler: answerClientError })
  app.removeContentTypeParser('text/plain')
  const checkKey = o.apiKey ? bearerChecker(o.apiKey) : undefined

  app.addHook('onRequest', async (req, reply) => {
    ;(req as { t0?: number }).t0 = performance.now()
    if (overCap.has(req.raw.socket)) {
      void reply.header('connection', 'close')
      if (req.routeOptions.url !== '/healthz') {
        void reply.header('retry-after', String(RETRY_AFTER_SECONDS))
        throw new HttpError(503, 'ERR_TOO_MANY_CONNECTIONS', `This server has ${c.maxConnections} connections open (its limit); retry later or reuse a connection`)
      }
    }
    if (checkKey && req.routeOptions.url !== '/healthz' && !checkKey(req.headers.authorization)) {
      void reply.header('www-authenticate', 'Bearer')
      throw new HttpError(401, 'ERR_UNAUTHORIZED', 'Expected an API key as "Authorization: Bearer <key>"; the key was missing or wrong')
    }
  })
  app.addHook('onResponse', async (req, reply) => {
    const route = req.routeOptions.url ?? ROUTE_UNMATCHED
    metrics.requests.inc({ route, status: String(reply.statusCode) })
    const t0 = (req as { t0?: number }).t0
    if (t0 !== undefined) metrics.latency.observe({ route }, (performance.now() - t0) / 1000)
  })
  app.setErrorHandler((err, req, reply) => {
    const { status, body, internal } = toHttpError(err)
    if (internal) req.log.error({ err }, 'request failed')
    if (status === 429) void reply.header('retry-after', String(RETRY_AFTER_SECONDS))
    void reply.code(status).type('application/json').send(body)
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { message: `No route ${req.method} ${req.url.split('?')[0]}`, type: 'not_found_error', code: 'ERR_NOT_FOUND' } })
  })

  app.get('/healthz', async () => ({ status: 'ok', queueDepth: queue.depth, busy: queue.busy }))
  app.get('/metrics', async (_req, reply) => {
    void reply.type(metrics.registry.contentType)
    return metrics.text()
  })
  app.get('/v1/models', async () => ({ object: 'list', data: [{ id: o.modelName, object: 'model', created: 0, owned_by: 'vrft-native' }] }))
  app.post('/v1/rewards', { bodyLimit: o.limits.maxRewardBodyBytes }, async (req) => scoreRewardsRequest(req.body, o.limits))
  app.post('/v1/chat/completions', async (req, reply) => {
    const cr = await parseChatRequest(req.body, o)
    const ac = new AbortController()
    reply.raw.once('close', () => {
      if (!reply.raw.writableFinished) ac.abort()
    })
    return cr.stream ? streamChat(cr, queue, o, reply, ac) : completeChat(cr, queue, o, ac.signal)
  })

  let url: string | undefined
  let closing: Promise<void> | undefined
  const server: VrftServer = {
    app,
    options: o,
    metrics,
    queue,
    get url() {
      return url
    },
    async listen() {
      await app.listen({ host: o.host, port: o.port })
      const addr = app.server.address()
      if (addr === null || typeof addr === 'string') throw new HttpError(500, 'ERR_INTERNAL', `Unexpected listen address ${String(addr)}`)
      const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
      url = `http://${host}:${addr.port}`
      return url
    },
    close() {
      closing ??= Promise.all([queue.close(), app.close()]).then(() => undefined)
      return closing
    },
    [Symbol.asyncDispose]() {
      return server.close()
    },
  }
  return server
}

function usageOf(out: GenerationOutput, texts: number[]): ChatCompletion['usage'] {
  const completion = texts.reduce((s, x) => s + x, 0)
  return { prompt_tokens: out.promptTokens, completion_tokens: completion, total_tokens: out.promptTokens + completion }
}

async function completeChat(cr: ChatRequest, queue: BatchQueue, o: ResolvedServeOptions, signal: AbortSignal): Promise<ChatCompletion> {
  const out = await queue.submit(cr.gen, signal)
  const choices = out.choices.map((c, index) => {
    const s = applyStop(c.text, cr.gen.stop)
    return { index, message: { role: 'assistant' as const, content: s.text }, finish_reason: s.cut ? ('stop' as const) : c.finishReason, logprobs: null }
  })
  return {
    id: `chatcmpl-${randomUUID()}`,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: o.modelName,
    choices,
    usage: usageOf(out, out.choices.map((c) => c.ids.length)),
  }
}

/**
 * Answer with server-sent events. The 200 and its headers go out only once the generator has produced
 * text (or finished): a request it refuses (prompt too long, bad image) gets a plain JSON 4xx instead.
 */
async function streamChat(cr: ChatRequest, queue: BatchQueue, o: ResolvedServeOptions, reply: FastifyReply, ac: AbortController): Promise<PassThrough> {
  const id = `chatcmpl-${randomUUID()}`
  const created = Math.floor(Date.now() / 1000)
  const n = cr.gen.n
  const stops = Array.from({ length: n }, () => new StopStream(cr.gen.stop))
  const sse = new PassThrough()
  sse.on('error', () => ac.abort()) // the client went away mid-stream
  const send = (data: unknown) => {
    if (!sse.writableEnded && !sse.destroyed) sse.write(`data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`)
  }
  const chunk = (choices: ChatCompletionChunk['choices'], usage?: ChatCompletionChunk['usage']): ChatCompletionChunk => ({
    id, object: 'chat.completion.chunk', created, model: o.modelName, choices, ...(usage !== undefined ? { usage } : {}),
  })
  let started: () => void = () => {}
  const firstText = new Promise<void>((r) => (started = r))
  // The role chunks come first; they (and any text) wait in the stream's buffer until it is returned.
  for (let i = 0; i < n; i++) send(chunk([{ index: i, delta: { role: 'assistant', content: '' }, finish_reason: null, logprobs: null }]))
  cr.gen.onText = (i, delta) => {
    started()
    const text = stops[i]?.push(delta)
    if (text) send(chunk([{ index: i, delta: { content: text }, finish_reason: null, logprobs: null }]))
  }
  // Throws 429 / 503 synchronously, before any stream byte: those stay plain JSON errors.
  const pending = queue.submit(cr.gen, ac.signal)
  const early = await Promise.race([firstText.then(() => undefined), pending.then(() => undefined, (e: unknown) => ({ e }))])
  if (early !== undefined) {
    sse.destroy()
    throw early.e
  }
  void reply.code(200).header('content-type', 'text/event-stream; charset=utf-8').header('cache-control', 'no-cache').header('x-accel-buffering', 'no')
  void pending.then(
    (out) => {
      out.choices.forEach((c, i) => {
        const s = stops[i]!
        const rest = s.finish(c.text)
        if (rest) send(chunk([{ index: i, delta: { content: rest }, finish_reason: null, logprobs: null }]))
        const cut = applyStop(c.text, cr.gen.stop).cut
        send(chunk([{ index: i, delta: {}, finish_reason: cut ? 'stop' : c.finishReason, logprobs: null }]))
      })
      if (cr.includeUsage) send(chunk([], usageOf(out, out.choices.map((c) => c.ids.length))))
      send('[DONE]')
      if (!sse.destroyed) sse.end()
    },
    (e: unknown) => {
      send(toHttpError(e).body)
      send('[DONE]')
      if (!sse.destroyed) sse.end()
    },
  )
  return sse
}
