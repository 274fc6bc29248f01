/**
 * Answer parsing for Visual-RFT completions. Never throws, never returns NaN: every input string maps
 * to a parsed value or to an explicit `malformed` result with a reason.
 *
 * Rules (written down so rewards and evaluation agree):
 * - Tags: `extractTag(text, 'answer')` takes the text after the FIRST `<answer>` up to the next
 *   `</answer>` (across newlines). If the closing tag is missing (generation cut off) the body runs to
 *   the end of the text and `closed` is false. No opening tag → null.
 * - Detection answer body:
 *   * `No Objects` (any case, optional quotes/brackets/period around it) or an empty list `[]` → `none`.
 *   * Otherwise every complete `{...}` object is read; quotes may be single or double, keys are
 *     `Position` / `Confidence` (any case), `[[`/`]]` around the list or the position are tolerated,
 *     newlines anywhere, text after the last object (trailing garbage) is ignored.
 *   * Truncation mid-list: an unfinished object after the last `}` is dropped (`truncated: true`),
 *     as if the list were cut at the last complete `}` and closed.
 *   * Each object needs a Position of exactly 4 finite numbers and a Confidence that is a finite
 *     number in [0, 1]; anything else (NaN, Infinity, 1e999, 93, missing key) makes the whole answer
 *     `malformed` — a NaN confidence must never reach a reward.
 *   * Keys are matched in a copy of the body where only ASCII A–Z are lower-cased, so the copy has the
 *     body's length and every position found in it indexes it; the whole answer is read from that copy
 *     (full Unicode lower-casing can change a string's length: `İ` becomes two code units, which once
 *     shifted every later position).
 *   * Coordinates: reversed corners are swapped; values are clamped to [0, maxX] × [0, maxY]
 *     (default 1000 × 1000, the Qwen2-VL grid; pass the resized image size for Qwen2.5-VL, or
 *     Infinity to only clamp at 0). Exact duplicate boxes (same corners after that) are dropped,
 *     keeping the first, and counted — for predictions; ground truth read with `dedupe: false` keeps
 *     them (COCOeval counts every ground-truth box).
 *   * An answer with `{` but no complete object, or with neither `{` nor `No Objects`, is malformed.
 * - Grounding answer body: the first box written as `(x1,y1),(x2,y2)` or `[x1, y1, x2, y2]`
 *   (spaces and decimals allowed), whichever comes first; same swap/clamp rules (default 0–1000).
 *   No such box, or a non-finite number → null.
 * - Classification: the answer body (or, as in the reference, the whole completion when there is no
 *   `<answer>` tag) trimmed; compared through `normalizeLabel` (lowercase, whitespace, `_` and
 *   surrounding quotes/periods removed).
 */
import { normalizeBox, type Box } from './boxes.js'

/** Result of `extractTag`. */
export interface TagContent {
  /** Text between the tags (not trimmed). */
  body: string
  /** False when the closing tag was missing and the body runs to the end of the text. */
  closed: boolean
}

/** Content of the first `<tag>…</tag>` (or `<tag>…` to the end when unclosed); null without `<tag>`. */
export function extractTag(text: string, tag: string): TagContent | null {
  const open = `<${tag}>`
  const start = text.indexOf(open)
  if (start < 0) return null
  const from = start + open.length
  const end = text.indexOf(`</${tag}>`, from)
  return end < 0 ? { body: text.slice(from), closed: false } : { body: text.slice(from, end), closed: true }
}

/** The `<answer>` body, trimmed, or null when there is no `<answer>` tag. */
export function extractAnswer(text: string): string | null {
  const t = extractTag(text, 'answer')
  return t === null ? null : t.body.trim()
}

/** The `<think>` body, trimmed, or null. */
export function extractThink(text: string): string | null {
  const t = extractTag(text, 'think')
  return t === null ? null : t.body.trim()
}

/** One predicted box with its confidence. */
export interface DetectionPrediction {
  box: Box
  confidence: number
}

