/**
 * The HTTP server of `vrft-native view RUN [RUN2 ...]` (fastify): one page with the runs' curves
 * (uPlot, served from node_modules), a samples browser with the model's boxes drawn on the images, and
 * the runs' config and demo summary. Runs in progress update live: a poller tails every run's
 * metrics.jsonl, eval.jsonl and samples.jsonl and pushes new lines to the page over server-sent events.
 *
 *   GET /                          the page (lib/view/assets/)
 *   GET /assets/app.js|app.css     its script and style
 *   GET /vendor/uplot.js|uplot.css uPlot from node_modules (no network at view time)
 *   GET /api/runs                  the runs: name, config.json, the demo's summary.json, counts
 *   GET /api/runs/:id/samples      prompts of a step with parsed completions (?step, minReward, maxReward, formatFailed)
 *   GET /api/runs/:id/image?path=P an image recorded in that run's samples.jsonl, only when its real
 *                                  path lies under the run directory or a data folder of its
 *                                  config.json (404 when not recorded or missing, 403 when outside)
 *   GET /api/events                SSE: `snapshot` (everything so far), then `metrics`, `eval`,
 *                                  `samples` (new lines), `reset` (a log was rewritten: that run's
 *                                  snapshot again) and `failure` (a file could not be read) events
 *
 * Nothing else on disk is served. Usage:
 *
 *   const v = createViewServer({ runs: ['runs/demo'], port: 0 })
 *   console.log(await v.listen())
 *   ...
 *   await v.close()
 */
import { createReadStream, existsSync, readFileSync, realpathSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { extname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { ServerResponse } from 'node:http'
import Fastify, { type FastifyInstance } from 'fastify'
import { VrftError, describeValue } from '../errors.js'
import { JsonlTail, discoverRuns, flattenMetrics, imageRoots, isInside, readJsonFile, type RunDir } from './runs.js'
import { viewGroups, sampleSteps, type SampleFilter, type SampleLine } from './samples.js'

/** Defaults of the viewer (the CLI's and the README's come from here). */
export const VIEW_DEFAULTS = Object.freeze({
  /** Loopback only: the page shows file contents of the runs. */
  host: '127.0.0.1',
  port: 6060,
  /** How often the run files are checked for new lines (ms). */
  pollMs: 500,
})

/** Options of {@link createViewServer}. */
export interface ViewOptions {
  /** Run directories (a demo's folder stands for its sub-runs). */
  runs: readonly string[]
  host?: string
  /** TCP port; 0 picks a free one. */
  port?: number
  pollMs?: number
  /** Folder relative data paths in config.json are resolved against (default: the current directory). */
  cwd?: string
}

/** A running viewer. */
export interface ViewServer extends AsyncDisposable {
  readonly app: FastifyInstance
  readonly runs: readonly RunDir[]
  /** Start listening; resolves with the base URL. */
  listen(): Promise<string>
  readonly url: string | undefined
  /** Read the run files now (the poller does this every pollMs) and push what is new. */
  poll(): void
  close(): Promise<void>
}

/** A point of a curve: one line of metrics.jsonl or eval.jsonl as named scalars. */
export interface CurvePoint { step: number; values: Record<string, number> }

const point = (r: Record<string, unknown>): CurvePoint | undefined =>
  typeof r.step === 'number' && Number.isFinite(r.step) ? { step: r.step, values: flattenMetrics(r) } : undefined

class RunState {
  readonly metrics: JsonlTail
  readonly evals: JsonlTail
  readonly samples: JsonlTail<SampleLine>
  constructor(readonly id: number, readonly run: RunDir) {
    this.metrics = new JsonlTail(join(run.dir, 'metrics.jsonl'))
    this.evals = new JsonlTail(join(run.dir, 'eval.jsonl'))
    this.samples = new JsonlTail<SampleLine>(join(run.dir, 'samples.jsonl'))
  }
  /** Recorded image paths (as written) → absolute path. */
  images(): Map<string, string> {
    const m = new Map<string, string>()
    for (const l of this.samples.records) if (typeof l.image === 'string') m.set(l.image, isAbsolute(l.image) ? l.image : resolve(this.run.dir, l.image))
    return m
  }
  snapshot() {
    return {
      run: this.id,
      metrics: this.metrics.records.map(point).filter(Boolean),
      eval: this.evals.records.map(point).filter(Boolean),
      sampleSteps: sampleSteps(this.samples.records),
    }
  }
}

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif', '.webp': 'image/webp', '.bmp': 'image/bmp',
}

/** The folder of the page's files (lib/view/assets, also when running from dist/). */
function assetDir(): string {
  const here = fileURLToPath(new URL('.', import.meta.url))
  for (const d of [join(here, 'assets'), resolve(here, '../../../lib/view/assets')]) if (existsSync(join(d, 'index.html'))) return d
  throw new VrftError('ERR_VIEW_ASSETS', `Expected the viewer's page in lib/view/assets next to ${here} but it is missing (reinstall vrft-native)`)
}

function uplotFile(name: string): string {
  return createRequire(import.meta.url).resolve(`uplot/dist/${name}`)
}

function num(q: Record<string, string | undefined>, key: string): number | undefined {
  const v = q[key]
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isFinite(n)) throw new VrftError('ERR_INVALID_ARG', `Expected a number for ${key} but received ${describeValue(v)}`)
  return n
}

