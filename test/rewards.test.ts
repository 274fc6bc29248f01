// Rewards: format, detection IoU/confidence (matching, τ strict, normalization, empty cases), classification
// (exact, guarded substring), grounding (IoU, GIoU+1), user rewards, scorer errors, advantages.
import { tempDir } from './tmp.js'
import t from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Sample } from '../lib/data/types.js'
import { giou, iou, type Box } from '../lib/rewards/boxes.js'
import { parseDetectionAnswer } from '../lib/rewards/parse.js'
import {
  classificationScore,
  detectionConfidenceScore,
  detectionIoUScore,
  formatReward,
  makeClassificationReward,
  makeDetectionConfidenceReward,
  makeDetectionIoUReward,
  makeGroundingReward,
  matchDetections,
} from '../lib/rewards/rewards.js'
import { loadUserReward, parseRewardSpec, rewardSet, scoreCompletions } from '../lib/rewards/scorer.js'
import { computeAdvantages } from '../lib/rewards/advantages.js'

const sample = (over: Partial<Sample> = {}): Sample => ({ id: 's', image: { path: 'x.jpg' }, problem: 'p', solution: '', ...over })
const det = (list: Array<[Box, number]>) => `<think>t</think> <answer>[${list.map(([b, c]) => `{'Position': [${b.join(', ')}], 'Confidence': ${c}}`).join(', ')}]</answer>`

t.test('format reward: full match, dotall', async (t) => {
  t.equal(formatReward('<think>a\nb</think>\n\n<answer>c\nd</answer>'), 1)
  t.equal(formatReward('<think></think><answer></answer>'), 1)
  t.equal(formatReward(' <think>a</think><answer>c</answer>'), 0, 'text before')
  t.equal(formatReward('<think>a</think><answer>c</answer>\n'), 0, 'text after')
  t.equal(formatReward('<think>a</think>x<answer>c</answer>'), 0, 'text between')
  t.equal(formatReward('<answer>c</answer>'), 0)
  t.equal(formatReward('<think>a</think><answer>c'), 0, 'unclosed')
})

t.test('box geometry', async (t) => {
  t.equal(iou([0, 0, 10, 10], [0, 0, 10, 10]), 1)
  t.equal(iou([0, 0, 10, 10], [5, 0, 15, 10]), 50 / 150)
  t.equal(iou([0, 0, 10, 10], [10, 0, 20, 10]), 0, 'touching')
  t.equal(iou([0, 0, 0, 0], [0, 0, 0, 0]), 0, 'degenerate')
  t.equal(giou([0, 0, 10, 10], [20, 0, 30, 10]), 0 - 10 / 30)
  t.equal(giou([0, 0, 10, 10], [0, 0, 10, 10]), 1)
})

t.test('greedy matching by confidence, τ strict', async (t) => {
  const gt: Box[] = [[0, 0, 100, 100], [200, 200, 300, 300]]
  // the low-confidence box is the better match for gt 0 but the high-confidence one takes it first
  const m = matchDetections([{ box: [0, 0, 100, 100], confidence: 0.2 }, { box: [0, 0, 100, 90], confidence: 0.9 }], gt)
  t.same([...m.confidences], [0.9, 0.2])
  t.same([...m.ious], [0.9, 0], 'gt 0 consumed by the confident box; gt 1 too far for the other')
  // IoU exactly 0.5 is not a match (strict)
  const half = matchDetections([{ box: [0, 0, 100, 50], confidence: 1 }], [[0, 0, 100, 100]])
  t.same([...half.ious], [0])
  const above = matchDetections([{ box: [0, 0, 100, 51], confidence: 1 }], [[0, 0, 100, 100]])
  t.ok(above.ious[0]! > 0.5)
})

t.test('detection IoU and confidence rewards', async (t) => {
  const gt: Box[] = [[0, 0, 100, 100], [200, 200, 300, 300]]
  const p = parseDetectionAnswer("[{'Position': [0, 0, 100, 100], 'Confidence': 0.8}, {'Position': [500, 500, 600, 600], 'Confidence': 0.3}, {'Position': [600, 600, 700, 700], 'Confidence': 0.1}]")
  t.equal(detectionIoUScore(p, gt), 1 / 3, 'max normalization: Σ/max(P,G)')
  t.equal(detectionIoUScore(p, gt, { normalize: 'pred' }), 1 / 3)
  const one = parseDetectionAnswer("[{'Position': [0, 0, 100, 100], 'Confidence': 0.8}]")
  t.equal(detectionIoUScore(one, gt), 0.5, 'missed object punished (max)')
  t.equal(detectionIoUScore(one, gt, { normalize: 'pred' }), 1, 'paper: divide by #pred')
  t.equal(detectionConfidenceScore(p, gt), (0.8 + 0.7 + 0.9) / 3)
  t.equal(detectionIoUScore(p, gt, { threshold: 0.99 }), 1 / 3)
  // empty ground truth cases
  const none = parseDetectionAnswer('No Objects')
  t.equal(detectionIoUScore(none, []), 1, 'no gt + No Objects → 1')
  t.equal(detectionConfidenceScore(none, []), 1)
  t.equal(detectionIoUScore(one, []), 0, 'no gt + boxes → 0')
  t.equal(detectionConfidenceScore(one, []), 1 - 0.8, 'no gt + boxes → mean(1 − c)')
  t.equal(detectionIoUScore(none, gt), 0, 'gt + No Objects → 0')
  t.equal(detectionConfidenceScore(none, gt), 0)
  const bad = parseDetectionAnswer("[{'Position': [0, 0, 100, 100], 'Confidence': NaN}]")
  t.equal(detectionIoUScore(bad, gt), 0, 'NaN confidence → malformed → 0')
  t.equal(detectionConfidenceScore(bad, gt), 0)
})

