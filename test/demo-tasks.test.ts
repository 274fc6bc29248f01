/**
 * The built-in demo's three tasks end to end, shortened: the real tiny Qwen2-VL (lib/app/tiny.ts) with a
 * few warm-start steps, one GRPO step and one SFT step, on a handful of synthetic images per task. Checks
 * the files a run leaves (summary.json's fields, metrics in range, plots/compare.png, pictures/ as PNGs of
 * the documented size), the `--task` choice and its typed error, and the scene data (detection: absent
 * classes and 0–3 instances, boxes on the asked objects; grounding: one box, a referring expression).
 * Needs the native addon (skips with the reason otherwise). Run: npx tap test/demo-tasks.test.ts
 */
import { tempDir } from './tmp.js'
import t from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import sharp from 'sharp'
import { nativeAvailable } from '../lib/native/binding.js'
import { builtinSettings, readSummary, runBuiltin, warmStart, warmStartKey } from '../lib/app/builtin.js'
import { DEMO_MODELS, createTinyModel, type DemoModel } from '../lib/app/tiny.js'
import { native } from '../lib/native/binding.js'
import { WARM_START_PHASES, builtinData, stageCounts } from '../lib/app/builtin-tasks.js'
import { makeSceneSet, relation } from '../lib/data/synthetic-scenes.js'
import { splitClasses } from '../lib/data/synthetic.js'
import { PICTURE_HEIGHT, PICTURE_WIDTH, answerBoxes } from '../lib/app/pictures.js'
import { rewardSet, scoreCompletions } from '../lib/rewards/scorer.js'
import { syntheticTarget } from '../lib/data/synthetic.js'
import { meanSd, verdict } from '../bench/demo-seeds.js'

t.test('--task picks the demo task (detection by default); another value is a typed error', async (t) => {
  t.equal(builtinSettings({}).task, 'detection')
  t.equal(builtinSettings({ task: 'detection' }).task, 'detection')
  t.equal(builtinSettings({ task: 'grounding' }).task, 'grounding')
  t.equal(builtinSettings({ task: 'classification' }).maxCompletionLength, 24)
  t.ok(builtinSettings({ task: 'detection' }).maxCompletionLength > 24, 'detection answers are longer')
  t.throws(() => builtinSettings({ task: 'segmentation' }), { code: 'ERR_INVALID_ARG', message: /detection, classification, grounding.*segmentation/ })
})

t.test('the demo takes its own options of train (GRPO objective options too) and refuses any other with ERR_CONFIG naming it', async (t) => {
  const s = builtinSettings({ task: 'grounding', seed: 7, maxSteps: 3, learningRate: 1e-3, output: '/tmp/x', quiet: true })
  t.match(s, { task: 'grounding', seed: 7, maxSteps: 3, learningRate: 1e-3 }, 'the GRPO options it honours are taken over')
  t.equal(s.objective, undefined, 'no objective option given: none recorded')
  const v = builtinSettings({ task: 'grounding', seed: 7, lossType: 'dapo', importanceSamplingLevel: 'sequence', epsilonHigh: 0.28 })
  t.same(v.objective, { lossType: 'dapo', importanceSamplingLevel: 'sequence', epsilonHigh: 0.28 }, 'objective options are kept for the GRPO stage')
  t.equal(warmStartKey(v), warmStartKey(builtinSettings({ task: 'grounding', seed: 7 })), 'and leave the warm start (its cache key) alone')
  t.throws(() => builtinSettings({ seed: 7, loraRank: 8 }), {
    code: 'ERR_CONFIG', message: /^The built-in demo \(no --model and no --data\) uses only --task, --output, --quiet, --seed, .*--micro-batch-size, .*--loss-type, .*; received --lora-rank, which applies to training a given --model on given --data$/,
  })
  t.throws(() => builtinSettings({ saveEvery: 5, nproc: 2 }), { code: 'ERR_CONFIG', message: /received --save-every, --nproc, which apply/ })
  t.same(builtinSettings({ loraRank: undefined }).task, 'detection', 'an option given as undefined is not given')
})

