// LVIS federated AP parity: evaluateLvis against lvis-api's own numbers on a fixture world (made by
// test/fixtures/lvis/make_expected.py with lvis-api) and against its rules on hand-made cases, one rule each: negative vs unverified images, not-exhaustive classes, frequency groups,
// score ties, the per-image cap, the `ignore` flag, zero areas, area ranges; plus agreement with the
// pycocotools-checked COCO evaluator where the two protocols coincide, the results-file / CLI path
// (auto-detection, --json keys, named class lists) and the input errors.
// Expected numbers are derived in the comments: with exact boxes (IoU 1) every IoU threshold gives the same
// curve, and the 101-point interpolated AP of a curve is the mean over recall thresholds r ∈ linspace(0, 1, 101)
// of the best precision at recall ≥ r. Run: npx tap test/eval-lvis.test.ts
import t from 'tap'
import { spawn } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { evaluateCoco, linspace, type CocoDataset, type CocoDetection } from '../lib/eval/cocoeval.js'
import { LVIS_MAX_DETS, evaluateLvis, isLvisDataset } from '../lib/eval/lvis.js'
import { evaluateCompletions, resolveCategories, scoreResultsFile } from '../lib/eval/evaluate.js'
import { LVIS_FEWSHOT_6, LVIS_RARE_13 } from '../lib/classes.js'
import type { Sample } from '../lib/data/types.js'
import { tempDir } from './tmp.js'

type B = [number, number, number, number]
const A: B = [0, 0, 200, 200] // a large box (area 40,000)
const FAR: B = [600, 600, 200, 200] // overlaps nothing near the origin
const EPS = 1e-9
/** Share of the 101 recall thresholds at or below `rc` (where a curve reaching recall rc is defined). */
const upTo = (rc: number): number => linspace(0, 1, 101).filter((r) => r <= rc).length / 101

interface Img { id: number; neg?: number[]; nel?: number[] }
function lvis(images: Img[], cats: Array<{ id: number; frequency?: string }>, anns: Array<{ img: number; cat: number; bbox: B; ignore?: number; iscrowd?: number; area?: number }>): CocoDataset {
  return {
    images: images.map((i) => ({ id: i.id, width: 1000, height: 1000, neg_category_ids: i.neg ?? [], not_exhaustive_category_ids: i.nel ?? [] })),
    categories: cats.map((c) => ({ id: c.id, name: `class_${c.id}`, ...(c.frequency ? { frequency: c.frequency } : {}) })),
    annotations: anns.map((a, k) => ({
      id: k + 1, image_id: a.img, category_id: a.cat, bbox: a.bbox, area: a.area ?? a.bbox[2] * a.bbox[3],
      ...(a.ignore !== undefined ? { ignore: a.ignore } : {}), ...(a.iscrowd !== undefined ? { iscrowd: a.iscrowd } : {}),
    })),
  }
}
const det = (image_id: number, category_id: number, bbox: B, score: number): CocoDetection => ({ image_id, category_id, bbox, score })
const near = (t: { ok: (v: boolean, m: string) => unknown }, got: number, want: number, msg: string): void => { t.ok(Math.abs(got - want) < EPS, `${msg}: ${got} vs ${want}`) }

t.test('negative vs unverified images (LVISEval._prepare: img_nl / img_pl)', async (t) => {
  // image 1 has the class, image 2 lists it as negative, image 3 says nothing about it
  const gt = lvis([{ id: 1 }, { id: 2, neg: [1] }, { id: 3 }], [{ id: 1, frequency: 'f' }], [{ img: 1, cat: 1, bbox: A }])
  const dts = [det(3, 1, A, 0.95), det(2, 1, A, 0.9), det(1, 1, A, 0.8)]
  const r = evaluateLvis(gt, dts)
  // image 3's detection is dropped; then FP (0.9, image 2), TP (0.8): precision 1/2 at recall 1, so 1/2 at every threshold
  near(t, r.AP, 1 / 2, 'AP')
  t.same(r.dropped, { overCap: 0, unverified: 1, zeroArea: 0 })
  // COCO counts all three: FP, FP, TP → 1/3; the federated rule is what makes the difference
  near(t, evaluateCoco(gt, dts).AP, 1 / 3, 'COCO AP of the same data')
  // without the negative listing, image 2 is unverified too: only the TP is left → 1
  near(t, evaluateLvis(lvis([{ id: 1 }, { id: 2 }, { id: 3 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }]), dts).AP, 1, 'no negatives')
})

