// Detection evaluation with a presence question first (`askPresence`, `vrft-native eval --ask-presence`):
// the answer parser, which pairs get a detection prompt, the report's presence summary, and its effect on AP.
// The policy is a scripted test double: it answers from a table keyed by (sample, kind of prompt).
import { tempDir } from './tmp.js'
import t from 'tap'
import fc from 'fast-check'
import type { Sample } from '../lib/data/types.js'
import { formatReport } from '../lib/eval/report.js'
import type { DetectionReport } from '../lib/eval/evaluate.js'
import { detectionPrompt, detectionSolution, presencePrompt } from '../lib/prompts/index.js'
import { parsePresenceAnswer } from '../lib/rewards/parse.js'
import { arraySource } from '../lib/train/loop.js'
import { evaluatePolicy } from '../lib/train/evaluate.js'
import type { EncodedPrompt, Rollouts, SamplingOptions } from '../lib/train/types.js'

t.test('parsePresenceAnswer: yes / no / unclear, never throws', async (t) => {
  t.equal(parsePresenceAnswer('<think>a cat sits</think><answer>yes</answer>'), true)
  t.equal(parsePresenceAnswer('<think>x</think>\n<answer>\n Yes, there is one.</answer>'), true)
  t.equal(parsePresenceAnswer('<answer>No</answer>'), false)
  t.equal(parsePresenceAnswer('<answer>No Objects</answer>'), false)
  t.equal(parsePresenceAnswer('<answer>"no"</answer>'), false)
  t.equal(parsePresenceAnswer('no answer tags, just No'), false, 'without tags the first word of the text decides')
  t.equal(parsePresenceAnswer('<answer>maybe</answer>'), null)
  t.equal(parsePresenceAnswer('<answer>nothing</answer>'), null, '"nothing" is not the word "no"')
  t.equal(parsePresenceAnswer(''), null)
  fc.assert(fc.property(fc.string(), (s) => {
    const v = parsePresenceAnswer(s)
    return v === null || typeof v === 'boolean'
  }))
})

t.test('presencePrompt names the category and asks for the tagged format', async (t) => {
  const p = presencePrompt('fire hydrant')
  t.match(p, /category 'fire hydrant'/)
  t.match(p, /<answer>yes or no<\/answer>/)
  t.not(p, detectionPrompt('fire hydrant'))
})

// Four (image, 'cat') pairs; the object box is the same in each image that has one.
const BOX = [100, 100, 500, 500] as const
const samples: Sample[] = [0, 1, 2, 3].map((i) => {
  const boxes = i < 2 ? [BOX] : []
  return {
    id: `p-${i}`, image: { path: `/img/${i}.jpg` }, problem: detectionPrompt('cat'), solution: detectionSolution(boxes),
    task: 'detection' as const, category: 'cat', meta: { imageId: i + 1, width: 1000, height: 1000 },
  }
})
const PERFECT = `<think>there</think><answer>[{'Position': [${BOX.join(', ')}], 'Confidence': 0.9}]</answer>`
// [presence answer, detection answer] per sample
const SCRIPT: Array<[string, string]> = [
  ['<answer>yes</answer>', PERFECT],
  ['<answer>no</answer>', PERFECT], // wrongly says absent: its object is then missed
  ['<answer>no</answer>', '<answer>No Objects</answer>'],
  ['<answer>I cannot tell</answer>', '<answer>No Objects</answer>'], // unclear: detection is asked anyway
]
const texts: string[] = SCRIPT.flat()

