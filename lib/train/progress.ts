/**
 * What a user sees while training: a one-line progress bar redrawn in place on a terminal, or one plain
 * line per step when stderr is not a TTY (logs, CI). Shows step, reward and each component, KL,
 * completion length, tokens/s and ETA.
 */
import type { StepRecord } from './loop.js'

/** Format seconds as 1h02m, 3m05s or 12s. */
export function formatDuration(s: number): string {
  if (!Number.isFinite(s) || s < 0) return '?'
  s = Math.round(s)
  if (s >= 3600) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`
  if (s >= 60) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`
  return `${s}s`
}

const num = (x: number | undefined, d = 3) => (x === undefined || !Number.isFinite(x) ? '-' : Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(d))

/** One line describing a step record. */
export function formatStep(r: Partial<StepRecord> & { step: number }, total: number, elapsed: number): string {
  const comps = Object.entries(r.rewards ?? {}).map(([k, v]) => `${k} ${num(v.mean, 2)}`).join(' ')
  const eta = r.step > 0 ? (elapsed / r.step) * (total - r.step) : NaN
  const parts = [
    `step ${r.step}/${total}`,
    r.reward ? `reward ${num(r.reward.mean)}${comps ? ` (${comps})` : ''}` : '',
    r.kl !== undefined ? `kl ${num(r.kl, 4)}` : '',
    r.completionLength ? `len ${num(r.completionLength.mean, 1)}` : '',
    r.loss !== undefined ? `loss ${num(r.loss, 4)}` : '',
    r.tokensPerSecond !== undefined ? `${num(r.tokensPerSecond, 1)} tok/s` : '',
    `eta ${formatDuration(eta)}`,
  ]
  return parts.filter(Boolean).join(' | ')
}

/** Progress output on a stream (stderr by default). */
export class Progress {
  private readonly out: NodeJS.WriteStream
  private readonly tty: boolean
  private readonly quiet: boolean
  private drawn = false
  constructor(opts: { stream?: NodeJS.WriteStream; quiet?: boolean; tty?: boolean } = {}) {
    this.out = opts.stream ?? process.stderr
    this.tty = opts.tty ?? Boolean(this.out.isTTY)
    this.quiet = opts.quiet ?? false
  }
  /** Show a step. */
  step(r: Partial<StepRecord> & { step: number }, total: number, elapsed: number): void {
    if (this.quiet) return
    const line = formatStep(r, total, elapsed)
    if (this.tty) {
      const width = this.out.columns || 120
      const barW = Math.max(10, Math.min(30, width - line.length - 4))
      const done = Math.round((r.step / total) * barW)
      const bar = '█'.repeat(done) + '░'.repeat(barW - done)
      this.out.write(`\r\x1b[K${bar} ${line}`.slice(0, width + 8))
      this.drawn = true
    } else {
      this.out.write(line + '\n')
    }
  }
  /** Print a message on its own line (keeps the bar intact on a TTY). */
  log(msg: string): void {
    if (this.quiet) return
    if (this.tty && this.drawn) this.out.write('\r\x1b[K')
    this.out.write(msg + '\n')
    this.drawn = false
  }
  /** End the bar line. */
  done(): void {
    if (this.tty && this.drawn) this.out.write('\n')
    this.drawn = false
  }
}