t.test('not-exhaustive classes: unmatched detections ignored, matched ones count (LVISEval.evaluate_img, img_nel)', async (t) => {
  const dts = [det(1, 1, FAR, 0.9), det(1, 1, A, 0.8)]
  const ex = evaluateLvis(lvis([{ id: 1, nel: [1] }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }]), dts)
  // the unmatched 0.9 is ignored, the 0.8 is a TP: precision 1 at recall 1 → 1
  near(t, ex.AP, 1, 'not exhaustive')
  // exhaustive: FP then TP → 1/2
  near(t, evaluateLvis(lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }]), dts).AP, 1 / 2, 'exhaustive')
  // not exhaustive on image 1 only: a FP on image 2 (negative) still counts: ignored 0.9, FP 0.85, TP 0.8 → 1/2
  const two = lvis([{ id: 1, nel: [1] }, { id: 2, neg: [1] }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }])
  near(t, evaluateLvis(two, [...dts, det(2, 1, A, 0.85)]).AP, 1 / 2, 'other images unaffected')
})

t.test('frequency groups r/c/f, classes without ground truth left out (LVISEval._prepare_freq_group, summarize)', async (t) => {
  const gt = lvis([{ id: 1, neg: [5] }], [{ id: 1, frequency: 'r' }, { id: 2, frequency: 'c' }, { id: 3, frequency: 'f' }, { id: 4 }, { id: 5, frequency: 'r' }],
    [1, 2, 3, 4].map((cat) => ({ img: 1, cat, bbox: A })))
  const dts = [
    det(1, 1, A, 0.9), // class 1: TP → 1
    det(1, 2, FAR, 0.9), det(1, 2, A, 0.8), // class 2: FP, TP → 1/2
    // class 3: no detection → 0
    det(1, 4, A, 0.5), // class 4 (no frequency): TP → 1
    det(1, 5, A, 0.5), // class 5: negative, no ground truth anywhere → -1, left out of every mean
  ]
  const r = evaluateLvis(gt, dts)
  const ap = new Map(r.perClass.map((c) => [c.catId, c.AP]))
  near(t, ap.get(1)!, 1, 'class 1'); near(t, ap.get(2)!, 1 / 2, 'class 2'); near(t, ap.get(3)!, 0, 'class 3'); near(t, ap.get(4)!, 1, 'class 4')
  t.equal(ap.get(5), -1, 'class without ground truth')
  near(t, r.APr, 1, 'APr = class 1 (class 5 is -1)')
  near(t, r.APc, 1 / 2, 'APc = class 2')
  near(t, r.APf, 0, 'APf = class 3')
  near(t, r.AP, (1 + 1 / 2 + 0 + 1) / 4, 'AP = mean over classes with ground truth, frequency or not')
  t.equal(r.perClass.find((c) => c.catId === 2)!.frequency, 'c')
  const sub = evaluateLvis(gt, dts, { catIds: [3, 2] })
  near(t, sub.AP, (1 / 2 + 0) / 2, 'subset AP')
  t.equal(sub.APr, -1, 'no rare class in the subset')
  near(t, sub.APc, 1 / 2, 'subset APc')
})

t.test('score ties: across images by image id, within an image by file order (stable mergesort)', async (t) => {
  // the FP's image has the lower id: FP first whatever the file order → 1/2
  const fpFirst = lvis([{ id: 1, neg: [1] }, { id: 2 }], [{ id: 1 }], [{ img: 2, cat: 1, bbox: A }])
  near(t, evaluateLvis(fpFirst, [det(2, 1, A, 0.5), det(1, 1, A, 0.5)]).AP, 1 / 2, 'FP on the lower image id')
  // the TP's image has the lower id: TP first → 1
  const tpFirst = lvis([{ id: 1 }, { id: 2, neg: [1] }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }])
  near(t, evaluateLvis(tpFirst, [det(2, 1, A, 0.5), det(1, 1, A, 0.5)]).AP, 1, 'TP on the lower image id')
  // one image, two ground-truth boxes, a FP and a TP with the same score
  const one = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }, { img: 1, cat: 1, bbox: [300, 0, 200, 200] }])
  // file order FP, TP: precision 1/2 reached at recall 1/2 → 1/2 on the thresholds r ≤ 1/2
  near(t, evaluateLvis(one, [det(1, 1, FAR, 0.5), det(1, 1, A, 0.5)]).AP, upTo(0.5) / 2, 'FP first in the file')
  // file order TP, FP: precision 1 at recall 1/2 → 1 on r ≤ 1/2
  near(t, evaluateLvis(one, [det(1, 1, A, 0.5), det(1, 1, FAR, 0.5)]).AP, upTo(0.5), 'TP first in the file')
})

