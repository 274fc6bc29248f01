/**
 * The verifiable rewards of Visual-RFT as pure functions: format, detection IoU, detection confidence,
 * classification accuracy, grounding IoU / GIoU+1. Each has a score function on parsed values and a
 * `(completion, sample) => number` factory whose options are named and documented here.
 *
 * Detection (τ = `threshold`, default 0.5, strict `>`):
 *   predictions sorted by confidence (descending, stable); each takes the still-unmatched ground-truth
 *   box with the highest IoU (first one on ties) and is matched when IoU > τ: iou_i = that IoU, else 0
 *   (and the ground truth stays free).
 *   R_IoU  = Σ iou_i / max(P, G) capped at 1 (`normalize: 'max'`, reference code, default) or
 *            Σ iou_i / P (`normalize: 'pred'`, paper).
 *   R_conf = mean_i (c_i if iou_i ≠ 0 else 1 − c_i), clipped to [0, 1].
 *   Cases: G = 0 and `No Objects`/`[]` → R_IoU = R_conf = 1; G = 0 with boxes → R_IoU = 0, R_conf as
 *   the formula (all unmatched: mean(1 − c_i)); G > 0 and `No Objects` → 0, 0; malformed answer
 *   (parse.ts rules) or no `<answer>` → 0, 0.
 * Ranges: format, IoU, confidence, classification, grounding-IoU in [0, 1]; grounding GIoU+1 in [0, 2].
 */
import { GRPO_DEFAULTS } from '../defaults.js'
import { VrftError } from '../errors.js'
import type { Sample } from '../sample.js'
import { giou, iou, type Box } from './boxes.js'
import {
  extractTag,
  normalizeLabel,
  parseClassificationCompletion,
  parseDetectionAnswer,
  parseDetectionCompletion,
  parseGroundingAnswer,
  parseGroundingCompletion,
  type CoordLimits,
  type DetectionParse,
} from './parse.js'

/** A reward: any function of a completion and its sample. Built-ins are synchronous. */
export type RewardFn = (completion: string, sample: Sample) => number | Promise<number>

const FORMAT_RE = /^<think>.*?<\/think>\s*<answer>.*?<\/answer>$/s

/** 1 when the whole completion is `<think>…</think>` + whitespace + `<answer>…</answer>` (dot-all, full match), else 0. */
export function formatReward(completion: string): number {
  return FORMAT_RE.test(completion) ? 1 : 0
}

/** Defaults of the reward and advantage options: the training defaults' values (lib/defaults.ts). */
export const REWARD_DEFAULTS = Object.freeze({
  iouThreshold: GRPO_DEFAULTS.iouThreshold,
  iouNormalize: GRPO_DEFAULTS.iouNormalize,
  classificationMatch: GRPO_DEFAULTS.classificationMatch,
  groundingReward: GRPO_DEFAULTS.groundingReward,
  advantageScale: GRPO_DEFAULTS.advantageScale,
})

// ---------------------------------------------------------------------------------------- detection

/** Options of the detection rewards. */
export interface DetectionRewardOptions {
  /** IoU a prediction must exceed (strictly) to count as matched. Default 0.5. */
  threshold?: number
  /** `max`: divide by max(#pred, #gt) and cap at 1 (reference code, default); `pred`: divide by #pred (paper). */
  normalize?: 'max' | 'pred'
  /** Clamp limits for predicted coordinates. Default: the sample's resized size when `meta` has one, else 1000 × 1000. */
  limits?: CoordLimits
}

/**
 * Greedy matching. Returns iou_i per prediction and the confidences, both in confidence-sorted order.
 * `preds` are not modified.
 */
