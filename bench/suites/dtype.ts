/**
 * bfloat16 or float32 on the CPU, per operation (issue 17): the FLOP/s of the model's linear layer
 * (model::linear, as the model runs it) in bfloat16 and in float32 at the shapes of a Qwen2-VL-2B step, in
 * this run: prefill / training rows (the decoder's MLP and attention projections at ~400 and ~900 rows, the
 * vision tower's MLP at 1564 patches, a chunk of the LM head), and decode rows (G = 1 and 8: the decode
 * kernels, float32 vs bfloat16 — there the weights' bytes decide). Each row says which dtype is faster; a
 * bfloat16 model runs every one of these in bfloat16, so a row where float32 wins is a measured cost of the
 * choice (reported, not hidden). Sizes: the 2B shapes at every --size except tiny (--quick: 1/4 of the rows).
 * Run alone: node dist/bench/run.js --only dtype
 */
import { native } from '../../lib/native/binding.js'
import type { Context, Row, Suite } from '../harness.js'

export const dtypeSuite: Suite = {
  name: 'dtype',
  async run(ctx: Context): Promise<Row[]> {
    if (!ctx.device.startsWith('cpu')) return [{ bench: 'dtype: bf16 vs f32 linear', metric: 'FLOP/s', value: 0, notes: `skipped: a CPU comparison (device is ${ctx.device})` }]
    const q = ctx.quick ? 4 : 1
    const shapes: Array<[string, number, number, number]> = [
      ['decoder MLP up, prefill (400 rows)', 400 / q, 1536, 8960],
      ['decoder MLP down, training micro-batch (912 rows)', 912 / q, 8960, 1536],
      ['decoder q projection, prefill (400 rows)', 400 / q, 1536, 1536],
      ['vision MLP fc1 (1564 patches)', 1564 / q, 1280, 5120],
      ['LM head chunk (64 rows x 32768 words)', 64, 1536, 32768 / q],
      ['decode G = 1, MLP up (decode kernel)', 1, 1536, 8960],
      ['decode G = 8, MLP up (decode kernel)', 8, 1536, 8960],
      ['decode G = 8, LM head slice (decode kernel)', 8, 1536, 32768 / q],
    ]
    const n = native()
    const rows: Row[] = []
    for (const [name, m, k, nn] of shapes) {
      const reps = ctx.quick ? 3 : 7
      const bf = (await n.measureLinear({ m: Math.round(m), k, n: Math.round(nn), dtype: 'bfloat16', reps })).best
      const f32 = (await n.measureLinear({ m: Math.round(m), k, n: Math.round(nn), dtype: 'float32', reps })).best
      rows.push({
        bench: `dtype: ${name}, (${Math.round(m)} x ${k}) · (${Math.round(nn)} x ${k})ᵀ`,
        metric: 'FLOP/s', value: bf, baseline: { name: 'float32', value: f32 }, ratio: bf / f32,
        notes: bf >= f32 ? 'bfloat16 faster' : 'float32 faster',
      })
    }
    return rows
  },
}
