const B = new URL('../../dist/lib', import.meta.url).href
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses, makeSyntheticSet } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { evaluatePolicy } = await import(`${B}/train/evaluate.js`)
const { arraySource } = await import(`${B}/train/loop.js`)
const { rewardSet } = await import(`${B}/rewards/scorer.js`)
const { builtinMetrics } = await import(`${B}/app/builtin-tasks.js`)
const E = process.env
const size = Number(E.SIZE ?? 128), grid = 4
const cls = splitClasses(); const all = [...cls.base, ...cls.novel]
const io = await modelIO(E.MODEL, { minPixels: 3136, maxPixels: size * size })
const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: 'float32', learningRate: 1e-4, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.99, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 1, maxGradNorm: 1, reference: false, seed: 1 })
const sets = [
  ['cls-base', 'classification', await makeSyntheticSet({ task: 'classification', count: 32, seed: 901, size, classes: cls.base, idPrefix: 'x' })],
  ['grd-base', 'grounding', await makeSceneSet({ task: 'grounding', count: 32, seed: 902, size, classes: cls.base, allClasses: all, grid })],
  ['det-base', 'detection', await makeSceneSet({ task: 'detection', count: 32, seed: 903, size, classes: cls.base, allClasses: all, grid })],
  ['grd-novel', 'grounding', await makeSceneSet({ task: 'grounding', count: 32, seed: 904, size, classes: cls.novel, allClasses: all, grid })],
  ['det-novel', 'detection', await makeSceneSet({ task: 'detection', count: 32, seed: 905, size, classes: cls.novel, allClasses: all, grid })],
]
for (const [nm, task, set] of sets) {
  if (task === 'classification') for (const x of set) x.classes = all
  const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(set), eosTokenIds: io.eosTokenIds, maxNewTokens: 110, task, rewards: rewardSet(task), batchSize: 16 })
  console.log(nm, JSON.stringify(builtinMetrics(task, ev)))
  for (let i = 0; i < 2; i++) console.log('   truth', set[i].solution.slice(0, 120), '| pred', ev.completions[i].slice(0, 160))
}
policy.dispose()