export function matchDetections(
  preds: ReadonlyArray<{ box: Box; confidence: number }>,
  gt: readonly Box[],
  threshold: number = REWARD_DEFAULTS.iouThreshold,
): { ious: Float64Array; confidences: Float64Array } {
  // stable insertion sort of indices by confidence, descending (lists are short)
  const order = new Int32Array(preds.length)
  for (let i = 0; i < preds.length; i++) {
    const c = preds[i]!.confidence
    let j = i
    while (j > 0 && preds[order[j - 1]!]!.confidence < c) { order[j] = order[j - 1]!; j-- }
    order[j] = i
  }
  const used = new Uint8Array(gt.length)
  const ious = new Float64Array(preds.length)
  const confidences = new Float64Array(preds.length)
  for (let k = 0; k < order.length; k++) {
    const p = preds[order[k]!]!
    confidences[k] = p.confidence
    let best = -1
    let bestIou = -1
    for (let g = 0; g < gt.length; g++) {
      if (used[g]) continue
      const v = iou(p.box, gt[g]!)
      if (v > bestIou) { bestIou = v; best = g }
    }
    if (best >= 0 && bestIou > threshold) { used[best] = 1; ious[k] = bestIou }
  }
  return { ious, confidences }
}

// One-entry cache of the last matching (IoU and confidence rewards of one completion share it).
let lastMatchPreds: unknown = null
let lastMatchGt: unknown = null
let lastMatchThr = NaN
let lastMatch: { ious: Float64Array; confidences: Float64Array } | null = null
function cachedMatch(preds: ReadonlyArray<{ box: Box; confidence: number }>, gt: readonly Box[], threshold: number) {
  if (lastMatch !== null && preds === lastMatchPreds && gt === lastMatchGt && threshold === lastMatchThr) return lastMatch
  lastMatch = matchDetections(preds, gt, threshold)
  lastMatchPreds = preds
  lastMatchGt = gt
  lastMatchThr = threshold
  return lastMatch
}

/** R_IoU of a parsed answer against ground-truth boxes. */
export function detectionIoUScore(parse: DetectionParse, gt: readonly Box[], opts: DetectionRewardOptions = {}): number {
  if (parse.kind === 'malformed') return 0
  if (parse.kind === 'none') return gt.length === 0 ? 1 : 0
  if (gt.length === 0) return 0
  const { ious } = cachedMatch(parse.boxes, gt, opts.threshold ?? REWARD_DEFAULTS.iouThreshold)
  let s = 0
  for (let i = 0; i < ious.length; i++) s += ious[i]!
  const n = (opts.normalize ?? REWARD_DEFAULTS.iouNormalize) === 'max' ? Math.max(ious.length, gt.length) : ious.length
  const r = s / n
  return r > 1 ? 1 : r
}

/** R_conf of a parsed answer against ground-truth boxes. */
export function detectionConfidenceScore(parse: DetectionParse, gt: readonly Box[], opts: DetectionRewardOptions = {}): number {
  if (parse.kind === 'malformed') return 0
  if (parse.kind === 'none') return gt.length === 0 ? 1 : 0
  const { ious, confidences } = cachedMatch(parse.boxes, gt, opts.threshold ?? REWARD_DEFAULTS.iouThreshold)
  let s = 0
  for (let i = 0; i < ious.length; i++) s += ious[i] !== 0 ? confidences[i]! : 1 - confidences[i]!
  const r = s / ious.length
  return r < 0 ? 0 : r > 1 ? 1 : r
}

const truthCache = new WeakMap<Sample, Box[]>()

/**
 * Detection ground truth of a sample: `boxes`, else parsed from `solution` (no upper clamp). Duplicate
 * boxes are kept either way (COCOeval counts every ground-truth box; only predictions are deduplicated).
 * Throws ERR_DATA_SOLUTION when unreadable.
 */
export function detectionTruth(sample: Sample): Box[] {
  if (sample.boxes) return sample.boxes
  let b = truthCache.get(sample)
  if (b) return b
  const body = extractTag(sample.solution, 'answer')?.body ?? sample.solution
  const p = parseDetectionAnswer(body, { maxX: Infinity, maxY: Infinity, dedupe: false })
  if (p.kind === 'malformed') {
    throw new VrftError('ERR_DATA_SOLUTION', `Expected a detection solution (box list or No Objects) for sample ${sample.id} but received ${JSON.stringify(sample.solution.slice(0, 80))} (${p.reason})`)
  }
  b = p.kind === 'none' ? [] : p.boxes.map((x) => x.box)
  truthCache.set(sample, b)
  return b
}

/**
 * Clamp limits for a sample's predicted coordinates: `override` when given, else the resized image size
 * in `sample.meta` (Qwen2.5-VL answers in resized-image pixels), else the 0–1000 grid (Qwen2-VL).
 */