t.test('per-image cap over all classes, before the federated rule (LVISResults.limit_dets_per_image)', async (t) => {
  // image 1: class 1 present, class 2 negative, class 3 unverified
  const gt = lvis([{ id: 1, neg: [2] }], [{ id: 1 }, { id: 2 }, { id: 3 }], [{ img: 1, cat: 1, bbox: A }])
  const dts = [det(1, 2, FAR, 0.9), det(1, 3, A, 0.8), det(1, 1, A, 0.7)]
  // cap 2 keeps 0.9 and 0.8 — the unverified class-3 detection takes a place — so class 1 has no detection: AP 0
  const c2 = evaluateLvis(gt, dts, { maxDets: 2 })
  near(t, c2.AP, 0, 'cap 2 (class 1 is the only class with ground truth)')
  t.same(c2.dropped, { overCap: 1, unverified: 1, zeroArea: 0 }, 'class-3 detection counted as unverified after the cap')
  near(t, evaluateLvis(gt, dts, { maxDets: 3, catIds: [1] }).AP, 1, 'cap 3')
  // ties at the cap: the earlier one in the file stays
  near(t, evaluateLvis(gt, [det(1, 2, FAR, 0.9), det(1, 1, A, 0.7), det(1, 3, A, 0.7)], { maxDets: 2, catIds: [1] }).AP, 1, 'tie: class 1 first in the file')
  near(t, evaluateLvis(gt, [det(1, 2, FAR, 0.9), det(1, 3, A, 0.7), det(1, 1, A, 0.7)], { maxDets: 2, catIds: [1] }).AP, 0, 'tie: class 1 second')
  // the default cap is 300: 300 better-scored negatives push the TP out
  t.equal(LVIS_MAX_DETS, 300)
  const many = [...Array.from({ length: 300 }, (_, i) => det(1, 2, [i, 500, 10, 10], 0.9)), det(1, 1, A, 0.1)]
  near(t, evaluateLvis(gt, many, { catIds: [1] }).AP, 0, '301 detections, default cap')
  near(t, evaluateLvis(gt, many, { catIds: [1], maxDets: 301 }).AP, 1, 'cap 301')
  // no per-(image, class) cap: 150 FPs above a TP on one pair all count (COCO would keep only 100)
  const pair = [...Array.from({ length: 150 }, (_, i) => det(1, 1, [i * 5, 600, 4, 4], 0.9)), det(1, 1, A, 0.1)]
  near(t, evaluateLvis(gt, pair, { catIds: [1] }).AP, 1 / 151, 'TP after 150 FPs: precision 1/151 at recall 1')
})

t.test('ground-truth ignore flag, iscrowd plays no part, zero areas dropped', async (t) => {
  const g2: B = [400, 0, 200, 200]
  // g2 ignored: a detection on it is neither TP nor FP; the TP on g1 alone → recall 1 → 1
  const ign = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }, { img: 1, cat: 1, bbox: g2, ignore: 1 }])
  near(t, evaluateLvis(ign, [det(1, 1, g2, 0.9), det(1, 1, A, 0.8)]).AP, 1, 'ignore flag')
  // iscrowd is not ignore in LVIS: g2 counts, one TP of two boxes → precision 1 up to recall 1/2
  const crowd = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }, { img: 1, cat: 1, bbox: g2, iscrowd: 1 }])
  near(t, evaluateLvis(crowd, [det(1, 1, A, 0.8)]).AP, upTo(0.5), 'iscrowd counts as a normal box')
  near(t, evaluateCoco(crowd, [det(1, 1, A, 0.8)]).AP, 1, 'COCO ignores the crowd box')
  // a zero-area ground truth does not exist for LVIS (get_ann_ids area > 0); a zero-area detection neither
  const zero = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }, { img: 1, cat: 1, bbox: [500, 500, 0, 10] }])
  const r = evaluateLvis(zero, [det(1, 1, [700, 700, 0, 50], 0.9), det(1, 1, A, 0.8)])
  near(t, r.AP, 1, 'zero areas')
  t.equal(r.dropped.zeroArea, 1)
})

