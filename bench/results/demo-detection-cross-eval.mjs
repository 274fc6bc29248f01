// The demo's detection models (warm starts, GRPO checkpoints) × the held-out test sets of several seeds: mAP matrix.
// MODELS='{"name":"<model dir>",…}' [SEEDS=1,2,3,42] [N=128] node bench/results/demo-detection-cross-eval.mjs
const B = new URL('../../dist/lib', import.meta.url).href
const { builtinSettings } = await import(`${B}/app/builtin.js`)
const { builtinMetrics } = await import(`${B}/app/builtin-tasks.js`)
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { evaluatePolicy } = await import(`${B}/train/evaluate.js`)
const { arraySource } = await import(`${B}/train/loop.js`)
const { rewardSet } = await import(`${B}/rewards/scorer.js`)
const models = JSON.parse(process.env.MODELS)  // {name: dir}
const seeds = (process.env.SEEDS ?? '1,2,3,42').split(',').map(Number)
const N = Number(process.env.N ?? 128)
const s = builtinSettings({ task: 'detection' })
const classes = splitClasses(); const all = [...classes.base, ...classes.novel]
const tests = {}
for (const sd of seeds) tests[sd] = await makeSceneSet({ task: 'detection', count: N, seed: sd * 1000 + 3, size: s.imageSize, classes: classes.novel, allClasses: all, idPrefix: 'test', grid: s.grid, ...(s.maxInstances ? { maxInstances: s.maxInstances } : {}) })
for (const [name, dir] of Object.entries(models)) {
  const io = await modelIO(dir, s)
  const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: 'float32', learningRate: 0, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 1, maxGradNorm: 1, reference: false, seed: 1 })
  const row = []
  for (const sd of seeds) {
    const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(tests[sd]), eosTokenIds: io.eosTokenIds, maxNewTokens: s.maxCompletionLength, task: 'detection', rewards: rewardSet('detection'), batchSize: 16 })
    row.push((100 * builtinMetrics('detection', ev).mAP).toFixed(1))
  }
  policy.dispose()
  console.log(name, 'test seeds', seeds.join('/'), ':', row.join(' / '))
}
