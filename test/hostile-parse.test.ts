// Issue 24 item 2: the answer parsers are linear. Inputs that took the old regular expressions tens of
// seconds (a grounding answer padded with 200k spaces, a label with 200k dots, 200k '{' before a '}') parse
// in milliseconds, and the hand-written grounding scanner finds exactly the box the old expressions found.
import t from 'tap'
import { normalizeLabel, parseDetectionAnswer, parseGroundingAnswer, parseGroundingCompletion } from '../lib/rewards/parse.js'
import { normalizeBox } from '../lib/rewards/boxes.js'

const N = 200_000
const ms = (f: () => unknown) => {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

t.test('hostile answers parse in linear time', async (t) => {
  const cases: Array<[string, () => unknown]> = [
    ['grounding: (x,y) then 200k spaces', () => parseGroundingCompletion(`<answer>(1,2)${' '.repeat(N)}x</answer>`)],
    ['grounding: [ then 200k spaces', () => parseGroundingCompletion(`<answer>[1,${' '.repeat(N)}x</answer>`)],
    ['grounding: 200k "(1," ', () => parseGroundingAnswer('(1,'.repeat(N / 3))],
    ['classification label: 200k dots inside', () => normalizeLabel(`a${'.'.repeat(N)}b`)],
    ['classification label: 200k quotes inside', () => normalizeLabel(`"${'"'.repeat(N)}b`)],
    ['detection: 200k "{" then "}"', () => parseDetectionAnswer(`${'{'.repeat(N)}}`)],
  ]
  for (const [name, f] of cases) {
    f() // warm the JIT
    const took = ms(f)
    t.ok(took < 250, `${name}: ${took.toFixed(1)} ms < 250 ms`)
  }
  t.equal(normalizeLabel(`a${'.'.repeat(N)}b`).length, N + 2, 'inner dots are kept')
  t.equal(normalizeLabel(`..."Cat_Dog".`), 'catdog')
  t.equal(normalizeLabel(`...`), '')
})

// The expressions the scanner replaced, kept here as the reference of its behaviour.
const NUM = String.raw`[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?`
const TUPLE = new RegExp(String.raw`\(\s*(${NUM})\s*,\s*(${NUM})\s*\)\s*,?\s*\(\s*(${NUM})\s*,\s*(${NUM})\s*\)`)
const LIST = new RegExp(String.raw`\[\s*(${NUM})\s*,\s*(${NUM})\s*,\s*(${NUM})\s*,\s*(${NUM})\s*\]`)
function reference(body: string) {
  const a = TUPLE.exec(body)
  const b = LIST.exec(body)
  const m = a !== null && (b === null || a.index <= b.index) ? a : b
  if (m === null) return null
  const v = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])]
  if (!v.every(Number.isFinite)) return null
  return normalizeBox(v[0]!, v[1]!, v[2]!, v[3]!, 1000, 1000)
}

t.test('the grounding scanner agrees with the regular expressions it replaced', async (t) => {
  // seeded xorshift; strings built from the pieces boxes are made of
  let s = 0x9e3779b9
  const rnd = (n: number) => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5
    return (s >>> 0) % n
  }
  const pieces = ['(', ')', '[', ']', ',', ' ', '\n', '\u00a0', '\u2003', '1', '25', '3.5', '.5', '7.', '-4', '+2', '1e3', '2e', 'e', '.', 'x', '1e999', '((', '),(', ', ']
  let disagree = 0
  let boxes = 0
  const n = 20000
  for (let k = 0; k < n; k++) {
    let str = ''
    const len = 1 + rnd(24)
    for (let i = 0; i < len; i++) str += pieces[rnd(pieces.length)]
    if (rnd(3) === 0) str = `${pieces[rnd(6)]}(${rnd(999)}, ${rnd(999)}),(${rnd(999)},${rnd(999)})${str}`
    if (rnd(3) === 0) str = `${str} [${rnd(999)},${rnd(999)}, ${rnd(999)} ,${rnd(999)}]`
    const want = reference(str)
    const got = parseGroundingAnswer(str)
    if (got !== null) boxes++
    if (JSON.stringify(want) !== JSON.stringify(got)) {
      if (disagree++ < 5) t.fail(`differs on ${JSON.stringify(str)}: ${JSON.stringify(got)} vs ${JSON.stringify(want)}`)
    }
  }
  t.equal(disagree, 0, `${n} random strings parse to the same box`)
  t.ok(boxes > n / 4 && boxes < n, `boxes found in ${boxes} of them, none in the rest`)
})
