/**
 * Native model benchmarks (lib/native/model.ts): checkpoint load and prefill of an image prompt.
 *   1. load: a random-weight safetensors checkpoint of the benchmark shape (bench/suites/shapes.ts), written
 *      into ctx.workdir first, loaded with `modelLoad` (parse, read, convert to the run's dtype, place on the
 *      device). GB/s of checkpoint bytes; roofline: file bytes read + tensor bytes written (2 × file bytes
 *      when the dtype is unchanged) over the measured copy bandwidth. The file was just written, so it sits
 *      in the page cache: this is the memory-speed ceiling of loading, not a disk figure.
 *   2. prefill: one forward of the ~400-token image prompt (vision tower + decoder, logits of the last
 *      position only) in tokens/s; roofline: analytic matmul FLOPs / time / the measured matmul FLOP/s
 *      (the naive 2·params·tokens figure is in the notes — with a 151936-word tied embedding it counts
 *      table lookups as matmuls, so it is not used).
 * Sizes: tiny (--quick), small (~100M), 2b / 7b (real shapes; GPU only — skipped on CPU with a note).
 *
 * Run alone: node dist/bench/run.js --only model --size small
 */
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { modelBinding, type ModelHandle } from '../../lib/native/model.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'
import { promptGrid, benchModelConfig, benchPrompt, forwardFlops, sizeLabel } from './shapes.js'

/** Writes (once per run) and returns the directory of a random checkpoint of `ctx.size` in `ctx.dtype`. */
export async function benchCheckpoint(ctx: Context): Promise<string> {
  const dir = join(ctx.workdir, `model-${ctx.arch}-${ctx.size}-${ctx.dtype}`)
  if (!existsSync(join(dir, 'model.safetensors')) && !existsSync(join(dir, 'model.safetensors.index.json'))) {
    mkdirSync(dir, { recursive: true })
    await modelBinding().modelWriteRandom(dir, benchModelConfig(ctx.size, ctx.arch), { seed: 11, dtype: ctx.dtype })
  }
  return dir
}

const dirBytes = (dir: string) => readdirSync(dir).filter((f) => f.endsWith('.safetensors')).reduce((s, f) => s + statSync(join(dir, f)).size, 0)

export const modelSuite: Suite = {
  name: 'model',
  async run(ctx: Context): Promise<Row[]> {
    const label = sizeLabel(ctx.size, ctx.arch)
    if ((ctx.size === '2b' || ctx.size === '3b' || ctx.size === '7b') && !ctx.device.startsWith('cuda')) {
      return [{ bench: `model ${label}: load + prefill`, metric: 'tokens/s', value: 0, notes: `skipped: the ${ctx.size} shape needs a GPU here (device is ${ctx.device}); on the CPU the realsize suite runs it` }]
    }
    const n = modelBinding()
    const cfg = benchModelConfig(ctx.size, ctx.arch)
    const dir = await benchCheckpoint(ctx)
    const bytes = dirBytes(dir)
    const params = n.modelParameterCount(cfg)
    const rows: Row[] = []

    // 1. load
    let handle: ModelHandle | null = null
    const tLoad = await time(async () => {
      if (handle) n.modelDispose(handle)
      handle = await n.modelLoad(dir, cfg, { dtype: ctx.dtype, device: ctx.device })
    }, { warmup: 1, reps: ctx.quick ? 3 : 5 })
    const model = handle as unknown as ModelHandle
    const loadBps = bytes / tLoad.median
    rows.push({
      bench: `model ${label}: load ${(bytes / 2 ** 20).toFixed(0)} MiB ${ctx.dtype} checkpoint (page cache)`,
      metric: 'B/s', value: loadBps, spread: spreadOf(tLoad),
      utilization: { of: 'memory bandwidth (read file + write tensors)', fraction: (2 * bytes) / tLoad.median / ctx.limits.bandwidth },
      notes: `${(params / 1e6).toFixed(1)}M parameters, ${(tLoad.median * 1000).toFixed(0)} ms per load`,
    })

    // 2. prefill
    try {
      const p = benchPrompt(ctx.arch)
      const T = p.inputIds.length
      const patches = promptGrid(ctx.arch).reduce((a, b) => a * b, 1)
      const opts = { inputIds: p.inputIds as Int32Array, batch: 1, pixelValues: p.pixelValues as Float32Array, imageGridThw: promptGrid(ctx.arch), logits: 'last' as const }
      let vocab = 0
      const tPre = await time(async () => { vocab = (await n.modelForward(model, opts)).logitsShape?.at(-1) ?? 0 }, { warmup: 1, reps: ctx.quick ? 3 : 5 })
      if (vocab !== cfg.vocabSize) throw new Error(`model: prefill returned logits of width ${vocab} instead of ${cfg.vocabSize}`)
      const f = forwardFlops(cfg, T, patches, 1)
      const naive = 2 * params * T
      rows.push({
        bench: `model ${label}: prefill of a ${T}-token image prompt (${patches} patches), last-position logits`,
        metric: 'tokens/s', value: T / tPre.median, spread: spreadOf(tPre),
        utilization: { of: `${ctx.limits.matmulDtype} matmul FLOP/s`, fraction: f.total / tPre.median / ctx.limits.matmulFlops },
        notes: `${(tPre.median * 1000).toFixed(0)} ms; ${(f.total / 1e9).toFixed(2)} GFLOP (vision ${(f.vision / 1e9).toFixed(2)}, decoder ${(f.text / 1e9).toFixed(2)}, head ${(f.head / 1e9).toFixed(3)}); ` +
          `naive 2*params*tokens = ${(naive / 1e9).toFixed(1)} GFLOP -> ${((naive / tPre.median / ctx.limits.matmulFlops) * 100).toFixed(0)}%`,
      })
    } finally {
      n.modelDispose(model)
    }
    return rows
  },
}
