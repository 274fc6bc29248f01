// Evaluation from completions (detection/classification/grounding), results files (atomic write, scoring
// without a model, JSONL of completions), report table.
import { tempDir } from './tmp.js'
import t from 'tap'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Sample } from '../lib/data/types.js'
import type { CocoDataset, CocoDetection } from '../lib/eval/cocoeval.js'
import { detectionsFromCompletions, evaluateCompletions, scoreResultsFile, writeCocoResults } from '../lib/eval/evaluate.js'
import { formatReport } from '../lib/eval/report.js'

const fx = new URL('./fixtures/coco/', import.meta.url)
const gtPath = new URL('gt.json', fx).pathname
const gt = JSON.parse(readFileSync(gtPath, 'utf8')) as CocoDataset
const dt = JSON.parse(readFileSync(new URL('dt.json', fx), 'utf8')) as CocoDetection[]
const ex = JSON.parse(readFileSync(new URL('expected.json', fx), 'utf8')) as { stats: number[]; cats_1_7_stats: number[] }
const tmp = tempDir('vrft-eval-')
const S = (over: Partial<Sample>): Sample => ({ id: 'x', image: { path: 'i.jpg' }, problem: '', solution: '', ...over })

t.test('results file: atomic write, then scored without a model = pycocotools numbers', async (t) => {
  const out = join(tmp, 'results.json')
  await writeCocoResults(out, dt)
  t.same(readdirSync(tmp).filter((f) => f.includes('.tmp')), [], 'no temp file left')
  const r = await scoreResultsFile(gtPath, out)
  r.stats.forEach((v, i) => t.ok(Math.abs(v - ex.stats[i]!) < 1e-6, `stat ${i}`))
  const r2 = await scoreResultsFile(gtPath, out, { classes: ['bus', 7] })
  t.ok(Math.abs(r2.AP - ex.cats_1_7_stats[0]!) < 1e-6, 'classes by name or id')
  await t.rejects(scoreResultsFile(gtPath, out, { classes: ['zebra'] }), { code: 'ERR_EVAL_INPUT' })
  writeFileSync(join(tmp, 'bad.json'), '[{"image_id": 1}]')
  await t.rejects(scoreResultsFile(gtPath, join(tmp, 'bad.json')), { code: 'ERR_EVAL_INPUT' })
  await t.rejects(scoreResultsFile(join(tmp, 'nope.json'), out), { code: 'ERR_DATA_COCO' })
  await t.rejects(writeCocoResults(join(tmp, 'no-such-dir', 'r.json'), dt), { code: 'ERR_EVAL_WRITE' })
})

// Turn the fixture detections into Qwen2-VL completions (0–1000 grid), one per (image, category).
const imgs = new Map(gt.images.map((i) => [i.id, i]))
function completionsFromDt(): { samples: Sample[]; completions: string[] } {
  const groups = new Map<string, CocoDetection[]>()
  for (const d of dt) {
    const k = `${d.image_id}:${d.category_id}`
    groups.set(k, [...(groups.get(k) ?? []), d])
  }
  const samples: Sample[] = []
  const completions: string[] = []
  for (const img of gt.images) {
    for (const c of gt.categories) {
      const ds = groups.get(`${img.id}:${c.id}`) ?? []
      const W = img.width!, H = img.height!
      const body = ds.length === 0 ? 'No Objects' : `[${ds.map((d) => `{'Position': [${[d.bbox[0] / W * 1000, d.bbox[1] / H * 1000, (d.bbox[0] + d.bbox[2]) / W * 1000, (d.bbox[1] + d.bbox[3]) / H * 1000].join(', ')}], 'Confidence': ${d.score}}`).join(', ')}]`
      samples.push(S({ id: `${img.id}:${c.id}`, meta: { imageId: img.id, categoryId: c.id } }))
      completions.push(`<think>...</think><answer>${body}</answer>`)
    }
  }
  return { samples, completions }
}

