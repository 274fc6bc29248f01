// COCO AP parity: evaluateCoco vs numbers produced by pycocotools' COCOeval itself (test/fixtures/coco/expected.json,
// made by test/fixtures/coco/make_expected.py: crowd regions, 4 classes (one without ground truth), empty images, tied scores).
import t from 'tap'
import { readFileSync } from 'node:fs'
import { evaluateCoco, linspace, type CocoDataset, type CocoDetection } from '../lib/eval/cocoeval.js'

const dir = new URL('./fixtures/coco/', import.meta.url)
const gt = JSON.parse(readFileSync(new URL('gt.json', dir), 'utf8')) as CocoDataset
const dt = JSON.parse(readFileSync(new URL('dt.json', dir), 'utf8')) as CocoDetection[]
const ex = JSON.parse(readFileSync(new URL('expected.json', dir), 'utf8')) as {
  stats: number[]; stats_names: string[]; per_class: Record<string, { AP: number; AP50: number; AP75: number }>
  cats_1_7_stats: number[]; precision_all_100_cat1_t0: number[]; produced_by: string
}
const TOL = 1e-6

t.test('fixture has what the parity claim needs', async (t) => {
  t.ok(gt.annotations.some((a) => a.iscrowd), 'crowd regions')
  t.ok(gt.images.some((i) => !gt.annotations.some((a) => a.image_id === i.id)), 'empty images')
  const scores = dt.map((d) => `${d.image_id}:${d.category_id}:${d.score}`)
  t.ok(new Set(scores).size < scores.length, 'tied scores')
  t.ok(ex.produced_by.includes('pycocotools'))
})

t.test('summary stats match pycocotools', async (t) => {
  const r = evaluateCoco(gt, dt)
  ex.stats.forEach((v, i) => t.ok(Math.abs(r.stats[i]! - v) < TOL, `${ex.stats_names[i]}: ${r.stats[i]} vs ${v}`))
  t.ok(Math.abs(r.AP - ex.stats[0]!) < TOL && Math.abs(r.AP50 - ex.stats[1]!) < TOL && Math.abs(r.AP75 - ex.stats[2]!) < TOL)
  const p = ex.precision_all_100_cat1_t0
  const { R, K, A, M } = r.dims
  p.forEach((v, ri) => t.ok(Math.abs(r.precision[((0 * R + ri) * K + 0) * A * M + 0 * M + (M - 1)]! - v) < TOL, `precision r=${ri}`))
})

t.test('per-class AP, AP50, AP75 match pycocotools', async (t) => {
  const r = evaluateCoco(gt, dt)
  for (const c of r.perClass) {
    const e = ex.per_class[String(c.catId)]!
    t.ok(Math.abs(c.AP - e.AP) < TOL, `AP ${c.name}`)
    t.ok(Math.abs(c.AP50 - e.AP50) < TOL, `AP50 ${c.name}`)
    t.ok(Math.abs(c.AP75 - e.AP75) < TOL, `AP75 ${c.name}`)
  }
  t.equal(r.perClass.find((c) => c.catId === 9)!.AP, -1, 'class without ground truth is -1')
})

t.test('chosen classes (catIds [1, 7]) match pycocotools', async (t) => {
  const r = evaluateCoco(gt, dt, { catIds: [7, 1] })
  ex.cats_1_7_stats.forEach((v, i) => t.ok(Math.abs(r.stats[i]! - v) < TOL, `stat ${i}`))
  const mean = (r.perClass[0]!.AP + r.perClass[1]!.AP) / 2
  t.ok(Math.abs(mean - r.AP) < 1e-12, 'mAP = mean of per-class AP')
})

t.test('edge cases', async (t) => {
  const r = evaluateCoco(gt, [])
  t.equal(r.AP, 0, 'no detections → AP 0 for classes with ground truth')
  const perfect = gt.annotations.filter((a) => !a.iscrowd).map((a) => ({ image_id: a.image_id, category_id: a.category_id, bbox: a.bbox, score: 1 }))
  t.equal(evaluateCoco(gt, perfect).AP, 1, 'perfect detections → 1')
  t.equal(linspace(0.5, 0.95, 10)[5], 0.75, 'numpy-equal thresholds')
  t.throws(() => evaluateCoco(gt, [{ image_id: 1, category_id: 1, bbox: [0, 0, 1, 1], score: NaN }]), { code: 'ERR_INVALID_ARG' })
})