t.test('detection reward functions read sample boxes or the solution', async (t) => {
  const s = sample({ solution: "<answer>[{'Position': [0, 0, 100, 100], 'Confidence': 1}]</answer>" })
  const c = det([[[0, 0, 100, 100], 0.9]])
  t.equal(makeDetectionIoUReward()(c, s), 1)
  t.equal(makeDetectionConfidenceReward()(c, s), 0.9)
  t.equal(makeDetectionIoUReward()(c, sample({ boxes: [[500, 500, 600, 600]] })), 0, 'structured boxes win')
  t.equal(makeDetectionIoUReward()('<answer>No Objects</answer>', sample({ solution: '<answer>No Objects</answer>' })), 1)
  t.throws(() => makeDetectionIoUReward()(c, sample({ solution: '<answer>garbage</answer>' })), { code: 'ERR_DATA_SOLUTION' })
  // Qwen2.5-VL: clamp to the resized size from meta
  const s25 = sample({ boxes: [[0, 0, 640, 480]], meta: { resizedWidth: 640, resizedHeight: 480 } })
  t.equal(makeDetectionIoUReward()(det([[[0, 0, 900, 700], 0.9]]), s25), 1)
})

t.test('classification: exact default, guarded substring option', async (t) => {
  t.equal(classificationScore('Great_Pyrenees', 'great pyrenees'), 1)
  t.equal(classificationScore('pyrenees', 'great pyrenees'), 0, 'exact by default')
  t.equal(classificationScore('', 'x'), 0)
  const sub = { mode: 'substring' as const }
  t.equal(classificationScore('pyrenees', 'great pyrenees', sub), 1, 'pred ⊂ gt')
  t.equal(classificationScore('a great pyrenees', 'great pyrenees', sub), 1, 'gt ⊂ pred')
  t.equal(classificationScore('', 'great pyrenees', sub), 0, 'empty answer never scores')
  t.equal(classificationScore('beagle or great pyrenees', 'great pyrenees', sub), 0, '"or" list refused')
  t.equal(classificationScore('beagle, great pyrenees', 'great pyrenees', sub), 0, 'comma list refused')
  const classes = ['beagle', 'great pyrenees', 'pug', 'boeing 737', 'boeing 737-800']
  t.equal(classificationScore('beagle great pyrenees', 'great pyrenees', { ...sub, classes }), 0, 'two class names refused')
  t.equal(classificationScore('boeing 737-800', 'boeing 737', { ...sub, classes }), 0, 'names another (longer) class')
  t.equal(classificationScore('boeing 737-800', 'boeing 737-800', { ...sub, classes }), 1, 'nested class names are fine')
  t.equal(classificationScore('boeing', 'boeing 737', { ...sub, classes }), 0, 'part of several class names refused')
  t.equal(classificationScore('pyrenees', 'great pyrenees', { ...sub, classes }), 1)
  const r = makeClassificationReward({ mode: 'substring' })
  t.equal(r('<answer>pug or beagle</answer>', sample({ solution: '<answer>pug</answer>', classes })), 0, 'reference hack refused')
  t.equal(r('<answer>pug</answer>', sample({ solution: '<answer>pug</answer>' })), 1)
  t.equal(makeClassificationReward()('pug', sample({ label: 'Pug' })), 1, 'no tag: whole completion')
})

t.test('grounding: IoU default, GIoU+1 option', async (t) => {
  const s = sample({ solution: '<answer>(0,0),(100,100)</answer>' })
  const r = makeGroundingReward()
  t.equal(r('<think>x</think><answer>(0,0),(100,100)</answer>', s), 1)
  t.equal(r('<answer>[0, 0, 100, 50]</answer>', s), 0.5)
  t.equal(r('<answer>nothing</answer>', s), 0)
  const g = makeGroundingReward({ mode: 'giou' })
  t.equal(g('<answer>(0,0),(100,100)</answer>', s), 2, 'exact string → 2')
  t.equal(g('<answer>(200,0),(300,100)</answer>', s), 1 + (0 - 100 / 300))
  t.equal(g('<answer>none</answer>', s), 0)
  t.equal(r('<answer>(1,1),(2,2)</answer>', sample({ box: [1, 1, 2, 2] })), 1, 'structured box')
})

