// Property tests (fast-check): random and mangled completions never throw, never give NaN, and stay in each reward's range.
import t from 'tap'
import fc from 'fast-check'
import type { Sample } from '../lib/data/types.js'
import type { Box } from '../lib/rewards/boxes.js'
import { parseDetectionCompletion, parseGroundingCompletion, parseClassificationCompletion } from '../lib/rewards/parse.js'
import { rewardSet, scoreCompletions } from '../lib/rewards/scorer.js'

const num = fc.oneof(
  fc.integer({ min: -2000, max: 3000 }).map(String),
  fc.double({ noNaN: false }).map(String),
  fc.constantFrom('NaN', 'Infinity', '-Infinity', '1e999', '.5', '1.', '', 'abc', '0.93'),
)
const boxObj = fc.tuple(num, num, num, num, num, fc.constantFrom("'", '"', ''), fc.boolean()).map(
  ([a, b, c, d, conf, q, dbl]) => `{${q}Position${q}: ${dbl ? '[[' : '['}${a}, ${b}, ${c}, ${d}${dbl ? ']]' : ']'}, ${q}Confidence${q}: ${conf}}`,
)
const validish = fc.tuple(fc.string(), fc.array(boxObj, { maxLength: 6 }), fc.constantFrom('', ' ', '\n'), fc.boolean()).map(
  ([think, boxes, sep, none]) => `<think>${think}</think>${sep}<answer>${none ? 'No Objects' : `[${boxes.join(', ')}]`}</answer>`,
)
// mangle: truncate, delete a span, duplicate a span, insert junk
const mangled = fc.tuple(validish, fc.nat(), fc.nat(), fc.string(), fc.integer({ min: 0, max: 3 })).map(([s, i, j, junk, op]) => {
  const a = i % (s.length + 1)
  const b = j % (s.length + 1)
  const [lo, hi] = a < b ? [a, b] : [b, a]
  switch (op) {
    case 0: return s.slice(0, lo)
    case 1: return s.slice(0, lo) + s.slice(hi)
    case 2: return s.slice(0, hi) + s.slice(lo, hi) + s.slice(hi)
    default: return s.slice(0, lo) + junk + s.slice(lo)
  }
})
const grounding = fc.tuple(num, num, num, num, fc.boolean(), fc.string()).map(([a, b, c, d, list, junk]) =>
  list ? `<think>x</think><answer>[${a}, ${b}, ${c}, ${d}]${junk}</answer>` : `<think>x</think><answer>(${a},${b}),(${c},${d})${junk}</answer>`)
const completion = fc.oneof(fc.string(), fc.string({ unit: 'grapheme' }), validish, mangled, grounding)

const gtBoxes = fc.array(fc.tuple(fc.integer({ min: 0, max: 900 }), fc.integer({ min: 0, max: 900 }), fc.integer({ min: 1, max: 100 }), fc.integer({ min: 1, max: 100 }))
  .map(([x, y, w, h]) => [x, y, x + w, y + h] as Box), { maxLength: 5 })

const RANGES: Record<string, [number, number]> = { iou: [0, 1], confidence: [0, 1], format: [0, 1], accuracy: [0, 1] }

t.test('parsers never throw and never yield NaN', async (t) => {
  fc.assert(fc.property(completion, (c) => {
    const d = parseDetectionCompletion(c)
    if (d.kind === 'boxes') for (const b of d.boxes) if (![...b.box, b.confidence].every(Number.isFinite) || b.confidence < 0 || b.confidence > 1) return false
    const g = parseGroundingCompletion(c)
    if (g !== null && !g.every((v) => Number.isFinite(v) && v >= 0 && v <= 1000)) return false
    return typeof parseClassificationCompletion(c) === 'string'
  }), { numRuns: 3000 })
  t.pass('3000 random completions')
})

