// Parity of the native Qwen3-VL with Hugging Face transformers on the tiny random checkpoint of
// test/fixtures/goldens/qwen3vl (a copy of /work/shared/goldens/qwen3vl; its README lists the files), float32,
// CPU: config and parameter count, pixel values (our preprocessing) exact, M-RoPE position ids and rope deltas
// exact, vision intermediates / image embeds / DeepStack features / decoder states / logits / top-5 /
// logsumexp <= 1e-4 relative, the 16 greedy tokens of our KV-cached generate (and its no-cache and
// per-sample-prefill modes), completion log-probs (shared-prompt and per-row passes) <= 1e-4, and the two
// recorded gradients of the summed completion log-probs <= 1e-3 relative.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { parseModelConfig, readModelConfig } from '../lib/model/config.js'
import { NativeModel } from '../lib/model/native-model.js'
import { loadPreprocessorConfig, preprocessImage } from '../lib/model/preprocess.js'
import { npyToNumbers, readNpy } from '../lib/model/npy.js'
import { trainerBinding as tb, resolveTrainerSettings } from '../lib/train/trainer-settings.js'
import { relErr } from './model-helpers.js'
import { Q3, Q3_CASE as CASE, qwen3Case, qwen3Dir } from './qwen3vl-helpers.js'

const TOL = 1e-4
const arr = (name: string): Float32Array => readNpy(join(CASE, name)).data as Float32Array
const meta = qwen3Case()

