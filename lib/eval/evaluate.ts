/**
 * Scoring of model answers without running a model: detection (COCO AP via cocoeval.ts, or LVIS
 * federated AP via lvis.ts when the annotations are LVIS's or `protocol: 'lvis'`; boxes mapped from
 * model coordinates back to image pixels), classification (accuracy overall and per class) and
 * grounding (mIoU and the share with IoU ≥ 0.5). Also reads/writes COCO results files (written
 * atomically: temp file + rename) and scores an existing results file or a JSONL of raw completions
 * against an annotations file. The CLI (`vrft-native eval`) calls these.
 */
import { promises as fsp } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { VrftError, describeValue, expectArg } from '../errors.js'
import type { Sample, Task } from '../sample.js'
import { cornersToXywh, iou, modelToImage, type Box, type CoordSpace } from '../rewards/boxes.js'
import { parseClassificationCompletion, parseDetectionCompletion, parseGroundingCompletion } from '../rewards/parse.js'
import { classificationScore, coordLimitsOf, detectionTruth, groundingTruth, type ClassificationRewardOptions } from '../rewards/rewards.js'
import type { ModelFamily } from '../prompts/index.js'
import { CLASS_LISTS, sameClassName } from '../classes.js'
import { evaluateCoco, type CocoClassResult, type CocoDataset, type CocoDetection, type CocoEvalParams } from './cocoeval.js'
import { LVIS_MAX_DETS, evaluateLvis, isLvisDataset, type LvisClassResult } from './lvis.js'

/** Detection scoring rules: pycocotools' COCOeval, or lvis-api's federated LVISEval. */
export type DetectionProtocol = 'coco' | 'lvis'

/** Detection report. AP values are in [0, 1] (-1: no ground truth for any evaluated class). */
export interface DetectionReport {
  task: 'detection'
  /** Which rules scored it (lvis: federated, 300 detections per image, APr/APc/APf). */
  protocol: DetectionProtocol
  samples: number
  /** Completions whose answer was malformed (scored as no detections). */
  malformed: number
  detections: number
  AP: number
  AP50: number
  AP75: number
  /** AP of small (< 32²), medium and large (> 96²) objects. */
  APs: number
  APm: number
  APl: number
  /** LVIS only: AP over the rare, common and frequent classes (-1 when the group has no evaluated class). */
  APr?: number
  APc?: number
  APf?: number
  /** LVIS only: the per-image cap (maxDets). */
  maxDets?: number
  /**
   * coco: COCOeval.summarize()'s 12 numbers (AP, AP50, AP75, APs, APm, APl, AR1, AR10, AR100, ARs, ARm, ARl);
   * lvis: LVISEval's 13 (AP, AP50, AP75, APs, APm, APl, APr, APc, APf, AR, ARs, ARm, ARl at maxDets).
   */
  stats: number[]
  perClass: Array<CocoClassResult | LvisClassResult>
  /** With `askPresence`: what the model answered before detection (absent pairs get no detections). */
  presence?: PresenceSummary
}

/** The presence questions of an `askPresence` evaluation. */
export interface PresenceSummary {
  /** Where the answers came from: the evaluated model (`askPresence`) or a given map (`presenceMap`). */
  source: 'model' | 'map'
  /** (image, category) pairs decided. */
  asked: number
  /** Answered yes (detection was then asked). */
  saidPresent: number
  /** Answered no (no detections for the pair). */
  saidAbsent: number
  /** Answer neither yes nor no: detection was asked anyway, so no pair is lost to a bad answer. */
  unparsed: number
  /** Share of parsed answers that agree with the ground truth (an object of the class is in the image). */
  agreement: number
}

/** Classification report. */
export interface ClassificationReport {
  task: 'classification'
  samples: number
  accuracy: number
  perClass: Array<{ label: string; samples: number; correct: number; accuracy: number }>
}

/** Grounding report. */
export interface GroundingReport {
  task: 'grounding'
  samples: number
  mIoU: number
  /** Share of samples with IoU ≥ 0.5. */
  iou50: number
  /** Completions without a readable box (IoU 0). */
  noBox: number
}

/** Any evaluation report (JSON-serializable). */
export type EvalReport = DetectionReport | ClassificationReport | GroundingReport

