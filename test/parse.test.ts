// Answer parsing: tags, detection lists (quotes, [[ ]], garbage, truncation, No Objects, NaN), grounding boxes, labels.
import t from 'tap'
import {
  extractAnswer,
  extractTag,
  extractThink,
  normalizeLabel,
  parseClassificationCompletion,
  parseDetectionAnswer,
  parseDetectionCompletion,
  parseGroundingAnswer,
  parseGroundingCompletion,
} from '../lib/rewards/parse.js'

t.test('tags across newlines, unclosed, missing', async (t) => {
  t.same(extractTag('<think>a\nb</think>\n<answer>\nx\ny\n</answer>', 'answer'), { body: '\nx\ny\n', closed: true })
  t.same(extractTag('<answer>cut off', 'answer'), { body: 'cut off', closed: false })
  t.equal(extractTag('no tags here', 'answer'), null)
  t.equal(extractAnswer('<answer> cat </answer><answer>dog</answer>'), 'cat', 'first answer tag')
  t.equal(extractThink('<think>\nhmm\n</think><answer>x</answer>'), 'hmm')
  t.equal(extractThink('<answer>x</answer>'), null)
})

const boxes = (p: ReturnType<typeof parseDetectionAnswer>) => (p.kind === 'boxes' ? p.boxes : [])

t.test('detection: single and double quotes, newlines, case', async (t) => {
  const a = parseDetectionAnswer("[{'Position': [1, 364, 98, 649], 'Confidence': 0.93}, {'Position': [10, 20, 30, 40], 'Confidence': 1}]")
  t.equal(a.kind, 'boxes')
  t.same(boxes(a), [{ box: [1, 364, 98, 649], confidence: 0.93 }, { box: [10, 20, 30, 40], confidence: 1 }])
  const b = parseDetectionAnswer('[\n {"position": [1.5, 2, 3, 4],\n  "confidence": 0.5}\n]')
  t.same(boxes(b), [{ box: [1.5, 2, 3, 4], confidence: 0.5 }])
})

t.test('detection: [[ ]], trailing garbage, truncation mid-list', async (t) => {
  t.same(boxes(parseDetectionAnswer("[[{'Position': [[1, 2, 3, 4]], 'Confidence': 0.2}]]")), [{ box: [1, 2, 3, 4], confidence: 0.2 }])
  const g = parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 0.2}] and that is all!!")
  t.same(boxes(g), [{ box: [1, 2, 3, 4], confidence: 0.2 }])
  t.equal(g.kind === 'boxes' && g.truncated, false)
  const tr = parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 0.2}, {'Position': [5, 6, 7, 8], 'Conf")
  t.equal(tr.kind, 'boxes')
  t.same(boxes(tr), [{ box: [1, 2, 3, 4], confidence: 0.2 }])
  t.equal(tr.kind === 'boxes' && tr.truncated, true)
  const tr2 = parseDetectionCompletion("<think>x</think><answer>[{'Position': [1, 2, 3, 4], 'Confidence': 0.7}, {'Posi")
  t.same(boxes(tr2), [{ box: [1, 2, 3, 4], confidence: 0.7 }], 'unclosed <answer> and cut list')
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3").kind, 'malformed', 'cut before the first box')
})

t.test('detection: No Objects and empty lists', async (t) => {
  for (const s of ['No Objects', "'No Objects'", 'no objects.', ' NO OBJECTS ', '[]', '[ ]', '[[]]']) t.equal(parseDetectionAnswer(s).kind, 'none', s)
  t.equal(parseDetectionAnswer('').kind, 'malformed')
  t.equal(parseDetectionAnswer('a cat').kind, 'malformed')
  t.equal(parseDetectionCompletion('<think>x</think> no answer tag').kind, 'malformed')
})

