/**
 * The CUDA path (issue 18). Every case below runs when the addon was built against a CUDA libtorch and a
 * CUDA device is visible, and otherwise reports "skipped: no CUDA device" (tap's SKIP, with the reason):
 *   - golden parity on `cuda` in float32, with the CPU test's tolerance (1e-4 relative, test/model-parity);
 *   - bfloat16 parity on `cuda` within BF16_TOL (stated below) of the float32 goldens;
 *   - the GRPO golden (grpo/qwen2vl-tiny, μ = 1 variant) on `cuda` in float32, the CPU test's tolerances;
 *   - greedy generation identical between CPU and CUDA in float32 on the goldens (and equal to them);
 *   - a LoRA GRPO step on `cuda` in bfloat16 that changes every adapter tensor and no base tensor;
 *   - the NCCL process group with one rank (all-reduce, all-gather, barrier, shutdown);
 *   - out of memory: ERR_TORCH_OOM for an impossible request, the process alive, the next smaller one served.
 * Two cases run everywhere: without a device, `cuda` is refused with ERR_NO_CUDA (no crash), and `doctor`
 * says "CUDA build, no device" for a CUDA-built addon (.ci/cuda-check runs this file on a GPU-less machine).
 */
import t from 'tap'
import { join } from 'node:path'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { NativeModel } from '../lib/model/native-model.js'
import { generateIds } from '../lib/native/generate.js'
import { doctor } from '../lib/cli/commands/doctor.js'
import type { NativeBatch, NativeGrpoOptions } from '../lib/train/trainer-settings.js'
import type { NativeTrainerObject } from '../lib/native/binding.js'
import { MODELS, IMAGES, caseArray, flat, pixelValues, readMeta, relErr, strided, unpackCheckpoint } from './model-helpers.js'
import { grpoGolden, img0Pixels, makeTrainer, maxAbs, readNpy, smallRandomModel, tb, tinyDir } from './grpo-helpers.js'
import { EOS, casePrompt, tinyCheckpointDir } from './generate-helpers.js'

const V = 151936
/** float32 on CUDA: the CPU parity test's bar (test/model-parity.test.ts). */
const F32_TOL = 1e-4
/**
 * bfloat16 keeps 8 significant bits (relative step 2^-8 ≈ 3.9e-3 per rounding); through the tiny models'
 * layers the logits' max error relative to their largest magnitude stays within a few steps: 3e-2.
 */
const BF16_TOL = 3e-2

const info = nativeAvailable() ? native().runtimeInfo() : undefined
const haveCuda = !!info?.cudaAvailable
const SKIP = 'skipped: no CUDA device' + (info ? (info.builtWithCuda ? ' (CUDA build, no device visible)' : ' (CPU-only libtorch build)') : ' (addon not built)')
const gpu = haveCuda ? {} : { skip: SKIP }

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
}

t.test('without a CUDA device, cuda is refused with ERR_NO_CUDA', { skip: haveCuda ? 'a CUDA device is present' : false }, async (t) => {
  await t.rejects(NativeModel.load(tinyCheckpointDir('qwen2vl-tiny'), { device: 'cuda', dtype: 'float32' }), { code: 'ERR_NO_CUDA' })
  t.equal(info!.cudaDevices, 0, 'runtimeInfo counts no devices')
})

t.test('doctor names the CUDA build and the device state', async (t) => {
  const r = await doctor()
  const cuda = r.checks.find((c) => c.name === 'cuda')
  t.ok(cuda?.ok, 'the cuda check is not a failure')
  const want = !info!.builtWithCuda ? 'CPU-only libtorch' : haveCuda ? `CUDA build, ${info!.cudaDevices} device(s)` : 'CUDA build, no device'
  t.equal(cuda?.detail, want)
  const nccl = r.checks.find((c) => c.name === 'nccl')
  t.equal(nccl?.detail.startsWith(native().distInfo().ncclAvailable ? 'NCCL process group available' : 'no NCCL process group'), true, `nccl check: ${nccl?.detail}`)
})

