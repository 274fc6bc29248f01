// Probe: warm start (SFT on base-class scenes) of a demo model variant, then held-out base + novel metrics.
const B = new URL('../../dist/lib', import.meta.url).href
const { initModel } = await import(`${B}/model/init-model.js`)
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses, syntheticTarget } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { evaluatePolicy } = await import(`${B}/train/evaluate.js`)
const { arraySource } = await import(`${B}/train/loop.js`)
const { rewardSet } = await import(`${B}/rewards/scorer.js`)
const { SFTTrainer } = await import(`${B}/train/sft.js`)
const { makeTargetEncoder } = await import(`${B}/train/encode.js`)
const { builtinMetrics } = await import(`${B}/app/builtin-tasks.js`)
const { readFileSync, rmSync } = await import('node:fs')
const E = process.env
const name = E.NAME ?? 'p'
const dir = `/tmp/probe/${name}`
rmSync(dir, { recursive: true, force: true })
const task = E.TASK ?? 'detection'
const arch = E.ARCH ?? 'qwen2-vl'
const size = Number(E.SIZE ?? 112)
const grid = Number(E.GRID ?? 4)
const steps = Number(E.STEPS ?? 120)
const seed = Number(E.SEED ?? 42)
const c0 = process.cpuUsage(); const t0 = performance.now()
const cpu = () => { const c = process.cpuUsage(c0); return ((c.user + c.system) / 1e6).toFixed(0) }
const wall = () => ((performance.now() - t0) / 1000).toFixed(0)
const patch = E.PATCH ? JSON.parse(E.PATCH) : undefined
if (E.INIT) (await import('node:fs')).cpSync(E.INIT, `${dir}/init`, { recursive: true })
else if (E.MODEL) await (await import(`${B}/app/tiny.js`)).createTinyModel(`${dir}/init`, seed, E.MODEL)
else console.log(name, 'params', (await initModel({ arch, size: 'tiny', out: `${dir}/init`, seed, ...(patch ? { configPatch: patch } : {}) })).parameters)
const cls = splitClasses(); const all = [...cls.base, ...cls.novel]
const sc = (classes, count, k, pre) => makeSceneSet({ task, count, seed: seed * 1000 + k, size, classes, allClasses: all, idPrefix: pre, grid, maxInstances: Number(E.MAXI ?? 3), prompt: E.PROMPT ?? 'reference', ...(E.JITTER ? { gridJitter: Number(E.JITTER) } : {}), ...(E.ABSENT ? { absentRate: Number(E.ABSENT) } : {}), ...(E.DISTR ? { distractors: Number(E.DISTR) } : {}), ...(E.NEAR === '0' ? { nearMisses: false } : {}), ...(E.DSCALE ? { distractorScale: Number(E.DSCALE) } : {}), ...(E.CLUTTER === '0' ? { clutter: false } : {}) })
let base = await sc(E.CLASSES ? E.CLASSES.split(',') : cls.base, Number(E.IMAGES ?? 512), 1, 'base')
// MIX: a JSON list of extra scene sets mixed into the warm start, e.g. [{"grid":2,"distractors":0,"count":500}] (same task, size, classes, clutter, jitter)
const mixSet = (m, classes, count, k, pre) => makeSceneSet({ task: m.task ?? task, count, seed: seed * 1000 + k, size, classes, allClasses: all, idPrefix: pre, grid: m.grid, distractors: m.distractors ?? 0, nearMisses: false, maxInstances: Number(E.MAXI ?? 3), prompt: E.PROMPT ?? 'reference', ...(E.JITTER ? { gridJitter: Number(E.JITTER) } : {}), ...(E.CLUTTER === '0' ? { clutter: false } : {}) })
const MIX = E.MIX ? JSON.parse(E.MIX) : []
for (const [i, m] of MIX.entries()) base.push(...await mixSet(m, E.CLASSES ? E.CLASSES.split(',') : cls.base, m.count, 20 + i, `mix${i}`))
const { makeSyntheticSet } = await import(`${B}/data/synthetic.js`)
const classificationRef = async () => (await makeSyntheticSet({ task: 'classification', count: 1, seed: 1, size, classes: cls.base, prompt: 'reference' }))[0]  // a classification sample to build scene questions on
if (E.MIXC) base.push(...await makeSyntheticSet({ task: 'classification', count: Number(E.MIXC), seed: seed * 1000 + 11, size, classes: cls.base, idPrefix: 'mc' }))
if (E.MIXG) base.push(...await makeSceneSet({ task: 'grounding', count: Number(E.MIXG), seed: seed * 1000 + 12, size, classes: cls.base, allClasses: all, idPrefix: 'mg', grid }))
if (E.SCENECLS) {  // classification of the scenes' objects (one object per image: DISTR=0), to make attention find the object
  const cs = await makeSceneSet({ task: 'grounding', count: Number(E.SCENECLS), seed: seed * 1000 + 13, size, classes: cls.base, allClasses: all, grid, distractors: 0, ...(E.CLUTTER === '0' ? { clutter: false } : {}), ...(E.JITTER ? { gridJitter: Number(E.JITTER) } : {}) })
  const ref = await classificationRef()
  base.push(...cs.map((x) => ({ ...ref, id: `sc-${x.id}`, image: x.image, label: x.category, classes: cls.base, solution: `<answer>${x.category}</answer>`, ...(E.SCPROMPT ? { problem: E.SCPROMPT } : {}), meta: { ...ref.meta, reasoning: `colour: ${x.category.split(' ')[0]} shape: ${x.category.split(' ')[1]}` } })))
}
const attrSet = async (count, k, classes) => {  // ATTR: "what colour is the <shape>?" / "what shape is the <colour> object?" among others (no near misses): class-conditioned attention, no position readout
  const cs = await makeSceneSet({ task: 'grounding', count, seed: seed * 1000 + k, size, classes, allClasses: all, grid, distractors: Number(E.DISTR ?? 1), nearMisses: false, ...(E.DSCALE ? { distractorScale: Number(E.DSCALE) } : {}), ...(E.CLUTTER === '0' ? { clutter: false } : {}), ...(E.JITTER ? { gridJitter: Number(E.JITTER) } : {}) })
  const ref = await classificationRef()
  const tail = ' Output the thinking process in <think> </think> and final answer in <answer> </answer> tags.'
  return cs.map((x, i) => { const [c, sh] = x.category.split(' '); const askColour = i % 2 === 0; const label = askColour ? c : sh
    return { ...ref, id: `at-${k}-${x.id}`, image: x.image, label, category: label, classes: [label], solution: `<answer>${label}</answer>`, problem: askColour ? `What colour is the ${sh}?${tail}` : `What shape is the ${c} object?${tail}`, meta: { ...ref.meta, reasoning: askColour ? `the ${sh} is ${c}` : `the ${c} object is a ${sh}` } } })
}
if (E.ATTR) base.push(...await attrSet(Number(E.ATTR), 14, E.ATTRALL ? all : cls.base))  // ATTRALL=1: asked about every colour–shape pair (no class prior to lean on)
{ const { seededRandom } = await import(`${B}/data/random.js`); const r = seededRandom(5); for (let i = base.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [base[i], base[j]] = [base[j], base[i]] } }
console.log(name, 'warm-start samples', base.length, base[0].meta.reasoning)
const baseTest = await sc(cls.base, 32, 7, 'bt')
const novelTest = await sc(cls.novel, 32, 3, 'nt')
if (E.DESC === 'grid') for (const x of [...base, ...baseTest, ...novelTest]) {  // every cell in reading order, 2 tokens each: fixed positions
  if (!x.meta.objects) continue
  const cells = Array(grid * grid).fill('no object')
  for (const o of x.meta.objects) cells[Math.floor((o.box[1] + o.box[3]) / (2000 / grid)) * grid + Math.floor((o.box[0] + o.box[2]) / (2000 / grid))] = o.label
  const rows = []; for (let r = 0; r < grid; r++) rows.push(cells.slice(r * grid, (r + 1) * grid).join(', '))
  x.meta.reasoning = ` ${rows.join('; ')}; ${x.meta.reasoning}`
} else if (E.DESC) for (const x of [...base, ...baseTest, ...novelTest]) {
  const objs = x.meta.objects.map((o) => `${o.label} at row ${Math.floor((o.box[1] + o.box[3]) / 500) + 1} column ${Math.floor((o.box[0] + o.box[2]) / 500) + 1}`)
  x.meta.reasoning = `${objs.join(', ')}; ${x.meta.reasoning}`
}
// REASON=class: detection's <think> names the class only (no count first)
if (E.REASON === 'class') for (const x of [...base, ...baseTest, ...novelTest]) if (x.task === 'detection') x.meta.reasoning = x.category
const s = { minPixels: 3136, maxPixels: size * size }
const io = await modelIO(`${dir}/init`, s)
const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: E.DTYPE ?? 'float32', learningRate: Number(E.LR ?? 3e-3), weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, lrScheduler: E.SCHED ?? 'linear', warmupSteps: 0, totalSteps: steps, maxGradNorm: 1, reference: false, seed })
const tr = new SFTTrainer({ policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(base), eosTokenIds: io.eosTokenIds,
  encodeTarget: makeTargetEncoder(io.tokenizer, syntheticTarget), runDir: `${dir}/run`, progress: false, plots: false,
  settings: { promptsPerStep: Number(E.BS ?? 16), microBatchSize: 16, maxSteps: steps, seed, saveEvery: 0, evalEvery: 0, keepCheckpoints: 1, maxPromptLength: 1024, evalMaxNewTokens: 110 } })
