/**
 * Data-parallel GRPO across two "hosts" (network namespaces joined by veth links through a bridge, see
 * test/multihost/hosts.ts) whose links are shaped to RATE (tc tbf, plus netem DELAY where the kernel has
 * sch_netem): the gradient all-reduce time per step, the step time, and the scaling of 2 hosts × 1 rank
 * (half the batch each) over 1 host × 1 rank (the whole batch), 1 intra-op thread per rank. From the
 * measured all-reduce time at RATE it derives the link speed that keeps the all-reduce under 10 % of the
 * step (the all-reduce moves a fixed number of bytes, so its time scales as 1 / link speed).
 * Needs root and iproute2; skipped with a note otherwise, and in --quick (run `--only multihost`).
 */
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { initModel } from '../../lib/model/init-model.js'
import { Hosts, skipReason } from '../../test/multihost/hosts.js'
import type { Row, Suite } from '../harness.js'

const worker = join(fileURLToPath(new URL('.', import.meta.url)), '..', 'dist-worker.js')
const RATE = '1gbit', RATE_BITS = 1e9, DELAY = '1ms'

type Out = { step: number; allreduce: number; completions: number }

async function runOn(h: Hosts, hosts: number, args: string[]): Promise<Out[]> {
  const runs = Array.from({ length: hosts }, (_, i) => h.spawn(i, process.execPath, [worker, ...args], {
    ...process.env, RANK: String(i), LOCAL_RANK: '0', WORLD_SIZE: String(hosts), MASTER_ADDR: h.addr(0), MASTER_PORT: '29500', VRFT_NUM_THREADS: '1', VRFT_DIST_TIMEOUT_MS: '900000',
  }))
  const ends = await Promise.all(runs.map((r) => r.exited))
  return runs.map((r, i) => {
    if (ends[i]!.code !== 0) throw new Error(`multihost: host ${i} exited with ${ends[i]!.code}: ${r.output().slice(-1500)}`)
    return JSON.parse(r.output().trim().split('\n').filter((l) => l.startsWith('{')).pop()!) as Out
  })
}

export const multihostSuite: Suite = {
  name: 'multihost',
  async run(ctx) {
    const skip = ctx.quick ? 'skipped in --quick (minutes at small size): run `npm run bench -- --only multihost`' : skipReason()
    if (skip) return [{ bench: `grpo step, 2 hosts over a ${RATE} link`, metric: 'completions/s', value: 0, notes: `skipped: ${skip}` }]
    const model = join(ctx.workdir, `multihost-${ctx.size}`)
    await initModel({ arch: 'qwen2-vl', size: ctx.size, out: model, seed: 1 })
    const P = 2, steps = 3
    const h = Hosts.create(2)
    try {
      const shaped = h.shape(RATE, DELAY)
      const load0 = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ')[0]
      const one = (await runOn(h, 1, [model, String(P), String(steps)]))[0]!
      const two = await runOn(h, 2, [model, String(P), String(steps)])
      const load1 = spawnSync('cat', ['/proc/loadavg'], { encoding: 'utf8' }).stdout.split(' ')[0]
      const step2 = Math.max(...two.map((r) => r.step)), comm = Math.max(...two.map((r) => r.allreduce))
      const rate1 = (P * 4) / one.step, rate2 = (P * 4) / step2
      // all-reduce share f = comm / step2; at link speed s the all-reduce takes comm·RATE/s (bandwidth-bound),
      // the rest of the step (step2 − comm) stays: under 10 % when comm·RATE/s ≤ (step2 − comm)/9
      const need = (comm * RATE_BITS * 9) / Math.max(1e-9, step2 - comm)
      const link = `${RATE} ${shaped.qdisc}${shaped.delay ? ` + ${shaped.delay} delay` : ' (no sch_netem in this kernel: no added delay)'}`
      const loadNote = `load average ${load0}→${load1} on ${ctx.size}`
      return [
        { bench: `grpo step, 1 host (${ctx.size}, ${P * 4} completions, 1 thread)`, metric: 'completions/s', value: rate1 },
        { bench: `grpo step, 2 hosts over ${link} (${ctx.size}, ${P * 2}+${P * 2}, 1 thread each)`, metric: 'completions/s', value: rate2, baseline: { name: '1 host', value: rate1 }, ratio: rate2 / rate1, notes: `scaling 2 hosts vs 1; both hosts share this machine's cores (${loadNote})` },
        { bench: `gradient all-reduce per step over ${RATE}`, metric: 's', value: comm, notes: `${((comm / step2) * 100).toFixed(1)}% of a ${step2.toFixed(2)} s step` },
        { bench: 'link speed keeping the all-reduce under 10% of the step', metric: 'Gbit/s', value: need / 1e9, notes: `from the all-reduce time at ${RATE} (bandwidth-bound), this step time` },
      ]
    } finally {
      await h.destroy()
    }
  },
}
