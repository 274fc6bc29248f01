// Does a trained model use the image? Teacher-forced NLL of the answer with the right image vs another
// image of the same size; greedy answers batched vs one at a time.
const B = new URL('../../dist/lib', import.meta.url).href
const { makeSceneSet } = await import(`${B}/data/synthetic-scenes.js`)
const { splitClasses, syntheticTarget } = await import(`${B}/data/synthetic.js`)
const { modelIO, createPolicy } = await import(`${B}/train/setup.js`)
const { makeTargetEncoder } = await import(`${B}/train/encode.js`)
const { decodeCompletions } = await import(`${B}/train/loop.js`)
const E = process.env
const size = Number(E.SIZE ?? 128)
const cls = splitClasses(); const all = [...cls.base, ...cls.novel]
const io = await modelIO(E.MODEL, { minPixels: 3136, maxPixels: size * size })
const policy = await createPolicy({ modelDir: io.folder.dir, config: io.folder.config, device: 'cpu', dtype: 'float32', learningRate: 1e-4, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.99, adamEpsilon: 1e-8, lrScheduler: 'constant', warmupSteps: 0, totalSteps: 1, maxGradNorm: 1, reference: false, seed: 1 })
const { makeSyntheticSet } = await import(`${B}/data/synthetic.js`)
const set = E.TASK === 'classification' ? await makeSyntheticSet({ task: 'classification', count: 32, seed: 4242, size, classes: cls.base }) : await makeSceneSet({ task: E.TASK ?? 'grounding', count: 32, seed: Number(E.DSEED ?? 42001), size, classes: cls.base, allClasses: all, grid: 4, gridJitter: Number(E.JITTER ?? 0) })
if (E.DESC) for (const x of set) {
  const objs = x.meta.objects.map((o) => `${o.label} at row ${Math.floor((o.box[1] + o.box[3]) / 500) + 1} column ${Math.floor((o.box[0] + o.box[2]) / 500) + 1}`)
  x.meta.reasoning = `${objs.join(', ')}; ${x.meta.reasoning}`
}
const enc = makeTargetEncoder(io.tokenizer, syntheticTarget)
const prompts = await Promise.all(set.map((s) => io.encode(s)))
const targets = await Promise.all(set.map((s) => enc(s)))
const swapped = prompts.map((p, i) => ({ ...p, pixelValues: prompts[(i + 1) % prompts.length].pixelValues, imageGridThw: prompts[(i + 1) % prompts.length].imageGridThw }))
const nll = async (ps) => {
  const lp = await policy.logprobs(ps.map((p, i) => ({ prompt: p, tokens: targets[i] })), { microBatchSize: 8 })
  let s = 0, n = 0
  for (const a of lp) for (const v of a) { s -= v; n++ }
  return s / n
}
console.log('NLL per target token: right image', (await nll(prompts)).toFixed(7), ' other image', (await nll(swapped)).toFixed(7))
const gen = async (ps) => (await policy.generate(ps, { numGenerations: 1, maxNewTokens: 160, temperature: 0, topP: 1, topK: 0, eosTokenIds: io.eosTokenIds, seed: 0 })).completions
const batched = await gen(prompts.slice(0, 8))
let same = 0
for (let i = 0; i < 8; i++) { const one = await gen([prompts[i]]); if (String(one[0]) === String(batched[i])) same++ }
for (let i = 0; i < 3; i++) console.log('  truth', syntheticTarget(set[i]).slice(0, 200), '\n  pred ', (await decodeCompletions(io.tokenizer, [batched[i]]))[0].slice(0, 200))
console.log('greedy: batched = one at a time for', same, 'of 8')
policy.dispose()