t.test('detection: confidence and coordinates rules', async (t) => {
  for (const c of ['NaN', 'nan', 'Infinity', '1e999', '1.5', '93', '-0.1', "'high'", '']) {
    t.equal(parseDetectionAnswer(`[{'Position': [1, 2, 3, 4], 'Confidence': ${c}}]`).kind, 'malformed', `confidence ${c}`)
  }
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3, 4]}]").kind, 'malformed', 'missing confidence')
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3], 'Confidence': 0.5}]").kind, 'malformed', '3 coordinates')
  t.equal(parseDetectionAnswer("[{'Position': [1, NaN, 3, 4], 'Confidence': 0.5}]").kind, 'malformed', 'NaN coordinate')
  t.equal(parseDetectionAnswer("[{'Position': [1, 1e999, 3, 4], 'Confidence': 0.5}]").kind, 'malformed', 'huge coordinate')
  t.same(boxes(parseDetectionAnswer("[{'Position': [300, 400, 100, 200], 'Confidence': 0.5}]")), [{ box: [100, 200, 300, 400], confidence: 0.5 }], 'reversed corners swapped')
  t.same(boxes(parseDetectionAnswer("[{'Position': [-20, 5, 1200, 1001], 'Confidence': 0.5}]")), [{ box: [0, 5, 1000, 1000], confidence: 0.5 }], 'clamped to 0..1000')
  t.same(boxes(parseDetectionAnswer("[{'Position': [-20, 5, 1200, 900], 'Confidence': 0.5}]", { maxX: 640, maxY: 480 })), [{ box: [0, 5, 640, 480], confidence: 0.5 }], 'clamped to resized size')
  const d = parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}, {'Position': [1, 2, 3, 4], 'Confidence': 0.9}, {'Position': [3, 4, 1, 2], 'Confidence': 0.1}]")
  t.equal(d.kind === 'boxes' && d.duplicates, 2, 'exact duplicates dropped and counted (after corner swap)')
  t.same(boxes(d), [{ box: [1, 2, 3, 4], confidence: 0.5 }])
})

t.test('detection: number forms', async (t) => {
  t.same(boxes(parseDetectionAnswer("[{'POSITION': [1e2, +2, 300.5, 4.], 'confidence': .5}]")), [{ box: [100, 2, 300.5, 4], confidence: 0.5 }])
  t.same(boxes(parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 5e-1}]")), [{ box: [1, 2, 3, 4], confidence: 0.5 }])
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 0.5e}]").kind, 'malformed', 'number glued to a letter')
  t.equal(parseDetectionAnswer("[{'Position': [1e, 2, 3, 4], 'Confidence': 0.5}]").kind, 'malformed')
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3, 4, 5], 'Confidence': 0.5}]").kind, 'malformed', '5 coordinates')
  t.same(boxes(parseDetectionAnswer("[{'Position': 'see below', 'Position': [1, 2, 3, 4], 'Confidence': 0.5}]")), [{ box: [1, 2, 3, 4], confidence: 0.5 }], 'first valid Position')
  t.equal(parseDetectionAnswer("[{'Position': [1, 2, 3, 4], 'Confidence': 0.5}, {'Position': [5, 6, 7, 8], 'Confidence': 0.5} {'oops'}]").kind, 'malformed', 'a complete object without Position')
})

t.test('grounding boxes', async (t) => {
  t.same(parseGroundingAnswer('(10,20),(30,40)'), [10, 20, 30, 40])
  t.same(parseGroundingAnswer('the box is ( 10 , 20 ) , ( 30.5 , 40 ) ok'), [10, 20, 30.5, 40])
  t.same(parseGroundingAnswer('[10, 20, 30, 40]'), [10, 20, 30, 40])
  t.same(parseGroundingAnswer('[1,2,3,4] then (5,6),(7,8)'), [1, 2, 3, 4], 'first box wins')
  t.same(parseGroundingAnswer('(30,40),(10,20)'), [10, 20, 30, 40], 'reversed')
  t.same(parseGroundingAnswer('(-5,20),(3000,40)'), [0, 20, 1000, 40], 'clamped')
  t.equal(parseGroundingAnswer('(NaN,1),(2,3)'), null)
  t.equal(parseGroundingAnswer('(1e999,1),(2,3)'), null)
  t.equal(parseGroundingAnswer('nothing'), null)
  t.same(parseGroundingCompletion('<think>a</think><answer>(1,2),(3,4)</answer>'), [1, 2, 3, 4])
  t.same(parseGroundingCompletion('no tags (1,2),(3,4)'), [1, 2, 3, 4], 'whole text without tags')
})

t.test('classification answers', async (t) => {
  t.equal(parseClassificationCompletion('<think>x</think><answer> Boeing 737 </answer>'), 'Boeing 737')
  t.equal(parseClassificationCompletion(' tabby cat '), 'tabby cat', 'no tag: whole completion')
  t.equal(normalizeLabel(' Great_Pyrenees. '), 'greatpyrenees')
  t.equal(normalizeLabel("'Boeing 737-800'"), 'boeing737-800')
})