/** Options of `evaluateCompletions`. */
export interface EvaluateOptions {
  /** Model family of the completions (coordinate convention). Default qwen2-vl. */
  family?: ModelFamily
  /** Detection: COCO ground truth. Without it, ground truth is built from the samples' solutions. */
  groundTruth?: CocoDataset
  /** Detection: restrict to these category ids. */
  catIds?: number[]
  /** Detection: scoring rules (default: lvis when `groundTruth` is an LVIS file, else coco). */
  protocol?: DetectionProtocol
  /** Detection, LVIS: detections kept per image (default 300). */
  maxDets?: number
  /** Classification: matching rule (default exact). */
  classification?: ClassificationRewardOptions
  /** Detection: indices of samples whose class the model said is absent (no detections, not malformed). */
  absent?: ReadonlySet<number>
  /** Detection: summary of the presence answers, copied into the report. */
  presence?: PresenceSummary
}

function coordSpace(s: Sample, family: ModelFamily): CoordSpace {
  if (family === 'qwen2-vl') return { kind: 'grid1000' }
  const m = s.meta ?? {}
  if (!m.resizedWidth || !m.resizedHeight) {
    throw new VrftError('ERR_EVAL_INPUT', `Expected meta.resizedWidth/resizedHeight on sample ${s.id} for Qwen2.5-VL pixel coordinates but received none`)
  }
  return { kind: 'pixels', resizedWidth: m.resizedWidth, resizedHeight: m.resizedHeight }
}

const CATEGORY_RE = /category '([^']*)'/

/** A detection sample's category: `sample.category`, else the name quoted in its prompt ("category '…'"); throws ERR_EVAL_INPUT without one. */
export function sampleCategory(s: Sample): string {
  const cat = s.category ?? CATEGORY_RE.exec(s.problem)?.[1]
  if (cat === undefined) throw new VrftError('ERR_EVAL_INPUT', `Expected a category (sample.category or "category '…'" in the prompt) on sample ${s.id} but received neither`)
  return cat
}

/**
 * Convert detection completions to COCO results (pixels, [x, y, w, h], score = confidence).
 * Each sample needs meta.imageId and meta.categoryId, and the image size (meta.width/height or
 * `images`). Returns the detections and the number of malformed answers.
 */
export function detectionsFromCompletions(
  samples: readonly Sample[],
  completions: readonly string[],
  opts: { family?: ModelFamily; images?: ReadonlyMap<number, { width?: number; height?: number }>; absent?: ReadonlySet<number> } = {},
): { detections: CocoDetection[]; malformed: number } {
  expectArg(samples.length === completions.length, `as many completions as samples (${samples.length})`, 'completions', completions)
  const family = opts.family ?? 'qwen2-vl'
  const detections: CocoDetection[] = []
  let malformed = 0
  samples.forEach((s, i) => {
    const m = s.meta ?? {}
    const img = m.imageId === undefined ? undefined : opts.images?.get(m.imageId)
    const w = m.width ?? img?.width
    const h = m.height ?? img?.height
    if (m.imageId === undefined || m.categoryId === undefined || !w || !h) {
      throw new VrftError('ERR_EVAL_INPUT', `Expected meta.imageId, meta.categoryId and the image size on sample ${s.id} but received ${JSON.stringify(m)}`)
    }
    if (opts.absent?.has(i)) return
    const space = coordSpace(s, family)
    const limits = space.kind === 'grid1000' ? {} : { maxX: space.resizedWidth, maxY: space.resizedHeight }
    const p = parseDetectionCompletion(completions[i]!, limits)
    if (p.kind === 'malformed') { malformed++; return }
    if (p.kind === 'none') return
    for (const b of p.boxes) {
      detections.push({ image_id: m.imageId, category_id: m.categoryId, bbox: round4(cornersToXywh(modelToImage(b.box, space, w, h))), score: b.confidence })
    }
  })
  return { detections, malformed }
}

function round4(b: Box): Box {
  return b.map((v) => Math.round(v * 1e4) / 1e4) as Box
}

/**
 * Build a ground truth from samples' own solutions (one image per distinct image id, one category per
 * name). Every duplicate box counts (as COCOeval counts every annotation). Each image lists the asked
 * classes it has no box of in `neg_category_ids`, so the LVIS protocol treats exactly the asked pairs as
 * verified.
 */