t.test('VRFT_DEMO_MODEL picks the demo model and its image size; another value is a typed error; the model is in the cache key', async (t) => {
  const saved = process.env.VRFT_DEMO_MODEL
  t.teardown(() => { if (saved === undefined) delete process.env.VRFT_DEMO_MODEL; else process.env.VRFT_DEMO_MODEL = saved })
  delete process.env.VRFT_DEMO_MODEL
  const c = builtinSettings({ task: 'classification' })
  const before = createHash('sha256').update(JSON.stringify({
    v: 1, preset: { arch: 'qwen2-vl', size: 'tiny' }, seed: c.seed, size: c.imageSize, n: c.warmStartImages, steps: c.warmStartSteps,
    lr: c.warmStartLearningRate, bs: c.warmStartPromptsPerStep, mb: c.microBatchSize, px: [c.minPixels, c.maxPixels],
  })).digest('hex').slice(0, 16)
  t.equal(warmStartKey(c), before, 'the classification warm start keeps the cache key it had before the model presets')
  t.same([c.model, c.imageSize, c.maxPixels], ['tiny', 112, 112 * 112], 'classification: the tiny Qwen2-VL')
  for (const [task, model] of [['detection', 'detect'], ['grounding', 'boxes']]) {
    const d = builtinSettings({ task })
    t.same([d.model, d.imageSize, d.maxPixels, d.grid], [model, 128, 128 * 128, 4], `${task}: the ${model} model, one image token per cell`)
  }
  const textConfig = (m: DemoModel) => ({ ...(m.configPatch?.text_config as Record<string, unknown> | undefined) })
  t.equal(textConfig(DEMO_MODELS.detect).rope_theta, 10, 'detect: RoPE base 10')
  t.same({ ...textConfig(DEMO_MODELS.detect), rope_theta: undefined }, { ...textConfig(DEMO_MODELS.boxes), rope_theta: undefined }, 'otherwise the boxes model')
  t.not(warmStartKey(builtinSettings({ task: 'detection' })), warmStartKey({ ...builtinSettings({ task: 'detection' }), model: 'boxes' }), 'and its own cache key')
  process.env.VRFT_DEMO_MODEL = 'tiny'
  const tiny = builtinSettings({ task: 'detection' })
  t.same([tiny.model, tiny.imageSize, tiny.maxPixels], ['tiny', 112, 112 * 112], 'VRFT_DEMO_MODEL=tiny overrides the box tasks\' model')
  process.env.VRFT_DEMO_MODEL = 'boxes'
  const boxes = builtinSettings({ task: 'detection' })
  t.same([boxes.model, boxes.imageSize, boxes.maxPixels], ['boxes', 128, 128 * 128])
  t.not(warmStartKey(boxes), warmStartKey({ ...boxes, model: 'tiny' }), 'a different model is a different warm start')
  t.not(warmStartKey(boxes), warmStartKey({ ...boxes, maxInstances: 4 }), 'so are other scenes')
  t.same([c.warmStartLrSchedule, boxes.warmStartLrSchedule], ['linear', 'constant'], 'the box tasks warm-start at a constant lr')
  t.not(warmStartKey(boxes), warmStartKey({ ...boxes, warmStartLrSchedule: 'linear' }), 'and the schedule is in the cache key')
  process.env.VRFT_DEMO_MODEL = 'huge'
  t.throws(() => builtinSettings({}), { code: 'ERR_INVALID_ARG', message: /tiny or boxes or detect for VRFT_DEMO_MODEL.*huge/ })
})

t.test('detection scenes: asked class absent sometimes, 0–3 instances, perfect answers score 3', async (t) => {
  const { base, novel } = splitClasses()
  const set = await makeSceneSet({ task: 'detection', count: 40, seed: 9, classes: novel, allClasses: [...base, ...novel] })
  const counts = set.map((s) => s.boxes!.length)
  t.ok(counts.some((n) => n === 0), 'some images without the asked class')
  t.ok(counts.some((n) => n >= 2), 'some images with several instances')
  t.ok(counts.every((n) => n <= 3))
  t.ok(set.every((s) => novel.includes(s.category!) && s.problem.includes(`'${s.category}'`)))
  const cy = (b: readonly number[]) => (b[1]! + b[3]!) / 2, cx = (b: readonly number[]) => (b[0]! + b[2]!) / 2
  t.ok(set.every((s) => s.boxes!.every((b, i, a) => i === 0 || cy(a[i - 1]!) < cy(b) || (cy(a[i - 1]!) === cy(b) && cx(a[i - 1]!) <= cx(b)))), 'boxes in reading order')
  // grid scenes: by cell row, then left to right, whatever the jitter
  const g = await makeSceneSet({ task: 'detection', count: 60, seed: 9, classes: novel, allClasses: [...base, ...novel], grid: 4, gridJitter: 0.3, size: 128 })
  const cell = (b: readonly number[]) => [Math.floor(cy(b) / 250), cx(b)] as const
  t.ok(g.some((s) => s.boxes!.length >= 3), 'some grid scenes with three instances')
  t.ok(g.every((s) => s.boxes!.every((b, i, a) => i === 0 || cell(a[i - 1]!)[0] < cell(b)[0] || (cell(a[i - 1]!)[0] === cell(b)[0] && cell(a[i - 1]!)[1] < cell(b)[1]))), 'grid boxes by cell row, then left to right')
  const sc = await scoreCompletions(rewardSet('detection'), set.map(syntheticTarget), set)
  t.ok([...sc.totals].every((v) => Math.abs(v - 3) < 1e-9), 'the warm-start target scores iou + confidence + format = 3')
  t.match(syntheticTarget(set.find((s) => s.boxes!.length === 0)!), /^<think>no \w+ \w+<\/think><answer>No Objects<\/answer>$/)
})

