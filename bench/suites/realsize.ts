/**
 * The released model sizes on the CPU (Qwen2-VL-2B, Qwen2.5-VL-3B, -7B shapes; random weights from
 * `vrft-native init-model`, bfloat16 on disk), in the run's dtype (bfloat16: `--dtype bfloat16`):
 *   0. the rooflines of this run: bfloat16 and float32 matmul FLOP/s (libtorch, square n = 1024) and the
 *      memory bandwidth (ctx.limits), each measured here, in the same process;
 *   1. load: time, and the peak RSS of the load over the RSS before it (VmHWM reset through
 *      /proc/self/clear_refs) as a multiple of the checkpoint's file bytes — a bf16 file loaded for bf16
 *      compute is mapped, not copied (target <= 1.15);
 *   2. prefill of the ~400-token image prompt (shapes.ts), last-position logits: tokens/s and analytic
 *      matmul FLOPs (shapes.ts forwardFlops) over the measured matmul FLOP/s of the run's dtype;
 *   3. decode at G = 1 and 8: tokens/s and the bytes a step reads (decoder + LM head weights, KV cache)
 *      over the measured bandwidth (target at G = 8: >= 50 %);
 *   4. (not for 7b) one LoRA GRPO step: rank 16 on the decoder's projections, gradient checkpointing,
 *      frozen vision tower, G = 8 completions of 64 tokens, one micro-batch of 8, β = 0.04 (the reference is
 *      the base with the adapters off: no second copy), AdamW on float32 masters — model FLOPs as the
 *      `grpo` suite counts them (shapes.ts grpoStepFlops) over the measured matmul FLOP/s (target >= 30 %).
 * Every phase reports the process's peak RSS (VmHWM) during it, the loaded model included; the targets of
 * issue 17: 2b step <= 16 GB, 3b step <= 20 GB, 7b load + generate <= 20 GB.
 *
 * Run (one size per run, the checkpoint made beforehand; > 3 GB, so under the shared lock):
 *   node dist/lib/cli/main.js init-model /tmp/m2b --arch qwen2-vl --size 2b
 *   flock /tmp/vrft-bigmem.lock node dist/bench/run.js --only realsize --size 2b --dtype bfloat16 --model /tmp/m2b
 * Without --model at a real size the suite reports itself skipped.
 */
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { native } from '../../lib/native/binding.js'
import { generateIds } from '../../lib/native/generate.js'
import { modelBinding, type ModelHandle } from '../../lib/native/model.js'
import { parseModelConfig } from '../../lib/model/config.js'
import { resolveTrainerSettings, trainerBinding, type NativeGrpoOptions } from '../../lib/train/trainer-settings.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'
import { grpoBenchBatch } from './grpo.js'
import { PROMPT_GRID, benchPrompt, decodeWeightBytes, forwardFlops, grpoStepFlops } from './shapes.js'

const GiB = 2 ** 30
const status = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(readFileSync('/proc/self/status', 'utf8'))?.[1] ?? NaN) * 1024
/** Starts a new peak-RSS window (VmHWM := VmRSS); false where the kernel does not allow it. */
function resetPeak(): boolean {
  try { writeFileSync('/proc/self/clear_refs', '5'); return true } catch { return false }
}
const gb = (b: number) => `${(b / GiB).toFixed(2)} GiB`