export function groundTruthFromSamples(samples: readonly Sample[], family: ModelFamily = 'qwen2-vl'): { gt: CocoDataset; samples: Sample[] } {
  const imgIds = new Map<string, number>()
  const catIds = new Map<string, number>()
  const gt: CocoDataset = { images: [], annotations: [], categories: [] }
  const out: Sample[] = []
  for (const s of samples) {
    const imgKey = s.meta?.imageId !== undefined ? `id:${s.meta.imageId}` : 'path' in s.image && s.image.path ? `p:${s.image.path}` : `s:${s.id}`
    const cat = sampleCategory(s)
    const w = s.meta?.width ?? 1000
    const h = s.meta?.height ?? 1000
    let imageId = imgIds.get(imgKey)
    if (imageId === undefined) {
      imageId = imgIds.size + 1
      imgIds.set(imgKey, imageId)
      gt.images.push({ id: imageId, width: w, height: h, neg_category_ids: [], not_exhaustive_category_ids: [] })
    }
    let categoryId = catIds.get(cat)
    if (categoryId === undefined) {
      categoryId = catIds.size + 1
      catIds.set(cat, categoryId)
      gt.categories.push({ id: categoryId, name: cat })
    }
    const withMeta: Sample = { ...s, meta: { ...s.meta, imageId, categoryId, width: w, height: h } }
    const space = coordSpace(withMeta, family)
    const truth = detectionTruth(s)
    if (truth.length === 0) (gt.images[imageId - 1]!.neg_category_ids as number[]).push(categoryId)
    for (const b of truth) {
      const xywh = cornersToXywh(modelToImage(b, space, w, h))
      gt.annotations.push({ id: gt.annotations.length + 1, image_id: imageId, category_id: categoryId, bbox: xywh, area: xywh[2] * xywh[3], iscrowd: 0 })
    }
    out.push(withMeta)
  }
  return { gt, samples: out }
}

/** Options of `scoreDetections`. */
export interface ScoreDetectionsOptions {
  protocol: DetectionProtocol
  catIds?: number[]
  imgIds?: number[]
  /** LVIS: detections per image (default 300). */
  maxDets?: number
  /** COCO: evaluation parameters (thresholds, maxDets list, areas). */
  params?: CocoEvalParams
}

/** Score detections against a ground truth with the chosen protocol; the report without sample counts. */
export function scoreDetections(gt: CocoDataset, detections: readonly CocoDetection[], o: ScoreDetectionsOptions): Omit<DetectionReport, 'samples' | 'malformed'> {
  const sel = { ...(o.catIds ? { catIds: o.catIds } : {}), ...(o.imgIds ? { imgIds: o.imgIds } : {}) }
  if (o.protocol === 'lvis') {
    const maxDets = o.maxDets ?? LVIS_MAX_DETS
    const r = evaluateLvis(gt, detections, { ...sel, maxDets })
    return {
      task: 'detection', protocol: 'lvis', detections: detections.length, maxDets,
      AP: r.AP, AP50: r.AP50, AP75: r.AP75, APs: r.APs, APm: r.APm, APl: r.APl, APr: r.APr, APc: r.APc, APf: r.APf,
      stats: r.stats, perClass: r.perClass,
    }
  }
  if (o.protocol !== 'coco') throw new VrftError('ERR_INVALID_ARG', `Expected coco or lvis for protocol but received ${describeValue(o.protocol)}`)
  if (o.maxDets !== undefined) throw new VrftError('ERR_INVALID_ARG', `Expected no maxDets with the coco protocol (its per-class caps are 1, 10, 100) but received ${describeValue(o.maxDets)}`)
  const r = evaluateCoco(gt, detections, { ...o.params, ...sel })
  return {
    task: 'detection', protocol: 'coco', detections: detections.length,
    AP: r.AP, AP50: r.AP50, AP75: r.AP75, APs: r.stats[3]!, APm: r.stats[4]!, APl: r.stats[5]!, stats: r.stats, perClass: r.perClass,
  }
}

/**
 * Category ids of a selection: ids, names (LVIS underscores and case do not matter), or the name of a
 * class list of the paper (`lvis-rare-13`, `lvis-fewshot-6`, `coco-fewshot-8`, … see lib/classes.ts).
 * ERR_EVAL_INPUT for a name or id the annotations do not have.
 */
export function resolveCategories(gt: CocoDataset, classes: ReadonlyArray<number | string>, where = 'classes', lists = true): number[] {
  const out: number[] = []
  const one = (c: number | string, from: string): void => {
    const hit = typeof c === 'number' ? gt.categories.find((x) => x.id === c) : typeof c === 'string' ? gt.categories.find((x) => sameClassName(x.name, c)) : undefined
    if (!hit) throw new VrftError('ERR_EVAL_INPUT', `Expected a category of the annotations for ${from} but received ${describeValue(c)}`)
    out.push(hit.id)
  }
  for (const c of classes) {
    const list = lists && typeof c === 'string' && Object.hasOwn(CLASS_LISTS, c) ? CLASS_LISTS[c] : undefined
    if (list) for (const n of list) one(n, `${where} (list ${c})`)
    else one(c, where)
  }
  return [...new Set(out)]
}

