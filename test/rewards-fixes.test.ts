// Regression tests of rewards that once scored wrong (issue 21): positions read after a length-changing
// case fold, duplicate ground-truth boxes kept from solutions as from sample.boxes, the grounding reward's
// Qwen2.5-VL clamp, substring classification answers naming several classes without a class list, and the
// parquet reader setting the class list of a classification set. Run: npx tap test/rewards-fixes.test.ts
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { join } from 'node:path'
import type { Sample } from '../lib/data/types.js'
import { openParquet } from '../lib/data/parquet.js'
import { evaluateCompletions } from '../lib/eval/evaluate.js'
import { parseDetectionCompletion } from '../lib/rewards/parse.js'
import {
  classificationScore, detectionTruth, makeClassificationReward, makeDetectionIoUReward, makeGroundingReward,
} from '../lib/rewards/rewards.js'
import { tempDir } from './tmp.js'

const S = (over: Partial<Sample>): Sample => ({ id: 's', image: { path: 'x.jpg' }, problem: '', solution: '', ...over })

t.test('a length-changing case fold (İ → i̇, two code units) shifts no position', async (t) => {
  t.equal('İ'.toLowerCase().length, 2, 'the premise: full lower-casing makes İ two code units')
  // İ in the text before the second object: that object once read as malformed
  const two = parseDetectionCompletion(`<answer>[{'Position': [10, 20, 30, 40], 'Confidence': 0.9, 'note': 'İİİİ'}, {'Position': [100, 100, 200, 200], 'Confidence': 0.5}]</answer>`)
  t.same(two, { kind: 'boxes', boxes: [{ box: [10, 20, 30, 40], confidence: 0.9 }, { box: [100, 100, 200, 200], confidence: 0.5 }], truncated: false, duplicates: 0 })
  // İ just before the key: the confidence 1.0 was once read one place late, as .0
  const one = parseDetectionCompletion(`<answer>[{'İ': 1, 'Confidence': 1.0, 'Position': [1, 2, 3, 4]}]</answer>`)
  t.same(one.kind === 'boxes' ? one.boxes[0] : one, { box: [1, 2, 3, 4], confidence: 1 })
  // keys in any ASCII case still match
  const upper = parseDetectionCompletion(`<answer>[{'POSITION': [1, 2, 3, 4], 'CONFIDENCE': 2.5E-1}]</answer>`)
  t.same(upper.kind === 'boxes' ? upper.boxes[0] : upper, { box: [1, 2, 3, 4], confidence: 0.25 })
})

t.test('duplicate ground-truth boxes count the same from a solution and from sample.boxes', async (t) => {
  const box = `{'Position': [0, 0, 100, 100], 'Confidence': 1}`
  const fromSolution = S({ solution: `<answer>[${box}, ${box}]</answer>` })
  const fromBoxes = S({ boxes: [[0, 0, 100, 100], [0, 0, 100, 100]] })
  t.equal(detectionTruth(fromSolution).length, 2, 'both kept from the solution')
  t.same(detectionTruth(fromSolution), detectionTruth(fromBoxes))
  // one matching prediction of two truths: R_IoU = 1 / max(1, 2) either way
  const r = makeDetectionIoUReward()
  const answer = `<answer>[{'Position': [0, 0, 100, 100], 'Confidence': 0.9}]</answer>`
  t.equal(r(answer, fromSolution), 0.5)
  t.equal(r(answer, fromBoxes), 0.5)
  // evaluation built from solutions counts both too: one TP of two boxes → recall 1/2, AP < 1
  const ev = evaluateCompletions('detection', [{ ...fromSolution, category: 'x' }], [answer])
  t.ok(ev.task === 'detection' && ev.AP > 0 && ev.AP < 1, 'AP of one detection for two boxes is below 1')
  // predictions are still deduplicated (a repeated box earns nothing twice)
  const dup = parseDetectionCompletion(`<answer>[${box}, ${box}]</answer>`)
  t.equal(dup.kind === 'boxes' ? dup.duplicates : -1, 1)
})

