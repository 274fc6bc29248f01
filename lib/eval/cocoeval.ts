/**
 * COCO bbox AP computed the way pycocotools' COCOeval (evaluate → accumulate → summarize) does it:
 * IoU thresholds .50:.05:.95 and recall thresholds 0:.01:1 built like numpy.linspace, maxDets
 * [1, 10, 100], area ranges all/small/medium/large on the ground truth's `area` field, crowd regions
 * ignored (a detection inside a crowd box matches it with IoU = intersection / detection area, and can
 * share it), detections sorted by score with a stable sort (mergesort), 101-point interpolated
 * precision, -1 for categories without ground truth. Checked against pycocotools itself on
 * test/fixtures/coco (see make_expected.py there).
 *
 * One deliberate difference: pycocotools marks "matched" by storing the ground-truth id, so a ground
 * truth with id 0 is counted as unmatched; here matches are flags, so id 0 is fine.
 */
import { expectArg } from '../errors.js'

/** COCO image record (only `id` is used here; width/height map model boxes back to pixels). */
export interface CocoImage {
  id: number
  width?: number
  height?: number
  file_name?: string
  coco_url?: string
  [k: string]: unknown
}

/** COCO / LVIS annotation. `bbox` is [x, y, w, h] in pixels. */
export interface CocoAnnotation {
  id: number
  image_id: number
  category_id: number
  bbox: [number, number, number, number]
  /** Object area (COCO: segmentation area); falls back to w·h when missing. */
  area?: number
  iscrowd?: number | boolean
  [k: string]: unknown
}

/** COCO category. */
export interface CocoCategory {
  id: number
  name: string
  [k: string]: unknown
}

/** A COCO-format annotation file. */
export interface CocoDataset {
  images: CocoImage[]
  annotations: CocoAnnotation[]
  categories: CocoCategory[]
  [k: string]: unknown
}

/** One detection of a COCO results file. */
export interface CocoDetection {
  image_id: number
  category_id: number
  bbox: [number, number, number, number]
  score: number
}

/** Evaluation parameters (defaults = pycocotools bbox defaults). */
export interface CocoEvalParams {
  imgIds?: number[]
  catIds?: number[]
  iouThrs?: number[]
  recThrs?: number[]
  maxDets?: number[]
  areaRng?: Array<[number, number]>
  areaRngLbl?: string[]
}

/** Per-category summary (all areas, last maxDets). AP is -1 for a category without ground truth. */
export interface CocoClassResult {
  catId: number
  name: string
  AP: number
  AP50: number
  AP75: number
}

/** Result of `evaluateCoco`. */
export interface CocoEvalResult {
  params: Required<CocoEvalParams>
  /** precision[t][r][k][a][m] flattened row-major, dims [T, R, K, A, M]. */
  precision: Float64Array
  /** recall[t][k][a][m] flattened, dims [T, K, A, M]. */
  recall: Float64Array
  dims: { T: number; R: number; K: number; A: number; M: number }
  /** The 12 numbers of COCOeval.summarize() (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl). */
  stats: number[]
  perClass: CocoClassResult[]
  /** Mean AP over the evaluated categories that have ground truth (= stats[0]). */
  AP: number
  AP50: number
  AP75: number
}

/** numpy.linspace(start, stop, num) value by value: i·((stop − start)/(num − 1)) + start, last = stop. */
export function linspace(start: number, stop: number, num: number): number[] {
  const step = (stop - start) / (num - 1)
  const out: number[] = []
  for (let i = 0; i < num; i++) out.push(i * step + start)
  if (num > 1) out[num - 1] = stop
  return out
}

/** pycocotools' default bbox parameters. */
export function defaultCocoParams(): Required<Omit<CocoEvalParams, 'imgIds' | 'catIds'>> {
  return {
    iouThrs: linspace(0.5, 0.95, Math.round((0.95 - 0.5) / 0.05) + 1),
    recThrs: linspace(0, 1, Math.round(1 / 0.01) + 1),
    maxDets: [1, 10, 100],
    areaRng: [[0, 1e10], [0, 32 ** 2], [32 ** 2, 96 ** 2], [96 ** 2, 1e10]],
    areaRngLbl: ['all', 'small', 'medium', 'large'],
  }
}

const SPACING1 = 2.220446049250313e-16 // np.spacing(1)

/** A ground-truth box as the matcher sees it: `ignore` (COCO: crowd; LVIS: the `ignore` field) is ignored at every area. */
export interface EvalGt { box: readonly number[]; area: number; crowd: boolean; ignore: boolean }
/** A detection as the matcher sees it. */
export interface EvalDt { box: readonly number[]; area: number; score: number }
/** One (image, category, area range) after matching (pycocotools' evalImgs entry). */
export interface ImgEval {
  dtScores: number[]
  /** [T][D] matched flags */
  dtMatched: Uint8Array[]
  dtIgnore: Uint8Array[]
  gtIgnore: Uint8Array
}