/** Samples with meta.categoryId filled from their category name where missing (ERR_EVAL_INPUT for an unknown one). */
function withCategoryIds(samples: readonly Sample[], gt: CocoDataset): Sample[] {
  return samples.map((s) => {
    if (s.meta?.categoryId !== undefined) return s
    const [categoryId] = resolveCategories(gt, [sampleCategory(s)], `sample ${s.id}`, false)
    return { ...s, meta: { ...s.meta, categoryId } }
  })
}

/** Evaluate completions[i] for samples[i]. */
export function evaluateCompletions(task: Task, samples: readonly Sample[], completions: readonly string[], opts: EvaluateOptions = {}): EvalReport {
  expectArg(samples.length === completions.length, `as many completions as samples (${samples.length})`, 'completions', completions)
  if (task === 'detection') {
    let gt = opts.groundTruth
    let ss: readonly Sample[] = samples
    if (!gt) ({ gt, samples: ss } = groundTruthFromSamples(samples, opts.family))
    else ss = withCategoryIds(samples, gt)
    const images = new Map(gt.images.map((i) => [i.id, i]))
    const { detections, malformed } = detectionsFromCompletions(ss, completions, { family: opts.family, images, ...(opts.absent ? { absent: opts.absent } : {}) })
    const catIds = opts.catIds ?? [...new Set(ss.map((s) => s.meta!.categoryId!))]
    const imgIds = [...new Set(ss.map((s) => s.meta!.imageId!))]
    const protocol = opts.protocol ?? (opts.groundTruth && isLvisDataset(opts.groundTruth) ? 'lvis' : 'coco')
    return {
      ...scoreDetections(gt, detections, { protocol, catIds, imgIds, ...(opts.maxDets !== undefined ? { maxDets: opts.maxDets } : {}) }),
      samples: samples.length, malformed,
      ...(opts.presence ? { presence: opts.presence } : {}),
    }
  }
  if (task === 'classification') {
    const per = new Map<string, { samples: number; correct: number }>()
    let correct = 0
    samples.forEach((s, i) => {
      const label = s.label ?? parseClassificationCompletion(s.solution)
      const ok = classificationScore(parseClassificationCompletion(completions[i]!), label, { ...opts.classification, classes: opts.classification?.classes ?? s.classes }) === 1
      const e = per.get(label) ?? { samples: 0, correct: 0 }
      e.samples++
      if (ok) { e.correct++; correct++ }
      per.set(label, e)
    })
    return {
      task, samples: samples.length, accuracy: samples.length ? correct / samples.length : 0,
      perClass: [...per].sort((a, b) => a[0].localeCompare(b[0])).map(([label, e]) => ({ label, ...e, accuracy: e.correct / e.samples })),
    }
  }
  if (task === 'grounding') {
    let sum = 0, hit = 0, noBox = 0
    samples.forEach((s, i) => {
      const gt = groundingTruth(s)
      const p = parseGroundingCompletion(completions[i]!, coordLimitsOf(s))
      if (p === null) { noBox++; return }
      const v = iou(p, gt)
      sum += v
      if (v >= 0.5) hit++
    })
    const n = samples.length
    return { task, samples: n, mIoU: n ? sum / n : 0, iou50: n ? hit / n : 0, noBox }
  }
  throw new VrftError('ERR_INVALID_ARG', `Expected detection, classification or grounding for task but received ${describeValue(task)}`)
}

