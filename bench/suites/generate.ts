/**
 * Generation benchmarks, all measured in one run on one machine, as ratios against real baselines (modes of
 * the same native generate) and against the measured memory-bandwidth roofline:
 *   1. KV cache vs recomputing the whole sequence every step ('nocache'), G = 1;
 *   2. one shared prefill per prompt vs a prefill per sample ('per_sample_prefill'), G = 8;
 *   3. decode throughput at G = 1 and 8 as a fraction of ctx.limits.bandwidth, counting per decode step the
 *      bytes of the decoder + LM-head weights and of the KV cache read; on a CPU with the decode kernels
 *      (skinny GEMM on packed weights, short-query attention), against the same decode with its GEMMs in
 *      torch::linear (the BLAS) and libtorch's attention, and (in the notes) with the kernels reading the
 *      weights as stored instead of packed.
 * Model and prompt: the shared benchmark shapes (bench/suites/shapes.ts, random weights written once per run
 * by benchCheckpoint): 'tiny' = the goldens' tiny Qwen2-VL (fast, for --quick); 'small' = ~100M parameters,
 * head_dim 128, vocabulary 151936. Prompt: ~400 tokens around one 476×644 image (391 image tokens).
 */
import { native } from '../../lib/native/binding.js'
import { generateIds } from '../../lib/native/generate.js'
import { modelBinding } from '../../lib/native/model.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'
import { benchCheckpoint } from './model.js'
import { benchModelConfig, benchPrompt, decodeWeightBytes, sizeLabel } from './shapes.js'

/** The decode measurement's shape (also the Hugging Face baseline's): G samples of N new tokens. */
export function decodeShape(quick: boolean): { G: number; N: number } {
  return { G: 8, N: quick ? 32 : 128 }
}

export const generateSuite: Suite = {
  name: 'generate',
  async run(ctx: Context): Promise<Row[]> {
    const cfg = benchModelConfig(ctx.size, ctx.arch)
    const label = sizeLabel(ctx.size, ctx.arch)
    const dir = await benchCheckpoint(ctx)
    const model = await modelBinding().modelLoad(dir, cfg, { dtype: ctx.dtype, device: ctx.device })
    const prompt = benchPrompt(ctx.arch)
    const T = prompt.inputIds.length
    const reps = { warmup: 1, reps: ctx.quick ? 1 : 3 }
    const rows: Row[] = []
    try {
      // 1. KV cache vs no cache
      const N1 = ctx.quick ? 32 : 256
      const g1 = { maxNewTokens: N1, numGenerations: 1, temperature: 0, eosIds: [] as number[] }
      const tCache = await time(() => generateIds(model, prompt, { ...g1, mode: 'cache' }), reps)
      const tNo = await time(() => generateIds(model, prompt, { ...g1, mode: 'nocache' }), { warmup: 0, reps: 1 })
      const ratio1 = tNo.median / tCache.median
      rows.push({
        bench: `generate ${label}: KV cache vs recompute (${T}-token prompt, ${N1} new tokens)`,
        metric: 'tokens/s', value: N1 / tCache.median, spread: spreadOf(tCache),
        baseline: { name: 'no KV cache', value: N1 / tNo.median }, ratio: ratio1,
        target: { description: `>= 5x at ${N1} new tokens`, met: ratio1 >= 5 },
      })
      // 2. shared prefill vs per-sample prefill, G = 8
      const G = decodeShape(ctx.quick).G
      const N2 = ctx.quick ? 8 : 16
      const g2 = { maxNewTokens: N2, numGenerations: G, temperature: 1, seed: 1, eosIds: [] as number[] }
      let shared = 0, perSample = 0
      const tShared = await time(async () => { shared = (await generateIds(model, prompt, { ...g2, mode: 'cache' })).raw.prefillSeconds }, reps)
      const tPer = await time(async () => { perSample = (await generateIds(model, prompt, { ...g2, mode: 'per_sample_prefill' })).raw.prefillSeconds }, reps)
      const ratio2 = tPer.median / tShared.median
      rows.push({
        bench: `generate ${label}: shared vs per-sample prefill (G = ${G}, ${N2} new tokens)`,
        metric: 'samples/s', value: G / tShared.median, spread: spreadOf(tShared),
        baseline: { name: 'prefill per sample', value: G / tPer.median }, ratio: ratio2,
        target: { description: '>= 1.5x end to end', met: ratio2 >= 1.5 },
        notes: `prefill alone: ${(shared * 1000).toFixed(1)} ms vs ${(perSample * 1000).toFixed(1)} ms`,
      })
      // 3. decode throughput vs the bandwidth roofline, G = 1 and 8; on a CPU with the skinny-GEMM kernel,
      //    against the same decode with every GEMM in torch::linear (the BLAS) as the baseline
      const N3 = decodeShape(ctx.quick).N
      const kernel = ctx.device === 'cpu' ? native().runtimeInfo().skinnyGemm : 'none'
      const decode = async (numGenerations: number, seed: number) => {
        const secs: number[] = []
        const t = await time(async () => {
          secs.push((await generateIds(model, prompt, { maxNewTokens: N3, numGenerations, temperature: 1, seed, eosIds: [] })).raw.decodeSeconds)
        }, reps)
        secs.sort((a, b) => a - b)
        return { t, seconds: secs[Math.floor(secs.length / 2)]! }
      }
      for (const g of [1, G]) {
        const run = await decode(g, 2)
        let base: { seconds: number } | undefined
        let unpacked: { seconds: number } | undefined
        if (kernel !== 'none') {
          native().setSkinnyGemm(false)
          try { base = await decode(g, 2) } finally { native().setSkinnyGemm(true) }
          native().setPackedWeights(false)
          try { unpacked = await decode(g, 2) } finally { native().setPackedWeights(true) }
        }
        const elt = ctx.dtype === 'float32' ? 4 : 2
        const steps = N3 - 1 // decode forwards (the first token comes from the prefill)
        const avgLen = T + N3 / 2
        const kvBytes = g * cfg.numLayers * 2 * cfg.numKvHeads * avgLen * cfg.headDim * elt
        const bytesPerStep = decodeWeightBytes(cfg, elt) + kvBytes
        const stepSeconds = run.seconds / steps
        const frac = bytesPerStep / stepSeconds / ctx.limits.bandwidth
        const other = (name: string, r: { seconds: number }) =>
          `${name}: ${((r.seconds / steps) * 1000).toFixed(2)} ms per step, ${((bytesPerStep / (r.seconds / steps) / ctx.limits.bandwidth) * 100).toFixed(1)} % of bandwidth`
        rows.push({
          bench: `generate ${label}: decode, G = ${g}, ${N3} new tokens`,
          metric: 'tokens/s', value: (g * steps) / run.seconds, spread: spreadOf(run.t),
          ...(base ? { baseline: { name: 'torch::linear (BLAS) GEMMs and libtorch attention', value: (g * steps) / base.seconds }, ratio: base.seconds / run.seconds } : {}),
          utilization: { of: 'memory bandwidth', fraction: frac },
          target: { description: '>= 50% of the bandwidth roofline', met: frac >= 0.5 },
          notes: `${(bytesPerStep / 2 ** 20).toFixed(1)} MiB read per step (weights + KV cache), ${(stepSeconds * 1000).toFixed(2)} ms per step` +
            (base && unpacked ? `; ${kernel} decode kernels vs ${other('BLAS + libtorch attention', base)}; ${other('kernels on weights as stored (not packed)', unpacked)}` : ''),
        })
      }
    } finally {
      modelBinding().modelDispose(model)
    }
    return rows
  },
}
