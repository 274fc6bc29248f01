// A left-padded batch of two prompts with different images and lengths gives each row the logits it gets
// alone (at unpadded positions), and both rows still match the goldens.
// Run: VRFT_NATIVE_ADDON=build-model/Release/vrft_native.node npx tap test/model-batch.test.ts
import t from 'tap'
import { rmSync } from 'node:fs'
import { NativeModel } from '../lib/model/native-model.js'
import { IMAGES, MODELS, caseArray, flat, pixelValues, readMeta, relErr, strided, unpackCheckpoint } from './model-helpers.js'

const V = 151936

for (const model of MODELS) {
  t.test(`${model}: batch of img1 (389 tokens) + img0 (232 tokens, left padded)`, async (t) => {
    const dir = unpackCheckpoint(model)
    const m = await NativeModel.load(dir)
    t.teardown(() => { m.dispose(); rmSync(dir, { recursive: true, force: true }) })
    const [a, b] = [readMeta(model, IMAGES[1]), readMeta(model, IMAGES[0])]
    const [ia, ib] = [flat(a.input_ids), flat(b.input_ids)]
    const T = ia.length, pad = T - ib.length
    const [pa, pb] = [pixelValues(IMAGES[1]).data as Float32Array, pixelValues(IMAGES[0]).data as Float32Array]
    const pixels = new Float32Array(pa.length + pb.length)
    pixels.set(pa), pixels.set(pb, pa.length)
    const batch = await m.forward({
      inputIds: [...ia, ...Array(pad).fill(151643), ...ib], batch: 2,
      attentionMask: [...Array(T).fill(1), ...Array(pad).fill(0), ...Array(ib.length).fill(1)],
      pixelValues: pixels, imageGridThw: [...flat(a.image_grid_thw), ...flat(b.image_grid_thw)],
      logits: 'last', topk: 5, logsumexp: true,
    })
    const alone = await Promise.all([
      m.forward({ inputIds: ia, batch: 1, pixelValues: pa, imageGridThw: flat(a.image_grid_thw), logits: 'last', topk: 5, logsumexp: true }),
      m.forward({ inputIds: ib, batch: 1, pixelValues: pb, imageGridThw: flat(b.image_grid_thw), logits: 'last', topk: 5, logsumexp: true }),
    ])
    // row 1's position ids: padding = 1, the rest as alone; delta shifted by the padding
    const pos = batch.positionIds
    for (let ax = 0; ax < 3; ax++) {
      const row1 = Array.from(pos.subarray((ax * 2 + 1) * T, (ax * 2 + 2) * T))
      t.same(row1.slice(0, pad), Array(pad).fill(1), `axis ${ax}: padding positions are 1`)
      t.same(row1.slice(pad), Array.from(alone[1].positionIds.subarray(ax * ib.length, (ax + 1) * ib.length)), `axis ${ax}: row 1 positions as alone`)
    }
    t.same(batch.ropeDeltas, [alone[0].ropeDeltas[0], alone[1].ropeDeltas[0]! - pad], 'rope deltas (row 1 shifted by its padding)')
    for (const [row, one, len] of [[0, alone[0], T], [1, alone[1], ib.length]] as const) {
      const off = row === 0 ? 0 : pad
      const e = relErr(batch.logits!.subarray(row * V, (row + 1) * V), one.logits!)
      t.ok(e <= 1e-5, `row ${row} last logits equal alone: rel err ${e.toExponential(2)}`)
      const lseB = batch.logsumexp!.subarray(row * T + off, row * T + off + len)
      t.ok(relErr(lseB, one.logsumexp!) <= 1e-5, `row ${row} logsumexp at every unpadded position equals alone`)
      const topB = batch.topkValues!.subarray((row * T + off) * 5, (row * T + off + len) * 5)
      t.ok(relErr(topB, one.topkValues!) <= 1e-5, `row ${row} top-5 logits at every unpadded position equal alone`)
    }
    for (const [row, img] of [[0, IMAGES[1]], [1, IMAGES[0]]] as const) {
      const g = caseArray(model, img, 'logits_last.stride16.npy.gz').data as Float32Array
      const e = relErr(strided(batch.logits!.subarray(row * V, (row + 1) * V), 1, V, 16), g)
      t.ok(e <= 1e-4, `row ${row} matches the ${img} golden: rel err ${e.toExponential(2)}`)
    }
  })
}