t.test('area ranges: APs, APm, APl on ground-truth area and detection w·h', async (t) => {
  const small: B = [0, 0, 10, 10] // area 100 < 32²
  const gt = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: small }, { img: 1, cat: 1, bbox: [300, 300, 200, 200] }])
  const r = evaluateLvis(gt, [det(1, 1, small, 0.9), det(1, 1, FAR, 0.8)])
  near(t, r.AP, upTo(0.5), 'all: TP, FP over 2 boxes → 1 up to recall 1/2')
  near(t, r.APs, 1, 'small: the large box and the large FP are outside → TP of 1')
  near(t, r.APl, 0, 'large: the small TP matched an out-of-range box (ignored), the FP counts, the large box is missed')
  t.equal(r.APm, -1, 'medium: no box in range')
  t.same(r.stats, [r.AP, r.AP50, r.AP75, r.APs, r.APm, r.APl, r.APr, r.APc, r.APf, r.AR, r.ARs, r.ARm, r.ARl])
})

t.test('where the protocols coincide, LVIS = the pycocotools-checked COCO numbers', async (t) => {
  // the COCO fixture without crowd boxes, every image listing the classes it lacks as negative, no cap reached
  const dir = new URL('./fixtures/coco/', import.meta.url)
  const coco = JSON.parse(readFileSync(new URL('gt.json', dir), 'utf8')) as CocoDataset
  const dts = JSON.parse(readFileSync(new URL('dt.json', dir), 'utf8')) as CocoDetection[]
  const anns = coco.annotations.filter((a) => !a.iscrowd)
  const cats = coco.categories.map((c) => c.id)
  const gt: CocoDataset = {
    ...coco, annotations: anns,
    images: coco.images.map((i) => ({ ...i, neg_category_ids: cats.filter((c) => !anns.some((a) => a.image_id === i.id && a.category_id === c)), not_exhaustive_category_ids: [] })),
  }
  t.ok(dts.length <= 100 && dts.every((d) => d.bbox[2] * d.bbox[3] > 0), 'preconditions: no cap reached, no zero areas')
  const c = evaluateCoco(gt, dts)
  const l = evaluateLvis(gt, dts)
  t.ok(l.AP > 0 && l.AP < 1, 'a non-trivial AP')
  ;[l.AP, l.AP50, l.AP75, l.APs, l.APm, l.APl].forEach((v, i) => near(t, v, c.stats[i]!, `stat ${i}`))
  near(t, l.AR, c.stats[8]!, 'AR = COCO AR@100')
})

t.test('lvis-api itself: the fixture world scored by LVISEval (test/fixtures/lvis/make_expected.py), three runs', async (t) => {
  const dir = new URL('./fixtures/lvis/', import.meta.url)
  const gt = JSON.parse(readFileSync(new URL('gt.json', dir), 'utf8')) as CocoDataset
  const dts = JSON.parse(readFileSync(new URL('dt.json', dir), 'utf8')) as CocoDetection[]
  const ex = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as {
    produced_by: string; runs: Array<{ max_dets: number; cat_ids: number[] | null; results: Record<string, number>; per_class_AP: Record<string, number> }>
  }
  t.match(ex.produced_by, /lvis-api/)
  t.ok(gt.annotations.some((a) => a.ignore) && gt.annotations.some((a) => a.area === 0) && dts.some((d) => d.bbox[2] === 0), 'ignore boxes, zero areas')
  t.ok(gt.images.some((i) => (i.not_exhaustive_category_ids as number[]).length > 0), 'not-exhaustive classes')
  for (const run of ex.runs) {
    const r = evaluateLvis(gt, dts, { maxDets: run.max_dets, ...(run.cat_ids ? { catIds: run.cat_ids } : {}) })
    const ours: Record<string, number> = {
      AP: r.AP, AP50: r.AP50, AP75: r.AP75, APs: r.APs, APm: r.APm, APl: r.APl, APr: r.APr, APc: r.APc, APf: r.APf,
      'AR@300': r.AR, 'ARs@300': r.ARs, 'ARm@300': r.ARm, 'ARl@300': r.ARl, // lvis-api names AR by Params.max_dets (300) whatever the cap
    }
    const what = `maxDets ${run.max_dets}${run.cat_ids ? `, classes ${run.cat_ids.join(',')}` : ''}`
    for (const [k, v] of Object.entries(run.results)) near(t, ours[k]!, v, `${what}: ${k}`)
    for (const c of r.perClass) near(t, c.AP, run.per_class_AP[String(c.catId)]!, `${what}: class ${c.catId}`)
  }
  t.ok(ex.runs[0]!.results.AP !== ex.runs[1]!.results.AP, 'the cap of 3 changes the result')
})

