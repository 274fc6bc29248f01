/**
 * Teacher-forced log-probs (lib/native/generate.ts `completionLogprobs`, what GRPO's policy and reference
 * passes run): G = 8 completions of L = 128 tokens after the ~400-token image prompt (4 × 32 with --quick), the
 * LM head applied in chunks of 256 token rows (32 with --quick), vs the naive version that builds the full (G·L, 151936) float32 logits at once (the same
 * native call with one chunk covering every row). Reports completion tokens/s and the peak logits memory of
 * both (the native counter of the largest logits block, and the growth of the process's peak RSS); the
 * chunked run goes first, so the naive run's RSS growth is what full logits add on top. Values of both must
 * agree (checked).
 * Target: peak logits memory independent of G·L (chunked peak = chunk × V × 4 bytes).
 * Second row: the prompt run once with its keys/values shared by the G rows (the default for no-grad
 * passes: reference model, old policy) vs the prompt re-run in every row (`sharePrefix: false`, what a
 * gradient pass does); values must agree.
 *
 * Run alone: node dist/bench/run.js --only logprobs --size small
 */
import { completionLogprobs, generateBinding } from '../../lib/native/generate.js'
import { modelBinding } from '../../lib/native/model.js'
import { type Context, type Row, type Suite, peakRss, spreadOf, time } from '../harness.js'
import { benchCheckpoint } from './model.js'
import { benchModelConfig, benchPrompt, sizeLabel } from './shapes.js'

export const logprobsSuite: Suite = {
  name: 'logprobs',
  async run(ctx: Context): Promise<Row[]> {
    const label = sizeLabel(ctx.size, ctx.arch)
    if ((ctx.size === '2b' || ctx.size === '3b' || ctx.size === '7b') && !ctx.device.startsWith('cuda')) {
      return [{ bench: `logprobs ${label}`, metric: 'tokens/s', value: 0, notes: `skipped: the ${ctx.size} shape needs a GPU here (device is ${ctx.device}); on the CPU the realsize suite runs it` }]
    }
    const cfg = benchModelConfig(ctx.size, ctx.arch)
    const V = cfg.vocabSize
    const G = ctx.quick ? 4 : 8
    const L = ctx.quick ? 32 : 128
    const chunk = ctx.quick ? 32 : 256
    const model = await modelBinding().modelLoad(await benchCheckpoint(ctx), cfg, { dtype: ctx.dtype, device: ctx.device })
    const prompt = benchPrompt(ctx.arch)
    const comps = Array.from({ length: G }, (_, r) => Array.from({ length: L }, (_, j) => (r * 7919 + j * 104729) % V))
    const gb = generateBinding()
    const reps = { warmup: ctx.quick ? 0 : 1, reps: ctx.quick ? 1 : 3 }
    try {
      const run = async (c: number, sharePrefix = true) => {
        gb.logitsChunkPeak(true)
        const rss0 = peakRss()
        let out: number[][] = []
        let peak = 0
        const t = await time(async () => {
          const r = await completionLogprobs(model, prompt, comps, { chunk: c, sharePrefix })
          out = r.logprobs
          peak = Math.max(peak, r.raw.peakChunkBytes)
        }, reps)
        return { t, out, peak, rssGrowth: peakRss() - rss0 }
      }
      const chunked = await run(chunk)
      const naive = await run(G * L)
      const perRow = await run(chunk, false)
      let worstShare = 0
      chunked.out.forEach((row, i) => row.forEach((x, j) => { worstShare = Math.max(worstShare, Math.abs(x - perRow.out[i]![j]!)) }))
      if (!(worstShare <= 1e-3)) throw new Error(`logprobs: shared-prompt and per-row log-probs differ by ${worstShare}`)
      let worst = 0
      chunked.out.forEach((row, i) => row.forEach((x, j) => { worst = Math.max(worst, Math.abs(x - naive.out[i]![j]!)) }))
      if (!(worst <= 1e-3)) throw new Error(`logprobs: chunked and full-logits log-probs differ by ${worst}`)
      const mib = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`
      return [{
        bench: `logprobs ${label}: G = ${G} x ${L} completion tokens after a ${prompt.inputIds.length}-token image prompt, LM head in chunks of ${chunk}`,
        metric: 'tokens/s', value: (G * L) / chunked.t.median, spread: spreadOf(chunked.t),
        baseline: { name: 'full logits at once', value: (G * L) / naive.t.median }, ratio: naive.t.median / chunked.t.median,
        target: { description: `largest logits block = chunk x V x 4 bytes (${mib(chunk * V * 4)})`, met: chunked.peak === chunk * V * 4 },
        notes: `largest logits block ${mib(chunked.peak)} vs ${mib(naive.peak)} (${(naive.peak / chunked.peak).toFixed(0)}x less); ` +
          `peak RSS grew ${mib(chunked.rssGrowth)} (chunked, first) then ${mib(naive.rssGrowth)} more (full logits); max |diff| ${worst.toExponential(1)}`,
      }, {
        bench: `logprobs ${label}: prompt run once, keys/values shared by its ${G} rows (no-grad passes)`,
        metric: 'tokens/s', value: (G * L) / chunked.t.median, spread: spreadOf(chunked.t),
        baseline: { name: 'prompt re-run in every row', value: (G * L) / perRow.t.median }, ratio: perRow.t.median / chunked.t.median,
        notes: `max |diff| ${worstShare.toExponential(1)}`,
      }]
    } finally {
      modelBinding().modelDispose(model)
    }
  },
}
