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

interface Gt { id: number; box: number[]; area: number; crowd: boolean }
interface Dt { box: number[]; area: number; score: number }
interface ImgEval {
  dtScores: number[]
  /** [T][D] matched flags */
  dtMatched: Uint8Array[]
  dtIgnore: Uint8Array[]
  gtIgnore: Uint8Array
}

/** IoU matrix [D][G] for [x,y,w,h] boxes, crowd rule of maskApi.c bbIou. */
function bboxIous(dt: Dt[], gt: Gt[]): Float64Array[] {
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

function sortDtByScore(dt: Dt[]): Dt[] {
  return dt.map((d, i) => [d, i] as const).sort((a, b) => b[0].score - a[0].score || a[1] - b[1]).map((x) => x[0])
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
  const imgSet = new Set(imgIds)
  const catSet = new Set(catIds)
  const key = (i: number, c: number): string => `${i}:${c}`
  const gts = new Map<string, Gt[]>()
  const dts = new Map<string, Dt[]>()
  for (const a of gtSet.annotations) {
    if (!imgSet.has(a.image_id) || !catSet.has(a.category_id)) continue
    const k = key(a.image_id, a.category_id)
    const g: Gt = { id: a.id, box: a.bbox, area: a.area ?? a.bbox[2] * a.bbox[3], crowd: !!a.iscrowd }
    const l = gts.get(k)
    if (l) l.push(g)
    else gts.set(k, [g])
  }
  for (const x of detections) {
    expectArg(Number.isFinite(x.score), 'a finite score', 'detection score', x.score)
    if (!imgSet.has(x.image_id) || !catSet.has(x.category_id)) continue
    const k = key(x.image_id, x.category_id)
    const t: Dt = { box: x.bbox, area: x.bbox[2] * x.bbox[3], score: x.score }
    const l = dts.get(k)
    if (l) l.push(t)
    else dts.set(k, [t])
  }
  const T = iouThrs.length, R = recThrs.length, K = catIds.length, A = areaRng.length, M = maxDets.length
  const maxDet = maxDets[M - 1]!

  // evaluate(): per category, area range, image
  const evalImgs: Array<ImgEval | null> = []
  for (const catId of catIds) {
    const prepared = imgIds.map((imgId) => {
      const gt = gts.get(key(imgId, catId)) ?? []
      const dt = sortDtByScore(dts.get(key(imgId, catId)) ?? []).slice(0, maxDet)
      return { gt, dt, ious: gt.length && dt.length ? bboxIous(dt, gt) : null }
    })
    for (const aRng of areaRng) {
      for (const { gt: gt0, dt, ious } of prepared) {
        if (gt0.length === 0 && dt.length === 0) { evalImgs.push(null); continue }
        const ign0 = gt0.map((g) => g.crowd || g.area < aRng[0] || g.area > aRng[1])
        const order = gt0.map((_, i) => i).sort((a, b) => Number(ign0[a]) - Number(ign0[b]) || a - b)
        const gt = order.map((i) => gt0[i]!)
        const gtIg = Uint8Array.from(order.map((i) => (ign0[i] ? 1 : 0)))
        const G = gt.length, D = dt.length
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
            if (!dtm[di] && (dt[di]!.area < aRng[0] || dt[di]!.area > aRng[1])) dtIg[di] = 1
          }
          dtMatched.push(dtm)
          dtIgnore.push(dtIg)
        }
        evalImgs.push({ dtScores: dt.map((x) => x.score), dtMatched, dtIgnore, gtIgnore: gtIg })
      }
    }
  }

  // accumulate()
  const precision = new Float64Array(T * R * K * A * M).fill(-1)
  const recall = new Float64Array(T * K * A * M).fill(-1)
  const I = imgIds.length
  for (let k = 0; k < K; k++) {
    for (let a = 0; a < A; a++) {
      for (let m = 0; m < M; m++) {
        const md = maxDets[m]!
        const E: ImgEval[] = []
        for (let i = 0; i < I; i++) {
          const e = evalImgs[k * A * I + a * I + i]
          if (e) E.push(e)
        }
        if (E.length === 0) continue
        const scores: number[] = []
        const src: Array<[number, number]> = [] // (E index, detection index)
        E.forEach((e, ei) => e.dtScores.slice(0, md).forEach((s, di) => { scores.push(s); src.push([ei, di]) }))
        const inds = scores.map((_, i) => i).sort((x, y) => scores[y]! - scores[x]! || x - y)
        let npig = 0
        for (const e of E) for (const v of e.gtIgnore) if (v === 0) npig++
        if (npig === 0) continue
        const nd = inds.length
        for (let t = 0; t < T; t++) {
          const rc = new Float64Array(nd)
          const pr = new Array<number>(nd)
          let tp = 0, fp = 0
          for (let j = 0; j < nd; j++) {
            const [ei, di] = src[inds[j]!]!
            const ig = E[ei]!.dtIgnore[t]![di]!
            const mt = E[ei]!.dtMatched[t]![di]!
            if (mt && !ig) tp++
            else if (!mt && !ig) fp++
            rc[j] = tp / npig
            pr[j] = tp / (fp + tp + SPACING1)
          }
          recall[((t * K + k) * A + a) * M + m] = nd ? rc[nd - 1]! : 0
          for (let j = nd - 1; j > 0; j--) if (pr[j]! > pr[j - 1]!) pr[j - 1] = pr[j]!
          let pi = 0
          for (let r = 0; r < R; r++) {
            while (pi < nd && rc[pi]! < recThrs[r]!) pi++ // searchsorted(rc, recThr, 'left')
            const v = pi < nd ? pr[pi]! : 0
            precision[(((t * R + r) * K + k) * A + a) * M + m] = v
          }
        }
      }
    }
  }

  // summarize()
  const summarize = (ap: boolean, iouThr: number | null, area: string, md: number, kOnly?: number): number => {
    const a = areaRngLbl.indexOf(area)
    const m = maxDets.indexOf(md)
    if (a < 0 || m < 0) return -1
    const ts = iouThr === null ? iouThrs.map((_, i) => i) : iouThrs.flatMap((v, i) => (v === iouThr ? [i] : []))
    const ks = kOnly === undefined ? catIds.map((_, i) => i) : [kOnly]
    let s = 0, n = 0
    for (const t of ts) {
      for (const k of ks) {
        if (ap) {
          for (let r = 0; r < R; r++) {
            const v = precision[(((t * R + r) * K + k) * A + a) * M + m]!
            if (v > -1) { s += v; n++ }
          }
        } else {
          const v = recall[((t * K + k) * A + a) * M + m]!
          if (v > -1) { s += v; n++ }
        }
      }
    }
    return n === 0 ? -1 : s / n
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
    precision, recall, dims: { T, R, K, A, M }, stats, perClass,
    AP: summarize(true, null, 'all', lastMd), AP50: summarize(true, 0.5, 'all', lastMd), AP75: summarize(true, 0.75, 'all', lastMd),
  }
}
