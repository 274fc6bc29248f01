/**
 * LVIS bbox AP with the federated rules of lvis-api (lvis/eval.py LVISEval, lvis/results.py
 * LVISResults), on the COCO machinery of cocoeval.ts (same IoU, matching, accumulation and 101-point
 * precision; only what LVIS does differently is here). Each rule and the lvis-api code it follows:
 * - Per-image cap (LVISResults.limit_dets_per_image): an image keeps its `maxDets` (300) best-scored
 *   detections over all classes (stable: on tied scores the earlier ones in the file), before any other
 *   rule — detections of classes not evaluated still take places in the cap. No per-(image, class) cap.
 * - Zero area (LVIS.get_ann_ids with area range (0, inf)): ground truth and detections whose area is not
 *   > 0 take no part.
 * - Federated detections (LVISEval._prepare): a detection of class c on image i counts only when i has
 *   ground truth of c (among the evaluated classes) or lists c in `neg_category_ids`; the others are
 *   dropped (the data set knows nothing about c on i).
 * - Not exhaustive (LVISEval.evaluate_img): on an image listing c in `not_exhaustive_category_ids`,
 *   detections of c that match no ground truth are ignored (not false positives); matched ones count.
 * - Ground truth `ignore` (LVISEval._prepare): an annotation with a truthy `ignore` is ignored at every
 *   area; `iscrowd` plays no part (lvis-api passes iscrowd = 0 to the IoU).
 * - Area ranges all/small/medium/large on the ground truth's `area` (w·h when missing) and the
 *   detection's w·h, as COCO.
 * - Summary (LVISEval.summarize): AP, AP50, AP75, APs, APm, APl, then APr/APc/APf = AP over the classes
 *   whose category `frequency` is r/c/f, then AR, ARs, ARm, ARl at `maxDets`; each the mean of the
 *   entries > -1 (a class without ground truth on the evaluated images is -1 and left out), -1 when none.
 * Checked against lvis-api itself on test/fixtures/lvis (make_expected.py there) and on a hand-made case
 * per rule (test/eval-lvis.test.ts).
 * Input checks, stricter than lvis-api's asserts: every image needs a `neg_category_ids` array
 * (`not_exhaustive_category_ids` may be missing: none); a detection on an image that is not in the file
 * is ERR_EVAL_INPUT; a category `frequency` other than r/c/f is ERR_EVAL_INPUT (a missing one puts the
 * class in no frequency group; lvis-api would raise).
 */
import { VrftError, describeValue, expectArg } from '../errors.js'
import {
  PairIndex, accumulateCurves, bboxIous, defaultCocoParams, evaluateImg, meanValid, sortByScore,
  type CocoClassResult, type CocoDataset, type CocoDetection, type CocoEvalParams, type ImgEval,
} from './cocoeval.js'

/** lvis-api's per-image detection cap (LVISResults max_dets). */
export const LVIS_MAX_DETS = 300

/** LVIS frequency groups: rare (< 10 training images), common (10–99), frequent (≥ 100). */
export type LvisFrequency = 'r' | 'c' | 'f'
const FREQS: readonly LvisFrequency[] = ['r', 'c', 'f']

/** Parameters of `evaluateLvis` (defaults = lvis-api's bbox Params). */
export interface LvisEvalParams extends Omit<CocoEvalParams, 'maxDets'> {
  /** Detections kept per image over all classes (default 300). */
  maxDets?: number
}

/** Per-class result, with the class's frequency group when the file gives one. */
export interface LvisClassResult extends CocoClassResult {
  frequency?: LvisFrequency
}

/** Result of `evaluateLvis`. AP/AR values are fractions in [0, 1], -1 when nothing is defined. */
export interface LvisEvalResult {
  params: Required<Omit<CocoEvalParams, 'maxDets'>> & { maxDets: number[] }
  /** precision[t][r][k][a][0], dims [T, R, K, A, 1] (one maxDets). */
  precision: Float64Array
  /** recall[t][k][a][0], dims [T, K, A, 1]. */
  recall: Float64Array
  dims: { T: number; R: number; K: number; A: number; M: number }
  AP: number; AP50: number; AP75: number; APs: number; APm: number; APl: number
  APr: number; APc: number; APf: number
  AR: number; ARs: number; ARm: number; ARl: number
  /** lvis-api's results in its order: AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR, ARs, ARm, ARl. */
  stats: number[]
  perClass: LvisClassResult[]
  /** What happened to the detections: dropped by the per-image cap, for a class unverified on the image, or for zero area. */
  dropped: { overCap: number; unverified: number; zeroArea: number }
}

