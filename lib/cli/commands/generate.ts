/**
 * `vrft-native generate --model DIR --image FILE --prompt TEXT`: chat-template one user turn (images then
 * text), generate G samples (temperature 0 = greedy) and print them; `--json` prints one JSON object with
 * the prompt ids and, per sample, its completion ids, text, per-token log-probs and whether it hit eos.
 */
import type { CommandModule } from 'yargs'
import type { ChatContentPart } from '../../model/chat.js'
import { generate, loadGenerationModel } from '../../generate.js'
import { GENERATION_DEFAULTS as G } from '../../train/defaults.js'
import { TOKENIZER_FLAG_HELP } from '../../model/tokenizer.js'

/** Parsed options of `vrft-native generate`. */
export interface GenerateCliArgs {
  model: string
  image: string[]
  prompt: string
  maxNewTokens: number
  temperature: number
  topP: number
  topK: number
  numGenerations: number
  seed?: number
  dtype?: 'float32' | 'bfloat16' | 'float16'
  device: string
  tokenizer?: string
  json: boolean
}

export const generateCommand: CommandModule<object, GenerateCliArgs> = {
  command: 'generate',
  describe: 'Generate answers for an image and a prompt with a Qwen2-VL / Qwen2.5-VL / Qwen3-VL model',
  builder: (y) => y
    .option('model', { type: 'string', demandOption: true, describe: 'model directory (config.json, safetensors, tokenizer.json)' })
    .option('image', { type: 'string', array: true, default: [] as string[], describe: 'image file (repeatable; shown before the text)' })
    .option('prompt', { type: 'string', demandOption: true, describe: 'user text' })
    .option('max-new-tokens', { type: 'number', default: G.maxNewTokens, describe: 'most tokens to generate per sample' })
    .option('temperature', { type: 'number', default: G.temperature, describe: 'sampling temperature; 0 = greedy' })
    .option('top-p', { type: 'number', default: G.topP, describe: 'nucleus sampling mass in (0, 1]' })
    .option('top-k', { type: 'number', default: G.topK, describe: 'keep the k most likely tokens (0 = all)' })
    .option('num-generations', { type: 'number', default: G.numGenerations, alias: 'num-samples', describe: 'completions (G) for the prompt (--num-samples: the former name)' })
    .option('seed', { type: 'number', describe: 'seed: the same seed gives the same samples on this machine' })
    .option('dtype', { type: 'string', choices: ['float32', 'bfloat16', 'float16'] as const, describe: 'weights dtype (default float32 on CPU, bfloat16 on CUDA)' })
    .option('device', { type: 'string', default: 'cpu', describe: "'cpu' or 'cuda[:i]'" })
    .option('tokenizer', { type: 'string', describe: TOKENIZER_FLAG_HELP })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' }) as never,
  handler: async (argv) => {
    const model = await loadGenerationModel(argv.model, { dtype: argv.dtype, device: argv.device, tokenizer: argv.tokenizer })
    try {
      const content: ChatContentPart[] = [
        ...argv.image.map((image): ChatContentPart => ({ type: 'image', image })),
        { type: 'text', text: argv.prompt },
      ]
      const out = await generate(model, [[{ role: 'user', content }]], {
        maxNewTokens: argv.maxNewTokens,
        temperature: argv.temperature,
        topP: argv.topP,
        topK: argv.topK,
        numGenerations: argv.numGenerations,
        seed: argv.seed,
      })
      const samples = out.samples[0]!
      if (argv.json) {
        console.log(JSON.stringify({
          promptIds: out.promptIds[0],
          samples: samples.map((s) => ({ ids: s.ids, text: s.text, logprobs: s.logprobs, finished: s.finished })),
          timing: out.timing,
        }))
        return
      }
      samples.forEach((s, i) => {
        if (samples.length > 1) console.log(`--- sample ${i + 1}/${samples.length}${s.finished ? '' : ' (max new tokens reached)'}`)
        console.log(s.text)
      })
    } finally {
      model.dispose()
    }
  },
}