await tr.train()
const ms = readFileSync(`${dir}/run/metrics.jsonl`, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((m) => m.loss !== undefined)
console.log(name, 'loss', ms.filter((_, i) => i % Math.ceil(ms.length / 12) === 0 || i === ms.length - 1).map((m) => `${m.step}:${m.loss.toFixed(3)}`).join(' '))
console.log(name, `sft done ${wall()} s wall, ${cpu()} s cpu`)
for (const [nm, set] of E.EVAL === '0' ? [] : [['base', baseTest], ['novel', novelTest]]) {
  const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(set), eosTokenIds: io.eosTokenIds, maxNewTokens: 110, task, rewards: rewardSet(task), batchSize: 16 })
  console.log(name, nm, JSON.stringify(builtinMetrics(task, ev)), JSON.stringify(ev.rewards))
  for (let i = 0; i < 3; i++) console.log(name, '  truth', set[i].solution, '\n', name, ' pred ', ev.completions[i])
}
for (const [i, m] of (E.EVALS && E.EVAL !== '0' ? JSON.parse(E.EVALS) : []).entries()) for (const [nm, cl, k] of [['base', cls.base, 40 + 2 * i], ['novel', cls.novel, 41 + 2 * i]]) {  // EVALS: extra held-out scene sets [{"grid":2,"distractors":1}]
  const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(await mixSet(m, cl, 32, k, `ev${i}${nm}`)), eosTokenIds: io.eosTokenIds, maxNewTokens: 110, task, rewards: rewardSet(task), batchSize: 16 })
  console.log(name, `eval grid ${m.grid} distractors ${m.distractors ?? 0} ${nm}`, JSON.stringify(builtinMetrics(task, ev)))
}
if (E.ATTR && E.EVAL !== '0') for (const [nm, cl, k] of [['attr-base', cls.base, 15], ['attr-novel', cls.novel, 16]]) {
  const set = await attrSet(32, k, cl)
  const ev = await evaluatePolicy({ policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(set), eosTokenIds: io.eosTokenIds, maxNewTokens: 40, task: 'classification', rewards: rewardSet('classification'), batchSize: 16 })
  console.log(name, nm, JSON.stringify(builtinMetrics('classification', ev)), ev.completions.slice(0, 2))
}
if (E.SAVE) await policy.saveModel(`${dir}/model`)
console.log(name, `total ${wall()} s wall, ${cpu()} s cpu`)
policy.dispose()