for (const model of MODELS) {
  t.test(`${model}: golden parity on cuda, float32 (rel err <= ${F32_TOL}) and bfloat16 (<= ${BF16_TOL})`, gpu, async (t) => {
    const dir = unpackCheckpoint(model)
    for (const dtype of ['float32', 'bfloat16'] as const) {
      const tol = dtype === 'float32' ? F32_TOL : BF16_TOL
      const m = await NativeModel.load(dir, { device: 'cuda', dtype })
      t.teardown(() => m.dispose())
      t.match(m.info(), { device: /^cuda/, dtype })
      for (const img of IMAGES) {
        const meta = readMeta(model, img)
        const ids = flat(meta.input_ids)
        const T = ids.length
        const fixed = (meta.logits as { fixed_positions: number[] }).fixed_positions
        const r = await m.forward({
          inputIds: ids, batch: 1, pixelValues: pixelValues(img).data as Float32Array, imageGridThw: flat(meta.image_grid_thw),
          logits: 'positions', positions: [...fixed, T - 1], topk: 5, logsumexp: true,
        })
        t.same(Array.from(r.positionIds), flat(meta.position_ids), `${dtype} ${img}: position ids exact`)
        const ours = strided(r.logits!, 4, V, 16)
        const gFixed = caseArray(model, img, 'logits_fixed.stride16.npy.gz').data as Float32Array
        const gLast = caseArray(model, img, 'logits_last.stride16.npy.gz').data as Float32Array
        const n = gLast.length
        const eFixed = relErr(ours.subarray(0, 3 * n), gFixed)
        const eLast = relErr(ours.subarray(3 * n), gLast)
        t.ok(eFixed <= tol, `${dtype} ${img}: logits at fixed positions rel err ${eFixed.toExponential(2)} <= ${tol}`)
        t.ok(eLast <= tol, `${dtype} ${img}: last logits rel err ${eLast.toExponential(2)} <= ${tol}`)
        const eLse = relErr(r.logsumexp!, caseArray(model, img, 'logsumexp.npy.gz').data as Float32Array)
        t.ok(eLse <= tol, `${dtype} ${img}: logsumexp rel err ${eLse.toExponential(2)} <= ${tol}`)
        const eTop = relErr(r.topkValues!, caseArray(model, img, 'top5_vals.npy.gz').data as Float32Array)
        t.ok(eTop <= tol, `${dtype} ${img}: top-5 logits rel err ${eTop.toExponential(2)} <= ${tol}`)
        if (dtype === 'float32') {
          let arg = 0
          for (let i = 1; i < V; i++) if (r.logits![3 * V + i]! > r.logits![3 * V + arg]!) arg = i
          t.equal(arg, (meta.logits as { argmax_last: number }).argmax_last, `float32 ${img}: argmax of the last logits`)
        }
      }
    }
  })

  t.test(`${model}: greedy generation is identical on CPU and CUDA in float32 (and equals the goldens)`, gpu, async (t) => {
    const dir = tinyCheckpointDir(model)
    const cpu = await NativeModel.load(dir, { device: 'cpu', dtype: 'float32' })
    const gpuModel = await NativeModel.load(dir, { device: 'cuda', dtype: 'float32' })
    t.teardown(() => { cpu.dispose(); gpuModel.dispose() })
    for (const img of IMAGES) {
      const { prompt, meta } = casePrompt(model, img)
      const a = await generateIds(cpu.handle, prompt, { maxNewTokens: 16, temperature: 0, eosIds: EOS })
      const b = await generateIds(gpuModel.handle, prompt, { maxNewTokens: 16, temperature: 0, eosIds: EOS })
      t.same(b.completions, a.completions, `${img}: CUDA greedy ids = CPU greedy ids`)
      t.same(b.completions[0], meta.generate.new_ids, `${img}: = the golden's 16 ids`)
    }
  })
}

t.test('GRPO golden on cuda, float32 (μ = 1 variant, the CPU test\'s tolerances)', gpu, async (t) => {
  const { g, dir: gdir } = grpoGolden()
  const lens: number[] = g.completion_lengths
  const tr = await makeTrainer(tinyDir(), { reference: false }, undefined, { dtype: 'float32', device: 'cuda' })
  t.teardown(() => tr.dispose())
  const batch: NativeBatch = {
    prompts: [{ inputIds: Int32Array.from(g.prompt_ids), pixelValues: img0Pixels(), imageGridThw: [1, 14, 22] }],
    rollouts: lens.map((L, i) => ({
      prompt: 0, tokens: Int32Array.from((g.completion_ids[i] as number[]).slice(0, L)), advantage: g.advantages[i],
      refLogprobs: Float32Array.from((g.ref_logp[i] as number[]).slice(0, L)),
    })),
  }
  const r = await tb().trainerGrpoStep(tr.trainer, batch, {
    beta: g.beta, epsilonLow: g.epsilon, epsilonHigh: g.epsilon, aggregation: 'grpo', microBatchSize: 4, clipped: false,
    maxCompletionLength: 0, update: false, details: true,
  })
  const gv = g.variants.grpo
  const d = r.details!
  const masked = (a: Float32Array | number[][], width: number) => lens.flatMap((L, i) =>
    Array.from({ length: L }, (_, j) => Array.isArray(a) ? (a as number[][])[i]![j]! : (a as Float32Array)[i * width + j]!))
  t.ok(Math.abs(r.loss - gv.loss) <= 1e-4 * Math.abs(gv.loss), `loss ${r.loss} vs ${gv.loss}`)
  const dLogp = maxAbs(masked(d.logp, d.length), masked(gv.logp, 12))
  t.ok(dLogp <= 2e-5, `per-token log-probs: max |Δ| ${dLogp} <= 2e-5`)
  t.ok(Math.abs(r.gradNorm - gv.grad_global_l2_norm) / gv.grad_global_l2_norm <= 1e-3, `grad norm ${r.gradNorm} vs ${gv.grad_global_l2_norm}`)
  const q = readNpy(join(gdir, 'grpo', 'grad_q_proj.npy'))
  const qOurs = tb().trainerGrad(tr.trainer, 'model.layers.0.self_attn.q_proj.weight')
  t.same(qOurs.shape, q.shape)
  t.ok(relErr(qOurs.data, q.data) <= 1e-3, `q_proj grad rel err ${relErr(qOurs.data, q.data)}`)
  const v = readNpy(join(gdir, 'grpo', 'grad_vision_qkv.npy'))
  const vOurs = tb().trainerGrad(tr.trainer, 'visual.blocks.0.attn.qkv.weight')
  t.ok(relErr(vOurs.data, v.data) <= 1e-3, `vision qkv grad rel err ${relErr(vOurs.data, v.data)}`)
})

