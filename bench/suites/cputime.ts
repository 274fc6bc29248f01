/**
 * CPU-time timing for single-threaded JS benchmarks on a shared machine: the process's user + system CPU
 * seconds per call, next to the wall-clock timing. For code that runs on one thread, CPU time is what one
 * core needs (GC helper threads included, so it errs on the slow side) and does not grow when other
 * processes take the core away; on a quiet machine the two agree.
 */
import { availableParallelism, loadavg } from 'node:os'
import { type Timing, time } from '../harness.js'

function stats(xs: number[]): Timing {
  const s = [...xs].sort((a, b) => a - b)
  const q = (p: number) => s[Math.min(s.length - 1, Math.floor(p * (s.length - 1) + 0.5))]!
  return { median: q(0.5), min: s[0]!, max: s[s.length - 1]!, p10: q(0.1), p90: q(0.9), runs: s.length }
}

/** Like harness `time()`, also returning CPU seconds per call (`cpu`) over the same runs. */
export async function timeCpu(fn: () => unknown | Promise<unknown>, opts: Parameters<typeof time>[1] = {}): Promise<{ wall: Timing; cpu: Timing }> {
  const cpu: number[] = []
  let counting = false
  let calls = 0
  const warmup = opts.warmup ?? 1
  const wall = await time(async () => {
    counting = calls++ >= warmup
    const c0 = process.cpuUsage()
    await fn()
    const c = process.cpuUsage(c0)
    if (counting) cpu.push((c.user + c.system) / 1e6)
  }, opts)
  return { wall, cpu: stats(cpu) }
}

/** "load 3.1 on 2 cores": the 1-minute load average, for notes (a loaded machine explains slow wall times). */
export function loadNote(): string {
  return `load ${loadavg()[0]!.toFixed(1)} on ${availableParallelism()} cores`
}
