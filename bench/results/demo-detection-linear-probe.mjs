// Linear probe (issue #19): do the image embeddings a model feeds its decoder carry the object's class and
// grid cell? For N single-object scenes (4 × 4 grid, no distractors), writes the object's token embedding
// (X), the mean over all image tokens (XM), its cell (Y) and class (C) to OUT (JSON); then
// `python3 bench/results/demo-detection-linear-probe.py OUT` fits ridge classifiers on 2/3 and reports
// held-out accuracy. Env: MODEL (a model folder), N (240), CLUTTER=0 (plain background), OUT.
const B = new URL('../../dist/lib', import.meta.url).href
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses } = await import(`${B}/data/synthetic.js`)
const { modelIO } = await import(`${B}/train/setup.js`)
const { NativeModel } = await import(`${B}/model/native-model.js`)
const { readModelConfig } = await import(`${B}/model/config.js`)
const { writeFileSync } = await import('node:fs')
const E = process.env
const size = Number(E.SIZE ?? 128)
const cls = splitClasses(); const all = [...cls.base, ...cls.novel]
const io = await modelIO(E.MODEL, { minPixels: 3136, maxPixels: size * size })
const m = await NativeModel.load(E.MODEL, { config: readModelConfig(E.MODEL) })
const set = await makeSceneSet({ task: 'grounding', count: Number(E.N ?? 240), seed: 77, size, classes: cls.base, allClasses: all, grid: 4, gridJitter: 0, distractors: 0, clutter: E.CLUTTER !== '0' })
const X = [], XM = [], Y = [], C = []
for (const s of set) {
  const p = await io.encode(s)
  const ids = Array.from(p.inputIds)
  const r = await m.forward({ inputIds: ids, batch: 1, attentionMask: ids.map(() => 1), pixelValues: p.pixelValues[0], imageGridThw: p.imageGridThw.flat(), logits: 'none', trace: true })
  const img = r.trace.imageEmbeds; const [n, w] = img.shape
  const rows = [...Array(n).keys()].map((i) => img.data.subarray(i * w, (i + 1) * w))
  const mean = new Float32Array(w); for (const row of rows) for (let j = 0; j < w; j++) mean[j] += row[j] / n
  const cell = Math.floor((s.box[1] + s.box[3]) / 500) * 4 + Math.floor((s.box[0] + s.box[2]) / 500)  // image tokens are in raster order
  X.push(Array.from(rows[cell])); XM.push(Array.from(mean)); Y.push(cell); C.push(cls.base.indexOf(s.category))
}
const out = E.OUT ?? '/tmp/linear-probe.json'
writeFileSync(out, JSON.stringify({ X, XM, Y, C }))
console.log(`${X.length} images, ${X[0].length} columns per image token (decoder width × (1 + DeepStack levels)) -> ${out}`)
m.dispose()