t.test('grid scenes: every box centred in a cell of the grid, one object per cell', async (t) => {
  const { base, novel } = splitClasses()
  const set = await makeSceneSet({ task: 'detection', count: 30, seed: 2, classes: novel, allClasses: [...base, ...novel], grid: 4, absentRate: 0 })
  const cells = new Set<string>()
  for (const s of set) {
    for (const b of s.boxes!) {
      const cx = (b[0] + b[2]) / 2, cy = (b[1] + b[3]) / 2
      // cell centres at 125, 375, 625, 875 on the 0–1000 grid; shapes' boxes are not centred exactly on them
      t.ok(Math.abs(((cx - 125) % 250 + 250) % 250) < 40 || Math.abs(((cx - 125) % 250 + 250) % 250 - 250) < 40, `x centre ${cx} near a cell centre`)
      t.ok(Math.abs(((cy - 125) % 250 + 250) % 250) < 50 || Math.abs(((cy - 125) % 250 + 250) % 250 - 250) < 50, `y centre ${cy} near a cell centre`)
      cells.add(`${Math.floor(cx / 250)},${Math.floor(cy / 250)}`)
    }
    const keys = s.boxes!.map((b) => `${Math.floor((b[0] + b[2]) / 500)},${Math.floor((b[1] + b[3]) / 500)}`)
    t.equal(new Set(keys).size, keys.length, 'instances in different cells')
  }
  t.ok(cells.size > 8, 'objects spread over the grid')
})

t.test('grid scenes without jitter: a class in a cell always has the same box; with jitter boxes vary', async (t) => {
  const { base, novel } = splitClasses()
  const opts = { task: 'detection' as const, count: 40, seed: 5, classes: novel, allClasses: [...base, ...novel], grid: 4, absentRate: 0 }
  const boxesBy = (set: Awaited<ReturnType<typeof makeSceneSet>>) => {
    const m = new Map<string, Set<string>>()
    for (const s of set) for (const b of s.boxes!) {
      const k = `${s.category} ${Math.floor((b[0] + b[2]) / 500)},${Math.floor((b[1] + b[3]) / 500)}`
      m.set(k, (m.get(k) ?? new Set()).add(b.join(',')))
    }
    return [...m.values()]
  }
  const fixed = boxesBy(await makeSceneSet({ ...opts, gridJitter: 0 }))
  t.ok(fixed.length > 10, 'many (class, cell) pairs')
  t.ok(fixed.every((v) => v.size === 1), 'gridJitter 0: one box per class and cell')
  const moved = boxesBy(await makeSceneSet(opts))
  t.ok(moved.some((v) => v.size > 1), 'the default jitter moves boxes')
})

t.test('scenes with distractors: 0 hold the asked class alone; the default adds 1–2 others', async (t) => {
  const { base, novel } = splitClasses()
  const opts = { task: 'grounding' as const, count: 20, seed: 8, classes: base, allClasses: [...base, ...novel], grid: 4 }
  const alone = await makeSceneSet({ ...opts, distractors: 0 })
  t.ok(alone.every((s) => (s.meta!.objects as unknown[]).length === 1), 'one object per image')
  const crowd = await makeSceneSet(opts)
  const n = crowd.map((s) => (s.meta!.objects as unknown[]).length)
  t.ok(n.every((k) => k >= 2 && k <= 3) && n.includes(3), `2–3 objects per image (${n.join(',')})`)
})