export function coordLimitsOf(sample: Sample, override?: CoordLimits): CoordLimits {
  if (override) return override
  const m = sample.meta
  if (m?.resizedWidth && m.resizedHeight) return { maxX: m.resizedWidth, maxY: m.resizedHeight }
  return {}
}
const limitsFor = (sample: Sample, opts: DetectionRewardOptions): CoordLimits => coordLimitsOf(sample, opts.limits)

// One-entry cache: the IoU and confidence rewards of the same completion parse it once.
let lastText: string | null = null
let lastX = 0
let lastY = 0
let lastParse: DetectionParse = { kind: 'none' }
function cachedParse(completion: string, limits: CoordLimits): DetectionParse {
  const x = limits.maxX ?? 1000
  const y = limits.maxY ?? 1000
  if (completion === lastText && x === lastX && y === lastY) return lastParse
  lastParse = parseDetectionCompletion(completion, limits)
  lastText = completion
  lastX = x
  lastY = y
  return lastParse
}

/** R_IoU as a reward function. */
export function makeDetectionIoUReward(opts: DetectionRewardOptions = {}): (completion: string, sample: Sample) => number {
  return (completion, sample) => detectionIoUScore(cachedParse(completion, limitsFor(sample, opts)), detectionTruth(sample), opts)
}

/** R_conf as a reward function. */
export function makeDetectionConfidenceReward(opts: DetectionRewardOptions = {}): (completion: string, sample: Sample) => number {
  return (completion, sample) => detectionConfidenceScore(cachedParse(completion, limitsFor(sample, opts)), detectionTruth(sample), opts)
}

// ----------------------------------------------------------------------------------- classification

/** Options of the classification reward. */
export interface ClassificationRewardOptions {
  /**
   * `exact` (default, paper): normalized answer equals normalized label.
   * `substring` (reference code): label ⊂ answer or answer ⊂ label after normalization, but refused
   * (0) when the answer may name another class:
   * (a) always, the answer contains a list separator (`,` `;` `/` `|` `&` ` or ` ` and ` newline) that
   *     the label itself does not contain;
   * (b) with a class list (`classes` here or `sample.classes`), the answer contains a class name that is
   *     neither the label nor a part of it, or it is a proper part of more than one class name;
   * (c) without a class list, the comparison is by whole words (runs of letters and digits): the answer's
   *     words must be a run of the label's words, or contain the label's words as a run (the last one
   *     may take a plural `s`/`es`) with every other word a filler word (`FILLER_WORDS`: articles, "is",
   *     "photo of" …). Without a vocabulary, any other word might be a class: `cat dog`, `cat|dog` and
   *     `black/white cat/dog` (label `black/white cat`) are refused, and so is `a great pyrenees dog`
   *     (give the class list to allow words that name no class).
   * An empty answer is always 0 (the reference gave it 1: "" is a substring of every label).
   */
  mode?: 'exact' | 'substring'
  /** Class names of the data set (else `sample.classes`). */
  classes?: readonly string[]
}

const SEPARATORS = [',', ';', '/', '|', '&', ' or ', ' and ', '\n']

/** Words that may surround the label in a substring-mode answer without a class list. */
export const FILLER_WORDS: ReadonlySet<string> = new Set([
  'a', 'an', 'the', 'this', 'that', 'it', 'its', 's', 'is', 'are', 'was', 'be', 'of', 'in', 'on', 'to', 'i', 'think',
  'photo', 'picture', 'image', 'shows', 'showing', 'depicts', 'looks', 'like', 'appears', 'probably', 'likely', 'answer', 'final',
])

const words = (x: string): string[] => x.toLowerCase().split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0)

/** Index where `needle` occurs as a run in `hay` (the last word may carry a plural s/es), or -1. */
function findRun(hay: readonly string[], needle: readonly string[], plural: boolean): number {
  const n = needle.length
  for (let i = 0; i + n <= hay.length; i++) {
    let ok = true
    for (let j = 0; j < n && ok; j++) {
      const h = hay[i + j]!, w = needle[j]!
      ok = h === w || (plural && j === n - 1 && (h === w + 's' || h === w + 'es'))
    }
    if (ok) return i
  }
  return -1
}

