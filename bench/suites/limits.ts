/** The machine's limits themselves (matmul FLOP/s, memory bandwidth), as measured for this run. */
import type { Suite } from '../harness.js'

export const limitsSuite: Suite = {
  name: 'limits',
  async run(ctx) {
    return [
      { bench: `matmul ${ctx.limits.matmulDtype} (${ctx.device})`, metric: 'FLOP/s', value: ctx.limits.matmulFlops, notes: 'best of repeated square matmuls: the compute roofline' },
      { bench: `memory copy (${ctx.device})`, metric: 'B/s', value: ctx.limits.bandwidth, notes: 'read+write bytes per second of a large copy: the bandwidth roofline' },
    ]
  },
}