t.test('scenes with nearMisses: false have distractors that share neither colour nor shape; the default has near misses', async (t) => {
  const { base, novel } = splitClasses()
  const opts = { task: 'grounding' as const, count: 40, seed: 9, classes: base, allClasses: [...base, ...novel], grid: 4 }
  const near = (s: { category?: string; meta?: Record<string, unknown> }): number => {
    const [col, sh] = s.category!.split(' ')
    return (s.meta!.objects as Array<{ label: string }>).filter((o) => o.label !== s.category && (o.label.startsWith(col + ' ') || o.label.endsWith(' ' + sh))).length
  }
  const far = await makeSceneSet({ ...opts, nearMisses: false })
  t.equal(far.reduce((a, s) => a + near(s), 0), 0, 'no distractor shares the colour or the shape')
  t.ok(far.every((s) => (s.meta!.objects as unknown[]).length >= 2), 'still 1–2 distractors per image')
  const dflt = await makeSceneSet(opts)
  t.ok(dflt.reduce((a, s) => a + near(s), 0) > 0, 'the default draws near misses')
})

t.test('scenes with distractorScale draw distractors smaller than the asked class, and reject a scale outside (0, 1] or without a grid', async (t) => {
  const { base, novel } = splitClasses()
  const opts = { task: 'grounding' as const, count: 20, seed: 10, classes: base, allClasses: [...base, ...novel], grid: 4, gridJitter: 0 }
  const sides = (set: Awaited<ReturnType<typeof makeSceneSet>>) => set.map((s) => (s.meta!.objects as Array<{ label: string; box: number[] }>)
    .map((o) => ({ asked: o.label === s.category, side: o.box[2]! - o.box[0]! })))
  const full = sides(await makeSceneSet(opts))
  const half = sides(await makeSceneSet({ ...opts, distractorScale: 0.5 }))
  t.equal(half.length, full.length)
  const r = half.flatMap((objs, i) => objs.map((o, k) => ({ asked: o.asked, ratio: o.side / full[i]![k]!.side })))
  t.ok(r.some((x) => !x.asked) && r.every((x) => x.asked ? x.ratio === 1 : Math.abs(x.ratio - 0.5) < 0.05),
    `the same scenes with distractors at half size, the asked objects unchanged (${r.map((x) => x.ratio.toFixed(2)).join(',')})`)
  for (const bad of [0, 1.5, Number.NaN]) {
    await t.rejects(makeSceneSet({ ...opts, distractorScale: bad }), { code: 'ERR_INVALID_ARG', message: /Expected distractorScale in \(0, 1\]/ }, `distractorScale ${bad}`)
  }
  await t.rejects(makeSceneSet({ ...opts, grid: 0, distractorScale: 0.5 }), { code: 'ERR_INVALID_ARG', message: /Expected grid > 0 with distractorScale 0.5 .* but received grid 0/ }, 'only grid scenes')
})

t.test('scene samples list every object (asked class and distractors) with its box, in reading order', async (t) => {
  const { base, novel } = splitClasses()
  const set = await makeSceneSet({ task: 'detection', count: 20, seed: 6, classes: novel, allClasses: [...base, ...novel], grid: 4, gridJitter: 0 })
  for (const s of set) {
    const objs = s.meta!.objects as Array<{ label: string; box: [number, number, number, number] }>
    t.ok(objs.length >= s.boxes!.length + 1, 'the asked instances and at least one distractor')
    const asked = objs.filter((o) => o.label === s.category).map((o) => o.box.join(',')).sort()
    t.same(asked, s.boxes!.map((b) => b.join(',')).sort(), 'the asked class\'s objects are exactly the truth boxes')
    const key = (o: { box: number[] }) => Math.floor((o.box[1]! + o.box[3]!) / 500) * 4 + Math.floor((o.box[0]! + o.box[2]!) / 500)
    t.ok(objs.every((o, i) => i === 0 || key(objs[i - 1]!) < key(o)), 'top to bottom, then left to right')
  }
  const g = await makeSceneSet({ task: 'grounding', count: 5, seed: 6, classes: base, allClasses: [...base, ...novel] })
  t.ok(g.every((s) => (s.meta!.objects as Array<{ box: number[] }>).some((o) => o.box.join(',') === s.box!.join(','))), 'grounding: the target is among the objects')
})

