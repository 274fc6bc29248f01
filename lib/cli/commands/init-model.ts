/**
 * `vrft-native init-model OUT`: write a freshly initialized Qwen2-VL / Qwen2.5-VL / Qwen3-VL model (config.json,
 * safetensors weights, the real Qwen tokenizer files) — the tiny preset is what the built-in demo trains.
 * Wraps the model helper's initModel (lib/model/init-model.ts).
 */
import type { Argv, CommandModule } from 'yargs'
import { initModel, type InitArch, type InitSize } from '../../model/init-model.js'

interface InitArgs { out: string; arch: InitArch; size: InitSize; seed: number; dtype?: 'float32' | 'bfloat16'; json: boolean }

export const initModelCommand: CommandModule<object, InitArgs> = {
  command: 'init-model <out>',
  describe: 'Write a randomly initialized Qwen2-VL / Qwen2.5-VL / Qwen3-VL model directory (weights, config, Qwen tokenizer)',
  builder: (y) => y
    .positional('out', { type: 'string', demandOption: true, describe: 'output model directory' })
    .option('arch', { type: 'string', choices: ['qwen2-vl', 'qwen2.5-vl', 'qwen3-vl'] as const, default: 'qwen2-vl' as const, describe: 'architecture' })
    .option('size', { type: 'string', choices: ['tiny', 'small', '2b', '3b', '4b', '7b', '8b'] as const, default: 'tiny' as const, describe: 'tiny (~9.9M, the built-in demo), small (~100M), or the official shapes (qwen2-vl: 2b 7b; qwen2.5-vl: 3b 7b; qwen3-vl: 2b 4b 8b)' })
    .option('seed', { type: 'number', default: 0, describe: 'initialization seed' })
    .option('dtype', { type: 'string', choices: ['float32', 'bfloat16'] as const, describe: 'weight dtype on disk [default: float32 for tiny/small, bfloat16 otherwise]' })
    .option('json', { type: 'boolean', default: false, describe: 'print one JSON object' })
    .example('$0 init-model models/tiny', 'the built-in demo\'s model shape')
    .strict() as unknown as Argv<InitArgs>,
  handler: async (argv) => {
    const r = await initModel({ arch: argv.arch, size: argv.size, out: argv.out, seed: argv.seed, ...(argv.dtype ? { dtype: argv.dtype } : {}) })
    console.log(argv.json ? JSON.stringify({ dir: r.dir, parameters: r.parameters }) : `${r.dir}: ${argv.arch} ${argv.size}, ${r.parameters.toLocaleString('en-US')} parameters`)
  },
}