t.test('detection rewards: finite and in range', async (t) => {
  const set = rewardSet('detection')
  await fc.assert(fc.asyncProperty(fc.array(completion, { minLength: 1, maxLength: 8 }), gtBoxes, async (cs, boxes) => {
    const s: Sample = { id: 'p', image: { path: 'x' }, problem: '', solution: '', boxes }
    const r = await scoreCompletions(set, cs, cs.map(() => s))
    for (const [name, v] of Object.entries(r.components)) for (const x of v) if (!(x >= RANGES[name]![0] && x <= RANGES[name]![1])) return false
    return [...r.totals].every((x) => Number.isFinite(x) && x >= 0 && x <= 3)
  }), { numRuns: 600 })
  t.pass('detection')
})

t.test('classification and grounding rewards: finite and in range', async (t) => {
  const cls = [rewardSet('classification'), rewardSet('classification', { classification: { mode: 'substring', classes: ['pug', 'beagle', 'great pyrenees'] } })]
  const gr = [rewardSet('grounding'), rewardSet('grounding', { grounding: { mode: 'giou' } })]
  await fc.assert(fc.asyncProperty(completion, fc.constantFrom('pug', 'great pyrenees', 'x'), async (c, label) => {
    const s: Sample = { id: 'c', image: { path: 'x' }, problem: '', solution: `<answer>${label}</answer>`, box: [100, 100, 400, 300] }
    for (const set of cls) {
      const r = await scoreCompletions(set, [c], [s])
      if (!(r.totals[0]! >= 0 && r.totals[0]! <= 2)) return false
    }
    const a = await scoreCompletions(gr[0]!, [c], [s])
    const b = await scoreCompletions(gr[1]!, [c], [s])
    return a.components.iou![0]! >= 0 && a.components.iou![0]! <= 1 && b.components.giou![0]! >= 0 && b.components.giou![0]! <= 2
  }), { numRuns: 1500 })
  t.pass('classification + grounding')
})

// Text between objects is never read: any Unicode there (length-changing case folds like İ, astral
// characters, lone surrogates, quotes, keys) leaves the boxes as they were. Braces and `</answer>` are
// left out of the inserted text: they would make or end objects.
t.test('detection parser: the same boxes with any Unicode inserted between objects', async (t) => {
  const coord = fc.integer({ min: -50, max: 1200 })
  const obj = fc.tuple(coord, coord, coord, coord, fc.integer({ min: 0, max: 100 }), fc.constantFrom("'", '"'), fc.boolean()).map(
    ([a, b, c, d, p, q, upper]) => `{${q}${upper ? 'POSITION' : 'Position'}${q}: [${a}, ${b}, ${c}, ${d}], ${q}Confidence${q}: ${p / 100}}`)
  const tricky = fc.constantFrom('İ', 'İİİİİİ', 'ẞ', 'ŉ', 'ǰ', 'ΐ', '\u212A', 'ﬃ', '\uD800', '😀', 'Position: [1, 2, 3, 4]', "'Confidence': 1.0", ', ', '\n', '[')
  const junk = fc.array(fc.oneof(fc.string({ unit: 'binary' }), fc.string({ unit: 'grapheme' }), tricky), { maxLength: 4 })
    .map((xs) => xs.join('')).filter((s) => !/[{}]/.test(s) && !s.includes('</answer>'))
  fc.assert(fc.property(fc.array(obj, { minLength: 1, maxLength: 5 }), fc.array(junk, { minLength: 6, maxLength: 6 }), (objs, ins) => {
    const plain = `<think>x</think><answer>[${objs.join(', ')}]</answer>`
    const mixed = `<think>x</think><answer>[${ins[0]}${objs.map((o, i) => o + (i < objs.length - 1 ? `,${ins[i + 1]} ` : '')).join('')}${ins[5]}]</answer>`
    const a = parseDetectionCompletion(plain)
    const b = parseDetectionCompletion(mixed)
    return a.kind === 'boxes' && JSON.stringify(a) === JSON.stringify(b)
  }), { numRuns: 2000 })
  t.pass('2000 completions with inserted text')
})