/** IoU matrix [D][G] for [x,y,w,h] boxes, crowd rule of maskApi.c bbIou (a crowd box's union is the detection's area). */
export function bboxIous(dt: readonly EvalDt[], gt: readonly EvalGt[]): Float64Array[] {
  return dt.map((d) => {
    const D = d.box
    const da = D[2]! * D[3]!
    const row = new Float64Array(gt.length)
    for (let g = 0; g < gt.length; g++) {
      const G = gt[g]!.box
      const w = Math.min(D[2]! + D[0]!, G[2]! + G[0]!) - Math.max(D[0]!, G[0]!)
      if (w <= 0) continue
      const h = Math.min(D[3]! + D[1]!, G[3]! + G[1]!) - Math.max(D[1]!, G[1]!)
      if (h <= 0) continue
      const i = w * h
      const u = gt[g]!.crowd ? da : da + G[2]! * G[3]! - i
      row[g] = i / u
    }
    return row
  })
}

/** Detections by descending score, ties in input order (numpy mergesort of -score). */
export function sortByScore<T extends { score: number }>(dt: readonly T[]): T[] {
  return dt.map((d, i) => [d, i] as const).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]).map((x) => x[0])
}

/**
 * evaluateImg of pycocotools / lvis-api for one (image, category) at one area range: ground truth
 * ignored (its own `ignore`, or area outside `aRng`) sorted last; each detection, by score, takes the
 * best still-free ground truth with IoU ≥ the threshold (a crowd box can be taken again), preferring
 * non-ignored ones; unmatched detections outside `aRng` — or every unmatched one when
 * `ignoreUnmatched` (LVIS: a class not exhaustively annotated on the image) — are ignored.
 * `dt` must be score-sorted; `ious` is [D][G] in `gt0` order (null when either is empty).
 */
export function evaluateImg(
  gt0: readonly EvalGt[], dt: readonly EvalDt[], ious: readonly Float64Array[] | null,
  iouThrs: readonly number[], aRng: readonly [number, number], ignoreUnmatched = false,
): ImgEval {
  const ign0 = gt0.map((g) => g.ignore || g.area < aRng[0] || g.area > aRng[1])
  const order = gt0.map((_, i) => i).sort((a, b) => Number(ign0[a]) - Number(ign0[b]) || a - b)
  const gt = order.map((i) => gt0[i]!)
  const gtIg = Uint8Array.from(order.map((i) => (ign0[i] ? 1 : 0)))
  const G = gt.length, D = dt.length, T = iouThrs.length
  const dtMatched: Uint8Array[] = [], dtIgnore: Uint8Array[] = []
  for (let t = 0; t < T; t++) {
    const gtm = new Uint8Array(G)
    const dtm = new Uint8Array(D)
    const dtIg = new Uint8Array(D)
    if (ious) {
      for (let di = 0; di < D; di++) {
        let best = Math.min(iouThrs[t]!, 1 - 1e-10)
        let m = -1
        for (let gi = 0; gi < G; gi++) {
          if (gtm[gi] && !gt[gi]!.crowd) continue
          if (m > -1 && gtIg[m] === 0 && gtIg[gi] === 1) break
          const v = ious[di]![order[gi]!]!
          if (v < best) continue
          best = v
          m = gi
        }
        if (m === -1) continue
        dtIg[di] = gtIg[m]!
        dtm[di] = 1
        gtm[m] = 1
      }
    }
    for (let di = 0; di < D; di++) {
      if (!dtm[di] && (ignoreUnmatched || dt[di]!.area < aRng[0] || dt[di]!.area > aRng[1])) dtIg[di] = 1
    }
    dtMatched.push(dtm)
    dtIgnore.push(dtIg)
  }
  return { dtScores: dt.map((x) => x.score), dtMatched, dtIgnore, gtIgnore: gtIg }
}

/**
 * accumulate() of pycocotools / lvis-api for one (category, area range[, maxDets]): the first `md`
 * detections of each image entry (in image order), merged by score (stable), give per IoU threshold
 * the 101-point interpolated precision (T × R, row-major) and the final recall (T). Null when no
 * ground truth counts (the caller keeps -1).
 */