t.test('grounding reward: Qwen2.5-VL coordinates clamp to the resized image, not 1000', async (t) => {
  // resized image 1400 × 700 pixels; the truth and the answer lie beyond x = 1000
  const s = S({ box: [1100, 100, 1300, 300], meta: { resizedWidth: 1400, resizedHeight: 700 } })
  const r = makeGroundingReward()
  t.equal(r('<answer>[1100, 100, 1300, 300]</answer>', s), 1, 'exact answer scores 1 (was clamped to x ≤ 1000: IoU 0)')
  t.equal(r('<answer>[1100, 100, 1500, 300]</answer>', { ...s, box: [1100, 100, 1400, 300] }), 1, 'clamped at the resized width 1400')
  // Qwen2-VL samples (no resized size) keep the 0–1000 grid
  t.equal(r('<answer>[0, 0, 2000, 1000]</answer>', S({ box: [0, 0, 1000, 1000] })), 1)
  // evaluation uses the same limits
  const ev = evaluateCompletions('grounding', [s], ['<answer>[1100, 100, 1300, 300]</answer>'])
  t.ok(ev.task === 'grounding' && ev.mIoU === 1)
})

t.test('substring classification refuses answers naming more than one class, even without a class list', async (t) => {
  const sub = { mode: 'substring' as const }
  t.equal(classificationScore('cat dog', 'cat', sub), 0, 'cat dog')
  t.equal(classificationScore('cat|dog', 'cat', sub), 0, 'cat|dog')
  t.equal(classificationScore('dog cat', 'cat', sub), 0, 'dog cat')
  t.equal(classificationScore('black/white cat/dog', 'black/white cat', sub), 0, 'separator that the label also holds')
  t.equal(classificationScore('black/white cat', 'black/white cat', sub), 1, 'the label itself')
  t.equal(classificationScore('This is a photo of a cat.', 'cat', sub), 1, 'filler words around the label')
  t.equal(classificationScore('cats', 'cat', sub), 1, 'plural')
  t.equal(classificationScore('pyrenees', 'great pyrenees', sub), 1, 'a whole word of the label')
  t.equal(classificationScore('pyr', 'great pyrenees', sub), 0, 'a piece of a word')
  t.equal(classificationScore('catdog', 'cat', sub), 0, 'glued names')
  // with a class list, words that name no class are fine
  const classes = ['cat', 'dog', 'great pyrenees']
  t.equal(classificationScore('a great pyrenees dog', 'great pyrenees', sub), 0, 'without a list, any other word might be a class')
  t.equal(classificationScore('a great pyrenees puppy', 'great pyrenees', { ...sub, classes }), 1, 'with the list: "puppy" names no class')
  t.equal(classificationScore('cat dog', 'cat', { ...sub, classes }), 0, 'with the list')
  t.equal(makeClassificationReward(sub)('<answer>cat dog</answer>', S({ label: 'cat' })), 0, 'reward function')
})

t.test('parquet: a classification set gets its labels as the class list', async (t) => {
  const f = join(tempDir('vrft-parq-'), 'cls.parquet')
  const code = `import { parquetWriteBuffer } from 'hyparquet-writer'; import { writeFileSync } from 'node:fs';
writeFileSync(${JSON.stringify(f)}, Buffer.from(parquetWriteBuffer({ rowGroupSize: 2, schema: [
  { name: 'root', num_children: 3 },
  { name: 'image', repetition_type: 'OPTIONAL', num_children: 2 },
  { name: 'bytes', type: 'BYTE_ARRAY', repetition_type: 'OPTIONAL' },
  { name: 'path', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'problem', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
  { name: 'solution', type: 'BYTE_ARRAY', converted_type: 'UTF8', repetition_type: 'OPTIONAL' },
], columnData: [
  { name: 'image', data: [0, 1, 2].map((i) => ({ bytes: new Uint8Array([0xff, 0xd8, i]), path: i + '.jpg' })) },
  { name: 'problem', data: ['q', 'q', 'q'] },
  { name: 'solution', data: ['<answer>dog</answer>', '<answer> cat </answer>', '<answer>dog</answer>'] },
] })))`
  const env = { ...process.env }
  delete env.NODE_OPTIONS
  execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: new URL('..', import.meta.url).pathname, env })
  const ds = await openParquet(f, { task: 'classification' })
  t.same((await ds.get(0)).classes, ['cat', 'dog'])
  t.same((await ds.get(2)).classes, ['cat', 'dog'])
  t.equal((await openParquet(f)).length, 3)
  t.equal((await (await openParquet(f)).get(0)).classes, undefined, 'task unknown: labels unknown')
  t.same((await (await openParquet(f, { task: 'classification', classes: ['a', 'b'] })).get(1)).classes, ['a', 'b'], 'given classes win')
  // the guard then applies: 'cat dog' names two of the set's labels
  const s = await ds.get(1)
  t.equal(makeClassificationReward({ mode: 'substring' })('<answer>cat, dog</answer>', s), 0)
  t.equal(makeClassificationReward({ mode: 'substring' })('<answer>a cat</answer>', s), 1)
})