t.test('input errors are typed', async (t) => {
  const gt = lvis([{ id: 1 }], [{ id: 1 }], [{ img: 1, cat: 1, bbox: A }])
  t.throws(() => evaluateLvis(gt, [det(7, 1, A, 1)]), { code: 'ERR_EVAL_INPUT' }, 'detection on an unknown image')
  t.throws(() => evaluateLvis({ ...gt, images: [{ id: 1 }] }, []), { code: 'ERR_EVAL_INPUT', message: /neg_category_ids/ }, 'no neg_category_ids')
  t.throws(() => evaluateLvis({ ...gt, categories: [{ id: 1, name: 'x', frequency: 'rare' }] }, []), { code: 'ERR_EVAL_INPUT', message: /frequency/ })
  t.throws(() => evaluateLvis(gt, [], { maxDets: 0 }), { code: 'ERR_INVALID_ARG' })
  t.throws(() => evaluateLvis(gt, [det(1, 1, A, NaN)]), { code: 'ERR_INVALID_ARG' })
  t.ok(isLvisDataset(gt))
  t.notOk(isLvisDataset({ ...gt, images: [{ id: 1 }] }))
})

// ----------------------------------------------------------------------------- results file and CLI

const tmp = tempDir('vrft-lvis-')
const KEYS = ['AP', 'AP50', 'AP75', 'APs', 'APm', 'APl', 'APr', 'APc', 'APf']
// two LVIS-named classes of the paper's few-shot list and a frequent one
const named: CocoDataset = {
  ...lvis([{ id: 1, neg: [2] }, { id: 2 }], [{ id: 1, frequency: 'r' }, { id: 2, frequency: 'r' }, { id: 3, frequency: 'f' }], [{ img: 1, cat: 1, bbox: A }, { img: 2, cat: 3, bbox: A }]),
}
named.categories[0]!.name = 'horse_buggy'
named.categories[1]!.name = 'kitchen_table'
named.categories[2]!.name = 'person'
const gtPath = join(tmp, 'lvis_val.json')
const dtPath = join(tmp, 'dets.json')
writeFileSync(gtPath, JSON.stringify(named))
writeFileSync(dtPath, JSON.stringify([det(1, 1, A, 0.9), det(1, 2, A, 0.8), det(2, 3, FAR, 0.7), det(2, 3, A, 0.6), det(2, 1, A, 0.99)]))