/** True when the file looks like LVIS: its images carry `neg_category_ids`. */
export function isLvisDataset(gt: CocoDataset): boolean {
  return gt.images.length > 0 && gt.images.some((i) => Array.isArray(i.neg_category_ids))
}

function idList(v: unknown, what: string, imgId: number, required: boolean): number[] {
  if (v === undefined && !required) return []
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number')) {
    throw new VrftError('ERR_EVAL_INPUT', `Expected an array of category ids for ${what} of image ${imgId} (LVIS protocol) but received ${describeValue(v)}`)
  }
  return v as number[]
}

/** Keep each image's `max` best-scored detections (stable); returns the kept flags. */
function capPerImage(dets: readonly CocoDetection[], max: number): Uint8Array {
  const keep = new Uint8Array(dets.length).fill(1)
  const byImg = new Map<number, number[]>()
  dets.forEach((d, i) => {
    const l = byImg.get(d.image_id)
    if (l) l.push(i)
    else byImg.set(d.image_id, [i])
  })
  for (const l of byImg.values()) {
    if (l.length <= max) continue
    const sorted = [...l].sort((a, b) => dets[b]!.score - dets[a]!.score || a - b)
    for (let j = max; j < sorted.length; j++) keep[sorted[j]!] = 0
  }
  return keep
}