/** Columns [c0, c0 + n) of a row-major (rows × width) array. */
function cols(a: Float32Array, width: number, c0: number, n: number): Float32Array {
  const rows = a.length / width
  const out = new Float32Array(rows * n)
  for (let r = 0; r < rows; r++) out.set(a.subarray(r * width + c0, r * width + c0 + n), r * n)
  return out
}

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const dir = qwen3Dir()
  const config = readModelConfig(dir)
  const m = await NativeModel.load(dir, { config })
  t.teardown(() => m.dispose())
  const ids: number[] = meta.input_ids
  const T = ids.length
  const grid: number[] = meta.image_grid_thw
  const px = arr('pixel_values.npy.gz')

  t.test('config and parameters', async (t) => {
    t.equal(config.arch, 'qwen3-vl')
    t.equal(config.headDim, 16, 'explicit head_dim')
    t.same(config.mropeSection, [4, 2, 2])
    t.same(config.vision.deepstackVisualIndexes, [0, 1])
    t.equal(config.vision.numPositionEmbeddings, 64)
    t.equal(config.vision.patchSize, 16)
    t.equal(m.info().parameters, 9949760, '9,949,760 parameters, as the golden checkpoint')
    const raw = JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8'))
    const { rope_scaling: rs, rope_theta: theta, ...text } = raw.text_config
    const v5 = { ...raw, text_config: { ...text, rope_parameters: { ...rs, rope_theta: theta } } }
    t.same(parseModelConfig(v5), config, 'rope_parameters (with rope_theta inside) parses to the same config')
    const bad = (vision: Record<string, unknown>) => ({ ...raw, vision_config: { ...raw.vision_config, ...vision } })
    t.throws(() => parseModelConfig(bad({ num_position_embeddings: 60 })), { code: 'ERR_CONFIG', message: /a square number.*num_position_embeddings/ })
    t.throws(() => parseModelConfig(bad({ deepstack_visual_indexes: [0, 3] })), { code: 'ERR_CONFIG', message: /deepstack_visual_indexes/ })
    t.throws(() => parseModelConfig(bad({ num_position_embeddings: undefined })), { code: 'ERR_CONFIG', message: /num_position_embeddings/ })
  })

  t.test('pixel values of our preprocessing are exact', async (t) => {
    const pre = await loadPreprocessorConfig(dir)
    t.equal(pre.patchSize, 16)
    const img = await preprocessImage(join(Q3, 'images', 'img0_noise_200x300.png'), pre)
    t.same(img.imageGridThw, grid, 'grid [1, 14, 20]')
    t.equal(img.numImageTokens, 70)
    t.equal(img.pixelValues.length, px.length)
    let diff = 0
    for (let i = 0; i < px.length; i++) if (img.pixelValues[i] !== px[i]) diff++
    t.equal(diff, 0, 'bit for bit')
  })

  t.test('forward: positions, vision, DeepStack, decoder, logits', async (t) => {
    const fixed = meta.fixed_positions as Record<string, number>
    const pos = [fixed.vision_start!, fixed.mid_image!, fixed.square!, fixed.last!]
    const r = await m.forward({
      inputIds: ids, batch: 1, attentionMask: ids.map(() => 1), pixelValues: px, imageGridThw: grid,
      logits: 'positions', positions: pos, topk: 5, logsumexp: true, trace: true,
    })
    const gpos = npyToNumbers(readNpy(join(CASE, 'position_ids.npy')))
    t.same(Array.from(r.positionIds), gpos, 'position ids exact (3 × 85)')
    t.same(r.ropeDeltas, meta.rope_deltas.flat(), 'rope deltas exact')
    const tr = r.trace!
    const vnames = ['vision_patch_embed', 'vision_pos_embeds', 'vision_block0', 'vision_block1', 'vision_block2']
    vnames.forEach((nm, i) => {
      const e = relErr(tr.vision[i]!.data, arr(`${nm}.npy.gz`))
      t.ok(e <= TOL, `${nm}: rel err ${e.toExponential(2)}`)
    })
    const H = 64
    const img = tr.imageEmbeds!
    t.same(img.shape, [70, 3 * H], 'image embeds carry the 2 DeepStack features as column blocks')
    for (const [nm, c] of [['image_embeds', 0], ['deepstack_0', 1], ['deepstack_1', 2]] as const) {
      const e = relErr(cols(img.data, 3 * H, c * H, H), arr(`${nm}.npy`))
      t.ok(e <= TOL, `${nm}: rel err ${e.toExponential(2)}`)
    }
    const hn = ['inputs_embeds', 'layer0_out', 'layer0_post_deepstack', 'layer1_out', 'layer1_post_deepstack', 'final_norm']
    t.equal(tr.hidden.length, hn.length, 'trace: embeds, each layer before and after its DeepStack add, final norm')
    hn.forEach((nm, i) => {
      const e = relErr(tr.hidden[i]!.data, arr(`${nm}.npy`))
      t.ok(e <= TOL, `${nm}: rel err ${e.toExponential(2)}`)
    })
    const V = config.vocabSize
    const names = ['vision_start_pos3', 'mid_image_pos39', 'square_pos78', 'last_pos84']
    names.forEach((nm, i) => {
      const e = relErr(r.logits!.subarray(i * V, (i + 1) * V), arr(`logits_${nm}.npy.gz`))
      t.ok(e <= TOL, `logits at ${nm}: rel err ${e.toExponential(2)}`)
    })
    const eLse = relErr(r.logsumexp!, arr('logsumexp.npy'))
    t.ok(eLse <= TOL, `logsumexp at all ${T} positions: rel err ${eLse.toExponential(2)}`)
    const gVals = arr('top5_values.npy')
    const eTop = relErr(r.topkValues!, gVals)
    t.ok(eTop <= TOL, `top-5 logits at all positions: rel err ${eTop.toExponential(2)}`)
    const gIds = npyToNumbers(readNpy(join(CASE, 'top5_ids.npy')))
    let mismatch = 0
    for (let i = 0; i < gIds.length; i++) {
      if (r.topkIds![i] === gIds[i]) continue
      const nb = [i - 1, i + 1].filter((j) => Math.floor(j / 5) === Math.floor(i / 5))
      if (!(nb.some((j) => Math.abs(gVals[j]! - gVals[i]!) < 1e-4) || i % 5 === 4)) mismatch++
    }
    t.equal(mismatch, 0, 'top-5 ids equal (up to near-ties)')
  })

  const greedy: number[] = meta.greedy.tokens
  for (const mode of ['cache', 'nocache', 'per_sample_prefill'] as const) {
    t.test(`greedy generation (${mode}) reproduces the 16 golden tokens`, async (t) => {
      const g = await native().generate(m.handle, {
        inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, maxNewTokens: 16, numGenerations: mode === 'cache' ? 2 : 1,
        temperature: 1, greedy: true, topP: 1, topK: 0, eosIds: [151645], padId: 151643, mode,
      })
      t.same(Array.from(g.ids.subarray(0, 16)), greedy, 'tokens identical')
      if (mode === 'cache') t.same(Array.from(g.ids.subarray(16, 32)), greedy, 'the second sample of the shared prefill too')
    })
  }

  const comp: number[] = meta.completion.ids
  const gLogp = arr('completion_logprobs.npy')
  for (const sharePrefix of [true, false]) {
    t.test(`completion log-probs (${sharePrefix ? 'shared prompt' : 'prompt per row'})`, async (t) => {
      const r = await native().logprobs(m.handle, {
        inputIds: ids, batch: 1, pixelValues: px, imageGridThw: grid, completionIds: [...comp, ...comp], completionRows: 2,
        chunk: 4, entropy: false, temperature: 1, sharePrefix,
      })
      for (const row of [0, 1]) {
        const ours = r.logp.subarray(row * 8, row * 8 + 8)
        let worst = 0
        for (let j = 0; j < 8; j++) worst = Math.max(worst, Math.abs(ours[j]! - gLogp[j]!) / Math.abs(gLogp[j]!))
        t.ok(worst <= TOL, `row ${row}: max rel err ${worst.toExponential(2)}`)
      }
    })
  }

  for (const gradientCheckpointing of [false, true]) t.test(`gradients of the summed completion log-probs${gradientCheckpointing ? ' (activation checkpointing)' : ''}`, async (t) => {
    // GRPO with one rollout, advantage 1, β = 0, unclipped: loss = −(1/L) Σ_j exp(logp_j − sg(logp_j)), so
    // the gradient is −(1/L) ∇ Σ logp: −L times ours is the golden's.
    const model = await native().modelLoad(dir, config, { dtype: 'float32', device: 'cpu' })
    const trainer = await tb().trainerCreate(model, resolveTrainerSettings({ reference: false, gradientCheckpointing }, dir))
    t.teardown(() => { tb().trainerDispose(trainer); native().modelDispose(model) })
    const r = await tb().trainerGrpoStep(trainer, {
      prompts: [{ inputIds: Int32Array.from(ids), pixelValues: px, imageGridThw: grid as [number, number, number] }],
      rollouts: [{ prompt: 0, tokens: Int32Array.from(comp), advantage: 1 }],
    }, { beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 1, clipped: false, maxCompletionLength: 0, update: false, details: true })
    const lp = r.details!.logp.subarray(0, 8)
    let worst = 0
    for (let j = 0; j < 8; j++) worst = Math.max(worst, Math.abs(lp[j]! - gLogp[j]!) / Math.abs(gLogp[j]!))
    t.ok(worst <= TOL, `the trainer's log-probs: max rel err ${worst.toExponential(2)}`)
    const L = comp.length
    for (const [name, file] of [['model.layers.0.self_attn.q_proj.weight', 'grad_layer0_q_proj_weight.npy'],
      ['visual.blocks.0.attn.qkv.weight', 'grad_vision_block0_attn_qkv_weight.npy']] as const) {
      const g = tb().trainerGrad(trainer, name)
      const ours = g.data.map((x) => -L * x)
      const e = relErr(ours, arr(file))
      t.ok(e <= 1e-3, `${name}: rel err ${e.toExponential(2)}`)
    }
  })
}