t.test('results file: LVIS detected from neg_category_ids; classes by name or by list name', async (t) => {
  const r = await scoreResultsFile(gtPath, dtPath)
  t.equal(r.protocol, 'lvis')
  for (const k of KEYS) t.ok(typeof (r as unknown as Record<string, number>)[k] === 'number', k)
  // horse buggy: TP (image 2's detection is unverified) → 1; kitchen table: negative FP, no ground truth → -1; person: FP, TP → 1/2
  near(t, r.APr!, 1, 'APr'); near(t, r.APf!, 1 / 2, 'APf'); near(t, r.AP, 3 / 4, 'AP')
  const few = await scoreResultsFile(gtPath, dtPath, { classes: ['horse buggy', 'Kitchen Table'] })
  near(t, few.AP, 1, 'by name, underscores and case do not matter')
  // the paper's lists by name (LVIS spells them with underscores)
  const paper: CocoDataset = { images: [], annotations: [], categories: [...LVIS_RARE_13, ...LVIS_FEWSHOT_6, 'person'].map((n, i) => ({ id: i + 1, name: n.replace(/ /g, '_') })) }
  const rare = resolveCategories(paper, ['lvis-rare-13'])
  t.same(rare.map((id) => paper.categories[id - 1]!.name.replace(/_/g, ' ')), [...LVIS_RARE_13], 'lvis-rare-13')
  t.equal(resolveCategories(paper, ['lvis-fewshot-6']).length, 6, 'lvis-fewshot-6')
  // here only horse_buggy and kitchen_table of the few-shot list exist → the missing 'die' is an error
  await t.rejects(scoreResultsFile(gtPath, dtPath, { classes: ['lvis-fewshot-6'] }), { code: 'ERR_EVAL_INPUT', message: /die/ })
  const coco = await scoreResultsFile(gtPath, dtPath, { protocol: 'coco' })
  t.equal(coco.protocol, 'coco')
  t.not(coco.AP, r.AP, 'forced coco scores differently')
  await t.rejects(scoreResultsFile(gtPath, dtPath, { protocol: 'coco', maxDets: 10 }), { code: 'ERR_INVALID_ARG' })
})

t.test('from completions: LVIS ground truth indexed by image id and category name', async (t) => {
  const S = (id: string, imageId: number, category: string, completion: string): [Sample, string] =>
    [{ id, image: { path: 'x.jpg' }, problem: '', solution: '', category, meta: { imageId } }, completion]
  // Qwen2-VL grid: image 1000 px wide, so grid = pixels
  const box = (b: B, c: number) => `{'Position': [${b[0]}, ${b[1]}, ${b[0] + b[2]}, ${b[1] + b[3]}], 'Confidence': ${c}}`
  const pairs = [
    S('a', 1, 'horse buggy', `<answer>[${box(A, 0.9)}]</answer>`),
    S('b', 2, 'person', `<answer>[${box(FAR, 0.7)}, ${box(A, 0.6)}]</answer>`),
  ]
  const r = evaluateCompletions('detection', pairs.map((p) => p[0]), pairs.map((p) => p[1]), { groundTruth: named })
  if (r.task !== 'detection') throw new Error('detection report expected')
  t.equal(r.protocol, 'lvis')
  near(t, r.APr!, 1, 'APr'); near(t, r.APf!, 1 / 2, 'APf')
  // the same completions, ground truth built from the samples' solutions: --protocol lvis treats the asked pairs as verified
  const own = pairs.map(([s, c]) => [{ ...s, solution: `<answer>[${box(A, 1)}]</answer>` }, c] as const)
  const r2 = evaluateCompletions('detection', own.map((p) => p[0]), own.map((p) => p[1]), { protocol: 'lvis' })
  if (r2.task !== 'detection') throw new Error('detection report expected')
  t.equal(r2.protocol, 'lvis')
  near(t, r2.AP, (1 + 1 / 2) / 2, 'AP from the samples')
})