class ScriptedPolicy {
  asked: Array<{ sample: number; presence: boolean }> = []
  async generate(prompts: readonly EncodedPrompt[], _o: SamplingOptions): Promise<Rollouts> {
    return { numGenerations: 1, completions: prompts.map((p, promptIndex) => {
      const sample = p.inputIds[0]!, presence = p.inputIds[1] === 1
      this.asked.push({ sample, presence })
      const token = 2 * sample + (presence ? 0 : 1)
      return { promptIndex, tokens: Int32Array.of(token), logprobs: Float32Array.of(0), finished: true }
    }) }
  }
}
const encode = async (s: Sample): Promise<EncodedPrompt> => ({
  inputIds: Int32Array.of(Number(s.id.split('-')[1]), s.problem.startsWith('Is there') ? 1 : 0),
  pixelValues: [new Float32Array(4)], imageGridThw: [[1, 2, 2]],
})
const decoder = { async decode(ids: ArrayLike<number>): Promise<string> { return texts[ids[0]!]! } }
const base = { decoder, encode, data: arraySource(samples), eosTokenIds: [0], maxNewTokens: 8, task: 'detection' as const, batchSize: 3 }

t.test('askPresence: only pairs not answered "no" get a detection prompt; the report says what was answered', async (t) => {
  const policy = new ScriptedPolicy()
  const ev = await evaluatePolicy({ ...base, policy, askPresence: true })
  const presenceAsked = policy.asked.filter((a) => a.presence).map((a) => a.sample)
  const detectAsked = policy.asked.filter((a) => !a.presence).map((a) => a.sample)
  t.same(presenceAsked, [0, 1, 2, 3], 'every pair is asked whether the class is present')
  t.same(detectAsked, [0, 3], 'detection only where the answer was yes or unclear')
  t.same(ev.presenceCompletions, SCRIPT.map((s) => s[0]))
  t.same(ev.completions, [PERFECT, '', '', SCRIPT[3]![1]])
  const r = ev.report as DetectionReport
  t.same(r.presence, { source: 'model', asked: 4, saidPresent: 1, saidAbsent: 2, unparsed: 1, agreement: 2 / 3 })
  t.equal(r.malformed, 0, 'an absent pair is not a malformed answer')
  t.equal(r.detections, 1)
  t.ok(r.AP > 0.3 && r.AP < 0.7, `one of two objects found: AP ${r.AP} near 0.5`)
  t.same(ev.existMap, { 1: ['cat'], 4: ['cat'] }, 'the exist map lists the pairs that got a detection prompt, by image id')
  t.match(formatReport(r), /presence \(asked\) for 4 pairs: 1 yes, 2 no, 1 unclear; 66\.7% agree/)

  const plain = new ScriptedPolicy()
  const ev0 = await evaluatePolicy({ ...base, policy: plain })
  t.ok(plain.asked.every((a) => !a.presence), 'without askPresence no presence question is asked')
  const r0 = ev0.report as DetectionReport
  t.equal(r0.presence, undefined)
  t.equal(r0.AP, 1, 'asked everywhere, both objects are found')
  t.ok(r.AP < r0.AP, 'a wrong "no" costs AP')
})

t.test('presenceMap: a given exist map decides which pairs are detected, no presence question asked', async (t) => {
  const policy = new ScriptedPolicy()
  const ev = await evaluatePolicy({ ...base, policy, presenceMap: { 1: ['Cat'], 2: ['dog'], 3: [], 4: ['cat'] }, askPresence: true })
  t.ok(policy.asked.every((a) => !a.presence), 'the map takes precedence over askPresence')
  t.same(policy.asked.map((a) => a.sample), [0, 3], 'listed pairs only (names compared case-insensitively)')
  const r = ev.report as DetectionReport
  t.same(r.presence, { source: 'map', asked: 4, saidPresent: 2, saidAbsent: 2, unparsed: 0, agreement: 2 / 4 })
  t.equal(ev.existMap, undefined, 'a given map is not echoed back')
  const noId = samples.map((s) => ({ ...s, meta: { width: 1000, height: 1000 } }))
  await t.rejects(evaluatePolicy({ ...base, policy, data: arraySource(noId), presenceMap: {} }), { code: 'ERR_EVAL_INPUT', message: /meta\.imageId/ })
})