/** Evaluate bbox detections against an LVIS ground truth with lvis-api's federated rules (file header). */
export function evaluateLvis(gtSet: CocoDataset, detections: readonly CocoDetection[], params: LvisEvalParams = {}): LvisEvalResult {
  const d = defaultCocoParams()
  const imgIds = [...new Set(params.imgIds ?? gtSet.images.map((i) => i.id))].sort((a, b) => a - b)
  const catIds = [...new Set(params.catIds ?? gtSet.categories.map((c) => c.id))].sort((a, b) => a - b)
  const iouThrs = params.iouThrs ?? d.iouThrs
  const recThrs = params.recThrs ?? d.recThrs
  const areaRng = params.areaRng ?? [[0, 1e5 ** 2], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e5 ** 2]]
  const areaRngLbl = params.areaRngLbl ?? d.areaRngLbl
  const maxDets = params.maxDets ?? LVIS_MAX_DETS
  expectArg(Number.isInteger(maxDets) && maxDets >= 1, 'a positive integer', 'maxDets', maxDets)

  const images = new Map(gtSet.images.map((i) => [i.id, i]))
  const neg = new Map<number, Set<number>>()
  const nel = new Map<number, Set<number>>()
  for (const id of imgIds) {
    const img = images.get(id)
    if (!img) throw new VrftError('ERR_EVAL_INPUT', `Expected image ${id} in the LVIS annotations but it is not there`)
    neg.set(id, new Set(idList(img.neg_category_ids, 'neg_category_ids', id, true)))
    nel.set(id, new Set(idList(img.not_exhaustive_category_ids, 'not_exhaustive_category_ids', id, false)))
  }
  const freqOf = new Map<number, LvisFrequency>()
  const names = new Map<number, string>()
  for (const c of gtSet.categories) {
    names.set(c.id, c.name)
    if (c.frequency === undefined) continue
    if (!FREQS.includes(c.frequency as LvisFrequency)) {
      throw new VrftError('ERR_EVAL_INPUT', `Expected frequency 'r', 'c' or 'f' on LVIS category ${c.id} (${c.name}) but received ${describeValue(c.frequency)}`)
    }
    freqOf.set(c.id, c.frequency as LvisFrequency)
  }

  const cells = new PairIndex(imgIds, catIds)
  for (const a of gtSet.annotations) {
    const area = a.area ?? a.bbox[2] * a.bbox[3]
    if (!(area > 0 && area < Infinity)) continue
    const c = cells.cell(a.image_id, a.category_id)
    if (c) c.gt.push({ box: a.bbox, area, crowd: false, ignore: !!a.ignore })
  }
  for (const x of detections) {
    expectArg(Number.isFinite(x.score), 'a finite score', 'detection score', x.score)
    if (!images.has(x.image_id)) throw new VrftError('ERR_EVAL_INPUT', `Expected detections on images of the LVIS annotations but received one on image ${describeValue(x.image_id)}`)
  }
  const keep = capPerImage(detections, maxDets)
  const dropped = { overCap: 0, unverified: 0, zeroArea: 0 }
  detections.forEach((x, i) => {
    if (!keep[i]) { dropped.overCap++; return }
    const k = cells.catIndexOf(x.category_id)
    if (k === undefined || !neg.has(x.image_id)) return // not evaluated (class or image outside the selection)
    const area = x.bbox[2] * x.bbox[3]
    if (!(area > 0 && area < Infinity)) { dropped.zeroArea++; return }
    const has = cells.peek(x.image_id, x.category_id)
    if (!(has && has.gt.length > 0) && !neg.get(x.image_id)!.has(x.category_id)) { dropped.unverified++; return }
    cells.cell(x.image_id, x.category_id)!.dt.push({ box: x.bbox, area, score: x.score })
  })

  const T = iouThrs.length, R = recThrs.length, K = catIds.length, A = areaRng.length, M = 1
  const precision = new Float64Array(T * R * K * A * M).fill(-1)
  const recall = new Float64Array(T * K * A * M).fill(-1)
  for (let k = 0; k < K; k++) {
    const catId = catIds[k]!
    const E: ImgEval[][] = areaRng.map(() => [])
    for (const { imgId, gt, dt: all } of cells.ofCategory(k)) {
      const dt = sortByScore(all)
      const ious = gt.length && dt.length ? bboxIous(dt, gt) : null
      const notExhaustive = nel.get(imgId)!.has(catId)
      areaRng.forEach((aRng, a) => E[a]!.push(evaluateImg(gt, dt, ious, iouThrs, aRng, notExhaustive)))
    }
    for (let a = 0; a < A; a++) {
      if (E[a]!.length === 0) continue
      const c = accumulateCurves(E[a]!, Infinity, T, recThrs)
      if (!c) continue
      for (let t = 0; t < T; t++) {
        recall[(t * K + k) * A + a] = c.recall[t]!
        for (let r = 0; r < R; r++) precision[((t * R + r) * K + k) * A + a] = c.precision[t * R + r]!
      }
    }
  }

  const res = { precision, recall, dims: { T, R, K, A, M } }
  const allT = iouThrs.map((_, i) => i)
  const allK = catIds.map((_, i) => i)
  const tAt = (v: number): number[] => iouThrs.flatMap((x, i) => (x === v ? [i] : []))
  const aOf = (l: string): number => areaRngLbl.indexOf(l)
  const sum = (ap: boolean, ts: number[], area: string, ks: number[] = allK): number => (aOf(area) < 0 ? -1 : meanValid(res, ap, ts, ks, aOf(area), 0))
  const group = (f: LvisFrequency): number[] => allK.filter((k) => freqOf.get(catIds[k]!) === f)
  const r = {
    AP: sum(true, allT, 'all'), AP50: sum(true, tAt(0.5), 'all'), AP75: sum(true, tAt(0.75), 'all'),
    APs: sum(true, allT, 'small'), APm: sum(true, allT, 'medium'), APl: sum(true, allT, 'large'),
    APr: sum(true, allT, 'all', group('r')), APc: sum(true, allT, 'all', group('c')), APf: sum(true, allT, 'all', group('f')),
    AR: sum(false, allT, 'all'), ARs: sum(false, allT, 'small'), ARm: sum(false, allT, 'medium'), ARl: sum(false, allT, 'large'),
  }
  const perClass: LvisClassResult[] = catIds.map((catId, k) => {
    const f = freqOf.get(catId)
    return {
      catId, name: names.get(catId) ?? String(catId),
      AP: sum(true, allT, 'all', [k]), AP50: sum(true, tAt(0.5), 'all', [k]), AP75: sum(true, tAt(0.75), 'all', [k]),
      ...(f ? { frequency: f } : {}),
    }
  })
  return {
    params: { imgIds, catIds, iouThrs, recThrs, maxDets: [maxDets], areaRng, areaRngLbl },
    ...res, ...r,
    stats: [r.AP, r.AP50, r.AP75, r.APs, r.APm, r.APl, r.APr, r.APc, r.APf, r.AR, r.ARs, r.ARm, r.ARl],
    perClass, dropped,
  }
}
