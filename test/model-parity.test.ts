// Parity of the native Qwen2-VL / Qwen2.5-VL forward with the HF transformers goldens (float32, CPU):
// position ids and rope deltas exactly; logits (fixed positions + last, every 16th vocabulary entry),
// argmax over the full vocabulary, top-5 and logsumexp at every position, image embeddings and (img0)
// vision/decoder intermediates within 1e-4 relative error. Both config layouts give identical logits.
// Run: VRFT_NATIVE_ADDON=build-model/Release/vrft_native.node npx tap test/model-parity.test.ts
import t from 'tap'
import { rmSync } from 'node:fs'
import { ropeIndex } from '../lib/native/model.js'
import { NativeModel } from '../lib/model/native-model.js'
import { npyToNumbers } from '../lib/model/npy.js'
import { IMAGES, MODELS, caseArray, flat, pixelValues, readMeta, relErr, strided, unpackCheckpoint } from './model-helpers.js'

const TOL = 1e-4
const V = 151936

for (const model of MODELS) {
  t.test(model, async (t) => {
    const dir = unpackCheckpoint(model)
    const flatDir = unpackCheckpoint(model, 'config_hubstyle_flat.json')
    t.teardown(() => { rmSync(dir, { recursive: true, force: true }); rmSync(flatDir, { recursive: true, force: true }) })
    const m = await NativeModel.load(dir)
    if (model === 'qwen2vl-tiny') t.equal(m.info().parameters, 9877760, 'qwen2vl-tiny has 9,877,760 parameters')

    for (const img of IMAGES) {
      t.test(img, async (t) => {
        const meta = readMeta(model, img)
        const ids = flat(meta.input_ids)
        const T = ids.length
        const fixed = (meta.logits as { fixed_positions: number[] }).fixed_positions
        const px = pixelValues(img)
        const r = await m.forward({
          inputIds: ids, batch: 1, pixelValues: px.data as Float32Array, imageGridThw: flat(meta.image_grid_thw),
          logits: 'positions', positions: [...fixed, T - 1], topk: 5, logsumexp: true, trace: true,
        })
        t.same(Array.from(r.positionIds), flat(meta.position_ids), 'position ids exact')
        t.same(r.ropeDeltas, meta.rope_deltas, 'rope deltas exact')
        t.same(r.logitsShape, [1, 4, V])
        const logits = r.logits!
        const ours = strided(logits, 4, V, 16)
        const gFixed = caseArray(model, img, 'logits_fixed.stride16.npy.gz').data as Float32Array
        const gLast = caseArray(model, img, 'logits_last.stride16.npy.gz').data as Float32Array
        const n = gLast.length
        const eFixed = relErr(ours.subarray(0, 3 * n), gFixed)
        const eLast = relErr(ours.subarray(3 * n), gLast)
        t.ok(eFixed <= TOL, `logits at fixed positions: rel err ${eFixed.toExponential(2)}`)
        t.ok(eLast <= TOL, `last logits: rel err ${eLast.toExponential(2)}`)
        let arg = 0
        for (let i = 1; i < V; i++) if (logits[3 * V + i]! > logits[3 * V + arg]!) arg = i
        t.equal(arg, (meta.logits as { argmax_last: number }).argmax_last, 'argmax of the last logits over the full vocabulary')
        const gLse = caseArray(model, img, 'logsumexp.npy.gz').data as Float32Array
        const eLse = relErr(r.logsumexp!, gLse)
        t.ok(eLse <= TOL, `logsumexp at all ${T} positions: rel err ${eLse.toExponential(2)}`)
        const gVals = caseArray(model, img, 'top5_vals.npy.gz').data as Float32Array
        const gIds = npyToNumbers(caseArray(model, img, 'top5_ids.npy.gz'))
        const eTop = relErr(r.topkValues!, gVals)
        t.ok(eTop <= TOL, `top-5 logits at all positions: rel err ${eTop.toExponential(2)}`)
        let idMismatch = 0
        for (let i = 0; i < gIds.length; i++) {
          if (r.topkIds![i] === gIds[i]) continue
          const k = i % 5, nb = [i - 1, i + 1].filter((j) => Math.floor(j / 5) === Math.floor(i / 5))
          const tie = nb.some((j) => Math.abs(gVals[j]! - gVals[i]!) < 1e-4) || k === 4
          if (!tie) idMismatch++
        }
        t.equal(idMismatch, 0, 'top-5 ids equal (up to near-ties)')
        const tr = r.trace!
        const eEmb = relErr(tr.imageEmbeds!.data, caseArray(model, img, 'image_embeds.npy.gz').data as Float32Array)
        t.ok(eEmb <= TOL, `image embeddings: rel err ${eEmb.toExponential(2)}`)
        if (img === 'img0_noise_200x300') {
          const names = ['vision_patch_embed', 'vision_block0', 'vision_block1']
          names.forEach((nm, i) => {
            const e = relErr(tr.vision[i]!.data, caseArray(model, img, `${nm}.npy.gz`).data as Float32Array)
            t.ok(e <= TOL, `${nm}: rel err ${e.toExponential(2)}`)
          })
          const hs = caseArray(model, img, 'hidden_states.npy.gz').data as Float32Array  // (3, T, 64)
          const H = 64
          const picks: Array<[string, Float32Array]> = [['input embeddings', tr.hidden[0]!.data], ['after layer 0', tr.hidden[1]!.data],
            ['after the final norm', tr.hidden[tr.hidden.length - 1]!.data]]
          picks.forEach(([nm, ours], i) => {
            const e = relErr(ours, hs.subarray(i * T * H, (i + 1) * T * H))
            t.ok(e <= TOL, `hidden ${nm}: rel err ${e.toExponential(2)}`)
          })
        }
      })
    }

    t.test('flat hub-style config.json loads to identical logits', async (t) => {
      const m2 = await NativeModel.load(flatDir)
      t.same(m2.config, m.config, 'same parsed config')
      const meta = readMeta(model, IMAGES[0])
      const o = { inputIds: flat(meta.input_ids), batch: 1, pixelValues: pixelValues(IMAGES[0]).data as Float32Array, imageGridThw: flat(meta.image_grid_thw), logits: 'last' as const }
      const [a, b] = await Promise.all([m.forward(o), m2.forward(o)])
      t.ok(Buffer.from(a.logits!.buffer).equals(Buffer.from(b.logits!.buffer)), 'bitwise identical logits')
      m2.dispose()
    })

    t.test('batch2: position ids and rope deltas of a left-padded batch (both rows) are exact', async (t) => {
      const meta = readMeta(model, 'batch2')
      const ids = flat(meta.input_ids)
      const r = ropeIndex(m.config, { inputIds: ids, batch: 2, attentionMask: flat(meta.attention_mask), imageGridThw: flat(meta.image_grid_thw) })
      t.same(Array.from(r.positionIds), flat(meta.position_ids))
      t.same(r.ropeDeltas, meta.rope_deltas)
      // Row 0 (img0, unpadded) has the img0 case's ids: its golden logits equal ours for img0.
      const img0 = readMeta(model, IMAGES[0])
      t.same(ids.slice(0, meta.T), flat(img0.input_ids), 'row 0 = the img0 prompt')
      const px = pixelValues(IMAGES[0])
      const out = await m.forward({ inputIds: ids.slice(0, meta.T), batch: 1, pixelValues: px.data as Float32Array, imageGridThw: flat(meta.image_grid_thw[0]), logits: 'last', logsumexp: true })
      const g = caseArray(model, 'batch2', 'logits_last.stride16.npy.gz').data as Float32Array
      const e = relErr(strided(out.logits!, 1, V, 16), g.subarray(0, g.length / 2))
      t.ok(e <= TOL, `batch2 row 0 last logits: rel err ${e.toExponential(2)}`)
      const lse = caseArray(model, 'batch2', 'logsumexp.npy.gz').data as Float32Array
      t.ok(relErr(out.logsumexp!, lse.subarray(0, meta.T)) <= TOL, 'batch2 row 0 logsumexp')
    })
    t.teardown(() => m.dispose())
  })
}