/** Parsed detection answer. */
export type DetectionParse =
  | { kind: 'boxes'; boxes: DetectionPrediction[]; truncated: boolean; duplicates: number }
  | { kind: 'none' }
  | { kind: 'malformed'; reason: string }

/** Coordinate limits used for clamping. */
export interface CoordLimits {
  /** Largest x (default 1000). */
  maxX?: number
  /** Largest y (default 1000). */
  maxY?: number
}

/** Options of the detection parser: clamp limits, and whether exact duplicate boxes are dropped (default true). */
export interface DetectionParseOptions extends CoordLimits {
  dedupe?: boolean
}

/** ASCII-only lower-casing: A–Z → a–z, every other code unit kept, so the result has the same length. */
export function asciiLower(s: string): string {
  if (!/[A-Z]/.test(s)) return s
  // all-ASCII text (the usual answer): the built-in lower-casing is the same and faster
  return /^[\x00-\x7f]*$/.test(s) ? s.toLowerCase() : s.replace(/[A-Z]+/g, (m) => m.toLowerCase())
}

const NO_OBJECTS_RE = /^[\s'"`[(]*no\s*objects?[\s'"`.\])]*$/i
const EMPTY_LIST_RE = /^[\s[\]]*$/

function isSpace(c: number): boolean {
  return c === 32 || c === 10 || c === 13 || c === 9 || c === 12 || c === 11
}
function skipSpace(s: string, i: number, end: number): number {
  while (i < end && isSpace(s.charCodeAt(i))) i++
  return i
}
/** Number literal `[-+]?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?` at i, or -1. Writes the value to out[0]. */
function readNum(s: string, i: number, out: number[]): number {
  const start = i
  let c = s.charCodeAt(i)
  if (c === 45 || c === 43) c = s.charCodeAt(++i)
  let digits = 0
  while (c >= 48 && c <= 57) { digits++; c = s.charCodeAt(++i) }
  if (c === 46) {
    c = s.charCodeAt(++i)
    while (c >= 48 && c <= 57) { digits++; c = s.charCodeAt(++i) }
  }
  if (digits === 0) return -1
  if (c === 101 || c === 69) {
    let j = i + 1
    let d = s.charCodeAt(j)
    if (d === 45 || d === 43) d = s.charCodeAt(++j)
    if (d >= 48 && d <= 57) {
      while (d >= 48 && d <= 57) d = s.charCodeAt(++j)
      i = j
    }
  }
  out[0] = Number(s.slice(start, i))
  return i
}
/** After a key at k (length len) inside [.., end): optional quote, spaces, ':', spaces → index of the value, or -1. */
function afterKey(s: string, k: number, len: number, end: number): number {
  let i = k + len
  const q = s.charCodeAt(i)
  if (q === 39 || q === 34) i++
  i = skipSpace(s, i, end)
  if (s.charCodeAt(i) !== 58) return -1
  return skipSpace(s, i + 1, end)
}
const tmpNum = [0]

/** `Position: [[a, b, c, d]` inside s[start, end) (s ASCII-lower-cased) → the 4 raw numbers, or null (first valid occurrence). */
function readPosition(s: string, start: number, end: number): number[] | null {
  for (let k = s.indexOf('position', start); k >= 0 && k < end; k = s.indexOf('position', k + 1)) {
    let i = afterKey(s, k, 8, end)
    if (i < 0 || s.charCodeAt(i) !== 91) continue
    while (i < end && s.charCodeAt(i) === 91) i++
    const v: number[] = []
    for (let n = 0; n < 4; n++) {
      i = skipSpace(s, i, end)
      if (n > 0) {
        if (s.charCodeAt(i) !== 44) break
        i = skipSpace(s, i + 1, end)
      }
      i = readNum(s, i, tmpNum)
      if (i < 0 || i > end) break
      v.push(tmpNum[0]!)
    }
    if (v.length !== 4) continue
    i = skipSpace(s, i, end)
    if (s.charCodeAt(i) === 93) return v
  }
  return null
}

/** `Confidence: x` inside s[start, end) (s ASCII-lower-cased) → x (NaN when absent or not a plain number). */
function readConfidence(s: string, start: number, end: number): number {
  for (let k = s.indexOf('confidence', start); k >= 0 && k < end; k = s.indexOf('confidence', k + 1)) {
    const i = afterKey(s, k, 10, end)
    if (i < 0) continue
    const j = readNum(s, i, tmpNum)
    if (j < 0 || j > end) continue
    const c = s.charCodeAt(j)
    const word = (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c === 46
    if (!word) return tmpNum[0]!
  }
  return NaN
}

/** Parse a detection answer body (the text inside `<answer>`). See the file header for the rules. */
export function parseDetectionAnswer(body: string, limits: DetectionParseOptions = {}): DetectionParse {
  const t = asciiLower(body.trim()) // every position below indexes this one copy
  if (t.length === 0) return { kind: 'malformed', reason: 'empty answer' }
  const lastOpen = t.lastIndexOf('{')
  if (lastOpen < 0) {
    if (NO_OBJECTS_RE.test(t)) return { kind: 'none' }
    if (t.includes('[') && EMPTY_LIST_RE.test(t)) return { kind: 'none' }
    return { kind: 'malformed', reason: 'no box objects and no "No Objects"' }
  }
  const dedupe = limits.dedupe ?? true
  const maxX = limits.maxX ?? 1000
  const maxY = limits.maxY ?? 1000
  const boxes: DetectionPrediction[] = []
  let duplicates = 0
  let lastClose = -1
  // complete objects: a '{' followed by a '}' with no brace in between
  // (`close` and `reopen` are searched once per object, not once per '{': linear on '{{{{…}')
  for (let open = t.indexOf('{'); open >= 0; ) {
    const close = t.indexOf('}', open + 1)
    if (close < 0) break
    for (let reopen = t.indexOf('{', open + 1); reopen >= 0 && reopen < close; reopen = t.indexOf('{', reopen + 1)) open = reopen
    lastClose = close
    const n = boxes.length + duplicates + 1
    const p = readPosition(t, open + 1, close)
    if (p === null) return { kind: 'malformed', reason: `box ${n}: Position is not a list of 4 numbers` }
    const x1 = p[0]!, y1 = p[1]!, x2 = p[2]!, y2 = p[3]!
    if (!(Number.isFinite(x1) && Number.isFinite(y1) && Number.isFinite(x2) && Number.isFinite(y2))) {
      return { kind: 'malformed', reason: `box ${n}: non-finite coordinate` }
    }
    const conf = readConfidence(t, open + 1, close)
    if (!(conf >= 0 && conf <= 1)) {
      return { kind: 'malformed', reason: `box ${n}: Confidence missing, not a number or outside [0, 1]` }
    }
    const box = normalizeBox(x1, y1, x2, y2, maxX, maxY)
    let dup = false
    for (let i = 0; dedupe && i < boxes.length; i++) {
      const b = boxes[i]!.box
      if (b[0] === box[0] && b[1] === box[1] && b[2] === box[2] && b[3] === box[3]) { dup = true; break }
    }
    if (dup) duplicates++
    else boxes.push({ box, confidence: conf })
    open = t.indexOf('{', close + 1)
  }
  if (boxes.length === 0) return { kind: 'malformed', reason: 'list truncated before its first complete box' }
  return { kind: 'boxes', boxes, truncated: lastOpen > lastClose, duplicates }
}

/** Parse a whole completion for detection: `<answer>` body, then `parseDetectionAnswer`. */
export function parseDetectionCompletion(completion: string, limits: DetectionParseOptions = {}): DetectionParse {
  const a = extractTag(completion, 'answer')
  if (a === null) return { kind: 'malformed', reason: 'no <answer> tag' }
  return parseDetectionAnswer(a.body, limits)
}

/** JavaScript's `\s` (what the regular expressions of this file meant by a space). */
function isJsSpace(c: number): boolean {
  return c === 32 || (c >= 9 && c <= 13) || c === 0xa0 || c === 0x1680 || (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 || c === 0x2029 || c === 0x202f || c === 0x205f || c === 0x3000 || c === 0xfeff
}
function skipJsSpace(s: string, i: number): number {
  while (i < s.length && isJsSpace(s.charCodeAt(i))) i++
  return i
}
/**
 * `\s* NUM (\s* , \s* NUM){k-1} \s* close` at i (just after the opening bracket): the index after `close`,
 * or -1. The numbers go to `out`. A number is followed by a space, ',' or the closing bracket, so the greedy
 * reading is the only one a backtracking regex could find.
 */
function readTuple(s: string, i: number, k: number, close: number, out: number[]): number {
  for (let n = 0; n < k; n++) {
    i = skipJsSpace(s, i)
    if (n > 0) {
      if (s.charCodeAt(i) !== 44) return -1
      i = skipJsSpace(s, i + 1)
    }
    i = readNum(s, i, tmpNum)
    if (i < 0) return -1
    out.push(tmpNum[0]!)
  }
  i = skipJsSpace(s, i)
  return s.charCodeAt(i) === close ? i + 1 : -1
}

/**
 * First grounding box in a text, `(x1,y1),(x2,y2)` or `[x1, y1, x2, y2]`; null when none is valid.
 * One left-to-right scan (linear in the text: no backtracking over runs of spaces).
 */
export function parseGroundingAnswer(body: string, limits: CoordLimits = {}): Box | null {
  const v: number[] = []
  for (let i = 0; i < body.length; i++) {
    const c = body.charCodeAt(i)
    if (c !== 40 && c !== 91) continue
    v.length = 0
    if (c === 91) { // [x1, y1, x2, y2]
      if (readTuple(body, i + 1, 4, 93, v) >= 0) break
    } else { // (x1, y1) ,? (x2, y2)
      let j = readTuple(body, i + 1, 2, 41, v)
      if (j < 0) continue
      j = skipJsSpace(body, j)
      if (body.charCodeAt(j) === 44) j = skipJsSpace(body, j + 1)
      if (body.charCodeAt(j) === 40 && readTuple(body, j + 1, 2, 41, v) >= 0) break
    }
    v.length = 0
  }
  if (v.length !== 4 || !v.every(Number.isFinite)) return null
  return normalizeBox(v[0]!, v[1]!, v[2]!, v[3]!, limits.maxX ?? 1000, limits.maxY ?? 1000)
}

/** Parse a whole completion for grounding (the `<answer>` body; the whole text when there is no tag). */
export function parseGroundingCompletion(completion: string, limits: CoordLimits = {}): Box | null {
  const a = extractTag(completion, 'answer')
  return parseGroundingAnswer(a === null ? completion : a.body, limits)
}

/** Classification answer: `<answer>` body trimmed, else the whole completion trimmed (reference behaviour). */
export function parseClassificationCompletion(completion: string): string {
  const a = extractTag(completion, 'answer')
  return (a === null ? completion : a.body).trim()
}

/** Lowercase, drop whitespace and underscores, and strip surrounding quotes and periods. */
export function normalizeLabel(s: string): string {
  const t = s.toLowerCase().replace(/[\s_]+/g, '')
  // Trimmed by hand: /['"`.]+$/ would retry from every '.' of a long run (quadratic).
  const strip = (c: number) => c === 39 || c === 34 || c === 96 || c === 46
  let a = 0
  let b = t.length
  while (a < b && strip(t.charCodeAt(a))) a++
  while (b > a && strip(t.charCodeAt(b - 1))) b--
  return t.slice(a, b)
}

/**
 * The model's answer to {@link presencePrompt}: true for yes, false for no, null when neither. Reads the
 * `<answer>` content (the whole text when there is none); the first word decides, case-insensitively, and
 * "No Objects" counts as no. Never throws.
 */
export function parsePresenceAnswer(completion: string): boolean | null {
  const body = (extractAnswer(completion) ?? completion).trim().toLowerCase()
  const m = /^[\s"'`*.(\[]*(yes|no|true|false)\b/.exec(body)
  if (!m) return null
  return m[1] === 'yes' || m[1] === 'true'
}
