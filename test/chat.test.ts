// Chat template and batched model inputs vs transformers goldens: img0 + the Visual-RFT 'dog' prompt must give
// the golden input_ids of cases/qwen2vl-tiny/img0_noise_200x300 (232 tokens), and the two-prompt batch the
// left-padded ids and mask of cases/qwen2vl-tiny/batch2. Fixtures: test/fixtures/tokens/cases.json (extracted
// from those meta.json files) and test/fixtures/preproc/*/original.png. Run: npx tap test/chat.test.ts
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { join } from 'node:path'
import t from 'tap'
import { IMAGE_PLACEHOLDER, type ChatMessage, encodePrompt, expandImagePads, padLeft, prepareInputs, renderChat } from '../lib/model/chat.js'
import { resolvePreprocessorConfig } from '../lib/model/preprocess.js'
import { loadTokenizer } from '../lib/model/tokenizer.js'

const FIX = fileURLToPath(new URL('./fixtures/', import.meta.url))
const cases = JSON.parse(readFileSync(join(FIX, 'tokens/cases.json'), 'utf8'))
const strings = JSON.parse(readFileSync(join(FIX, 'tokens/tokens.json'), 'utf8')).strings
const tok = loadTokenizer()
// goldens/ckpt/qwen2vl-tiny/preprocessor_config.json limits
const cfg = resolvePreprocessorConfig({ min_pixels: 3136, max_pixels: 200704 })
const img = (name: string): string => join(FIX, 'preproc', name, 'original.png')

// The Visual-RFT detection prompt (VISUAL-RFT.md "Prompts", exact text of the reference code).
const DETECTION = "Detect all objects belonging to the category '{category}' in the image, and provide the bounding boxes (between 0 and 1000, integer) and confidence (between 0 and 1, with two decimal places).\nIf no object belonging to the category '{category}' in the image, return 'No Objects'.\nOutput the thinking process in <think> </think> and final answer in <answer> </answer> tags.The output answer format should be as follows:\n<think> ... </think> <answer>[{'Position': [x1, y1, x2, y2], 'Confidence': number}, ...]</answer>\nPlease strictly follow the format."
const detection = (category: string): string => DETECTION.replaceAll('{category}', category)

t.test('renderChat: Qwen2-VL template', async (t) => {
  const { text, images } = renderChat([{ role: 'user', content: [{ type: 'image', image: 'a.png' }, { type: 'text', text: 'Describe this image.' }] }])
  t.equal(text, '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>Describe this image.<|im_end|>\n<|im_start|>assistant\n')
  t.same(images, ['a.png'])
  const sys = renderChat([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Hi' }, { role: 'assistant', content: 'Hello' }], { addGenerationPrompt: false })
  t.equal(sys.text, '<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\nHello<|im_end|>\n')
  t.equal(renderChat([{ role: 'user', content: 'x' }], { defaultSystemPrompt: null }).text, '<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n')
  t.equal(detection('dog'), strings.text, 'VISUAL-RFT.md prompt equals the golden prompt text')
})

t.test('img0 + dog prompt gives the golden input_ids', async (t) => {
  const golden = cases.img0_noise_200x300
  const messages: ChatMessage[] = [{ role: 'user', content: [{ type: 'image', image: img('img0_noise_200x300') }, { type: 'text', text: detection('dog') }] }]
  const r = await prepareInputs(tok, [messages], { preprocessor: cfg })
  t.equal(r.seqLen, golden.T)
  t.same(Array.from(r.inputIds), golden.input_ids)
  t.ok(r.attentionMask.every((m) => m === 1))
  t.same(r.imageGridThw, golden.image_grid_thw)
  t.same(r.imageGridThw, [[1, 14, 22]])
  t.same(r.imageTokenCounts, [golden.n_image_tokens])
  t.equal(r.pixelValues.length, 1)
  t.equal(r.pixelValues[0]!.length, 308 * 1176)
  t.same(r.promptLengths, [232])
  // the rendered string, encoded with pads in place, gives the same ids
  const { text } = renderChat(messages)
  t.same(await encodePrompt(tok, text, [77]), golden.input_ids)
})

t.test('batch of two prompts: left padding and mask equal the golden batch', async (t) => {
  const golden = cases.batch2
  const r = await prepareInputs(tok, [
    [{ role: 'user', content: [{ type: 'image', image: img('img0_noise_200x300') }, { type: 'text', text: detection('dog') }] }],
    [{ role: 'user', content: [{ type: 'image', image: readFileSync(img('img2_strip_57x1000')) }, { type: 'text', text: strings.text_b }] }],
  ], { preprocessor: cfg })
  t.equal(r.padId, golden.pad_id)
  t.same([r.batchSize, r.seqLen], [2, golden.T])
  t.same(Array.from(r.inputIds), golden.input_ids.flat())
  t.same(Array.from(r.attentionMask), golden.attention_mask.flat())
  t.same(r.promptLengths, golden.unpadded_lengths)
  t.same(r.imageGridThw, golden.image_grid_thw)
  t.same(r.imageTokenCounts, [77, 72])
  t.same(r.imagesPerPrompt, [1, 1])
})

t.test('padLeft and expandImagePads are pure helpers', async (t) => {
  const p = padLeft([[1, 2, 3], [4]], 0)
  t.same(Array.from(p.inputIds), [1, 2, 3, 0, 0, 4])
  t.same(Array.from(p.attentionMask), [1, 1, 1, 0, 0, 1])
  t.same(expandImagePads([5, 9, 6, 9], [2, 3], 9), [5, 9, 9, 6, 9, 9, 9])
})

t.test('typed errors: placeholder/image count mismatch, missing image, bad messages', async (t) => {
  const two = `<|im_start|>user\n${IMAGE_PLACEHOLDER}${IMAGE_PLACEHOLDER}x<|im_end|>\n`
  await t.rejects(encodePrompt(tok, two, [4]), { code: 'ERR_IMAGE_COUNT', message: /2 placeholder\(s\) and 1 image\(s\)/ })
  await t.rejects(encodePrompt(tok, two, [4, 4, 4]), { code: 'ERR_IMAGE_COUNT' })
  await t.rejects(prepareInputs(tok, [[{ role: 'user', content: [{ type: 'text', text: `look ${IMAGE_PLACEHOLDER}` }, { type: 'image', image: img('img0_noise_200x300') }] }]], { preprocessor: cfg }),
    { code: 'ERR_IMAGE_COUNT', message: /conversations\[0\]/ })
  await t.rejects(prepareInputs(tok, [[{ role: 'user', content: [{ type: 'image' } as never] }]]), { code: 'ERR_IMAGE_MISSING', message: /content\[0\]/ })
  await t.rejects(prepareInputs(tok, [[{ role: 'user', content: [{ type: 'image', image: join(FIX, 'nope.png') }] }]]), { code: 'ERR_IMAGE_NOT_FOUND' })
  await t.rejects(prepareInputs(tok, [[{ role: 'robot', content: 'x' } as never]]), { code: 'ERR_CHAT_MESSAGES', message: /role/ })
  await t.rejects(prepareInputs(tok, [[{ role: 'user', content: [{ type: 'video', video: 'v' }] } as never]]), { code: 'ERR_CHAT_MESSAGES' })
  await t.rejects(prepareInputs(tok, []), { code: 'ERR_CHAT_MESSAGES' })
  t.throws(() => renderChat([]), { code: 'ERR_CHAT_MESSAGES' })
})
