/**
 * `vrft-native init-model OUT`: write a freshly initialized Qwen2-VL-architecture model (config.json,
 * safetensors weights, the real Qwen tokenizer files) — the tiny preset is what the built-in demo trains.
 * Wraps the model helper's initModel (lib/model/init-model.ts).
 */
import type { CommandModule } from 'yargs'
import { TINY_PRESET, createTinyModel } from '../../train/tiny.js'

export const initModelCommand: CommandModule<object, { out: string; seed: number }> = {
  command: 'init-model <out>',
  describe: 'Write a freshly initialized tiny Qwen2-VL-architecture model with the Qwen tokenizer',
  builder: (y) => y
    .positional('out', { type: 'string', demandOption: true, describe: 'output model directory' })
    .option('seed', { type: 'number', default: 0, describe: 'initialization seed' })
    .epilog(`tiny preset: ${JSON.stringify(TINY_PRESET)}`)
    .strict(),
  handler: async (argv) => {
    await createTinyModel(argv.out, argv.seed)
    console.log(argv.out)
  },
}
