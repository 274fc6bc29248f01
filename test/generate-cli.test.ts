/**
 * `vrft-native generate` end to end on the tiny Qwen2-VL golden checkpoint: chat template + image
 * preprocessing + tokenizer + native greedy generation give the golden prompt ids and the golden 16 ids.
 * Run: VRFT_NATIVE_ADDON=build-gen/Release/vrft_native.node npx tap test/generate-cli.test.ts
 */
import t from 'tap'
import { generateCommand, type GenerateCliArgs } from '../lib/cli/commands/generate.js'
import { generate, loadGenerationModel } from '../lib/generate.js'
import { caseMeta, goldenImage, goldenTokens, tinyCheckpointDir } from './generate-helpers.js'

const PROMPT: string = goldenTokens().strings.text
const IMG0 = goldenImage('img0_noise_200x300')

async function runCli(args: Partial<GenerateCliArgs>): Promise<string> {
  const lines: string[] = []
  const log = console.log
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')) }
  try {
    const argv = { model: tinyCheckpointDir('qwen2vl-tiny'), image: [IMG0], prompt: PROMPT, maxNewTokens: 16, temperature: 0, topP: 1, topK: 0, numGenerations: 1, device: 'cpu', json: true, ...args }
    await (generateCommand.handler as (a: unknown) => Promise<void>)({ ...argv, _: ['generate'], $0: 'vrft-native' })
  } finally {
    console.log = log
  }
  return lines.join('\n')
}

t.test('generate --json: golden prompt ids and greedy ids', async (t) => {
  const meta = caseMeta('qwen2vl-tiny', 'img0_noise_200x300')
  const out = JSON.parse(await runCli({}))
  t.same(out.promptIds, meta.input_ids, 'prompt ids = the golden input_ids')
  t.equal(out.samples.length, 1)
  t.same(out.samples[0].ids, meta.generate.new_ids, 'greedy ids = the golden new_ids')
  t.type(out.samples[0].text, 'string')
  t.equal(out.samples[0].logprobs.length, 16)
})

t.test('generate: samples, seeds, text output', async (t) => {
  const a = JSON.parse(await runCli({ temperature: 1, numGenerations: 3, seed: 11, maxNewTokens: 5 }))
  const b = JSON.parse(await runCli({ temperature: 1, numGenerations: 3, seed: 11, maxNewTokens: 5 }))
  t.equal(a.samples.length, 3)
  t.same(a.samples.map((s: { ids: number[] }) => s.ids), b.samples.map((s: { ids: number[] }) => s.ids), 'same seed, same samples')
  const text = await runCli({ json: false, numGenerations: 2, maxNewTokens: 3 })
  t.match(text, /--- sample 1\/2/)
})

t.test('lib generate(): chat messages in, text out; bad input rejected', async (t) => {
  const model = await loadGenerationModel(tinyCheckpointDir('qwen2vl-tiny'))
  t.teardown(() => model.dispose())
  const conv = [{ role: 'user' as const, content: [{ type: 'image' as const, image: IMG0 }, { type: 'text' as const, text: PROMPT }] }]
  const out = await generate(model, [conv, conv], { maxNewTokens: 16, temperature: 0 })
  const gold = caseMeta('qwen2vl-tiny', 'img0_noise_200x300').generate.new_ids
  t.same(out.samples.map((s) => s[0]!.ids), [gold, gold], 'two identical prompts in one batch')
  t.equal(out.samples[0]![0]!.text, await model.tokenizer.decode(gold, { skipSpecialTokens: true }))
  await t.rejects(generate(model, [[{ role: 'user', content: [{ type: 'image', image: IMG0 }] }]], { maxNewTokens: -1 }), { code: 'ERR_INVALID_ARG' })
  await t.rejects(generate(model, [], {}), { code: 'ERR_CHAT_MESSAGES' })
})