t.test('grounding scenes: one box, an expression naming the class, relations that hold', async (t) => {
  const { base, novel } = splitClasses()
  const set = await makeSceneSet({ task: 'grounding', count: 30, seed: 4, classes: base, allClasses: [...base, ...novel] })
  t.ok(set.every((s) => s.box && String(s.meta!.expression).startsWith(`the ${s.category}`)))
  t.ok(set.some((s) => / (left of|right of|above|below) the /.test(String(s.meta!.expression))), 'some expressions use a relation')
  const sc = await scoreCompletions(rewardSet('grounding'), set.map(syntheticTarget), set)
  t.ok([...sc.totals].every((v) => Math.abs(v - 2) < 1e-9), 'the target scores iou + format = 2')
  t.equal(relation({ shape: 'circle', color: 'red', cx: 10, cy: 50, r: 5, rot: 0 }, { shape: 'star', color: 'blue', cx: 80, cy: 55, r: 5, rot: 0 }), 'left of')
  t.equal(relation({ shape: 'circle', color: 'red', cx: 50, cy: 90, r: 5, rot: 0 }, { shape: 'star', color: 'blue', cx: 55, cy: 10, r: 5, rot: 0 }), 'below')
  t.equal(relation({ shape: 'circle', color: 'red', cx: 50, cy: 50, r: 5, rot: 0 }, { shape: 'star', color: 'blue', cx: 60, cy: 60, r: 5, rot: 0 }), undefined)
})

t.test('demo data per task: shots of novel classes only, detection shots contain their class', async (t) => {
  for (const task of ['detection', 'grounding', 'classification'] as const) {
    const d = await builtinData({ task, seed: 3, imageSize: 112, warmStartImages: 12, shots: 2, testImages: 6 })
    t.equal(d.shots.length, 8, `${task}: 2 shots × 4 novel classes`)
    t.equal(d.test.length, 6)
    const cls = (s: { category?: string; label?: string }) => s.category ?? s.label
    t.ok(d.base.every((s) => d.classes.base.includes(cls(s)!)), `${task}: warm start on base classes`)
    t.ok([...d.shots, ...d.test].every((s) => d.classes.novel.includes(cls(s)!)), `${task}: shots and test on novel classes`)
    if (task === 'detection') t.ok(d.shots.every((s) => s.boxes!.length > 0))
  }
  // detection's absentShots: that many images per novel class without it (answer No Objects), after the k with it
  const d = await builtinData({ task: 'detection', seed: 3, imageSize: 112, warmStartImages: 12, shots: 2, testImages: 6, absentShots: 1 }, { base: false })
  t.equal(d.shots.length, 12, '2 with + 1 without × 4 novel classes')
  const absent = d.shots.filter((s) => s.boxes!.length === 0)
  t.same(absent.map((s) => s.category).sort(), [...d.classes.novel].sort(), 'one image without each novel class')
  t.ok(absent.every((s) => /No Objects/.test(s.solution)), 'whose solution is No Objects')
  t.same([d.base.length, d.phases.length], [0, 0], 'base: false leaves out the warm-start images')
  t.equal(builtinSettings({ task: 'detection' }).absentShots, 4, 'the detection demo adds 4 per class')
})

