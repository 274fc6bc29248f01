/**
 * The one model loader (lib/model/load.ts). A model folder (a golden tiny checkpoint: config.json,
 * generation_config.json, preprocessor_config.json, weights, and the bundled Qwen tokenizer.json, whose own stop
 * ids differ) stops every entry point on the same ids — the folder's generation_config.json eos ids, not the
 * tokenizer's defaults. Without tokenizer.json every entry point is ERR_TOKENIZER_MISSING unless the bundled
 * tokenizer is asked for (`'builtin'`, issue #24's rule, decided in the loader):
 *  - pure (no addon): the folder read, hub ids, errors; `train`, `sft` and `eval` hand the loader's ids to
 *    the policy's generate (an in-memory fake policy records them) and `train` hands it the loader's config;
 *  - with the addon: the API's chat, `generate`, serve's generator, the eval policy and the training policy
 *    all stop after one token on a folder whose only stop id is the token the model greedily emits first.
 * Run: npx tap test/model-loader.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadTokenizer, defaultTokenizerPath } from '../lib/model/tokenizer.js'
import { readGenerationStopIds, readModelFolder, resolveModelFolder, tokenizerFor } from '../lib/model/load.js'
import { readModelConfig } from '../lib/model/config.js'
import { modelDirOf, modelIO } from '../lib/train/setup.js'
import { resolveSftConfig, resolveTrainConfig } from '../lib/train/config.js'
import { runSft, runTrain } from '../lib/app/commands.js'
import type { SamplingOptions } from '../lib/train/types.js'
import type { PolicyFactoryOptions } from '../lib/train/setup.js'
import { goldenImage, tinyCheckpointDir } from './generate-helpers.js'
import { FakePolicy } from './train-fake.js'

/** A copy of the golden tiny checkpoint with the bundled tokenizer.json, optionally with other generation-config eos ids. */
function modelFolder(eos?: number[]): string {
  const src = tinyCheckpointDir('qwen2vl-tiny')
  const dir = join(tempDir('vrft-loader-'), 'model')
  mkdirSync(dir)
  for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json']) copyFileSync(join(src, f), join(dir, f))
  copyFileSync(defaultTokenizerPath(), join(dir, 'tokenizer.json'))
  symlinkSync(join(src, 'model.safetensors'), join(dir, 'model.safetensors'))
  if (eos) {
    const g = JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) as Record<string, unknown>
    writeFileSync(join(dir, 'generation_config.json'), JSON.stringify({ ...g, eos_token_id: eos }))
  }
  return dir
}

/** The eos ids a generation_config.json lists, as a list. */
function fileEos(dir: string): number[] {
  const e = (JSON.parse(readFileSync(join(dir, 'generation_config.json'), 'utf8')) as { eos_token_id: number | number[] }).eos_token_id
  return Array.isArray(e) ? e : [e]
}

const PIXELS = { minPixels: 3136, maxPixels: 12845056 }

t.test('the folder\'s stop ids, whatever the tokenizer\'s own; no tokenizer.json is an error unless builtin', async (t) => {
  const dir = modelFolder()
  t.equal(tokenizerFor(dir), dir, 'the folder\'s tokenizer.json is chosen')
  t.equal(tokenizerFor(dir, '/x/tokenizer.json'), '/x/tokenizer.json', 'an explicit tokenizer wins')
  const bare = modelFolder()
  rmSync(join(bare, 'tokenizer.json'))
  t.notOk(existsSync(join(bare, 'tokenizer.json')), 'no tokenizer.json in the second folder')
  await t.rejects(readModelFolder(bare), { code: 'ERR_TOKENIZER_MISSING' }, 'the loader refuses a folder without tokenizer.json')
  await t.rejects(modelIO(bare, PIXELS), { code: 'ERR_TOKENIZER_MISSING' }, 'and so does train/sft/eval setup')
  t.equal(tokenizerFor(bare, 'builtin'), defaultTokenizerPath(), 'builtin: the bundled Qwen tokenizer, asked for')
  t.same((await readModelFolder(bare, { tokenizer: 'builtin' })).eosIds, fileEos(bare), 'with it, the folder\'s stop ids still')
  const folder = await readModelFolder(dir)
  t.same(folder.eosIds, fileEos(dir), 'stop ids from the folder\'s generation_config.json')
  t.same(folder.tokenizer.special.stopIds, folder.eosIds, 'the tokenizer carries the same stop ids')
  const bundled = loadTokenizer(defaultTokenizerPath()).special.stopIds
  t.not(JSON.stringify(bundled), JSON.stringify(folder.eosIds), 'the bundled tokenizer alone would stop elsewhere (what generate/eval used to do)')
  t.same(folder.config, readModelConfig(dir), 'config.json read and validated')
  t.same((await modelIO(dir, PIXELS)).eosTokenIds, folder.eosIds, 'train/sft/eval setup (modelIO) uses the loader\'s ids')
})