/** Rule (c) of the substring mode: whole words, filler words only around the label. */
function wordMatch(answer: string, label: string): boolean {
  const A = words(answer), L = words(label)
  if (A.length === 0 || L.length === 0) return false
  if (findRun(L, A, false) >= 0) return true
  const at = findRun(A, L, true)
  if (at < 0) return false
  return A.every((w, i) => (i >= at && i < at + L.length) || FILLER_WORDS.has(w))
}

/** Classification accuracy reward of an answer string against a label: 0 or 1. */
export function classificationScore(answer: string, label: string, opts: ClassificationRewardOptions = {}): number {
  const a = normalizeLabel(answer)
  const g = normalizeLabel(label)
  if (a.length === 0 || g.length === 0) return 0
  if ((opts.mode ?? REWARD_DEFAULTS.classificationMatch) === 'exact') return a === g ? 1 : 0
  if (a === g) return 1
  if (!(a.includes(g) || g.includes(a))) return 0
  const rawA = ` ${answer.toLowerCase()} `
  const rawG = ` ${label.toLowerCase()} `
  for (const s of SEPARATORS) if (rawA.includes(s) && !rawG.includes(s)) return 0
  const classes = opts.classes
  if (classes && classes.length > 0) {
    const norm = classes.map(normalizeLabel).filter((c) => c.length > 0)
    // any class name inside the answer must be the label or a part of it
    for (const c of norm) if (a.includes(c) && !g.includes(c)) return 0
    if (!a.includes(g) && norm.filter((c) => c.includes(a)).length > 1) return 0
    return 1
  }
  return wordMatch(answer, label) ? 1 : 0
}

/** Classification reward function; the label is `sample.label`, else the solution's answer body. */
export function makeClassificationReward(opts: ClassificationRewardOptions = {}): (completion: string, sample: Sample) => number {
  return (completion, sample) => {
    const label = sample.label ?? parseClassificationCompletion(sample.solution)
    const classes = opts.classes ?? sample.classes
    return classificationScore(parseClassificationCompletion(completion), label, classes ? { ...opts, classes } : opts)
  }
}

// ---------------------------------------------------------------------------------------- grounding

/** Options of the grounding reward. */
export interface GroundingRewardOptions {
  /** `iou` (paper, default): IoU in [0, 1]. `giou`: GIoU + 1 in [0, 2], and 2 for an exact answer-string match (reference code). */
  mode?: 'iou' | 'giou'
  /** Clamp limits for predicted coordinates. Default: the sample's resized size when `meta` has one (Qwen2.5-VL), else 1000 × 1000. */
  limits?: CoordLimits
}

/** Grounding score of a predicted box (null = none) against the ground-truth box. */
export function groundingScore(pred: Box | null, gt: Box, opts: GroundingRewardOptions = {}): number {
  if (pred === null) return 0
  return (opts.mode ?? REWARD_DEFAULTS.groundingReward) === 'iou' ? iou(pred, gt) : giou(pred, gt) + 1
}

/** Grounding ground truth: `sample.box`, else the first box of the solution. Throws ERR_DATA_SOLUTION. */
export function groundingTruth(sample: Sample): Box {
  if (sample.box) return sample.box
  const b = parseGroundingCompletion(sample.solution, { maxX: Infinity, maxY: Infinity })
  if (b === null) throw new VrftError('ERR_DATA_SOLUTION', `Expected a grounding solution "(x1,y1),(x2,y2)" for sample ${sample.id} but received ${JSON.stringify(sample.solution.slice(0, 80))}`)
  return b
}

/** Grounding reward function. */
export function makeGroundingReward(opts: GroundingRewardOptions = {}): (completion: string, sample: Sample) => number {
  return (completion, sample) => {
    const gt = groundingTruth(sample)
    const tag = extractTag(completion, 'answer')
    if ((opts.mode ?? REWARD_DEFAULTS.groundingReward) === 'giou' && tag !== null) {
      const sol = extractTag(sample.solution, 'answer')
      if (sol !== null && sol.body.trim() === tag.body.trim()) return 2
    }
    return groundingScore(parseGroundingAnswer(tag === null ? completion : tag.body, coordLimitsOf(sample, opts.limits)), gt, opts)
  }
}
