/**
 * Generation benchmarks, all measured in one run on one machine, as ratios against real baselines (modes of
 * the same native generate) and against the measured memory-bandwidth roofline:
 *   1. KV cache vs recomputing the whole sequence every step ('nocache'), G = 1;
 *   2. one shared prefill per prompt vs a prefill per sample ('per_sample_prefill'), G = 8;
 *   3. decode throughput at G = 8 as a fraction of ctx.limits.bandwidth, counting per decode step the
 *      bytes of the decoder + LM-head weights and of the KV cache read.
 * Model: ctx.size 'tiny' = the tiny Qwen2-VL shape of the goldens (fast, for --quick); otherwise a ~100M
 * parameter Qwen2-VL-shaped model (head_dim 128, vocabulary 151936) with random weights written into
 * ctx.workdir. Prompt: ~400 tokens with one 476×644 image (grid 1×34×46, 391 image tokens), random pixels.
 */
import { existsSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../../lib/native/binding.js'
import { type NativeModelHandle, type PromptBatch, generateIds } from '../../lib/native/generate.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'

type FlatConfig = Record<string, any>

interface ModelBinding {
  modelLoad(dir: string, config: FlatConfig, o?: { dtype?: string; device?: string }): Promise<NativeModelHandle>
  modelDispose(h: NativeModelHandle): void
  modelWriteRandom(dir: string, config: FlatConfig, o: { seed?: number; dtype?: string; maxShardBytes?: number }): Promise<void>
}

const IMAGE_PAD = 151655

/** Flat native configs (the shape lib/model/config.ts produces). */
function benchConfig(size: Context['size']): FlatConfig {
  const small = size !== 'tiny'
  return {
    arch: 'qwen2-vl',
    vocabSize: 151936,
    hiddenSize: small ? 512 : 64,
    intermediateSize: small ? 1536 : 128,
    numLayers: small ? 8 : 2,
    numHeads: small ? 4 : 4,
    numKvHeads: 2,
    headDim: small ? 128 : 16,
    rmsNormEps: 1e-6,
    ropeTheta: 1e6,
    mropeSection: small ? [16, 24, 24] : [2, 3, 3],
    tieWordEmbeddings: true,
    imageTokenId: IMAGE_PAD,
    videoTokenId: 151656,
    visionStartTokenId: 151652,
    visionEndTokenId: 151653,
    vision: {
      depth: 2,
      width: small ? 256 : 32,
      numHeads: 4,
      intermediate: small ? 1024 : 64,
      act: 'quick_gelu',
      patchSize: 14,
      temporalPatchSize: 2,
      spatialMergeSize: 2,
      inChannels: 3,
      outHidden: small ? 512 : 64,
      windowSize: 112,
      fullattBlockIndexes: [],
      tokensPerSecond: 2,
    },
  }
}

/** Bytes read per decode step besides the KV cache: every decoder weight plus the LM head. */
function decodeWeightBytes(c: FlatConfig, eltBytes: number): number {
  const H = c.hiddenSize, d = c.headDim, q = c.numHeads * d, kv = c.numKvHeads * d
  const layer = H * q + q + 2 * (H * kv + kv) + q * H + 3 * H * c.intermediateSize + 2 * H
  return (c.numLayers * layer + c.vocabSize * H + H) * eltBytes
}

/** A ~400-token prompt around one 476×644 image (grid 1×34×46 -> 391 image tokens), random pixels. */
function benchPrompt(): PromptBatch {
  const grid: [number, number, number] = [1, 34, 46]
  const nPatches = grid[0] * grid[1] * grid[2]
  const prefix = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198, 151644, 872, 198, 151652]
  const suffix = [151653, 74785, 419, 2168, 13, 151645, 198, 151644, 77091, 198]
  const ids = [...prefix, ...new Array(nPatches / 4).fill(IMAGE_PAD), ...suffix]
  const pixels = new Float32Array(nPatches * 1176)
  let s = 12345
  for (let i = 0; i < pixels.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    pixels[i] = (s / 2 ** 32) * 4 - 2
  }
  return { inputIds: Int32Array.from(ids), batchSize: 1, pixelValues: pixels, imageGridThw: [grid] }
}

export const generateSuite: Suite = {
  name: 'generate',
  async run(ctx: Context): Promise<Row[]> {
    const n = native() as unknown as ModelBinding
    const cfg = benchConfig(ctx.size)
    const label = ctx.size === 'tiny' ? 'tiny' : 'small ~100M'
    const dir = join(ctx.workdir, `generate-${ctx.size === 'tiny' ? 'tiny' : 'small'}-${ctx.dtype}`)
    if (!existsSync(join(dir, 'model.safetensors'))) {
      mkdirSync(dir, { recursive: true })
      await n.modelWriteRandom(dir, cfg, { seed: 7, dtype: ctx.dtype })
    }
    const model = await n.modelLoad(dir, cfg, { dtype: ctx.dtype, device: ctx.device })
    const prompt = benchPrompt()
    const T = prompt.inputIds.length
    const reps = { warmup: 1, reps: ctx.quick ? 1 : 3 }
    const rows: Row[] = []
    try {
      // 1. KV cache vs no cache
      const N1 = ctx.quick ? 32 : 256
      const g1 = { maxNewTokens: N1, numSamples: 1, temperature: 0, eosIds: [] as number[] }
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
      const G = 8
      const N2 = ctx.quick ? 8 : 16
      const g2 = { maxNewTokens: N2, numSamples: G, temperature: 1, seed: 1, eosIds: [] as number[] }
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
      // 3. decode throughput vs the bandwidth roofline, G = 8
      const N3 = ctx.quick ? 32 : 128
      let decodeSeconds = 0
      const tDec = await time(async () => {
        decodeSeconds = (await generateIds(model, prompt, { maxNewTokens: N3, numSamples: G, temperature: 1, seed: 2, eosIds: [] })).raw.decodeSeconds
      }, reps)
      const elt = ctx.dtype === 'float32' ? 4 : 2
      const steps = N3 - 1 // decode forwards (the first token comes from the prefill)
      const avgLen = T + N3 / 2
      const kvBytes = G * cfg.numLayers * 2 * cfg.numKvHeads * avgLen * cfg.headDim * elt
      const bytesPerStep = decodeWeightBytes(cfg, elt) + kvBytes
      const stepSeconds = decodeSeconds / steps
      const achieved = bytesPerStep / stepSeconds
      const frac = achieved / ctx.limits.bandwidth
      rows.push({
        bench: `generate ${label}: decode, G = ${G}, ${N3} new tokens`,
        metric: 'tokens/s', value: (G * steps) / decodeSeconds, spread: spreadOf(tDec),
        utilization: { of: 'memory bandwidth', fraction: frac },
        target: { description: '>= 50% of the bandwidth roofline', met: frac >= 0.5 },
        notes: `${(bytesPerStep / 2 ** 20).toFixed(1)} MiB read per step (weights + KV cache), ${(stepSeconds * 1000).toFixed(2)} ms per step`,
      })
    } finally {
      n.modelDispose(model)
    }
    return rows
  },
}
