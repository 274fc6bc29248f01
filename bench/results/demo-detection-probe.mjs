// Probe: warm start of the demo's task for N steps, then held-out base + novel metrics; CPU seconds.
const B = '/work/wt/demo/dist/lib'
const { builtinSettings, warmStart } = await import(`${B}/app/builtin.js`)
const { builtinData, builtinMetrics } = await import(`${B}/app/builtin-tasks.js`)
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { evaluatePolicy } = await import(`${B}/train/evaluate.js`)
const { arraySource } = await import(`${B}/train/loop.js`)
const { rewardSet } = await import(`${B}/rewards/scorer.js`)
const task = process.env.VRFT_DEMO_TASK ?? 'detection'
const s = { ...builtinSettings({ task }), cacheDir: process.env.PROBE_CACHE ?? '/tmp/probe/cache', quiet: false }
const c0 = process.cpuUsage(); const t0 = performance.now()
const data = await builtinData(s)
const ws = await warmStart(s, data, { log: console.log })
const cpu = () => { const c = process.cpuUsage(c0); return ((c.user + c.system) / 1e6).toFixed(0) }
console.log(`warm start ${ws.seconds.toFixed(0)} s wall, cpu so far ${cpu()} s`)
const io = await modelIO(ws.dir, s)
const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: 'float32', learningRate: 1e-4, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.99, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 1, maxGradNorm: 1, reference: false, seed: 1 })
const cls = splitClasses()
const all = [...cls.base, ...cls.novel]
const baseTest = await makeSceneSet({ task, count: 32, seed: 777, classes: cls.base, allClasses: all, size: s.imageSize })
for (const [name, set] of [['base', baseTest], ['novel', data.test.slice(0, 32)]]) {
  const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(set), eosTokenIds: io.eosTokenIds, maxNewTokens: s.maxCompletionLength, task, rewards: rewardSet(task), batchSize: 16 })
  console.log(name, JSON.stringify(builtinMetrics(task, ev)), JSON.stringify(ev.rewards))
  for (let i = 0; i < 3; i++) console.log('  truth', set[i].solution, '\n  pred ', ev.completions[i])
}
console.log(`total ${((performance.now() - t0) / 1000).toFixed(0)} s wall, ${cpu()} s cpu`)
policy.dispose()
