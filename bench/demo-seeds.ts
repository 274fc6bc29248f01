/**
 * The built-in demo over seeds, per task: runs `vrft-native train`'s demo (runBuiltin, one run at a time)
 * for each task and seed, and writes `<out>.json` (every summary) and `<out>.md` (per task: every seed;
 * mean and sd of the warm start, + GRPO and + SFT; whether GRPO beats the warm start by more than 3 sd of
 * the warm start's seed-to-seed spread and beats SFT on average). Rewritten after every run, so an
 * interrupted benchmark keeps what finished. Wall-clock and CPU seconds and the load average are recorded
 * per run (the machine may be shared).
 *
 *   node dist/bench/demo-seeds.js --tasks detection,grounding,classification --seeds 1,2,3 \
 *     --out bench/results/demo-tasks-3-seeds [--cache DIR] [--runs DIR]
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { runBuiltin } from '../lib/app/builtin.js'
import { BUILTIN_TASKS } from '../lib/app/builtin-tasks.js'
import type { Task } from '../lib/sample.js'
import { sourceCommit } from './harness.js'

type Summary = { task: Task; headline: string; metrics: Record<string, { warmStart: number; grpo: number; sft?: number }>; seconds: number; cpuSeconds: number; warmStartCached: boolean }
interface RunRecord { task: Task; seed: number; summary: Summary; loadBefore: number[]; loadAfter: number[] }

/** Mean and sample standard deviation. */
export function meanSd(xs: readonly number[]): { mean: number; sd: number } {
  const n = xs.length
  const mean = xs.reduce((a, b) => a + b, 0) / Math.max(1, n)
  const sd = n > 1 ? Math.sqrt(xs.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1)) : NaN
  return { mean, sd }
}

/**
 * The bar of issue #19 for one task's runs, on its headline metric (or on `metric`): GRPO's mean gain over
 * the warm start against 3 sd of the warm start over seeds, and GRPO against SFT; `gain` is the per-seed
 * (paired) gain's mean and sd.
 */
export function verdict(runs: readonly RunRecord[], metric?: string): { warm: { mean: number; sd: number }; grpo: { mean: number; sd: number }; sft: { mean: number; sd: number }; gain: { mean: number; sd: number }; gainOver3Sd: boolean; beatsSft: boolean } {
  const h = (r: RunRecord, k: 'warmStart' | 'grpo' | 'sft') => r.summary.metrics[metric ?? r.summary.headline]?.[k] ?? NaN
  const warm = meanSd(runs.map((r) => h(r, 'warmStart')))
  const grpo = meanSd(runs.map((r) => h(r, 'grpo')))
  const sft = meanSd(runs.map((r) => h(r, 'sft')))
  const gain = meanSd(runs.map((r) => h(r, 'grpo') - h(r, 'warmStart')))
  return { warm, grpo, sft, gain, gainOver3Sd: gain.mean > 3 * (Number.isFinite(warm.sd) ? warm.sd : Infinity), beatsSft: grpo.mean > sft.mean }
}

const arg = (name: string, dflt: string) => {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : dflt
}

const p1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? 'n/a' : `${(100 * x).toFixed(1)}`)