t.test('box tasks warm-start in the phases of WARM_START_PHASES: their stages plus their own scenes', async (t) => {
  for (const task of ['detection', 'grounding'] as const) {
    const n = 100
    const d = await builtinData({ task, seed: 3, imageSize: 128, warmStartImages: n, shots: 1, testImages: 2, grid: 4 })
    const phases = WARM_START_PHASES[task]
    t.ok(Math.abs(phases.reduce((a, p) => a + p.steps, 0) - 1) < 1e-9, `${task}: the phases share the steps`)
    t.ok(Math.abs(d.base.length - n) < phases.length, `${task}: about ${n} warm-start images in all (${d.base.length})`)
    t.equal(d.phases.length, phases.length, `${task}: one image set per phase`)
    t.same(d.base.map((s) => s.id), d.phases.flatMap((p) => p.samples).map((s) => s.id), `${task}: base is every phase's images in order`)
    t.same(d.phases.map((p) => p.steps), phases.map((p) => p.steps), `${task}: each phase carries its share of the steps`)
    t.equal(new Set(d.base.map((s) => s.id)).size, d.base.length, `${task}: sample ids are unique`)
    for (const [p, phase] of phases.entries()) {
      const part = d.phases[p]!.samples
      t.equal(part.length, Math.round(phase.images * n), `${task} phase ${p}: its share of the images`)
      for (const [i, m] of phase.stages.entries()) {
        const st = part.filter((s) => s.id.startsWith(`base${p}.${i}-`))
        t.equal(st.length, stageCounts(phase.stages, part.length)[i], `${task} phase ${p} stage ${i}: its share`)
        t.ok(Math.abs(st.length - m.share * part.length) <= 1, `${task} phase ${p} stage ${i}: within one image of its share`)
        t.ok(st.every((s) => s.task === m.task), `stage ${i}: ${m.task} samples`)
        // fixed cells: every object's box centre is the centre of a cell of the stage's grid
        const cell = 1000 / m.grid
        const objs = st.flatMap((s) => (s.meta!.objects as Array<{ box: number[] }>))
        t.ok(objs.every((o) => Math.abs(((o.box[0]! + o.box[2]!) / 2) % cell - cell / 2) < 0.03 * cell), `stage ${i}: objects on the ${m.grid} × ${m.grid} grid`)
        const most = Math.max(...st.map((s) => (s.meta!.objects as unknown[]).length - (s.boxes?.length ?? (s.box ? 1 : 0))))
        t.ok(m.distractors === 0 ? most === 0 : most <= m.distractors, `stage ${i}: at most ${m.distractors} distractors`)
      }
      const own = part.filter((s) => s.id.startsWith(`base${p}-`))
      t.equal(own.length, part.length - stageCounts(phase.stages, part.length).reduce((a, c) => a + c, 0), `${task} phase ${p}: the rest are the task's own scenes`)
      t.ok(own.every((s) => s.task === task))
    }
  }
  const st = (share: number) => ({ task: 'grounding' as const, grid: 4, distractors: 1, share })
  for (const n of [7, 100, 2520, 9001]) {
    const c = stageCounts([st(0.43), st(0.3), st(0.13), st(0.14)], n)
    t.equal(c.reduce((a, b) => a + b, 0), n, `shares that add up to 1 give exactly ${n} images (plain rounding gives 2,521 of 2,520)`)
  }
  t.same(stageCounts([st(0.5)], 10), [5], 'a share below 1 leaves the rest to the own scenes')
  t.equal(WARM_START_PHASES.detection.at(-1)!.stages.filter((m) => m.task === 'detection').length > 0, true, 'detection ends on the detection prompt')
})

t.test('seeds benchmark: mean, sample sd, the 3-sd and beats-SFT verdicts', async (t) => {
  t.same(meanSd([1, 2, 3]), { mean: 2, sd: 1 })
  const run = (seed: number, w: number, g: number, f: number) => ({ task: 'detection' as const, seed, loadBefore: [0], loadAfter: [0], summary: { task: 'detection' as const, headline: 'mAP', metrics: { mAP: { warmStart: w, grpo: g, sft: f } }, seconds: 1, cpuSeconds: 1, warmStartCached: false } })
  const v = verdict([run(1, 0.10, 0.30, 0.12), run(2, 0.11, 0.28, 0.15), run(3, 0.12, 0.31, 0.11)])
  t.ok(Math.abs(v.warm.sd - 0.01) < 1e-12)
  t.equal(v.gainOver3Sd, true)
  t.equal(v.beatsSft, true)
  const w = verdict([run(1, 0.0, 0.30, 0.4), run(2, 0.2, 0.28, 0.4), run(3, 0.1, 0.31, 0.4)])
  t.equal(w.gainOver3Sd, false, 'a gain inside 3 sd of the warm start does not count')
  t.equal(w.beatsSft, false)
  t.equal(verdict([run(1, 0, 1, 0)]).gainOver3Sd, false, 'one seed has no spread: never passes')
  // paired gain per seed, and the same verdict on another metric
  t.ok(Math.abs(v.gain.mean - 0.56 / 3) < 1e-12 && Math.abs(v.gain.sd - meanSd([0.2, 0.17, 0.19]).sd) < 1e-12, `paired gain ${JSON.stringify(v.gain)}`)
  const two = (seed: number, w: number, g: number) => {
    const b = run(seed, 0.5, 0.1, 0.2)
    return { ...b, summary: { ...b.summary, metrics: { ...b.summary.metrics, iouReward: { warmStart: w, grpo: g, sft: 0.3 } } } }
  }
  const r = [two(1, 0.27, 0.33), two(2, 0.28, 0.36), two(3, 0.27, 0.33)]
  t.equal(verdict(r).gainOver3Sd, false, 'the headline (mAP) fell')
  t.equal(verdict(r, 'iouReward').gainOver3Sd, true, 'iouReward gained > 3 sd')
  t.ok(Number.isNaN(verdict(r, 'absent').warm.mean), 'a metric the runs lack is NaN, not 0')
})