/** Write a file atomically (temp file in the same folder, then rename). */
export async function writeFileAtomic(path: string, data: string | Uint8Array): Promise<void> {
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${Date.now()}.tmp`)
  try {
    await fsp.writeFile(tmp, data)
    await fsp.rename(tmp, path)
  } catch (e) {
    await fsp.rm(tmp, { force: true })
    throw new VrftError('ERR_EVAL_WRITE', `Could not write ${path}: ${(e as Error).message}`, { path }, { cause: e })
  }
}

/** Write detections as a COCO results file (JSON array), atomically. */
export async function writeCocoResults(path: string, detections: readonly CocoDetection[]): Promise<void> {
  await writeFileAtomic(path, JSON.stringify(detections))
}

async function readJson(path: string, code: string): Promise<unknown> {
  let text: string
  try {
    text = await fsp.readFile(path, 'utf8')
  } catch (e) {
    throw new VrftError(code, `Could not read ${path}: ${(e as Error).message}`, { path }, { cause: e })
  }
  try {
    return JSON.parse(text)
  } catch (e) {
    throw new VrftError(code, `Expected JSON in ${path} but it does not parse: ${(e as Error).message}`, { path }, { cause: e })
  }
}

/** Read and check a COCO / LVIS annotation file (ERR_DATA_COCO on a bad file). */
export async function readCocoAnnotations(path: string): Promise<CocoDataset> {
  const j = (await readJson(path, 'ERR_DATA_COCO')) as Partial<CocoDataset>
  if (!j || !Array.isArray(j.images) || !Array.isArray(j.annotations) || !Array.isArray(j.categories)) {
    throw new VrftError('ERR_DATA_COCO', `Expected a COCO annotation file with images, annotations and categories arrays in ${path}`)
  }
  return j as CocoDataset
}

/** Options of `scoreResultsFile`. */
export interface ScoreFileOptions {
  /** Category ids, names, or class-list names (`lvis-rare-13`) to evaluate (default: all). */
  classes?: Array<number | string>
  /** Scoring rules (default: lvis when the annotations' images carry neg_category_ids, else coco). */
  protocol?: DetectionProtocol
  /** LVIS: detections per image (default 300). */
  maxDets?: number
  /** For a JSONL of raw completions: model family (coordinates). */
  family?: ModelFamily
  params?: CocoEvalParams
}

/**
 * Score an existing COCO results file (`.json`, array of {image_id, category_id, bbox, score}) or a
 * JSONL of raw completions (one {image_id, category_id | category, completion} per line; image
 * sizes from the annotation file) against an annotation file, without a model.
 */
export async function scoreResultsFile(annotationsPath: string, resultsPath: string, opts: ScoreFileOptions = {}): Promise<DetectionReport> {
  const gt = await readCocoAnnotations(annotationsPath)
  const resolveCat = (c: number | string, where: string): number => resolveCategories(gt, [c], where, false)[0]!
  const catIds = opts.classes ? resolveCategories(gt, opts.classes) : undefined
  let detections: CocoDetection[]
  let malformed = 0
  if (resultsPath.endsWith('.jsonl')) {
    const text = await fsp.readFile(resultsPath, 'utf8').catch((e: Error) => { throw new VrftError('ERR_EVAL_INPUT', `Could not read ${resultsPath}: ${e.message}`) })
    const images = new Map(gt.images.map((i) => [i.id, i]))
    const samples: Sample[] = []
    const completions: string[] = []
    text.split('\n').forEach((line, n) => {
      if (line.trim() === '') return
      let r: { image_id?: unknown; category_id?: unknown; category?: unknown; completion?: unknown }
      try { r = JSON.parse(line) } catch (e) {
        throw new VrftError('ERR_EVAL_INPUT', `${resultsPath}:${n + 1}: expected a JSON object but the line does not parse (${(e as Error).message})`, { file: resultsPath, line: n + 1 })
      }
      if (typeof r.image_id !== 'number' || typeof r.completion !== 'string' || !images.has(r.image_id)) {
        throw new VrftError('ERR_EVAL_INPUT', `${resultsPath}:${n + 1}: expected {image_id (an image of the annotation file), category_id or category, completion}`, { file: resultsPath, line: n + 1 })
      }
      const categoryId = resolveCat((r.category_id ?? r.category) as number | string, `${resultsPath}:${n + 1}`)
      samples.push({ id: `${resultsPath}:${n + 1}`, image: { path: '' }, problem: '', solution: '', meta: { imageId: r.image_id, categoryId } })
      completions.push(r.completion)
    })
    ;({ detections, malformed } = detectionsFromCompletions(samples, completions, { family: opts.family, images }))
  } else {
    const j = await readJson(resultsPath, 'ERR_EVAL_INPUT')
    if (!Array.isArray(j)) throw new VrftError('ERR_EVAL_INPUT', `Expected a COCO results array in ${resultsPath} but received ${describeValue(j)}`)
    j.forEach((d: Partial<CocoDetection>, i) => {
      const ok = d && typeof d.image_id === 'number' && typeof d.category_id === 'number' && Array.isArray(d.bbox) && d.bbox.length === 4 &&
        d.bbox.every(Number.isFinite) && Number.isFinite(d.score)
      if (!ok) throw new VrftError('ERR_EVAL_INPUT', `${resultsPath}: result ${i} is not {image_id, category_id, bbox: [x, y, w, h], score}`)
    })
    detections = j as CocoDetection[]
  }
  const protocol = opts.protocol ?? (isLvisDataset(gt) ? 'lvis' : 'coco')
  const scored = scoreDetections(gt, detections, {
    protocol, ...(catIds ? { catIds } : {}), ...(opts.maxDets !== undefined ? { maxDets: opts.maxDets } : {}), ...(opts.params ? { params: opts.params } : {}),
  })
  return { ...scored, samples: detections.length, malformed }
}