function markdown(runs: readonly RunRecord[], command: string, commit: string): string {
  const lines = [
    '# Built-in demo over seeds, per task (`vrft-native train --task T --seed N`)',
    '',
    `Command: \`${command}\` at commit ${commit}. Held-out images of the 4 novel colour–shape classes; numbers in %.`,
    `Machine: ${cpus().length} cores (${cpus()[0]?.model ?? '?'}); load averages per run below (the machine is shared: wall-clock is an upper bound, CPU seconds are the run's own: the process and its warm-start ranks).`,
    '',
  ]
  for (const task of BUILTIN_TASKS) {
    const rs = runs.filter((r) => r.task === task)
    if (!rs.length) continue
    const keys = Object.keys(rs[0]!.summary.metrics)
    lines.push(`## ${task} (headline: ${rs[0]!.summary.headline})`, '', `| seed | ${keys.map((k) => `${k} warm / GRPO / SFT`).join(' | ')} | wall s | CPU s | warm start cached | load avg (1 min) before → after |`, `|---|${keys.map(() => '---').join('|')}|---|---|---|---|`)
    for (const r of rs) {
      const m = r.summary.metrics
      lines.push(`| ${r.seed} | ${keys.map((k) => `${p1(m[k]!.warmStart)} / ${p1(m[k]!.grpo)} / ${p1(m[k]!.sft)}`).join(' | ')} | ${r.summary.seconds.toFixed(0)} | ${r.summary.cpuSeconds.toFixed(0)} | ${r.summary.warmStartCached} | ${r.loadBefore[0]!.toFixed(1)} → ${r.loadAfter[0]!.toFixed(1)} |`)
    }
    const v = verdict(rs)
    lines.push('', `${rs[0]!.summary.headline}: warm start ${p1(v.warm.mean)} (sd ${p1(v.warm.sd)}), + GRPO ${p1(v.grpo.mean)} (sd ${p1(v.grpo.sd)}), + SFT ${p1(v.sft.mean)} (sd ${p1(v.sft.sd)}) over ${rs.length} seed(s).`,
      `GRPO − warm start > 3 sd of the warm start: ${v.gainOver3Sd ? 'yes' : 'no'} (${p1(v.gain.mean)} vs ${p1(3 * v.warm.sd)}); GRPO beats SFT on average: ${v.beatsSft ? 'yes' : 'no'}.`, '')
    // the same comparison on the task's other metrics (the bar is the headline's; these say where GRPO moves)
    const others = keys.filter((k) => k !== rs[0]!.summary.headline && k !== 'format')
    if (others.length) {
      lines.push('The other metrics (paired gain = GRPO − warm start per seed):', '', '| metric | warm start mean (sd) | GRPO mean | SFT mean | paired gain mean (sd) | gain > 3 sd of the warm start |', '|---|---|---|---|---|---|')
      for (const k of others) {
        const o = verdict(rs, k)
        lines.push(`| ${k} | ${p1(o.warm.mean)} (${p1(o.warm.sd)}) | ${p1(o.grpo.mean)} | ${p1(o.sft.mean)} | ${p1(o.gain.mean)} (${p1(o.gain.sd)}) | ${o.gainOver3Sd ? 'yes' : 'no'} |`)
      }
      lines.push('')
    }
  }
  return lines.join('\n')
}

async function main(): Promise<void> {
  const tasks = arg('tasks', BUILTIN_TASKS.join(',')).split(',') as Task[]
  const seeds = arg('seeds', '1,2,3').split(',').map(Number)
  const out = resolve(arg('out', 'bench/results/demo-tasks-3-seeds'))
  const runsDir = resolve(arg('runs', join(tmpdir(), 'vrft-demo-seeds')))
  const cache = arg('cache', '')
  const command = `node dist/bench/demo-seeds.js ${process.argv.slice(2).join(' ')}`
  const commit = sourceCommit()
  const runs: RunRecord[] = existsSync(`${out}.json`) ? (JSON.parse(readFileSync(`${out}.json`, 'utf8')) as { runs: RunRecord[] }).runs : []
  for (const task of tasks) {
    for (const seed of seeds) {
      if (runs.some((r) => r.task === task && r.seed === seed)) continue // resumed: already measured
      const loadBefore = loadavg()
      const r = await runBuiltin({
        handleSignals: false, flags: { task, seed },
        settings: { output: join(runsDir, `${task}-seed${seed}`), quiet: true, ...(cache ? { cacheDir: resolve(cache) } : {}) },
      })
      runs.push({ task, seed, summary: r.summary as unknown as Summary, loadBefore, loadAfter: loadavg() })
      writeFileSync(`${out}.json`, JSON.stringify({ what: 'built-in demo over seeds per task (bench/demo-seeds.ts)', command, commit, runs }, null, 2) + '\n')
      writeFileSync(`${out}.md`, markdown(runs, command, commit) + '\n')
    }
  }
  process.stdout.write(markdown(runs, command, commit) + '\n')
}

if (import.meta.url === `file://${process.argv[1]}`) await main()
