/**
 * The synthetic shapes data set: deterministic by seed, decodable PNGs of the requested size, labels
 * and 0–1000 boxes that match what was drawn (the object's colour is inside its box), the base/novel
 * split, and solutions the reward functions score as perfect. Run: npx tap test/synthetic.test.ts
 */
import t from 'tap'
import sharp from 'sharp'
import { COLORS, allClasses, makeSyntheticSet, splitClasses, syntheticTarget } from '../lib/data/synthetic.js'
import { rewardSet, scoreCompletions } from '../lib/rewards/scorer.js'

const bytesOf = (s: { image: unknown }) => (s.image as { bytes: Uint8Array }).bytes

t.test('classification: deterministic, decodable, rewards of the target are perfect', async (t) => {
  const a = await makeSyntheticSet({ task: 'classification', count: 6, seed: 5 })
  const b = await makeSyntheticSet({ task: 'classification', count: 6, seed: 5 })
  const c = await makeSyntheticSet({ task: 'classification', count: 6, seed: 6 })
  t.same(a.map((s) => s.label), b.map((s) => s.label))
  t.ok(a.every((s, i) => Buffer.compare(Buffer.from(bytesOf(s)), Buffer.from(bytesOf(b[i]!))) === 0), 'same bytes for the same seed')
  t.notSame(a.map((s) => Buffer.from(bytesOf(s)).toString('base64')), c.map((s) => Buffer.from(bytesOf(s)).toString('base64')))
  for (const s of a) {
    const m = await sharp(bytesOf(s)).metadata()
    t.equal(m.width, 112)
    t.equal(m.height, 112)
    t.ok(allClasses().includes(s.label!))
  }
  const targets = a.map(syntheticTarget)
  t.match(targets[0], /^<think>colour: \w+ shape: \w+<\/think><answer>\w+ \w+<\/answer>$/)
  const sc = await scoreCompletions(rewardSet('classification'), targets, a)
  t.same([...sc.totals], a.map(() => 2), 'accuracy + format = 2 for the target text')
})

t.test('the drawn colour is inside the object', async (t) => {
  const [s] = await makeSyntheticSet({ task: 'classification', count: 1, seed: 11, classes: ['blue circle'] })
  const { data, info } = await sharp(bytesOf(s!)).raw().toBuffer({ resolveWithObject: true })
  const [r, g, b] = COLORS.blue!
  let hits = 0
  for (let i = 0; i < data.length; i += info.channels) if (Math.abs(data[i]! - r) < 10 && Math.abs(data[i + 1]! - g) < 10 && Math.abs(data[i + 2]! - b) < 10) hits++
  t.ok(hits > 200, `blue pixels: ${hits}`)
})

t.test('detection: boxes in 0–1000 cover the drawn objects', async (t) => {
  const set = await makeSyntheticSet({ task: 'detection', count: 12, seed: 3, size: 140 })
  t.equal(set.length, 12)
  for (const s of set) {
    t.ok(s.boxes!.every((b) => b.every((v) => Number.isInteger(v) && v >= 0 && v <= 1000) && b[0] < b[2] && b[1] < b[3]))
    t.ok(s.problem.includes(s.category!))
  }
  t.ok(set.some((s) => s.boxes!.length > 0))
  // Pixels inside a box differ from the background more than pixels far away (the object is there).
  const s = set.find((x) => x.boxes!.length === 1)!
  const [x1, y1, x2, y2] = s.boxes![0]!.map((v) => Math.round((v / 1000) * 140))
  const { data } = await sharp(bytesOf(s)).raw().toBuffer({ resolveWithObject: true })
  const sat = (x: number, y: number) => { const i = (y * 140 + x) * 3; return Math.max(data[i]!, data[i + 1]!, data[i + 2]!) - Math.min(data[i]!, data[i + 1]!, data[i + 2]!) }
  t.ok(sat(Math.round((x1! + x2!) / 2), Math.round((y1! + y2!) / 2)) > 60, 'centre of the box is a saturated colour')
  const sc = await scoreCompletions(rewardSet('detection'), set.map((x) => `<think>x</think><answer>${x.solution.replace(/<\/?answer>/g, '')}</answer>`), set)
  t.ok([...sc.totals].every((v) => Math.abs(v - 3) < 1e-9), 'perfect answer scores 3 on every image')
})

t.test('base/novel split is a Latin square', async (t) => {
  const { base, novel } = splitClasses()
  t.equal(base.length, 12)
  t.equal(novel.length, 4)
  t.same(new Set(novel.map((c) => c.split(' ')[0])).size, 4, 'each colour once')
  t.same(new Set(novel.map((c) => c.split(' ')[1])).size, 4, 'each shape once')
  for (const n of novel) {
    const [col, sh] = n.split(' ')
    t.ok(base.some((b) => b.startsWith(col + ' ')) && base.some((b) => b.endsWith(' ' + sh)), `${n}: both words seen in base`)
  }
})