t.test('LoRA GRPO step on cuda in bfloat16 changes only the adapters', gpu, async (t) => {
  const snapshot = (tr: NativeTrainerObject) => new Map(tb().trainerParameters(tr).map((p) => [p.name, tb().trainerParameter(tr, p.name)]))
  const changed = (a: Float32Array, b: Float32Array) => a.some((x, i) => x !== b[i])
  const { dir, config } = await smallRandomModel(7)
  const tr = await makeTrainer(dir, { lr: 1e-2, schedule: 'constant', lora: { rank: 4, alpha: 8, targets: ['q_proj', 'v_proj'] } }, config,
    { dtype: 'bfloat16', device: 'cuda' })
  t.teardown(() => tr.dispose())
  const params = tb().trainerParameters(tr.trainer)
  const adapters = params.filter((p) => p.trainable).map((p) => p.name)
  t.equal(adapters.length, 8, 'A and B of q_proj and v_proj in 2 layers')
  const before = snapshot(tr.trainer)
  const b: NativeBatch = { prompts: [{ inputIds: Int32Array.from([1, 2, 3, 4]) }], rollouts: [[5, 6, 7], [8, 9], [10], [11, 12, 13]].map((x, i) => ({ prompt: 0, tokens: Int32Array.from(x), advantage: [1, -1, 0.5, -0.5][i]! })) }
  const opts: NativeGrpoOptions = { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: true, details: false }
  const r1 = await tb().trainerGrpoStep(tr.trainer, b, opts)  // moves B (A has no gradient while B = 0)
  const r2 = await tb().trainerGrpoStep(tr.trainer, b, opts)  // moves A too
  t.ok(Number.isFinite(r1.loss) && Number.isFinite(r2.loss) && !r2.skipped, `finite bfloat16 losses ${r1.loss}, ${r2.loss}`)
  const after = snapshot(tr.trainer)
  t.same(adapters.filter((n) => !changed(before.get(n)!, after.get(n)!)), [], 'every adapter tensor changed')
  t.same(params.filter((p) => !p.trainable && changed(before.get(p.name)!, after.get(p.name)!)).map((p) => p.name), [], 'no base tensor changed')
})

t.test('NCCL process group with one rank', gpu, async (t) => {
  const n = native()
  t.equal(n.distInfo().ncclAvailable, true, 'the CUDA build has the NCCL process group')
  const port = 29700 + (process.pid % 200)
  await n.distInit({ rank: 0, worldSize: 1, masterAddr: '127.0.0.1', masterPort: port, timeoutMs: 60000, backend: 'nccl', deviceIndex: 0 })
  t.teardown(() => n.distShutdown())
  t.match(n.distInfo(), { initialized: true, rank: 0, worldSize: 1 })
  t.same(Array.from(await n.distAllreduceMean(Float64Array.from([1, -2.5, 3e6]))), [1, -2.5, 3e6], 'all-reduce mean over one rank is the identity')
  t.same(await n.distAllgather(42), [42], 'all-gather of one rank')
  await n.distBarrier()
  n.distShutdown()
  t.equal(n.distInfo().initialized, false, 'shut down')
})

t.test('out of memory: ERR_TORCH_OOM, the process alive, the next smaller request served', gpu, async (t) => {
  const n = native()
  // 1 TiB of float32 (twice: source and destination) exceeds any single GPU.
  await t.rejects(n.measureBandwidth({ bytes: 2 ** 40, device: 'cuda', reps: 1 }), { code: 'ERR_TORCH_OOM' })
  const ok = await n.measureBandwidth({ bytes: 2 ** 30, device: 'cuda', reps: 2 })
  t.ok(ok.median > 0, `1 GiB copy served after the OOM (${(ok.median / 1e9).toFixed(0)} GB/s)`)
  const m = await NativeModel.load(tinyCheckpointDir('qwen2vl-tiny'), { device: 'cuda', dtype: 'bfloat16' })
  t.teardown(() => m.dispose())
  const { prompt } = casePrompt('qwen2vl-tiny', IMAGES[0])
  const g = await generateIds(m.handle, prompt, { maxNewTokens: 4, temperature: 0, eosIds: EOS })
  t.equal(g.completions[0]!.length, 4, 'a model on cuda still generates after the OOM')
})
