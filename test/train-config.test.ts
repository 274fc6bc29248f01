/**
 * Training configuration and model lookup: defaults equal ../shared/VISUAL-RFT.md, file < flag
 * precedence, ERR_CONFIG messages naming option / expected / received, the defaults table, hub ids
 * resolved from a fake Hugging Face cache (refs/main, revisions, HF_HOME), ERR_MODEL_NOT_FOUND.
 * Run: npx tap test/train-config.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { givenOptionKeys, resolveSftConfig, resolveTrainConfig } from '../lib/train/config.js'
import { DEFAULTS_TABLE, defaultsMarkdown } from '../lib/train/defaults.js'
import { hubCacheDirs, resolveModel } from '../lib/model/hub.js'
import { DataOrder } from '../lib/train/order.js'

const tmp = () => tempDir('vrft-cfg-')

t.test('defaults are the reference values', async (t) => {
  const c = resolveTrainConfig({})
  t.match(c, {
    numGenerations: 8, temperature: 1, topP: 1, topK: 0, maxCompletionLength: 256, beta: 0.04, learningRate: 1e-6, weightDecay: 0,
    lrScheduler: 'linear', warmupSteps: 0, maxGradNorm: 1, promptsPerStep: 16, maxPixels: 401408, minPixels: 3136, maxPromptLength: 1024,
    numIterations: 1, epsilon: 0.2, epsilonHigh: 0.2, lossType: 'grpo', advantageScale: 'group',
    importanceSamplingLevel: 'token', dynamicSampling: false, maskTruncatedCompletions: false, overlongBuffer: 0,
    rewardNormalization: 'sum_then_normalize', topEntropyQuantile: 1, rolloutCorrection: 'none', iouNormalize: 'max', classificationMatch: 'exact',
    groundingReward: 'iou', resume: false, builtinRewards: true,
  })
  t.ok(Object.isFrozen(c))
  t.equal(resolveTrainConfig({ epsilon: 0.3 }).epsilonHigh, 0.3, 'ε_high follows ε unless given')
  t.equal(resolveTrainConfig({ epsilon: 0.2, epsilonHigh: 0.28 }).epsilonHigh, 0.28)
  t.equal(resolveSftConfig({}).learningRate, 1e-5)
})

t.test('defaults table renders as Markdown with every key', async (t) => {
  const md = defaultsMarkdown()
  t.match(md, /^\| option \| default \| meaning \| from \|/)
  t.match(md, /\| `--num-generations` \| 8 \|/)
  t.match(md, /\| `--beta` \| 0\.04 \|/)
  t.match(md, /\| `--learning-rate` \| 0\.000001 \|/)
  t.equal(md.split('\n').length, DEFAULTS_TABLE.length + 2)
})

t.test('config file (YAML and JSON, kebab or camel) < flags', async (t) => {
  const d = tmp()
  writeFileSync(join(d, 'a.yaml'), 'beta: 0.1\nnum-generations: 4\nlearningRate: 2e-6\n')
  const c = resolveTrainConfig({ beta: 0.2 }, join(d, 'a.yaml'))
  t.equal(c.beta, 0.2, 'flag wins')
  t.equal(c.numGenerations, 4)
  t.equal(c.learningRate, 2e-6)
  writeFileSync(join(d, 'b.json'), JSON.stringify({ maxSteps: 7 }))
  t.equal(resolveTrainConfig({}, join(d, 'b.json')).maxSteps, 7)
  t.same([...givenOptionKeys(c)].sort(), ['beta', 'learningRate', 'numGenerations'], 'the given options: the file\'s keys and the flags, not the defaults')
  t.same(givenOptionKeys(resolveTrainConfig({ seed: 3 })), ['seed'])
  t.same(givenOptionKeys({ beta: 1 }), [], 'an object that is not a resolved config gave nothing')
})

t.test('ERR_CONFIG names the option, the expected and the received value', async (t) => {
  const d = tmp()
  t.throws(() => resolveTrainConfig({ beta: -1 }), { code: 'ERR_CONFIG', message: /--beta \(from flag --beta\): expected a number >= 0 but received -1/ })
  t.throws(() => resolveTrainConfig({ numGenerations: 2.5 }), { code: 'ERR_CONFIG', message: /--num-generations.*expected an integer but received 2\.5/ })
  t.throws(() => resolveTrainConfig({ numGenerations: 1 }), { code: 'ERR_CONFIG', message: /--num-generations.*expected a number >= 2 but received 1/ })
  t.throws(() => resolveTrainConfig({ lossType: 'mean' }), { code: 'ERR_CONFIG', message: /--loss-type.*expected one of "grpo", "bnpo", "dr_grpo", "dapo" but received "mean"/ })
  t.throws(() => resolveTrainConfig({ aggregation: 'token' }), { code: 'ERR_CONFIG', message: /--aggregation \(from flag --aggregation\) is now --loss-type.*token → dapo.*received "token"/ }, 'the pre-#20 option names its replacement')
  t.throws(() => resolveTrainConfig({ importanceSamplingLevel: 'seq' }), { code: 'ERR_CONFIG', message: /--importance-sampling-level.*expected one of "token", "sequence", "sequence_token"/ })
  t.throws(() => resolveTrainConfig({ topEntropyQuantile: 0 }), { code: 'ERR_CONFIG', message: /--top-entropy-quantile.*expected a number > 0 but received 0/ })
  t.throws(() => resolveTrainConfig({ overlongBuffer: 300 }), { code: 'ERR_CONFIG', message: /--overlong-buffer.*expected a value <= max-completion-length \(256\) but received 300/ })
  t.throws(() => resolveTrainConfig({ rolloutCorrection: 'tis', numIterations: 2 }), { code: 'ERR_CONFIG', message: /--rollout-correction.*needs --num-iterations 1/ })
  t.throws(() => resolveTrainConfig({ tisCap: 0.5 }), { code: 'ERR_CONFIG', message: /--tis-cap.*expected a number >= 1/ })
  t.throws(() => resolveTrainConfig({ temperature: NaN }), { code: 'ERR_CONFIG', message: /--temperature.*received NaN/ })
  t.throws(() => resolveTrainConfig({ topP: 0 }), { code: 'ERR_CONFIG', message: /--top-p.*expected a number > 0 but received 0/ })
  t.throws(() => resolveTrainConfig({ minPixels: 500000 }), { code: 'ERR_CONFIG', message: /--min-pixels.*expected a value <= max-pixels \(401408\) but received 500000/ })
  writeFileSync(join(d, 'c.yaml'), 'betta: 0.1\n')
  t.throws(() => resolveTrainConfig({}, join(d, 'c.yaml')), { code: 'ERR_CONFIG', message: /unknown option --betta \(config file .*c\.yaml\)/ })
  writeFileSync(join(d, 'd.yaml'), 'maxSteps: "ten"\n')
  t.throws(() => resolveTrainConfig({}, join(d, 'd.yaml')), { code: 'ERR_CONFIG', message: /--max-steps \(from config file .*d\.yaml\): expected a number but received "ten"/ })
  writeFileSync(join(d, 'e.yaml'), '- 1\n- 2\n')
  t.throws(() => resolveTrainConfig({}, join(d, 'e.yaml')), { code: 'ERR_CONFIG', message: /Expected a mapping of options/ })
  writeFileSync(join(d, 'f.json'), '{bad')
  t.throws(() => resolveTrainConfig({}, join(d, 'f.json')), { code: 'ERR_CONFIG', message: /not valid JSON/ })
  t.throws(() => resolveTrainConfig({}, join(d, 'missing.yaml')), { code: 'ERR_CONFIG', message: /could not read/ })
  t.throws(() => resolveSftConfig({ beta: 0.1 }), { code: 'ERR_CONFIG', message: /unknown option --beta/ }, 'GRPO-only options are rejected by sft')
})

function fakeRepo(cache: string, id: string, commits: string[], main?: string): string {
  const repo = join(cache, `models--${id.replace('/', '--')}`)
  for (const c of commits) {
    mkdirSync(join(repo, 'snapshots', c), { recursive: true })
    writeFileSync(join(repo, 'snapshots', c, 'config.json'), JSON.stringify({ commit: c }))
  }
  if (main) {
    mkdirSync(join(repo, 'refs'), { recursive: true })
    writeFileSync(join(repo, 'refs', 'main'), main + '\n')
  }
  return repo
}

t.test('the schema holds the ranges the native trainer accepts, so --epsilon 1.5 fails here naming --epsilon', async (t) => {
  t.throws(() => resolveTrainConfig({ epsilon: 1.5 }), { code: 'ERR_CONFIG', message: /Invalid option --epsilon \(from flag --epsilon\): expected a number <= 1 but received 1\.5/ })
  t.notMatch((() => { try { resolveTrainConfig({ epsilon: 1.5 }) } catch (e) { return (e as Error).message } })(), /epsilonLow/, 'never the internal name')
  t.equal(resolveTrainConfig({ epsilon: 1 }).epsilon, 1, 'the bound itself is allowed')
  // Each range's upper bound passes and the next value up fails, naming the flag.
  const bounds: Array<[string, number, number]> = [
    ['learningRate', 1e3, 1e3 + 1], ['weightDecay', 1e3, 1e3 + 1], ['adamEpsilon', 1, 1.5], ['maxGradNorm', 1e30, 1e31],
    ['beta', 1e6, 1e6 + 1], ['epsilonHigh', 1e6, 1e6 + 1], ['temperature', 1e6, 1e6 + 1], ['numGenerations', 65536, 65537],
    ['maxCompletionLength', 1 << 20, (1 << 20) + 1], ['microBatchSize', 1 << 20, (1 << 20) + 1], ['topK', 1 << 30, (1 << 30) + 1],
  ]
  for (const [key, ok, bad] of bounds) {
    t.equal((resolveTrainConfig({ [key]: ok }) as unknown as Record<string, number>)[key], ok, `${key} = ${ok} passes`)
    const flag = '--' + key.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase())
    t.throws(() => resolveTrainConfig({ [key]: bad }), { code: 'ERR_CONFIG', message: new RegExp(`Invalid option ${flag} .*expected a number <= `) }, `${key} = ${bad} fails naming ${flag}`)
  }
  t.throws(() => resolveSftConfig({ learningRate: 2e3 }), { code: 'ERR_CONFIG', message: /--learning-rate/ }, 'sft shares the ranges')
})

t.test('hub ids resolve from the local cache, honouring refs/main', async (t) => {
  const home = tmp()
  const cache = join(home, 'hub')
  const a = 'a'.repeat(40)
  const b = 'b'.repeat(40)
  const repo = fakeRepo(cache, 'Qwen/Qwen2-VL-2B-Instruct', [a, b], a)
  const env = { HF_HOME: home, HOME: tmp() }
  t.same(hubCacheDirs(env)[0], cache)
  t.same(resolveModel('Qwen/Qwen2-VL-2B-Instruct', env), { dir: join(repo, 'snapshots', a), hubId: 'Qwen/Qwen2-VL-2B-Instruct', commit: a })
  t.equal(resolveModel(`Qwen/Qwen2-VL-2B-Instruct@${b}`, env).commit, b, 'explicit commit')
  mkdirSync(join(repo, 'refs'), { recursive: true })
  writeFileSync(join(repo, 'refs', 'v1'), b)
  t.equal(resolveModel('Qwen/Qwen2-VL-2B-Instruct@v1', env).commit, b, 'named revision')
  // HF_HUB_CACHE wins over HF_HOME.
  const other = tmp()
  fakeRepo(other, 'Qwen/Qwen2-VL-2B-Instruct', [b], b)
  t.equal(resolveModel('Qwen/Qwen2-VL-2B-Instruct', { ...env, HF_HUB_CACHE: other }).commit, b)
  // Default ~/.cache/huggingface/hub via HOME, no refs (newest snapshot with a config).
  const h2 = tmp()
  fakeRepo(join(h2, '.cache', 'huggingface', 'hub'), 'Org/Tiny', [a])
  t.equal(resolveModel('Org/Tiny', { HOME: h2 }).commit, a)
})

t.test('a missing model says where it looked; directories are used as they are', async (t) => {
  const home = tmp()
  const err = (() => { try { resolveModel('Org/Missing', { HF_HOME: home, HOME: home }) } catch (e) { return e as { code: string; message: string } } })()
  t.equal(err?.code, 'ERR_MODEL_NOT_FOUND')
  t.match(err?.message, /nothing is downloaded/)
  t.match(err?.message, join(home, 'hub', 'models--Org--Missing'))
  t.throws(() => resolveModel('./no/such/dir', { HOME: home }), { code: 'ERR_MODEL_NOT_FOUND' })
  const d = tmp()
  t.throws(() => resolveModel(d), { code: 'ERR_MODEL_NOT_FOUND', message: /config\.json/ })
  writeFileSync(join(d, 'config.json'), '{}')
  t.equal(resolveModel(d).dir, d)
})

t.test('data order: deterministic per (seed, epoch), a permutation per epoch', async (t) => {
  const o = new DataOrder(10, 7)
  const e0 = o.slice(0, 10)
  t.same([...e0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  t.notSame(o.slice(10, 10), e0, 'next epoch reshuffles')
  t.same(new DataOrder(10, 7).slice(5, 12), o.slice(5, 12), 'same seed, same order from any position')
  t.notSame(new DataOrder(10, 8).slice(0, 10), e0)
})