export function accumulateCurves(E: readonly ImgEval[], md: number, T: number, recThrs: readonly number[]): { precision: Float64Array; recall: Float64Array } | null {
  let npig = 0
  for (const e of E) for (const v of e.gtIgnore) if (v === 0) npig++
  if (npig === 0) return null
  const scores: number[] = []
  const srcE: number[] = [], srcD: number[] = []
  E.forEach((e, ei) => {
    const n = Math.min(md, e.dtScores.length)
    for (let di = 0; di < n; di++) { scores.push(e.dtScores[di]!); srcE.push(ei); srcD.push(di) }
  })
  const inds = scores.map((_, i) => i).sort((x, y) => scores[y]! - scores[x]! || x - y)
  const nd = inds.length, R = recThrs.length
  const precision = new Float64Array(T * R)
  const recall = new Float64Array(T)
  const rc = new Float64Array(nd)
  const pr = new Float64Array(nd)
  for (let t = 0; t < T; t++) {
    let tp = 0, fp = 0
    for (let j = 0; j < nd; j++) {
      const e = E[srcE[inds[j]!]!]!, di = srcD[inds[j]!]!
      const ig = e.dtIgnore[t]![di]!
      const mt = e.dtMatched[t]![di]!
      if (mt && !ig) tp++
      else if (!mt && !ig) fp++
      rc[j] = tp / npig
      pr[j] = tp / (fp + tp + SPACING1)
    }
    recall[t] = nd ? rc[nd - 1]! : 0
    for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!
    let pi = 0
    for (let r = 0; r < R; r++) {
      while (pi < nd && rc[pi]! < recThrs[r]!) pi++ // searchsorted(rc, recThr, 'left')
      precision[t * R + r] = pi < nd ? pr[pi]! : 0
    }
  }
  return { precision, recall }
}

/**
 * summarize()'s mean over the entries > -1 of precision [T, R, K, A, M] (ap) or recall [T, K, A, M]:
 * IoU thresholds `ts`, categories `ks`, area index a, maxDets index m; -1 when none is > -1.
 */
export function meanValid(r: Pick<CocoEvalResult, 'precision' | 'recall' | 'dims'>, ap: boolean, ts: readonly number[], ks: readonly number[], a: number, m: number): number {
  const { R, K, A, M } = r.dims
  let s = 0, n = 0
  for (const t of ts) {
    for (const k of ks) {
      if (ap) {
        for (let q = 0; q < R; q++) {
          const v = r.precision[(((t * R + q) * K + k) * A + a) * M + m]!
          if (v > -1) { s += v; n++ }
        }
      } else {
        const v = r.recall[((t * K + k) * A + a) * M + m]!
        if (v > -1) { s += v; n++ }
      }
    }
  }
  return n === 0 ? -1 : s / n
}

