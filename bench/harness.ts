/**
 * Benchmark harness: warm-up, repeated runs, median and spread; the machine's own limits measured in the
 * same run by the addon (matmul FLOP/s at the dtype in use, memory bandwidth); peak memory; git commit,
 * libtorch version, device, threads. Every benchmark reports a ratio against a baseline measured in the
 * same process and/or a utilization against those limits.
 */
import { execFileSync } from 'node:child_process'
import os from 'node:os'
import { native, packageRoot, type ModelArch } from '../lib/native/binding.js'

/** Statistics of repeated timings, in seconds. */
export interface Timing { median: number; min: number; max: number; p10: number; p90: number; runs: number }

/** Times `fn` after `warmup` calls: at least `reps` runs and at least `minSeconds` in total. */
export async function time(fn: () => unknown | Promise<unknown>, opts: { warmup?: number; reps?: number; minSeconds?: number; maxReps?: number } = {}): Promise<Timing> {
  const { warmup = 1, reps = 5, minSeconds = 0, maxReps = 1000 } = opts
  for (let i = 0; i < warmup; i++) await fn()
  const xs: number[] = []
  const t0 = performance.now()
  while (xs.length < reps || ((performance.now() - t0) / 1000 < minSeconds && xs.length < maxReps)) {
    const s = performance.now()
    await fn()
    xs.push((performance.now() - s) / 1000)
  }
  xs.sort((a, b) => a - b)
  const q = (p: number) => xs[Math.min(xs.length - 1, Math.floor(p * (xs.length - 1) + 0.5))]!
  return { median: q(0.5), min: xs[0]!, max: xs[xs.length - 1]!, p10: q(0.1), p90: q(0.9), runs: xs.length }
}

/** One line of the result table. */
export interface Row {
  bench: string
  metric: string          // e.g. 'tokens/s'
  value: number
  spread?: string         // e.g. '±3%'
  baseline?: { name: string; value: number }   // same metric for the baseline, same process
  ratio?: number          // value / baseline (or baseline time / our time), > 1 is better
  utilization?: { of: string; fraction: number } // against a measured machine limit
  target?: { description: string; met: boolean }
  notes?: string
}

export interface Limits { matmulFlops: number; matmulDtype: string; bandwidth: number; device: string }

export interface Context {
  size: 'tiny' | 'small' | '2b' | '3b' | '7b'
  /** Model architecture of the model benchmarks (`--arch`, default qwen2-vl). */
  arch: ModelArch
  quick: boolean
  /** --model: an existing checkpoint of `size` (the realsize suite needs one at 2b/3b/7b). */
  modelDir?: string
  device: string
  dtype: 'float32' | 'bfloat16'
  limits: Limits
  workdir: string
}

export interface Suite {
  name: string
  run(ctx: Context): Promise<Row[]>
}

/** Measures the machine's limits with libtorch on `device`. */
export async function measureLimits(device: string, dtype: 'float32' | 'bfloat16', quick: boolean): Promise<Limits> {
  const n = native()
  const mm = await n.measureMatmul({ n: device.startsWith('cuda') ? 8192 : quick ? 512 : 1024, dtype, device, reps: quick ? 3 : 7 })
  const bw = await n.measureBandwidth({ bytes: device.startsWith('cuda') ? 2 ** 30 : quick ? 64 * 2 ** 20 : 256 * 2 ** 20, device, reps: quick ? 3 : 7 })
  return { matmulFlops: mm.best, matmulDtype: dtype, bandwidth: bw.best, device }
}

/** Peak resident set size of this process so far, in bytes. */
export function peakRss(): number {
  return process.resourceUsage().maxRSS * 1024
}

/**
 * The commit of the code that ran: the git HEAD of this package's own checkout (not of the working
 * directory, which may be another clone), `+dirty` when tracked files differ from it, `unknown` outside
 * a checkout.
 */
export function sourceCommit(root: string = packageRoot()): string {
  const git = (...args: string[]) => execFileSync('git', ['-C', root, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] })
  let commit: string
  try { commit = git('rev-parse', '--short', 'HEAD').trim() } catch { return 'unknown' } // not a git checkout
  try { git('diff', '--quiet', 'HEAD', '--') } catch { commit += '+dirty' } // exit 1: tracked files changed
  return commit
}

/** Machine and build description recorded with every result. */
export function machineInfo(): Record<string, unknown> {
  const info = native().runtimeInfo()
  return {
    commit: sourceCommit(),
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    libtorch: info.torchVersion,
    cuda: info.cudaAvailable ? `${info.cudaDevices} device(s)` : 'none',
    blas: info.blas,
    threads: info.numThreads,
  }
}

const si = (x: number, unit: string) => {
  const a = Math.abs(x)
  const [d, p] = a >= 1e12 ? [1e12, 'T'] : a >= 1e9 ? [1e9, 'G'] : a >= 1e6 ? [1e6, 'M'] : a >= 1e3 ? [1e3, 'k'] : [1, '']
  return `${(x / d).toPrecision(3)} ${p}${unit}`
}

/** A readable table of rows. */
export function formatTable(rows: Row[]): string {
  const lines = rows.map((r) => [
    r.bench,
    si(r.value, r.metric),
    r.spread ?? '',
    r.baseline ? `${r.baseline.name}: ${si(r.baseline.value, r.metric)}` : '',
    r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : '',
    r.utilization ? `${(r.utilization.fraction * 100).toFixed(1)}% of ${r.utilization.of}` : '',
    r.target ? `${r.target.met ? 'MET' : 'NOT MET'}: ${r.target.description}` : '',
  ])
  const head = ['benchmark', 'value', 'spread', 'baseline', 'ratio', 'roofline', 'target']
  const w = head.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)))
  const fmt = (l: string[]) => l.map((c, i) => c.padEnd(w[i]!)).join('  ').trimEnd()
  return [fmt(head), w.map((x) => '-'.repeat(x)).join('  '), ...lines.map(fmt)].join('\n')
}

export const spreadOf = (t: Timing) => `±${(((t.p90 - t.p10) / 2 / t.median) * 100).toFixed(0)}%`