const root = resolve(import.meta.dirname, '..')
const tsImport = process.execArgv.filter((a) => a.includes('@tapjs/typescript'))
function cli(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((res) => {
    const child = spawn(process.execPath, [...tsImport, join(root, 'lib/cli/main.ts'), ...args], { cwd: root, env: { ...process.env, NODE_OPTIONS: '' }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = '', stderr = ''
    child.stdout.on('data', (d: Buffer) => { stdout += d })
    child.stderr.on('data', (d: Buffer) => { stderr += d })
    child.on('close', (code) => res({ code, stdout, stderr }))
  })
}

t.test('CLI: eval --annotations lvis.json --predictions dets.json --json has the lvis-api keys as fractions', async (t) => {
  const r = await cli(['eval', '--annotations', gtPath, '--predictions', dtPath, '--json'])
  t.equal(r.code, 0, r.stderr)
  const j = JSON.parse(r.stdout) as Record<string, unknown>
  t.equal(j.protocol, 'lvis')
  t.equal(j.maxDets, 300)
  for (const k of KEYS) t.ok(typeof j[k] === 'number' && ((j[k] as number) === -1 || ((j[k] as number) >= 0 && (j[k] as number) <= 1)), `${k} = ${j[k]}`)
  near(t, j.AP as number, 3 / 4, 'AP')
  const bad = await cli(['eval', '--annotations', gtPath, '--predictions', dtPath, '--protocol', 'coco', '--max-dets', '5'])
  t.equal(bad.code, 1)
  t.match(bad.stderr, /--max-dets/)
  // the same handler in-process (no second node start): --max-dets, --classes, the text table
  const { evalCommand } = await import('../lib/cli/commands/eval.js')
  const run = async (extra: Record<string, unknown>): Promise<string> => {
    const lines: string[] = []
    const log = console.log
    console.log = (...a: unknown[]) => { lines.push(a.join(' ')) }
    try {
      await (evalCommand.handler as (a: unknown) => Promise<void>)({ annotations: gtPath, results: dtPath, json: false, askPresence: false, _: ['eval'], $0: 'vrft-native', ...extra })
    } finally {
      console.log = log
    }
    return lines.join('\n')
  }
  const capped = JSON.parse(await run({ json: true, maxDets: 1 })) as Record<string, number>
  // cap 1: image 1 keeps only its 0.9 (horse buggy TP), image 2 only the unverified 0.99 → person has no detection
  near(t, capped.APf!, 0, 'capped APf')
  const text = await run({ classes: ['horse_buggy'] })
  t.match(text, /lvis \(federated, 300 detections per image\)/)
  t.match(text, /horse_buggy/)
  t.notMatch(text, /person/, 'only the chosen class')
})

t.test('vrft-native eval --model … --data … --annotations lvis.json on the tiny checkpoint: the LVIS report from a model', async (t) => {
  const { evalCommand } = await import('../lib/cli/commands/eval.js')
  const { goldenImage, tinyCheckpointDir } = await import('./generate-helpers.js')
  const { detectionPrompt, detectionSolution } = await import('../lib/prompts/index.js')
  const dir = tempDir('vrft-lvis-model-')
  // one 300 × 200 image with a horse buggy, kitchen table verified absent, person unverified
  const ann: CocoDataset = {
    images: [{ id: 7, width: 300, height: 200, neg_category_ids: [2], not_exhaustive_category_ids: [] }],
    categories: [{ id: 1, name: 'horse_buggy', frequency: 'r' }, { id: 2, name: 'kitchen_table', frequency: 'r' }, { id: 3, name: 'person', frequency: 'f' }],
    annotations: [{ id: 1, image_id: 7, category_id: 1, bbox: [10, 20, 100, 80], area: 8000 }],
  }
  const annPath = join(dir, 'lvis.json')
  writeFileSync(annPath, JSON.stringify(ann))
  const data = join(dir, 'det.jsonl')
  writeFileSync(data, ['horse buggy', 'kitchen table'].map((c) => JSON.stringify({
    image: goldenImage('img0_noise_200x300'), image_id: 7, width: 300, height: 200, problem: detectionPrompt(c), solution: detectionSolution([]),
  }) + '\n').join(''))
  const lines: string[] = []
  const log = console.log
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')) }
  try {
    await (evalCommand.handler as (a: unknown) => Promise<void>)({
      model: tinyCheckpointDir('qwen2vl-tiny'), data, annotations: annPath, classes: ['horse buggy', 'kitchen_table'], task: 'detection', maxNewTokens: 4,
      batchSize: 2, maxPixels: 12845056, minPixels: 3136, device: 'cpu', json: true, askPresence: false, _: ['eval'], $0: 'vrft-native',
    })
  } finally {
    console.log = log
  }
  const r = JSON.parse(lines.join('\n')) as Record<string, unknown>
  t.equal(r.protocol, 'lvis', 'detected from the annotations')
  for (const k of KEYS) t.ok(typeof r[k] === 'number', k)
  t.same((r.perClass as Array<{ name: string }>).map((c) => c.name), ['horse_buggy', 'kitchen_table'], 'the chosen classes, found by their display names')
  t.equal(r.APf, -1, 'no frequent class chosen')
  // 4 new tokens cannot hold a box: the horse buggy is missed → AP 0 (its truth comes from the annotations, not the empty solutions)
  t.equal(r.APr, 0)
})