/** Evaluate bbox detections against a COCO ground truth, as pycocotools' COCOeval does. */
export function evaluateCoco(gtSet: CocoDataset, detections: readonly CocoDetection[], params: CocoEvalParams = {}): CocoEvalResult {
  const d = defaultCocoParams()
  const imgIds = [...new Set(params.imgIds ?? gtSet.images.map((i) => i.id))].sort((a, b) => a - b)
  const catIds = [...new Set(params.catIds ?? gtSet.categories.map((c) => c.id))].sort((a, b) => a - b)
  const iouThrs = params.iouThrs ?? d.iouThrs
  const recThrs = params.recThrs ?? d.recThrs
  const maxDets = [...(params.maxDets ?? d.maxDets)].sort((a, b) => a - b)
  const areaRng = params.areaRng ?? d.areaRng
  const areaRngLbl = params.areaRngLbl ?? d.areaRngLbl
  const T = iouThrs.length, R = recThrs.length, K = catIds.length, A = areaRng.length, M = maxDets.length
  const maxDet = maxDets[M - 1]!
  const cells = new PairIndex(imgIds, catIds)
  for (const a of gtSet.annotations) {
    const c = cells.cell(a.image_id, a.category_id)
    if (c) c.gt.push({ box: a.bbox, area: a.area ?? a.bbox[2] * a.bbox[3], crowd: !!a.iscrowd, ignore: !!a.iscrowd })
  }
  for (const x of detections) {
    expectArg(Number.isFinite(x.score), 'a finite score', 'detection score', x.score)
    const c = cells.cell(x.image_id, x.category_id)
    if (c) c.dt.push({ box: x.bbox, area: x.bbox[2] * x.bbox[3], score: x.score })
  }
  const precision = new Float64Array(T * R * K * A * M).fill(-1)
  const recall = new Float64Array(T * K * A * M).fill(-1)
  for (let k = 0; k < K; k++) {
    // evaluate(): the (image, category) pairs with ground truth or detections, in image order
    const E: ImgEval[][] = areaRng.map(() => [])
    for (const { gt, dt: all } of cells.ofCategory(k)) {
      const dt = sortByScore(all).slice(0, maxDet)
      const ious = gt.length && dt.length ? bboxIous(dt, gt) : null
      areaRng.forEach((aRng, a) => E[a]!.push(evaluateImg(gt, dt, ious, iouThrs, aRng)))
    }
    // accumulate()
    for (let a = 0; a < A; a++) {
      if (E[a]!.length === 0) continue
      for (let m = 0; m < M; m++) {
        const c = accumulateCurves(E[a]!, maxDets[m]!, T, recThrs)
        if (!c) continue
        for (let t = 0; t < T; t++) {
          recall[((t * K + k) * A + a) * M + m] = c.recall[t]!
          for (let r = 0; r < R; r++) precision[(((t * R + r) * K + k) * A + a) * M + m] = c.precision[t * R + r]!
        }
      }
    }
  }
  const dims = { T, R, K, A, M }
  const res = { precision, recall, dims }

  // summarize()
  const summarize = (ap: boolean, iouThr: number | null, area: string, md: number, kOnly?: number): number => {
    const a = areaRngLbl.indexOf(area)
    const m = maxDets.indexOf(md)
    if (a < 0 || m < 0) return -1
    const ts = iouThr === null ? iouThrs.map((_, i) => i) : iouThrs.flatMap((v, i) => (v === iouThr ? [i] : []))
    return meanValid(res, ap, ts, kOnly === undefined ? catIds.map((_, i) => i) : [kOnly], a, m)
  }
  const lastMd = maxDets[M - 1]!
  const stats = [
    summarize(true, null, 'all', 100), summarize(true, 0.5, 'all', 100), summarize(true, 0.75, 'all', 100),
    summarize(true, null, 'small', 100), summarize(true, null, 'medium', 100), summarize(true, null, 'large', 100),
    summarize(false, null, 'all', 1), summarize(false, null, 'all', 10), summarize(false, null, 'all', 100),
    summarize(false, null, 'small', 100), summarize(false, null, 'medium', 100), summarize(false, null, 'large', 100),
  ]
  const names = new Map(gtSet.categories.map((c) => [c.id, c.name]))
  const perClass = catIds.map((catId, k) => ({
    catId,
    name: names.get(catId) ?? String(catId),
    AP: summarize(true, null, 'all', lastMd, k),
    AP50: summarize(true, 0.5, 'all', lastMd, k),
    AP75: summarize(true, 0.75, 'all', lastMd, k),
  }))
  return {
    params: { imgIds, catIds, iouThrs, recThrs, maxDets, areaRng, areaRngLbl },
    precision, recall, dims, stats, perClass,
    AP: summarize(true, null, 'all', lastMd), AP50: summarize(true, 0.5, 'all', lastMd), AP75: summarize(true, 0.75, 'all', lastMd),
  }
}

/** One (image, category) cell: its ground truth and detections in file order. */
export interface PairCell { imgId: number; gt: EvalGt[]; dt: EvalDt[] }

/**
 * The (image, category) cells that hold ground truth or detections, by category, each category's
 * cells in ascending image order (pycocotools' evalImgs order). Only non-empty cells are made, so a
 * 5,000-image × 1,203-class set costs what its boxes cost, not 6 million empty pairs.
 */
export class PairIndex {
  private readonly imgIndex = new Map<number, number>()
  private readonly catIndex = new Map<number, number>()
  /** per category: image index → cell */
  private readonly byCat: Array<Map<number, PairCell>>
  constructor(readonly imgIds: readonly number[], readonly catIds: readonly number[]) {
    imgIds.forEach((id, i) => this.imgIndex.set(id, i))
    catIds.forEach((id, k) => this.catIndex.set(id, k))
    this.byCat = catIds.map(() => new Map())
  }
  /** Index of a category id among catIds, or undefined. */
  catIndexOf(catId: number): number | undefined { return this.catIndex.get(catId) }
  /** The cell of an evaluated (image, category) pair, made on first use; undefined outside imgIds × catIds. */
  cell(imgId: number, catId: number): PairCell | undefined {
    const i = this.imgIndex.get(imgId)
    const k = this.catIndex.get(catId)
    if (i === undefined || k === undefined) return undefined
    const m = this.byCat[k]!
    let c = m.get(i)
    if (!c) m.set(i, (c = { imgId, gt: [], dt: [] }))
    return c
  }
  /** The existing cell of a pair, or undefined (never makes one). */
  peek(imgId: number, catId: number): PairCell | undefined {
    const i = this.imgIndex.get(imgId)
    const k = this.catIndex.get(catId)
    return i === undefined || k === undefined ? undefined : this.byCat[k]!.get(i)
  }
  /** The non-empty cells of category index k, in ascending image order. */
  ofCategory(k: number): PairCell[] {
    const m = this.byCat[k]!
    return [...m.keys()].sort((a, b) => a - b).map((i) => m.get(i)!).filter((c) => c.gt.length > 0 || c.dt.length > 0)
  }
}