/** Build the viewer over run directories (throws ERR_RUN_DIR for a path that holds no run). */
export function createViewServer(o: ViewOptions): ViewServer {
  const runs = discoverRuns(o.runs)
  const pollMs = o.pollMs ?? VIEW_DEFAULTS.pollMs
  if (!(Number.isInteger(pollMs) && pollMs >= 10)) throw new VrftError('ERR_INVALID_ARG', `Expected an integer ≥ 10 for pollMs but received ${describeValue(pollMs)}`)
  const port = o.port ?? VIEW_DEFAULTS.port
  if (!(Number.isInteger(port) && port >= 0 && port <= 65535)) throw new VrftError('ERR_INVALID_ARG', `Expected an integer port in [0, 65535] but received ${describeValue(port)}`)
  const cwd = o.cwd ?? process.cwd()
  const states = runs.map((r, i) => new RunState(i, r))
  const assets = assetDir()
  const clients = new Set<ServerResponse>()
  const app = Fastify({ logger: false, forceCloseConnections: true })

  const send = (ev: string, data: unknown) => {
    const msg = `event: ${ev}\ndata: ${JSON.stringify(data)}\n\n`
    for (const c of clients) c.write(msg)
  }
  const poll = () => {
    for (const s of states) {
      try {
        pollRun(s)
      } catch (e) {
        send('failure', { run: s.id, message: (e as Error).message }) // e.g. a file became unreadable; next poll retries
      }
    }
  }
  const pollRun = (s: RunState) => {
    const m = s.metrics.poll()
    const e = s.evals.poll()
    const sm = s.samples.poll()
    if (m.reset || e.reset || sm.reset) {
      send('reset', s.snapshot())
      return
    }
    if (m.added.length) send('metrics', { run: s.id, points: m.added.map(point).filter(Boolean) })
    if (e.added.length) send('eval', { run: s.id, points: e.added.map(point).filter(Boolean) })
    if (sm.added.length) send('samples', { run: s.id, sampleSteps: sampleSteps(s.samples.records), updated: sampleSteps(sm.added) })
  }
  poll()
  const timer = setInterval(poll, pollMs)
  timer.unref()
  const keepAlive = setInterval(() => { for (const c of clients) c.write(': keep-alive\n\n') }, 15000)
  keepAlive.unref()

  const stateOf = (id: string): RunState => {
    const s = /^\d+$/.test(id) ? states[Number(id)] : undefined
    if (!s) throw Object.assign(new VrftError('ERR_NOT_FOUND', `No run ${describeValue(id)} (runs are 0..${states.length - 1})`), { statusCode: 404 })
    return s
  }

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const status = err.statusCode ?? (err.code === 'ERR_INVALID_ARG' ? 400 : 500)
    void reply.code(status).send({ error: { message: err.message, code: err.code ?? 'ERR_INTERNAL' } })
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.code(404).send({ error: { message: `No route ${req.method} ${req.url.split('?')[0]}`, code: 'ERR_NOT_FOUND' } })
  })

  const file = (path: string, type: string) => async (_req: unknown, reply: { type(t: string): unknown }) => {
    reply.type(type)
    return readFileSync(path)
  }
  app.get('/', file(join(assets, 'index.html'), 'text/html; charset=utf-8'))
  app.get('/assets/app.js', file(join(assets, 'app.js'), 'text/javascript; charset=utf-8'))
  app.get('/assets/app.css', file(join(assets, 'app.css'), 'text/css; charset=utf-8'))
  app.get('/vendor/uplot.js', file(uplotFile('uPlot.iife.min.js'), 'text/javascript; charset=utf-8'))
  app.get('/vendor/uplot.css', file(uplotFile('uPlot.min.css'), 'text/css; charset=utf-8'))

  app.get('/api/runs', async () => states.map((s) => ({
    id: s.id, name: s.run.name, dir: s.run.dir,
    config: readJsonFile(join(s.run.dir, 'config.json')) ?? null,
    summary: readJsonFile(join(s.run.parent ?? s.run.dir, 'summary.json')) ?? null,
    steps: s.metrics.records.length, evals: s.evals.records.length, samples: s.samples.records.length,
  })))

  app.get<{ Params: { id: string }; Querystring: Record<string, string | undefined> }>('/api/runs/:id/samples', async (req) => {
    const s = stateOf(req.params.id)
    const q = req.query
    const f: SampleFilter = {}
    const step = num(q, 'step')
    if (step !== undefined) f.step = step
    const min = num(q, 'minReward')
    if (min !== undefined) f.minReward = min
    const max = num(q, 'maxReward')
    if (max !== undefined) f.maxReward = max
    if (q.formatFailed === '1' || q.formatFailed === 'true') f.formatFailed = true
    const steps = sampleSteps(s.samples.records)
    return { run: s.id, steps, step: f.step ?? steps[steps.length - 1] ?? null, groups: viewGroups(s.samples.records, f) }
  })

  app.get<{ Params: { id: string }; Querystring: { path?: string } }>('/api/runs/:id/image', async (req, reply) => {
    const s = stateOf(req.params.id)
    const p = req.query.path
    const abs = typeof p === 'string' ? s.images().get(p) : undefined
    const notFound = () => reply.code(404).send({ error: { message: `No image ${describeValue(p)} in the samples of run ${s.run.name}`, code: 'ERR_NOT_FOUND' } })
    if (!abs) return notFound()
    let real: string
    try {
      real = realpathSync(abs)
      if (!statSync(real).isFile()) return notFound()
    } catch {
      return notFound()
    }
    const roots = imageRoots(s.run, cwd)
    const type = CONTENT_TYPES[extname(real).toLowerCase()]
    if (!roots.some((r) => isInside(real, r)) || !type) {
      return reply.code(403).send({ error: { message: `Image ${describeValue(p)} is outside the run directory and its data folders (or not an image)`, code: 'ERR_FORBIDDEN' } })
    }
    void reply.type(type).header('cache-control', 'no-cache')
    return reply.send(createReadStream(real))
  })

  app.get('/api/events', (req, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' })
    res.write(`retry: 2000\n\n`)
    res.write(`event: snapshot\ndata: ${JSON.stringify(states.map((s) => s.snapshot()))}\n\n`)
    clients.add(res)
    req.raw.on('close', () => clients.delete(res))
  })

  let url: string | undefined
  let closing: Promise<void> | undefined
  const server: ViewServer = {
    app,
    runs,
    get url() {
      return url
    },
    poll,
    async listen() {
      await app.listen({ host: o.host ?? VIEW_DEFAULTS.host, port })
      const addr = app.server.address()
      if (addr === null || typeof addr === 'string') throw new VrftError('ERR_INTERNAL', `Unexpected listen address ${String(addr)}`)
      url = `http://${addr.family === 'IPv6' ? `[${addr.address}]` : addr.address}:${addr.port}`
      return url
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer)
        clearInterval(keepAlive)
        for (const c of clients) c.end()
        clients.clear()
        await app.close()
      })()
      return closing
    },
    [Symbol.asyncDispose]() {
      return server.close()
    },
  }
  return server
}