t.test('--presence-map file: read and validated', async (t) => {
  const { writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { readPresenceMap } = await import('../lib/cli/commands/eval.js')
  const dir = tempDir('vrft-map-')
  const good = join(dir, 'good.json'), bad = join(dir, 'bad.json'), broken = join(dir, 'broken.json')
  writeFileSync(good, JSON.stringify({ 397133: ['casserole', 'kitchen_table'], 87038: [] }))
  writeFileSync(bad, JSON.stringify({ 397133: 'casserole' }))
  writeFileSync(broken, '{"1": [')
  t.same(readPresenceMap(good), { 397133: ['casserole', 'kitchen_table'], 87038: [] })
  t.throws(() => readPresenceMap(bad), { code: 'ERR_CONFIG', message: /expected an object of image id -> array of category names/ })
  t.throws(() => readPresenceMap(broken), { code: 'ERR_CONFIG', message: /readable JSON/ })
  t.throws(() => readPresenceMap(join(dir, 'missing.json')), { code: 'ERR_CONFIG' })
})

t.test('askPresence is ignored for other tasks and needs a category for detection', async (t) => {
  const policy = new ScriptedPolicy()
  const bad = samples.map((s) => ({ ...s, category: undefined, problem: 'Find it.' }))
  await t.rejects(evaluatePolicy({ ...base, policy, data: arraySource(bad), askPresence: true }), { code: 'ERR_EVAL_INPUT' })
  const cls: Sample[] = [{ id: 'p-0', image: { path: '/i.jpg' }, problem: 'What?', solution: '<answer>cat</answer>', task: 'classification', label: 'cat' }]
  const p2 = new ScriptedPolicy()
  await evaluatePolicy({ ...base, policy: p2, data: arraySource(cls), task: 'classification', askPresence: true })
  t.ok(p2.asked.every((a) => !a.presence), 'classification never asks the presence question')
})

t.test('vrft-native eval --ask-presence on the tiny checkpoint: presence summary in the report, both answers in the completions file', async (t) => {
  const { readFileSync, writeFileSync } = await import('node:fs')
  const { join } = await import('node:path')
  const { evalCommand } = await import('../lib/cli/commands/eval.js')
  const { goldenImage, tinyCheckpointDir } = await import('./generate-helpers.js')
  const dir = tempDir('vrft-presence-')
  const data = join(dir, 'det.jsonl')
  writeFileSync(data, ['cat', 'dog'].map((c) => JSON.stringify({ image: goldenImage('img0_noise_200x300'), image_id: 7, width: 300, height: 200, problem: detectionPrompt(c), solution: detectionSolution(c === 'cat' ? [[10, 20, 300, 400]] : []) }) + '\n').join(''))
  const out = join(dir, 'report.json')
  const lines: string[] = []
  const log = console.log
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')) }
  try {
    await (evalCommand.handler as (a: unknown) => Promise<void>)({
      model: tinyCheckpointDir('qwen2vl-tiny'), data, task: 'detection', maxNewTokens: 4, batchSize: 2, maxPixels: 12845056, minPixels: 3136,
      device: 'cpu', json: true, askPresence: true, output: out, _: ['eval'], $0: 'vrft-native',
    })
  } finally {
    console.log = log
  }
  const r = JSON.parse(lines.join('\n')) as DetectionReport
  t.equal(r.presence?.asked, 2)
  t.equal(r.presence!.saidPresent + r.presence!.saidAbsent + r.presence!.unparsed, 2, 'every pair answered one way')
  t.same(JSON.parse(readFileSync(out, 'utf8')).presence, r.presence, 'the written report carries the summary')
  const rows = readFileSync(join(dir, 'report.completions.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { presence?: string; completion?: string })
  t.equal(rows.length, 2)
  t.ok(rows.every((x) => typeof x.presence === 'string' && typeof x.completion === 'string'), 'each row has the presence and the detection answer')
  const map = JSON.parse(readFileSync(join(dir, 'report.exist_map.json'), 'utf8')) as Record<string, string[]>
  t.ok(Object.keys(map).every((k) => k === '7'), 'the exist map is keyed by the records\' image_id')
  t.equal(map['7']?.length ?? 0, r.presence!.saidPresent + r.presence!.unparsed, 'it lists the pairs that got a detection prompt')
})
