/**
 * Training charts without a chart library: line charts written as SVG here and rasterized to PNG with
 * sharp (librsvg). `plotRun(runDir)` reads metrics.jsonl (and eval.jsonl when present) and writes
 * plots/reward.png (total and each component), plots/kl.png, plots/length.png, plots/entropy.png (mean token
 * entropy, entropy-mask kept fraction), plots/agreement.png (rollout vs training |Δlogp|), plots/tis.png (mean TIS weight, when not all 1),
 * plots/sampling.png (dynamic sampling's filtered fraction, masked truncated completions; when either is on),
 * plots/loss.png and plots/eval.png.
 */
import { join } from 'node:path'
import sharp from 'sharp'
import { readJsonl, writeFileAtomic } from '../train/checkpoint.js'

/** One line of a chart. */
export interface Series {
  name: string
  xs: number[]
  ys: number[]
  dashed?: boolean
}

/** Options of {@link lineChartSvg}. */
export interface ChartOptions {
  title: string
  xLabel?: string
  series: Series[]
  width?: number
  height?: number
}

const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf']

/** Text escaped for SVG element content. */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

/** Round-number axis ticks covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) {
    const d = Math.abs(lo) > 0 ? Math.abs(lo) * 0.1 : 1
    lo -= d
    hi += d
  }
  const raw = (hi - lo) / count
  const mag = 10 ** Math.floor(Math.log10(raw))
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag
  const out: number[] = []
  for (let v = Math.floor(lo / step) * step; v <= hi + step * 0.5; v += step) out.push(Number(v.toPrecision(12)))
  return out
}

function fmtTick(v: number): string {
  if (v === 0) return '0'
  const a = Math.abs(v)
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1)
  return String(Number(v.toPrecision(4)))
}

/** An SVG line chart (white background, axes, ticks, legend). */
export function lineChartSvg(o: ChartOptions): string {
  const W = o.width ?? 720
  const H = o.height ?? 400
  const m = { l: 64, r: 16, t: 36, b: 44 }
  const pts = o.series.flatMap((s) => s.ys.map((y, i) => [s.xs[i]!, y] as const)).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
  const xs = pts.map((p) => p[0])
  const ys = pts.map((p) => p[1])
  const xt = niceTicks(xs.length ? Math.min(...xs) : 0, xs.length ? Math.max(...xs) : 1)
  const yt = niceTicks(ys.length ? Math.min(...ys) : 0, ys.length ? Math.max(...ys) : 1)
  const [x0, x1] = [xt[0]!, xt[xt.length - 1]!]
  const [y0, y1] = [yt[0]!, yt[yt.length - 1]!]
  const px = (x: number) => m.l + ((x - x0) / (x1 - x0 || 1)) * (W - m.l - m.r)
  const py = (y: number) => H - m.b - ((y - y0) / (y1 - y0 || 1)) * (H - m.t - m.b)
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ]
  for (const t of yt) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${m.l - 6}" y="${py(t) + 4}" text-anchor="end">${fmtTick(t)}</text>`)
  }
  for (const t of xt) parts.push(`<text x="${px(t)}" y="${H - m.b + 16}" text-anchor="middle">${fmtTick(t)}</text>`)
  parts.push(`<rect x="${m.l}" y="${m.t}" width="${W - m.l - m.r}" height="${H - m.t - m.b}" fill="none" stroke="#444"/>`)
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 8}" text-anchor="middle">${esc(o.xLabel ?? 'step')}</text>`)
  o.series.forEach((s, k) => {
    const color = COLORS[k % COLORS.length]!
    const p = s.ys.map((y, i) => [s.xs[i]!, y] as const).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y))
    if (p.length === 1) parts.push(`<circle cx="${px(p[0]![0])}" cy="${py(p[0]![1])}" r="3" fill="${color}"/>`)
    else if (p.length > 1) {
      const d = p.map(([x, y], i) => `${i ? 'L' : 'M'}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join('')
      parts.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`)
    }
    const ly = m.t + 14 + k * 16
    parts.push(`<line x1="${m.l + 10}" x2="${m.l + 30}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="6,4"' : ''}/>`)
    parts.push(`<text x="${m.l + 36}" y="${ly}">${esc(s.name)}</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}

/** Rasterize an SVG to PNG bytes. */
export async function svgToPng(svg: string): Promise<Buffer> {
  return sharp(Buffer.from(svg)).png().toBuffer()
}

type Rec = Record<string, unknown> & { step: number }

const get = (r: Record<string, unknown>, path: string): number => {
  let v: unknown = r
  for (const k of path.split('.')) v = (v as Record<string, unknown> | undefined)?.[k]
  return typeof v === 'number' ? v : NaN
}

/**
 * Write the charts of a run directory into `<runDir>/plots/`. Returns the PNG paths written
 * (none when metrics.jsonl has no steps).
 */
export async function plotRun(runDir: string): Promise<string[]> {
  const recs = readJsonl<Rec>(join(runDir, 'metrics.jsonl')).filter((r) => typeof r.step === 'number')
  const evals = readJsonl<Rec>(join(runDir, 'eval.jsonl')).filter((r) => typeof r.step === 'number')
  if (recs.length === 0 && evals.length === 0) return []
  const steps = recs.map((r) => r.step)
  const charts: Array<[string, ChartOptions]> = []
  const grpo = recs.some((r) => r.reward !== undefined)
  if (grpo) {
    const comps = [...new Set(recs.flatMap((r) => Object.keys((r.rewards as Record<string, unknown>) ?? {})))]
    charts.push(['reward', {
      title: 'Reward (mean over completions)',
      series: [{ name: 'total', xs: steps, ys: recs.map((r) => get(r, 'reward.mean')) }, ...comps.map((c) => ({ name: c, xs: steps, ys: recs.map((r) => get(r, `rewards.${c}.mean`)), dashed: true }))],
    }])
    charts.push(['kl', { title: 'KL to the reference model', series: [{ name: 'kl', xs: steps, ys: recs.map((r) => get(r, 'kl')) }] }])
    charts.push(['length', {
      title: 'Completion length (tokens)',
      series: [
        { name: 'mean', xs: steps, ys: recs.map((r) => get(r, 'completionLength.mean')) },
        { name: 'min', xs: steps, ys: recs.map((r) => get(r, 'completionLength.min')), dashed: true },
        { name: 'max', xs: steps, ys: recs.map((r) => get(r, 'completionLength.max')), dashed: true },
      ],
    }])
    const has = (path: string) => recs.some((r) => Number.isFinite(get(r, path)))
    const series = (paths: Array<[string, string, boolean?]>) => paths.filter(([, p]) => has(p)).map(([name, p, dashed]) => ({ name, xs: steps, ys: recs.map((r) => get(r, p)), ...(dashed ? { dashed } : {}) }))
    if (has('entropy')) {
      charts.push(['entropy', { title: 'Token entropy (nats) and entropy-mask kept fraction', series: series([['entropy', 'entropy'], ['kept', 'entropyKept', true]]) }])
    }
    if (has('rolloutLogpDiff.mean')) {
      charts.push(['agreement', {
        title: 'Rollout vs training |Δ logp| per token (first update)',
        series: series([['mean', 'rolloutLogpDiff.mean'], ['max', 'rolloutLogpDiff.max', true]]),
      }])
    }
    if (recs.some((r) => Number.isFinite(get(r, 'tisMean')) && get(r, 'tisMean') !== 1)) {
      charts.push(['tis', { title: 'Mean TIS weight min(π_train / π_rollout, C)', series: series([['tis', 'tisMean']]) }])
    }
    if (has('dynamicSampling.filteredFraction') || has('truncatedMasked')) {
      charts.push(['sampling', {
        title: 'Dynamic sampling and truncation',
        series: series([['filtered groups', 'dynamicSampling.filteredFraction'], ['rounds', 'dynamicSampling.rounds', true], ['masked truncated', 'truncatedMasked', true]]),
      }])
    }
  }
  if (recs.length) charts.push(['loss', { title: 'Loss', series: [{ name: 'loss', xs: steps, ys: recs.map((r) => get(r, 'loss')) }] }])
  if (evals.length) {
    charts.push(['eval', { title: 'Evaluation (greedy)', series: [{ name: 'score', xs: evals.map((r) => r.step), ys: evals.map((r) => get(r, 'score')) }] }])
  }
  const out: string[] = []
  for (const [name, opts] of charts) {
    const file = join(runDir, 'plots', `${name}.png`)
    writeFileAtomic(file, await svgToPng(lineChartSvg(opts)))
    out.push(file)
  }
  return out
}

/** An SVG bar chart of labelled values (e.g. accuracy before/after), values printed on the bars. */
export function barChartSvg(o: { title: string; bars: Array<{ label: string; value: number }>; format?: (v: number) => string; width?: number; height?: number }): string {
  const W = o.width ?? 520
  const H = o.height ?? 360
  const m = { l: 56, r: 16, t: 40, b: 40 }
  const fmt = o.format ?? ((v: number) => v.toFixed(3))
  const hi = Math.max(1e-9, ...o.bars.map((b) => b.value))
  const yt = niceTicks(0, hi * 1.12)
  const top = yt[yt.length - 1]!
  const py = (y: number) => H - m.b - (y / top) * (H - m.t - m.b)
  const slot = (W - m.l - m.r) / Math.max(1, o.bars.length)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(o.title)}</text>`,
  ]
  for (const t of yt) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${py(t)}" y2="${py(t)}" stroke="#e5e5e5"/>`)
    parts.push(`<text x="${m.l - 6}" y="${py(t) + 4}" text-anchor="end">${fmt(t)}</text>`)
  }
  o.bars.forEach((b, i) => {
    const x = m.l + i * slot + slot * 0.2
    const w = slot * 0.6
    const y = py(Math.max(0, b.value))
    parts.push(`<rect x="${x}" y="${y}" width="${w}" height="${H - m.b - y}" fill="${COLORS[i % COLORS.length]}"/>`)
    parts.push(`<text x="${x + w / 2}" y="${y - 5}" text-anchor="middle">${esc(fmt(b.value))}</text>`)
    parts.push(`<text x="${x + w / 2}" y="${H - m.b + 16}" text-anchor="middle">${esc(b.label)}</text>`)
  })
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#444"/>`, '</svg>')
  return parts.join('\n')
}
