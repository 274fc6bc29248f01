// Qwen3-VL prompts and the paper's format reward. Qwen3-VL Instruct checkpoints often open their answer with
// an empty `<think>\n\n</think>`; the format reward keeps the paper's rule (`<think>.*?</think>\s*<answer>.*?</answer>`,
// dot-all, whole completion) unchanged, so such a completion is well formed, and the rewards read its answer.
// What makes prompt and reward agree is that the prompt never holds a think tag: our Qwen3-VL template
// (chatOptionsFor('qwen3-vl')) has no default system turn and ends with `<|im_start|>assistant\n`, so the
// completion the reward sees carries the whole `<think>…</think><answer>…</answer>`. A Thinking-style
// template that opens `<think>\n` in the prompt leaves the completion without its opening tag, which the
// paper's rule scores 0 (README: Qwen3-VL).
import t from 'tap'
import { chatOptionsFor, renderChat } from '../lib/model/chat.js'
import { detectionPrompt } from '../lib/prompts/index.js'
import { formatReward, makeClassificationReward, makeDetectionIoUReward } from '../lib/rewards/rewards.js'
import type { Sample } from '../lib/sample.js'

const sample = (over: Partial<Sample> = {}): Sample => ({ id: 's', image: { path: 'x.jpg' }, problem: 'p', solution: '', ...over })

t.test('an empty <think></think> before the answer passes the paper format rule', async (t) => {
  const empty = '<think>\n\n</think>\n\n<answer>cat</answer>'
  t.equal(formatReward(empty), 1, 'Instruct-style empty think block')
  t.equal(formatReward('<think></think><answer>cat</answer>'), 1, 'no whitespace at all')
  t.equal(formatReward('<think>\nThe animal has whiskers.\n</think>\n<answer>cat</answer>'), 1, 'a real think block')
  t.equal(makeClassificationReward()(empty, sample({ label: 'cat', solution: '<answer>cat</answer>' })), 1, 'the answer is read after the empty think')
  const boxes = "<think>\n\n</think>\n\n<answer>[{'Position': [100, 100, 300, 300], 'Confidence': 0.9}]</answer>"
  t.equal(formatReward(boxes), 1)
  const iou = makeDetectionIoUReward()(boxes, sample({ task: 'detection', boxes: [[100, 100, 300, 300]], category: 'cat' }))
  t.equal(iou, 1, 'detection IoU reward of the boxes after an empty think block')
})

t.test('completions that break the rule still score 0', async (t) => {
  t.equal(formatReward('\n\n</think>\n\n<answer>cat</answer>'), 0, 'a Thinking template opened <think> in the prompt: the completion lacks it')
  t.equal(formatReward('<think>\n\n</think>\n\ncat'), 0, 'empty think and no answer tags')
  t.equal(formatReward('<answer>cat</answer>'), 0, 'no think block')
  t.equal(formatReward('user\nDetect the cat.\nassistant\n<think></think><answer>cat</answer>'), 0, 'prompt text decoded into the completion')
})

t.test('the Qwen3-VL prompt holds no system turn and no think tag', async (t) => {
  const msgs = [{ role: 'user' as const, content: [{ type: 'image' as const, image: 'x.png' }, { type: 'text' as const, text: detectionPrompt('cat', 'qwen3-vl') }] }]
  const q3 = renderChat(msgs, chatOptionsFor('qwen3-vl')).text
  t.ok(q3.startsWith('<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>'), 'no default system turn (Qwen3-VL template)')
  t.ok(q3.endsWith('<|im_end|>\n<|im_start|>assistant\n'), 'the generation prompt ends right after the assistant header')
  t.notOk(q3.endsWith('<think>\n') || q3.includes('<think>\n\n</think>'), 'no think block opened or prefilled by the template')
  t.match(detectionPrompt('cat', 'qwen3-vl'), /between 0 and 1000/, 'Qwen3-VL boxes: relative 0–1000, as Qwen2-VL')
  const q2 = renderChat(msgs, chatOptionsFor('qwen2-vl')).text
  t.ok(q2.startsWith('<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n'), 'Qwen2-VL keeps its default system turn')
})
