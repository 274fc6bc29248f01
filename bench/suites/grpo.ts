/**
 * The GRPO training step (lib/native/trainer.ts `trainerGrpoStep`): G completions of L tokens after the
 * ~400-token image prompt of bench/suites/shapes.ts, β = 0.04 (so a reference forward runs too), AdamW
 * update, micro-batches of 4. Reported in samples (completions) per second, with and without gradient
 * checkpointing (the checkpointed run's baseline is the plain one, same process), and the model FLOP
 * utilization against the measured matmul FLOP/s: analytic matmul FLOPs (shapes.ts `forwardFlops` and
 * `sharedPrefixTextFlops`: per micro-batch the image is encoded once and the prompt runs once, shared by the
 * micro-batch's completion rows; logits only for completion rows) × 3 for the policy
 * forward + backward (+ 1 forward more with checkpointing: the recomputation is not useful work and is not
 * counted) + the reference forward, which runs all G rows of the prompt at once (no graph to keep). The
 * naive figure, 6 × parameters × policy tokens + 2 × parameters × reference tokens, is in the notes.
 * Sizes: tiny (--quick), small (~100M) otherwise; 2b / 7b need a GPU.
 *
 * Run alone: node dist/bench/run.js --only grpo --size small
 */
import { modelBinding, type ModelHandle } from '../../lib/native/model.js'
import { resolveTrainerSettings, trainerBinding, type NativeBatch, type NativeGrpoOptions } from '../../lib/train/trainer-settings.js'
import { type Context, type Row, type Suite, peakRss, spreadOf, time } from '../harness.js'
import { benchCheckpoint } from './model.js'
import { promptGrid, benchModelConfig, benchPrompt, grpoStepFlops, sizeLabel } from './shapes.js'
import type { ModelArch } from '../../lib/model/config.js'

/** The benchmark prompt (shapes.ts, of `arch`) with G fixed completions of L tokens and alternating advantages. */
export function grpoBenchBatch(vocabSize: number, G: number, L: number, arch: ModelArch = 'qwen2-vl'): NativeBatch {
  const prompt = benchPrompt(arch)
  return {
    prompts: [{ inputIds: Int32Array.from(prompt.inputIds), pixelValues: prompt.pixelValues as Float32Array, imageGridThw: promptGrid(arch) }],
    rollouts: Array.from({ length: G }, (_, r) => ({
      prompt: 0,
      tokens: Int32Array.from({ length: L }, (_, j) => (r * 7919 + j * 104729) % vocabSize),
      advantage: (r % 2 ? 1 : -1) * (0.5 + r / G),
    })),
  }
}

/** The step's shape (also the Hugging Face baseline's, bench/gpu/hf_baseline.py): G completions of L tokens, micro-batches. */
export function grpoShape(quick: boolean): { G: number; L: number; micro: number } {
  return { G: quick ? 4 : 8, L: quick ? 16 : 64, micro: 4 }
}

export const grpoSuite: Suite = {
  name: 'grpo',
  async run(ctx: Context): Promise<Row[]> {
    const label = sizeLabel(ctx.size, ctx.arch)
    if ((ctx.size === '2b' || ctx.size === '3b' || ctx.size === '7b') && !ctx.device.startsWith('cuda')) {
      return [{ bench: `grpo step ${label}`, metric: 'samples/s', value: 0, notes: `skipped: the ${ctx.size} shape needs a GPU here (device is ${ctx.device}); on the CPU the realsize suite runs it` }]
    }
    const cfg = benchModelConfig(ctx.size, ctx.arch)
    const { G, L, micro } = grpoShape(ctx.quick)
    const dir = await benchCheckpoint(ctx)
    const prompt = benchPrompt(ctx.arch)
    const P = prompt.inputIds.length
    const batch = grpoBenchBatch(cfg.vocabSize, G, L, ctx.arch)
    const opts: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: micro, clipped: false, maxCompletionLength: L, update: true, details: false }
    const reps = { warmup: 1, reps: ctx.quick ? 2 : 3 }
    const mb = modelBinding()
    const params = mb.modelParameterCount(cfg)
    const patches = promptGrid(ctx.arch).reduce((a, b) => a * b, 1)
    const { useful, tokens } = grpoStepFlops(cfg, P, patches, G, L, micro)
    const naive = 6 * params * tokens + 2 * params * (P + G * L)

    const run = async (ckpt: boolean) => {
      const model = await mb.modelLoad(dir, cfg, { dtype: ctx.dtype, device: ctx.device })
      try {
        const tr = await trainerBinding().trainerCreate(model, resolveTrainerSettings({ lr: 1e-6, gradientCheckpointing: ckpt }, dir))
        try {
          const rss0 = peakRss()
          let last = { skipped: false, loss: 0 }
          const t = await time(async () => { last = await trainerBinding().trainerGrpoStep(tr, batch, opts) }, reps)
          if (last.skipped || !Number.isFinite(last.loss)) throw new Error(`grpo: the benchmark step was skipped or not finite (loss ${last.loss})`)
          return { t, rssGrowth: peakRss() - rss0 }
        } finally {
          trainerBinding().trainerDispose(tr)
        }
      } finally {
        mb.modelDispose(model as ModelHandle)
      }
    }
    const plain = await run(false)
    const ckpt = await run(true)
    const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
    const shape = `G = ${G} x ${L} completion tokens after a ${P}-token image prompt, micro-batch ${micro}, beta 0.04 (reference forward)`
    const row = (name: string, r: typeof plain): Row => ({
      bench: `grpo step ${label} (${name}): ${shape}`,
      metric: 'samples/s', value: G / r.t.median, spread: spreadOf(r.t),
      utilization: { of: `${ctx.limits.matmulDtype} matmul FLOP/s (model FLOPs, analytic)`, fraction: useful / r.t.median / ctx.limits.matmulFlops },
      notes: `step ${r.t.median.toFixed(3)} s; ${(useful / r.t.median / 1e9).toFixed(1)} GFLOP/s analytic; naive (6+2)·${(params / 1e6).toFixed(1)}M params·tokens ` +
        `= ${(naive / r.t.median / ctx.limits.matmulFlops * 100).toFixed(1)}% of the roofline; peak RSS grew ${mib(r.rssGrowth)}`,
    })
    return [
      row('plain', plain),
      { ...row('gradient checkpointing', ckpt), baseline: { name: 'plain', value: G / plain.t.median }, ratio: plain.t.median / ckpt.t.median },
    ]
  },
}
