// Where do a model's detection boxes land? Greedy answers on N of the detection demo's scenes of the novel classes
// (its image size, grid, answer length and pixel bounds: builtinSettings), boxes matched by the reward's IoU.
// MODELS=<model dir>,<model dir> [N=128] node bench/results/demo-detection-where.mjs
const B = new URL('../../dist/lib', import.meta.url).href
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { evaluatePolicy } = await import(`${B}/train/evaluate.js`)
const { arraySource } = await import(`${B}/train/loop.js`)
const { rewardSet } = await import(`${B}/rewards/scorer.js`)
const { builtinMetrics } = await import(`${B}/app/builtin-tasks.js`)
const { builtinSettings } = await import(`${B}/app/builtin.js`)
const { iou } = await import(`${B}/rewards/boxes.js`)
const { parseDetectionCompletion } = await import(`${B}/rewards/parse.js`)
const E = process.env
const N = Number(E.N ?? 128)
const demo = builtinSettings({ task: 'detection' })
const cls = splitClasses(); const all = [...cls.base, ...cls.novel]
for (const model of E.MODELS.split(',')) {
  const io = await modelIO(model, demo)
  const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: 'float32', learningRate: 1e-4, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.99, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 1, maxGradNorm: 1, reference: false, seed: 1 })
  for (const [nm, classes, seed] of [['novel', cls.novel, 905]]) {
    const set = await makeSceneSet({ task: 'detection', count: N, seed, size: demo.imageSize, classes, allClasses: all, grid: demo.grid, ...(demo.maxInstances ? { maxInstances: demo.maxInstances } : {}) })
    const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(set), eosTokenIds: io.eosTokenIds, maxNewTokens: demo.maxCompletionLength, task: 'detection', rewards: rewardSet('detection'), batchSize: 16 })
    const c = { boxes: 0, right: 0, sameColour: 0, sameShape: 0, other: 0, nowhere: 0, gt: 0, found: 0, countRight: 0, present: 0 }
    set.forEach((s, i) => {
      const p = parseDetectionCompletion(ev.completions[i])
      const [col, shp] = s.category.split(' ')
      c.gt += s.boxes.length
      if (s.boxes.length) c.present++
      const pb = p.kind === 'boxes' ? p.boxes.map((b) => b.box) : []
      if (pb.length === s.boxes.length) c.countRight++
      for (const g of s.boxes) if (pb.some((b) => iou(b, g) >= 0.5)) c.found++
      for (const b of pb) {
        c.boxes++
        { const cx = (b[0]+b[2])/2, cy = (b[1]+b[3])/2; let bd = 1e9, off = null
          for (const g of s.boxes) { const gx = (g[0]+g[2])/2, gy = (g[1]+g[3])/2; const d = Math.hypot(cx-gx, cy-gy); if (d < bd) { bd = d; off = [Math.round((cx-gx)/(1000/demo.grid)), Math.round((cy-gy)/(1000/demo.grid))] } }
          const k = off ? off.join(',') : 'none'; (c.off ??= {})[k] = ((c.off ??= {})[k] ?? 0) + 1
          const sz = Math.round(((b[2]-b[0]) + (b[3]-b[1])) / 2 / 25) * 25; (c.sz ??= {})[sz] = (c.sz[sz] ?? 0) + 1 }
        let best = null, bi = 0
        for (const o of s.meta.objects) { const v = iou(b, o.box); if (v > bi) { bi = v; best = o } }
        if (!best || bi < 0.5) { c.nowhere++; continue }
        const [oc, os] = best.label.split(' ')
        if (best.label === s.category) c.right++
        else if (oc === col) c.sameColour++
        else if (os === shp) c.sameShape++
        else c.other++
      }
    })
    const pct = (x, n) => (100 * x / n).toFixed(0) + '%'
    console.log(model.split('/').slice(-2).join('/'), nm, JSON.stringify(builtinMetrics('detection', ev)), `boxes ${c.boxes}: right ${pct(c.right, c.boxes)}, same colour ${pct(c.sameColour, c.boxes)}, same shape ${pct(c.sameShape, c.boxes)}, other ${pct(c.other, c.boxes)}, on no object ${pct(c.nowhere, c.boxes)}; recall@.5 ${pct(c.found, c.gt)}; count right ${pct(c.countRight, N)}`, '\n  offsets (cells dx,dy to nearest asked-class box):', JSON.stringify(Object.entries(c.off).sort((a,b)=>b[1]-a[1]).slice(0,12)), '\n  box sizes:', JSON.stringify(c.sz), '\n  truth sizes:', JSON.stringify(set.flatMap(s=>s.boxes).reduce((m,b)=>{const z=Math.round(((b[2]-b[0])+(b[3]-b[1]))/2/25)*25; m[z]=(m[z]??0)+1; return m},{})))
  }
  policy.dispose()
}
