/**
 * The built-in demo's orchestration with the in-memory fake policy (test/train-fake.ts): data sets,
 * tiny-model init, warm start cached under the cache directory keyed by its settings and reused, GRPO
 * with evaluation before/after, the SFT comparison, summary.json and the charts. The real-model run is
 * `npx vrft-native train` (see the report / bench e2e). Needs the addon only to write the tiny model's
 * safetensors. Run: npx tap test/train-builtin.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { native, nativeAvailable } from '../lib/native/binding.js'
import { builtinData, builtinSettings, cacheDir, runBuiltin } from '../lib/app/builtin.js'
import { readJsonl } from '../lib/train/checkpoint.js'
import { FakePolicy } from './train-fake.js'
import { GRPO_DEFAULTS } from '../lib/defaults.js'
import type { StepOptions } from '../lib/train/types.js'

t.test('cache directory follows XDG_CACHE_HOME, else ~/.cache', async (t) => {
  t.equal(cacheDir({ XDG_CACHE_HOME: '/x/cache', HOME: '/h' }), '/x/cache/vrft-native')
  t.equal(cacheDir({ HOME: '/h' }), '/h/.cache/vrft-native')
})

t.test('demo data: base and novel classes apart, k shots per novel class, deterministic', async (t) => {
  const s = { task: 'classification' as const, seed: 1, imageSize: 112, warmStartImages: 24, shots: 2, testImages: 8 }
  const d = await builtinData(s)
  t.equal(d.base.length, 24)
  t.equal(d.shots.length, 8)
  t.ok(d.base.every((x) => d.classes.base.includes(x.label!)))
  t.ok([...d.shots, ...d.test].every((x) => d.classes.novel.includes(x.label!)))
  for (const c of d.classes.novel) t.equal(d.shots.filter((x) => x.label === c).length, 2)
  t.same((await builtinData(s)).test.map((x) => x.label), d.test.map((x) => x.label))
  t.match(builtinSettings({ maxSteps: 3, beta: 0 }), { maxSteps: 3, beta: 0, numGenerations: 8 })
})

if (!nativeAvailable() || typeof (native() as unknown as Record<string, unknown>).modelWriteRandom !== 'function') {
  t.comment('SKIPPED: the native addon with modelWriteRandom is not built (needed to write the tiny model)')
  t.test('demo orchestration', { skip: 'the native addon with modelWriteRandom is not built (needed to write the tiny model)' }, async () => {})
} else {
  t.test('demo run with a fake policy: files, summary, warm start cached and reused', async (t) => {
    const cache = tempDir('vrft-cache-')
    const out = tempDir('vrft-demo-')
    let created = 0
    const createPolicy = async () => { created++; return new FakePolicy() }
    const settings = { task: 'classification' as const, cacheDir: cache, output: join(out, 'a'), quiet: true, warmStartImages: 16, warmStartSteps: 2, warmStartPromptsPerStep: 4, shots: 1, testImages: 4, maxSteps: 3, promptsPerStep: 2, numGenerations: 2, evalEvery: 2 }
    const logs: string[] = []
    const r = await runBuiltin({ createPolicy, handleSignals: false, log: (m) => logs.push(m), settings })
    t.equal(r.step, 3)
    t.equal(created, 3, 'warm start, GRPO and SFT policies')
    t.equal(JSON.parse(readFileSync(join(out, 'a', 'config.json'), 'utf8')).model, 'tiny', "a task given in settings brings its own defaults (classification's model, not the default task's)")
    const ws = readdirSync(cache).filter((d) => d.startsWith('demo-warmstart-'))
    t.equal(ws.length, 1)
    t.ok(existsSync(join(cache, ws[0]!, 'model', 'config.json')))
    const sum = JSON.parse(readFileSync(join(out, 'a', 'summary.json'), 'utf8')) as { accuracy: Record<string, number>; warmStartCached: boolean }
    t.same(Object.keys(sum.accuracy).sort(), ['grpo', 'sft', 'warmStart'])
    t.equal(sum.warmStartCached, false)
    t.same(readJsonl<{ step: number }>(join(out, 'a', 'grpo', 'eval.jsonl')).map((e) => e.step), [0, 2, 3])
    t.same(readJsonl<{ step: number }>(join(out, 'a', 'grpo', 'metrics.jsonl')).map((e) => e.step), [1, 2, 3])
    t.same(readJsonl<{ step: number }>(join(out, 'a', 'sft', 'metrics.jsonl')).map((e) => e.step), [1, 2, 3])
    t.equal((await sharp(join(out, 'a', 'plots', 'compare.png')).metadata()).format, 'png')
    t.ok(existsSync(join(out, 'a', 'grpo', 'plots', 'reward.png')))
    t.match(logs.join('\n'), /novel-class accuracy/)
    // Second run: the warm start comes from the cache (no warm-start policy created).
    created = 0
    const r2 = await runBuiltin({ createPolicy, handleSignals: false, log: () => {}, settings: { ...settings, output: join(out, 'b') } })
    t.equal(created, 2)
    t.equal(r2.summary.warmStartCached, true)
    // Different warm-start settings → a different cache entry.
    await runBuiltin({ createPolicy, handleSignals: false, log: () => {}, settings: { ...settings, output: join(out, 'c'), warmStartSteps: 3, maxSteps: 1 } })
    t.equal(readdirSync(cache).filter((d) => d.startsWith('demo-warmstart-') && !d.includes('.tmp')).length, 2)
  })

  t.test('demo run: objective options given as flags reach every GRPO step, and the cached warm start is reused', async (t) => {
    const cache = tempDir('vrft-cache-')
    const out = tempDir('vrft-demo-')
    const policies: FakePolicy[] = []
    const createPolicy = async () => { const p = new FakePolicy(); policies.push(p); return p }
    const settings = { cacheDir: cache, quiet: true, warmStartImages: 16, warmStartSteps: 2, warmStartPromptsPerStep: 4, shots: 1, testImages: 4, maxSteps: 2, promptsPerStep: 2, numGenerations: 2, evalEvery: 2 }
    await runBuiltin({ createPolicy, handleSignals: false, log: () => {}, flags: { task: 'classification' }, settings: { ...settings, output: join(out, 'a') } })
    const defaults = policies[1]!.calls.filter((c) => c.kind === 'grpoStep').map((c) => c.opts as StepOptions)
    t.ok(defaults.length > 0 && defaults.every((o) => o.lossType === GRPO_DEFAULTS.lossType && o.epsilonLow === GRPO_DEFAULTS.epsilon), 'without them: the defaults')
    policies.length = 0
    const logs: string[] = []
    const r = await runBuiltin({ createPolicy, handleSignals: false, log: (m) => logs.push(m), flags: { task: 'classification', lossType: 'dr_grpo', epsilon: 0.1, maxSteps: 2 }, settings: { ...settings, output: join(out, 'b') } })
    t.match(logs[0], /\n {2}--epsilon +0\.1\n[^]*\n {2}--loss-type +"dr_grpo"\n/, 'logged at the start under their own flags')
    t.notMatch(logs[0], /--objective/)
    t.equal(r.summary.warmStartCached, true, 'the GRPO objective is not part of the warm start')
    t.equal(policies.length, 2, 'GRPO and SFT policies only')
    const steps = policies[0]!.calls.filter((c) => c.kind === 'grpoStep').map((c) => c.opts as StepOptions)
    t.equal(steps.length, 2)
    t.ok(steps.every((o) => o.lossType === 'dr_grpo' && o.epsilonLow === 0.1 && o.epsilonHigh === 0.1), `every step: ${JSON.stringify(steps.map((o) => [o.lossType, o.epsilonLow, o.epsilonHigh]))}`)
    t.match(JSON.parse(readFileSync(join(out, 'b', 'config.json'), 'utf8')), { objective: { lossType: 'dr_grpo', epsilon: 0.1 } }, 'recorded in config.json')
  })
}
