/**
 * Issue 24 item 6: config.json is checked against the safetensors headers before the native loader
 * allocates anything. A config saying num_hidden_layers 1e9, vision depth 1e7 or a vocabulary of 1e9
 * is ERR_CONFIG naming the field and the tensors it contradicts, at once and without memory growth,
 * for both loaders (NativeModel.load for inference, NativePolicy.create for training). The lower bound
 * of parameters a config implies never exceeds what a real checkpoint holds (tiny presets of both archs).
 * Needs the native addon (headers are read by it). Run: npx tap test/config-check.test.ts
 */
import t from 'tap'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { nativeAvailable, native } from '../lib/native/binding.js'
import { NativeModel } from '../lib/model/native-model.js'
import { readModelConfig } from '../lib/model/config.js'
import { configParameterLowerBound } from '../lib/model/config-check.js'
import { initModel } from '../lib/model/init-model.js'
import { tempDir } from './tmp.js'

if (!nativeAvailable()) {
  t.comment('skipped: the native addon is not built')
} else {
  t.test('lying sizes are ERR_CONFIG before anything is allocated', async (t) => {
    const { dir } = await initModel({ arch: 'qwen2-vl', size: 'tiny', out: join(tempDir('vrft-cfgchk-'), 'm'), seed: 1 })
    const raw = readFileSync(join(dir, 'config.json'), 'utf8')
    t.teardown(() => writeFileSync(join(dir, 'config.json'), raw))
    const mutate = (f: (c: Record<string, any>) => void) => {
      const c = JSON.parse(raw) as Record<string, any>
      f(c)
      writeFileSync(join(dir, 'config.json'), JSON.stringify(c))
    }
    const setText = (c: Record<string, any>, k: string, v: number) => { if (c.text_config) c.text_config[k] = v; if (k in c) c[k] = v }
    const cases: Array<[string, (c: Record<string, any>) => void, RegExp]> = [
      ['num_hidden_layers 1e9', (c) => setText(c, 'num_hidden_layers', 1e9), /num_hidden_layers .*holds, 2 text layers \(tensors model\.layers\.0\..* found 1000000000/],
      ['vision depth 1e7', (c) => { c.vision_config.depth = 1e7 }, /vision_config\.depth .*holds, 2 vision blocks \(tensors visual\.blocks\.0\..* found 10000000/],
      ['vocab_size 1e9', (c) => setText(c, 'vocab_size', 1e9), /imply at least .*vocab_size 1000000000.*embed_tokens\.weight \[151936,64\]/],
      ['intermediate_size 1e8', (c) => setText(c, 'intermediate_size', 1e8), /intermediate_size 100000000,.*gate_proj\.weight \[128,64\]/],
    ]
    const rss0 = process.memoryUsage().rss
    for (const [name, f, re] of cases) {
      mutate(f)
      const t0 = performance.now()
      await t.rejects(NativeModel.load(dir), { code: 'ERR_CONFIG', message: re }, `${name}: NativeModel.load`)
      const { NativePolicy } = await import('../lib/train/native-policy.js')
      await t.rejects(NativePolicy.create({ modelDir: dir }), { code: 'ERR_CONFIG', message: re }, `${name}: NativePolicy.create`)
      t.ok(performance.now() - t0 < 5000, `${name}: refused in ${(performance.now() - t0).toFixed(0)} ms`)
    }
    const grew = (process.memoryUsage().rss - rss0) / 2 ** 20
    t.ok(grew < 200, `RSS grew ${grew.toFixed(0)} MiB (< 200)`)
    writeFileSync(join(dir, 'config.json'), raw)
    const m = await NativeModel.load(dir)
    t.ok(m.info().parameters > 0, 'the honest config still loads')
    m.dispose()
  })

  t.test('the implied lower bound never exceeds a real checkpoint', async (t) => {
    for (const arch of ['qwen2-vl', 'qwen2.5-vl'] as const) {
      const { dir } = await initModel({ arch, size: 'tiny', out: join(tempDir('vrft-cfgchk-'), 'm'), seed: 2 })
      const info = await native().checkpointInfo(dir)
      const held = info.tensors.reduce((s, x) => s + x.shape.reduce((a, b) => a * b, 1), 0)
      const bound = configParameterLowerBound(readModelConfig(dir))
      t.ok(bound <= held && bound > held * 0.5, `${arch}: lower bound ${bound} ≤ ${held} held (and close to it)`)
    }
  })
}