export const realsizeSuite: Suite = {
  name: 'realsize',
  async run(ctx: Context): Promise<Row[]> {
    const label = ctx.size
    if (!ctx.modelDir || !['2b', '3b', '7b'].includes(ctx.size))
      return [{ bench: `realsize ${label}`, metric: 's', value: 0, notes: 'skipped: needs --size 2b|3b|7b and --model DIR (a checkpoint of that size, e.g. from init-model)' }]
    const dir = ctx.modelDir
    const cfg = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'))
    const fileBytes = readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((s, f) => s + statSync(join(dir, f)).size, 0)
    const n = native(), mb = modelBinding()
    const rows: Row[] = []

    // 0. rooflines, this run
    const other = ctx.dtype === 'bfloat16' ? 'float32' : 'bfloat16'
    const mmOther = (await n.measureMatmul({ n: 1024, dtype: other, device: ctx.device, reps: 7 })).best
    const flops = { [ctx.dtype]: ctx.limits.matmulFlops, [other]: mmOther } as Record<string, number>
    rows.push({ bench: `realsize ${label}: roofline matmul bfloat16 (libtorch, n = 1024)`, metric: 'FLOP/s', value: flops.bfloat16!, notes: `float32: ${(flops.float32! / 1e9).toFixed(1)} GFLOP/s; bf16/f32 = ${(flops.bfloat16! / flops.float32!).toFixed(2)}` })
    rows.push({ bench: `realsize ${label}: roofline memory bandwidth (copy)`, metric: 'B/s', value: ctx.limits.bandwidth })

    // 1. load
    const canReset = resetPeak()
    const rss0 = status('VmRSS')
    const t0 = performance.now()
    const model = await mb.modelLoad(dir, cfg, { dtype: ctx.dtype, device: ctx.device }) as ModelHandle
    const loadSeconds = (performance.now() - t0) / 1000
    const loadPeak = status('VmHWM')
    const growth = loadPeak - rss0
    rows.push({
      bench: `realsize ${label}: load ${gb(fileBytes)} ${ctx.dtype} checkpoint as ${ctx.dtype}`,
      metric: 'B/s', value: fileBytes / loadSeconds,
      target: { description: 'peak RSS growth of the load <= 1.15 x file bytes (mapped, no second copy)', met: growth <= 1.15 * fileBytes },
      notes: `${loadSeconds.toFixed(1)} s; peak RSS ${gb(loadPeak)} (growth ${gb(growth)} = ${(growth / fileBytes).toFixed(2)} x file)${canReset ? '' : '; VmHWM could not be reset: peak since start'}`,
    })
    try {
      // 2. prefill
      const p = benchPrompt()
      const T = p.inputIds.length
      const patches = PROMPT_GRID[0] * PROMPT_GRID[1] * PROMPT_GRID[2]
      resetPeak()
      const fwd = { inputIds: p.inputIds as Int32Array, batch: 1, pixelValues: p.pixelValues as Float32Array, imageGridThw: [...PROMPT_GRID], logits: 'last' as const }
      const tPre = await time(() => mb.modelForward(model, fwd), { warmup: 0, reps: 1 })
      const f = forwardFlops(cfg, T, patches, 1)
      rows.push({
        bench: `realsize ${label}: prefill of a ${T}-token image prompt (${patches} patches)`,
        metric: 'tokens/s', value: T / tPre.median, spread: spreadOf(tPre),
        utilization: { of: `${ctx.dtype} matmul FLOP/s`, fraction: f.total / tPre.median / flops[ctx.dtype]! },
        notes: `${tPre.median.toFixed(2)} s; ${(f.total / 1e12).toFixed(2)} TFLOP (vision ${(f.vision / 1e12).toFixed(2)}); peak RSS ${gb(status('VmHWM'))}`,
      })

      // 3. decode, G = 1 and 8
      const N = 24
      const elt = ctx.dtype === 'float32' ? 4 : 2
      for (const g of [1, 8]) {
        resetPeak()
        const r = await generateIds(model, p, { maxNewTokens: N, numGenerations: g, temperature: 1, seed: 3, eosIds: [] })
        const steps = N - 1
        const kvBytes = g * cfg.numLayers * 2 * cfg.numKvHeads * (T + N / 2) * cfg.headDim * elt
        const bytesPerStep = decodeWeightBytes(cfg, elt) + kvBytes
        const stepSeconds = r.raw.decodeSeconds / steps
        const frac = bytesPerStep / stepSeconds / ctx.limits.bandwidth
        rows.push({
          bench: `realsize ${label}: decode G = ${g}, ${N} new tokens (${ctx.dtype})`,
          metric: 'tokens/s', value: (g * steps) / r.raw.decodeSeconds,
          utilization: { of: 'memory bandwidth', fraction: frac },
          ...(g === 8 ? { target: { description: '>= 50% of the bandwidth roofline', met: frac >= 0.5 } } : {}),
          notes: `${(stepSeconds * 1000).toFixed(0)} ms per step, ${gb(bytesPerStep)} read per step; decode kernel ${ctx.dtype === 'bfloat16' ? n.runtimeInfo().skinnyGemmBf16 : n.runtimeInfo().skinnyGemm}; peak RSS ${gb(status('VmHWM'))}`,
        })
      }

      // 4. one LoRA GRPO step (not at 7b)
      if (ctx.size !== '7b') {
        const G = 8, L = 64, micro = 8
        const batch = grpoBenchBatch(cfg.vocabSize, G, L)
        const opts: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: micro, clipped: false, maxCompletionLength: L, update: true, details: false }
        const tb = trainerBinding()
        resetPeak()
        const tr = await tb.trainerCreate(model, resolveTrainerSettings({ lr: 1e-5, gradientCheckpointing: true, freezeVision: true, lora: { rank: 16 }, reference: true }, dir))
        try {
          let last = { skipped: false, loss: 0 }
          const t = await time(async () => { last = await tb.trainerGrpoStep(tr, batch, opts) }, { warmup: 0, reps: 1 })
          if (last.skipped || !Number.isFinite(last.loss)) throw new Error(`realsize: the GRPO step was skipped or not finite (loss ${last.loss})`)
          const peak = status('VmHWM')
          const { useful } = grpoStepFlops(cfg, T, patches, G, L, micro)
          const limit = ctx.size === '2b' ? 16e9 : 20e9
          rows.push({
            bench: `realsize ${label}: LoRA GRPO step (rank 16, G = ${G} x ${L} tokens, micro-batch ${micro}, gradient checkpointing, frozen vision, beta 0.04)`,
            metric: 'samples/s', value: G / t.median,
            utilization: { of: `${ctx.dtype} matmul FLOP/s (model FLOPs, analytic)`, fraction: useful / t.median / flops[ctx.dtype]! },
            target: { description: `peak RSS <= ${limit / 1e9} GB and >= 30% of the matmul roofline`, met: peak <= limit && useful / t.median / flops[ctx.dtype]! >= 0.3 },
            notes: `step ${t.median.toFixed(1)} s (first step: includes creating the adapters and AdamW state); ${(useful / 1e12).toFixed(2)} TFLOP analytic; peak RSS ${gb(peak)} (${(peak / 1e9).toFixed(2)} GB)`,
          })
        } finally {
          tb.trainerDispose(tr)
        }
      }
    } finally {
      mb.modelDispose(model)
    }
    return rows
  },
}