t.test('reward sets, weighted totals, components, errors', async (t) => {
  const s = sample({ boxes: [[0, 0, 100, 100]] })
  const set = rewardSet('detection')
  t.same(set.map((r) => r.name), ['iou', 'confidence', 'format'])
  t.same(rewardSet('classification').map((r) => r.name), ['accuracy', 'format'])
  t.same(rewardSet('grounding', { grounding: { mode: 'giou' } }).map((r) => r.name), ['giou', 'format'])
  const res = await scoreCompletions(set, [det([[[0, 0, 100, 100], 0.9]]), 'junk'], [s, s])
  t.same([...res.components.iou!], [1, 0])
  t.same([...res.components.confidence!], [0.9, 0])
  t.same([...res.components.format!], [1, 0])
  t.same([...res.totals], [2.9, 0])
  const weighted = await scoreCompletions([{ ...set[0]!, weight: 2 }, { name: 'async', fn: async () => 0.25, weight: -1 }], [det([[[0, 0, 100, 100], 0.9]])], [s])
  t.same([...weighted.totals], [1.75])
  const throwing = [{ name: 'boom', fn: () => { throw new Error('bad') }, weight: 1 }, { name: 'nan', fn: () => NaN, weight: 1 }]
  await t.rejects(scoreCompletions(throwing.slice(0, 1), ['x'], [s]), { code: 'ERR_REWARD', message: /"boom".*bad/ })
  await t.rejects(scoreCompletions(throwing.slice(1), ['x'], [s]), { code: 'ERR_REWARD', message: /"nan".*NaN/ })
  await t.rejects(scoreCompletions([{ name: 'rej', fn: () => Promise.reject(new Error('no')), weight: 1 }], ['x'], [s]), { code: 'ERR_REWARD', message: /"rej"/ })
  const skipped = await scoreCompletions([...throwing, { name: 'ok', fn: () => 1, weight: 1 }], ['x', 'y'], [s, s], { onError: 'skip' })
  t.same(skipped.errors, { boom: 2, nan: 2, ok: 0 })
  t.same([...skipped.totals], [1, 1])
  await t.rejects(scoreCompletions(set, ['x'], []), { code: 'ERR_INVALID_ARG' })
})

t.test('user rewards from a module path', async (t) => {
  const dir = tempDir('vrft-reward-')
  writeFileSync(join(dir, 'r.mjs'), 'export function brevity(c) { return c.length < 10 ? 1 : 0 }\nexport default async (c, s) => s.id === "s" ? 0.5 : 0\nexport const notFn = 3\n')
  const b = await loadUserReward('./r.mjs:brevity', { cwd: dir, weight: 0.5 })
  t.equal(b.name, 'user:brevity')
  t.equal(b.weight, 0.5)
  const d = await loadUserReward(join(dir, 'r.mjs'))
  const res = await scoreCompletions([b, d], ['short'], [sample()])
  t.same([...res.totals], [0.5 * 1 + 0.5])
  await t.rejects(loadUserReward('./r.mjs:notFn', { cwd: dir }), { code: 'ERR_REWARD_LOAD' })
  await t.rejects(loadUserReward('./missing.mjs:x', { cwd: dir }), { code: 'ERR_REWARD_LOAD' })
  t.same(parseRewardSpec('./r.js:brevity=0.5'), { spec: './r.js:brevity', weight: 0.5 })
  t.same(parseRewardSpec('./r.js'), { spec: './r.js', weight: 1 })
})

t.test('advantages', async (t) => {
  const r = [1, 2, 3, 4, 0, 0, 0, 0]
  const a = computeAdvantages(r, 4)
  const std = Math.sqrt(((1.5 ** 2) * 2 + 0.5 ** 2 * 2) / 3)
  t.ok(Math.abs(a[0]! - -1.5 / (std + 1e-4)) < 1e-12, 'unbiased std per group')
  t.same([...a.slice(4)], [0, 0, 0, 0], 'constant group → 0')
  const b = computeAdvantages(r, 4, { scale: 'batch' })
  const m = 10 / 8
  const bstd = Math.sqrt(r.reduce((s, x) => s + (x - m) ** 2, 0) / 7)
  t.ok(Math.abs(b[0]! - -1.5 / (bstd + 1e-4)) < 1e-12, 'batch std, group mean')
  t.same([...computeAdvantages(r, 4, { scale: 'none' })], [-1.5, -0.5, 0.5, 1.5, 0, 0, 0, 0])
  t.same([...computeAdvantages([3, 5], 1)], [0, 0], 'group of one → 0, not NaN')
  t.throws(() => computeAdvantages([1, 2, 3], 2), { code: 'ERR_INVALID_ARG' })
  t.throws(() => computeAdvantages([1, NaN], 2), { code: 'ERR_INVALID_ARG' })
})