t.test('answers drawn: detection boxes and No Objects, grounding box, unreadable answers', async (t) => {
  t.same(answerBoxes('detection', "<think>x</think><answer>[{'Position': [1, 2, 30, 40], 'Confidence': 0.5}]</answer>").boxes, [{ box: [1, 2, 30, 40], confidence: 0.5 }])
  t.equal(answerBoxes('detection', '<answer>No Objects</answer>').caption, 'No Objects')
  t.match(answerBoxes('detection', 'garbage').caption, /unreadable/)
  t.same(answerBoxes('grounding', '<answer>(1,2),(30,40)</answer>').boxes, [{ box: [1, 2, 30, 40] }])
})

if (!nativeAvailable()) {
  t.comment('SKIPPED: the native addon is not built (the shortened demos run the real tiny model)')
  t.test('shortened demos', { skip: 'the native addon is not built' }, async () => {})
} else {
  const inRange = (v: unknown) => typeof v === 'number' && ((v >= 0 && v <= 1) || Number.isNaN(v))
  for (const task of ['detection', 'grounding', 'classification'] as const) {
    t.test(`shortened ${task} demo with its real demo model: summary, metrics in range, chart, pictures`, async (t) => {
      const cache = tempDir('vrft-cache-')
      const out = tempDir('vrft-demo-')
      const logs: string[] = []
      const r = await runBuiltin({
        handleSignals: false, log: (m) => logs.push(m), flags: { task },
        settings: { cacheDir: cache, output: out, quiet: true, warmStartImages: 8, warmStartSteps: 2, warmStartPromptsPerStep: 4, shots: 1, testImages: 6, maxSteps: 1, promptsPerStep: 2, numGenerations: 2, evalEvery: 1, maxCompletionLength: 12, pictures: 2 },
      })
      t.equal(r.step, 1)
      const sum = readSummary(out) as { task: string; headline: string; metrics: Record<string, Record<string, number>>; pictures: string[]; seconds: number; cpuSeconds: number; childCpuSeconds?: number; testImages: number }
      t.equal(sum.task, task)
      const keys = { detection: ['mAP', 'AP50', 'format', 'noObjects', 'iouReward'], grounding: ['mIoU', 'acc50', 'format'], classification: ['accuracy', 'format'] }[task]
      t.same(Object.keys(sum.metrics), keys)
      t.equal(sum.headline, keys[0])
      for (const k of keys) {
        t.same(Object.keys(sum.metrics[k]!).sort(), ['grpo', 'sft', 'warmStart'], `${k}: before, after GRPO, after SFT`)
        // JSON writes NaN (no absent-class image among the test images) as null
        for (const v of Object.values(sum.metrics[k]!)) t.ok(v === null || inRange(v), `${k} = ${v} in [0, 1]`)
      }
      t.ok(inRange(r.before) && inRange(r.afterGrpo) && inRange(r.afterSft))
      t.ok(sum.seconds > 0 && sum.cpuSeconds > 0)
      if (task === 'detection') { // its warm start ran in 2 rank processes: their CPU time is counted too
        t.ok(sum.childCpuSeconds! > 0 && sum.cpuSeconds > sum.childCpuSeconds!, `the warm-start ranks' CPU (${sum.childCpuSeconds} s) is part of cpuSeconds (${sum.cpuSeconds.toFixed(2)} s)`)
      }
      t.equal((await sharp(join(out, 'plots', 'compare.png')).metadata()).format, 'png')
      t.equal(sum.pictures.length, 2)
      for (const p of sum.pictures) {
        t.ok(existsSync(p))
        const m = await sharp(p).metadata()
        t.match(m, { format: 'png', width: PICTURE_WIDTH, height: PICTURE_HEIGHT }, `${p}: a ${PICTURE_WIDTH}×${PICTURE_HEIGHT} PNG`)
      }
      const text = logs.join('\n')
      t.match(text, new RegExp(`built-in demo, task ${task}`))
      t.match(text, /warm start only/)
      t.match(text, /\+ SFT \(same budget\)/)
      t.ok(sum.pictures.every((p) => text.includes(p)), 'the picture paths are printed')
    })
  }

  t.test('detection warm-starts in 2 single-threaded data-parallel processes: the model one process trains, up to rounding; ranks are in the cache key', async (t) => {
    const s = { ...builtinSettings({ task: 'detection' }), cacheDir: tempDir('vrft-cache-'), output: tempDir('vrft-demo-'), quiet: true, seed: 5, warmStartImages: 16, warmStartSteps: 4, warmStartPromptsPerStep: 4, maxCompletionLength: 16 }
    t.equal(builtinSettings({ task: 'detection' }).warmStartRanks, 2, 'detection warm-starts in 2 processes')
    t.equal(builtinSettings({ task: 'grounding' }).warmStartRanks, 1, 'grounding warm-starts in this process (its 3-seed result was measured so)')
    t.equal(builtinSettings({ task: 'classification' }).warmStartRanks, 1, 'classification warm-starts in this process')
    t.not(warmStartKey({ ...s, warmStartRanks: 1 }), warmStartKey({ ...s, warmStartRanks: 2 }), 'the number of ranks is in the cache key')
    await t.rejects(warmStart({ ...s, warmStartRanks: 2, warmStartPromptsPerStep: 5 }, undefined, { log: () => {} }), { code: 'ERR_CONFIG', message: /multiple of its ranks/ })
    const stop = new AbortController()
    const aborted = warmStart({ ...s, warmStartRanks: 2, warmStartSteps: 400, seed: 6 }, undefined, { log: () => {}, signal: stop.signal })
    setTimeout(() => stop.abort(), 1500)
    await t.rejects(aborted, { code: 'ERR_ABORTED' }, 'an abort ends the ranks and the warm start')
    t.same(readdirSync(s.cacheDir), [], 'an interrupted warm start leaves nothing in the cache folder')
    const logs: string[] = []
    const one = await warmStart({ ...s, warmStartRanks: 1 }, undefined, { log: (m) => logs.push(m) })
    const two = await warmStart({ ...s, warmStartRanks: 2 }, undefined, { log: (m) => logs.push(m) })
    t.match(logs.join('\n'), /2 data-parallel single-threaded processes/)
    t.notOk(readdirSync(s.cacheDir).some((f) => f.includes('.tmp-')), 'no temporary folder left behind')
    const init = tempDir('vrft-init-')
    await createTinyModel(init, s.seed, s.model)
    const n = native()
    const file = (d: string) => join(d, 'model.safetensors')
    const read = async (d: string, name: string) => new Float32Array((await n.safetensorsReadTensor(file(d), name, 'F32')).data.slice().buffer)
    let moved = 0, apart = 0
    for (const e of (await n.safetensorsHeader(file(one.dir))).tensors) {
      const [w0, w1, w2] = await Promise.all([read(init, e.name), read(one.dir, e.name), read(two.dir, e.name)])
      for (let i = 0; i < w1.length; i++) { moved += (w1[i]! - w0[i]!) ** 2; apart += (w2[i]! - w1[i]!) ** 2 }
    }
    t.ok(moved > 0, `the warm start moved the weights (|Δ| ${Math.sqrt(moved).toExponential(2)})`)
    t.ok(Math.sqrt(apart) <= 1e-3 * Math.sqrt(moved), `2 ranks vs 1 process: |w2 − w1| ${Math.sqrt(apart).toExponential(2)} ≤ 1e-3 × |w1 − w0|`)
  })

  t.test('VRFT_DEMO_MODEL=boxes: the detection demo warm-starts the Qwen3-VL demo model on 128 px images', async (t) => {
    const saved = process.env.VRFT_DEMO_MODEL
    process.env.VRFT_DEMO_MODEL = 'boxes'
    t.teardown(() => { if (saved === undefined) delete process.env.VRFT_DEMO_MODEL; else process.env.VRFT_DEMO_MODEL = saved })
    const cache = tempDir('vrft-cache-')
    const out = tempDir('vrft-demo-')
    const r = await runBuiltin({
      handleSignals: false, log: () => {}, flags: { task: 'detection' },
      settings: { cacheDir: cache, output: out, quiet: true, warmStartImages: 4, warmStartSteps: 1, warmStartPromptsPerStep: 4, shots: 1, testImages: 4, maxSteps: 1, promptsPerStep: 1, numGenerations: 2, evalEvery: 1, maxCompletionLength: 8, pictures: 1 },
    })
    t.equal(r.step, 1)
    const sum = readSummary(out) as { warmStartModel: string; metrics: Record<string, Record<string, number>> }
    const cfg = JSON.parse(readFileSync(join(sum.warmStartModel, 'config.json'), 'utf8')) as { model_type: string; text_config: { hidden_size: number; num_hidden_layers: number } }
    t.equal(cfg.model_type, 'qwen3_vl')
    t.equal(cfg.text_config.hidden_size, 128)
    t.equal(cfg.text_config.num_hidden_layers, 4)
    const run = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8')) as { model: string; imageSize: number }
    t.same([run.model, run.imageSize], ['boxes', 128])
    t.ok(Object.values(sum.metrics.mAP!).every((v) => inRange(v)))
  })
}