t.test('detection from completions: boxes mapped back to pixels', async (t) => {
  const { samples, completions } = completionsFromDt()
  const { detections, malformed } = detectionsFromCompletions(samples, completions, { images: imgs })
  t.equal(malformed, 0)
  t.equal(detections.length, dt.length - 1, 'one exact duplicate box dropped by the parser')
  const r = evaluateCompletions('detection', samples, completions, { groundTruth: gt, catIds: gt.categories.map((c) => c.id) })
  t.equal(r.task, 'detection')
  // Boxes whose corners fall outside the image are clamped to it by the parser, and one duplicate is dropped,
  // so the numbers are close to but not exactly the results-file ones.
  if (r.task === 'detection') t.ok(Math.abs(r.AP - ex.stats[0]!) < 0.03, `AP ${r.AP} ≈ ${ex.stats[0]}`)
  t.throws(() => detectionsFromCompletions([S({})], ['x']), { code: 'ERR_EVAL_INPUT' })
  const jsonl = join(tmp, 'completions.jsonl')
  writeFileSync(jsonl, samples.map((s, i) => JSON.stringify({ image_id: s.meta!.imageId, category_id: s.meta!.categoryId, completion: completions[i] })).join('\n') + '\n')
  const fromFile = await scoreResultsFile(gtPath, jsonl)
  if (r.task === 'detection') t.equal(fromFile.AP, r.AP, 'JSONL of raw completions scores the same')
  writeFileSync(join(tmp, 'broken.jsonl'), '{"image_id": 1, "category_id": 1, "completion": "x"}\n{oops\n')
  await t.rejects(scoreResultsFile(gtPath, join(tmp, 'broken.jsonl')), { code: 'ERR_EVAL_INPUT', message: /broken\.jsonl:2/ })
  t.match(formatReport(r), /class\s+AP\s+AP50\s+AP75/)
})

t.test('detection without a COCO file: ground truth from the solutions', async (t) => {
  const samples = [
    S({ id: 'a', image: { path: 'a.jpg' }, category: 'cat', solution: "<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 1}]</answer>" }),
    S({ id: 'b', image: { path: 'b.jpg' }, problem: "Detect all objects belonging to the category 'dog' in the image", solution: '<answer>No Objects</answer>' }),
  ]
  const r = evaluateCompletions('detection', samples, ["<answer>[{'Position': [100, 100, 500, 500], 'Confidence': 0.9}]</answer>", '<answer>No Objects</answer>'])
  if (r.task !== 'detection') throw new Error('task')
  t.ok(Math.abs(r.AP - 1) < 1e-12, 'AP 1 (pycocotools gives 1/(1+eps) too)')
  t.same(r.perClass.map((c) => [c.name, c.AP === -1 ? -1 : Math.round(c.AP * 1e6) / 1e6]), [['cat', 1], ['dog', -1]])
  // Qwen2.5-VL: solution and answer in resized pixels (500×250 for a 1000×500 image)
  const s25 = S({ id: 'c', category: 'cat', solution: "<answer>[{'Position': [100, 100, 300, 200], 'Confidence': 1}]</answer>", meta: { width: 1000, height: 500, resizedWidth: 500, resizedHeight: 250 } })
  const good = evaluateCompletions('detection', [s25], ["<answer>[{'Position': [100, 100, 300, 200], 'Confidence': 0.9}]</answer>"], { family: 'qwen2.5-vl' })
  const off = evaluateCompletions('detection', [s25], ["<answer>[{'Position': [200, 100, 400, 200], 'Confidence': 0.9}]</answer>"], { family: 'qwen2.5-vl' })
  if (good.task === 'detection' && off.task === 'detection') {
    t.ok(Math.abs(good.AP - 1) < 1e-12, 'pixel boxes round-trip')
    t.equal(off.AP, 0, 'shifted box misses')
  }
  t.throws(() => evaluateCompletions('detection', [S({ category: 'cat' })], ['x'], { family: 'qwen2.5-vl' }), { code: 'ERR_EVAL_INPUT' })
  t.throws(() => evaluateCompletions('detection', [S({ category: 'cat', solution: '<answer>??</answer>' })], ['x']), { code: 'ERR_DATA_SOLUTION' })
})

t.test('classification accuracy overall and per class', async (t) => {
  const samples = [S({ label: 'pug' }), S({ label: 'pug' }), S({ solution: '<answer>beagle</answer>' }), S({ label: 'beagle' })]
  const r = evaluateCompletions('classification', samples, ['<answer>Pug</answer>', '<answer>beagle</answer>', 'beagle', '<answer>pug or beagle</answer>'])
  if (r.task !== 'classification') throw new Error('task')
  t.equal(r.accuracy, 0.5)
  t.same(r.perClass, [{ label: 'beagle', samples: 2, correct: 1, accuracy: 0.5 }, { label: 'pug', samples: 2, correct: 1, accuracy: 0.5 }])
  t.match(formatReport(r), /overall\s+4\s+2\s+50\.0/)
})

t.test('grounding mIoU and IoU ≥ 0.5 share', async (t) => {
  const s = S({ solution: '<answer>(0,0),(100,100)</answer>' })
  const r = evaluateCompletions('grounding', [s, s, s], ['<answer>(0,0),(100,100)</answer>', '<answer>[0, 0, 100, 40]</answer>', 'none'])
  if (r.task !== 'grounding') throw new Error('task')
  t.ok(Math.abs(r.mIoU - 1.4 / 3) < 1e-12)
  t.equal(r.iou50, 1 / 3)
  t.equal(r.noBox, 1)
  t.match(formatReport(r), /mIoU/)
})