t.test('hub ids resolve from the local cache through the same loader', async (t) => {
  const dir = modelFolder([151645, 151644])
  const cache = tempDir('vrft-hub-')
  const sha = 'a'.repeat(40)
  const snap = join(cache, 'models--Org--Tiny', 'snapshots', sha)
  mkdirSync(snap, { recursive: true })
  for (const f of ['config.json', 'generation_config.json', 'preprocessor_config.json', 'tokenizer.json']) copyFileSync(join(dir, f), join(snap, f))
  mkdirSync(join(cache, 'models--Org--Tiny', 'refs'))
  writeFileSync(join(cache, 'models--Org--Tiny', 'refs', 'main'), sha)
  const saved = process.env.HF_HUB_CACHE
  process.env.HF_HUB_CACHE = cache
  t.teardown(() => { if (saved === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved })
  const f = await readModelFolder('Org/Tiny')
  t.equal(f.dir, snap)
  t.equal(f.hubId, 'Org/Tiny')
  t.equal(f.commit, sha)
  t.same(f.eosIds, [151645, 151644])
})

t.test('bad folders and generation configs are typed errors', async (t) => {
  await t.rejects(readModelFolder(tempDir('vrft-empty-')), { code: 'ERR_MODEL_MISSING', message: /No config\.json/ })
  t.throws(() => resolveModelFolder('/nonexistent/model'), { code: 'ERR_MODEL_MISSING', message: /No config\.json in "\/nonexistent\/model"/ }, 'a path: missing')
  t.throws(() => modelDirOf('/nonexistent/model'), { code: 'ERR_MODEL_MISSING' }, 'train/sft/eval say the same')
  const home = tempDir('vrft-nohub-')
  const saved = { HF_HUB_CACHE: process.env.HF_HUB_CACHE }
  process.env.HF_HUB_CACHE = home
  try {
    t.throws(() => resolveModelFolder('Org/Missing'), { code: 'ERR_MODEL_NOT_FOUND', message: /nothing is downloaded/ }, 'a hub id: not found, naming where it looked')
  } finally {
    if (saved.HF_HUB_CACHE === undefined) delete process.env.HF_HUB_CACHE; else process.env.HF_HUB_CACHE = saved.HF_HUB_CACHE
  }
  const dir = modelFolder()
  writeFileSync(join(dir, 'generation_config.json'), '{"eos_token_id": [')
  t.throws(() => readGenerationStopIds(dir), { code: 'ERR_CONFIG', message: /valid JSON/ })
  writeFileSync(join(dir, 'generation_config.json'), '{"eos_token_id": "<|im_end|>"}')
  t.throws(() => readGenerationStopIds(dir), { code: 'ERR_CONFIG', message: /eos_token_id but found/ })
  writeFileSync(join(dir, 'generation_config.json'), '{"bos_token_id": 1}')
  t.equal(readGenerationStopIds(dir), undefined, 'no eos_token_id: the tokenizer decides')
  t.same((await readModelFolder(dir)).eosIds, loadTokenizer(defaultTokenizerPath()).special.stopIds, 'then the bundled tokenizer\'s stop ids')
})

/** A one-record classification data file with a golden image. */
function dataFile(): string {
  const d = tempDir('vrft-loader-data-')
  const f = join(d, 'data.jsonl')
  writeFileSync(f, JSON.stringify({ image: goldenImage('img0_noise_200x300'), problem: 'What shape?', solution: '<answer>circle</answer>', task: 'classification', label: 'circle' }) + '\n')
  return f
}

t.test('train, sft and eval pass the loader\'s ids (and train its config) to the policy', async (t) => {
  const dir = modelFolder([151645, 151644])
  const folder = await readModelFolder(dir)
  const data = dataFile()
  const seen: Array<{ what: string; eos: number[] }> = []
  const factories: PolicyFactoryOptions[] = []
  const recording = (what: string) => async (o: PolicyFactoryOptions) => {
    factories.push(o)
    const p = new FakePolicy()
    const generate = p.generate.bind(p)
    p.generate = (prompts, opts: SamplingOptions) => { seen.push({ what, eos: opts.eosTokenIds }); return generate(prompts, opts) }
    return p
  }
  const common = { model: dir, data, evalData: data, maxSteps: 1, promptsPerStep: 1, saveEvery: 0, evalEvery: 1, quiet: true, device: 'cpu', maxPixels: 3136 }
  await runTrain(resolveTrainConfig({ ...common, numGenerations: 2, maxCompletionLength: 2, output: join(tempDir('vrft-loader-run-'), 'grpo') }), { createPolicy: recording('train'), handleSignals: false, log: () => {} })
  t.same(factories[0]!.config, folder.config, 'train: the policy gets the config the loader read')
  await runSft(resolveSftConfig({ ...common, output: join(tempDir('vrft-loader-run-'), 'sft') }), { createPolicy: recording('sft'), handleSignals: false, log: () => {} })
  // eval: the CLI command with a policy module that records into the same list.
  const mod = join(tempDir('vrft-loader-mod-'), 'policy.mjs')
  writeFileSync(mod, 'export async function createPolicy() { return globalThis.__vrftLoaderPolicy() }\n')
  ;(globalThis as Record<string, unknown>).__vrftLoaderPolicy = () => recording('eval')({} as PolicyFactoryOptions)
  const saved = process.env.VRFT_POLICY_MODULE
  process.env.VRFT_POLICY_MODULE = mod
  const log = console.log
  console.log = () => {}
  try {
    const { evalCommand } = await import('../lib/cli/commands/eval.js')
    await (evalCommand.handler as (a: unknown) => Promise<void>)({
      model: dir, data, task: 'classification', maxNewTokens: 2, batchSize: 1, ...PIXELS, device: 'cpu', json: true, askPresence: false, _: ['eval'], $0: 'vrft-native',
    })
  } finally {
    console.log = log
    if (saved === undefined) delete process.env.VRFT_POLICY_MODULE; else process.env.VRFT_POLICY_MODULE = saved
  }
  for (const what of ['train', 'sft', 'eval']) t.ok(seen.some((s) => s.what === what), `${what} generated`)
  for (const s of seen) t.same(s.eos, folder.eosIds, `${s.what} stops on the loader's ids`)
})

const { nativeAvailable, native } = await import('../lib/native/binding.js')
const real = nativeAvailable() && typeof (native() as unknown as Record<string, unknown>).generate === 'function'
t.test('every entry point stops on the same token (real tiny model)', { skip: real ? false : 'the native addon with generate is not built' }, async (t) => {
  const { loadModel } = await import('../lib/api.js')
  const { generate, loadGenerationModel } = await import('../lib/generate.js')
  const { modelGenerator } = await import('../lib/serve/model-generator.js')
  const { createPolicy, loadEvalPolicy, policyOptions } = await import('../lib/train/setup.js')
  const { prepareInputs } = await import('../lib/model/chat.js')
  const conv = [{ role: 'user' as const, content: 'Name a colour.' }]
  // The token the model emits first, greedily: made the folder's only stop id.
  const probe = await loadModel(modelFolder())
  const first = (await probe.chat(conv, { maxTokens: 3 })).ids[0]!
  await probe[Symbol.asyncDispose]()
  const dir = modelFolder([first])
  t.notOk(loadTokenizer(defaultTokenizerPath()).special.stopIds.includes(first), `token ${first} is not a default stop id, so stopping on it shows the folder's ids were used`)

  const api = await loadModel(dir)
  t.teardown(() => api.dispose())
  const chat = await api.chat(conv, { maxTokens: 5 })
  t.same([chat.ids, chat.finishReason], [[first], 'stop'], 'API chat')

  const served = await modelGenerator(api)([{ messages: conv, n: 1, maxTokens: 5, temperature: 0, topP: 1, stop: [], maxPromptTokens: 10_000 }])
  const choice = (served[0] as { choices: Array<{ ids: number[]; finishReason: string }> }).choices[0]!
  t.same([choice.ids, choice.finishReason], [[first], 'stop'], 'serve\'s generator')

  const gm = await loadGenerationModel(dir)
  t.teardown(() => gm.dispose())
  const g = (await generate(gm, [conv], { maxNewTokens: 5, temperature: 0 })).samples[0]![0]!
  t.same([g.ids, g.finished], [[first], true], 'generate')
  t.same(gm.eosIds, api.inner.eosIds, 'generate and the API hold the same ids')

  const io = await modelIO(dir, PIXELS)
  const inputs = await prepareInputs(io.tokenizer, [conv], { preprocessor: io.preprocessor, padId: io.folder.padId })
  const prompt = { inputIds: inputs.inputIds, pixelValues: [], imageGridThw: [] }
  const sampling = { numGenerations: 1, maxNewTokens: 5, temperature: 0, topP: 1, topK: 0, eosTokenIds: io.eosTokenIds, seed: 0 }
  const evalPolicy = await loadEvalPolicy(io.folder, { device: 'cpu' })
  t.teardown(() => evalPolicy.dispose())
  const e = (await evalPolicy.generate([prompt], sampling)).completions[0]!
  t.same([Array.from(e.tokens), e.finished], [[first], true], 'eval policy')
  const cfg = resolveTrainConfig({ model: dir, device: 'cpu', dtype: 'float32', beta: 0 })
  const policy = await createPolicy(policyOptions(cfg, io.folder))
  t.teardown(() => policy.dispose())
  const tr = (await policy.generate([prompt], sampling)).completions[0]!
  t.same([Array.from(tr.tokens), tr.finished], [[first], true], 'training policy')
})

t.test('the prompt cache tells apart samples that share an id but not their question or image', async (t) => {
  const io = await modelIO(tinyCheckpointDir('qwen2vl-tiny'), PIXELS)
  const a = goldenImage('img0_noise_200x300')
  const bytes = readFileSync(a)
  const base = { id: 'same', problem: 'What shape?', solution: '<answer>circle</answer>', task: 'classification' as const }
  const first = await io.encode({ ...base, image: { path: a } })
  const again = await io.encode({ ...base, image: { path: a } })
  t.equal(again, first, 'the same sample again: the cached encoding')
  const asked = await io.encode({ ...base, problem: 'What colour is it?', image: { path: a } })
  t.not(Array.from(asked.inputIds).join(), Array.from(first.inputIds).join(), 'another question, same id: encoded anew')
  const other = goldenImage('img1_shapes_480x640')
  const moved = await io.encode({ ...base, image: { path: other } })
  t.not(Array.from(moved.pixelValues[0]!.slice(0, 64)).join(), Array.from(first.pixelValues[0]!.slice(0, 64)).join(), 'another image, same id: encoded anew')
  const inBytes = await io.encode({ ...base, image: { bytes } })
  t.same(Array.from(inBytes.inputIds), Array.from(first.inputIds), 'the same picture as bytes encodes the same')
  t.equal(await io.encode({ ...base, image: { bytes: Uint8Array.from(bytes) } }), inBytes, 'equal bytes in another buffer: cached')
})
