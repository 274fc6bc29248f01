/**
 * `vrft-native sft`: the supervised fine-tuning baseline — cross-entropy on each sample's solution after the
 * same prompt and image GRPO uses; same data readers, run files, checkpoints and resume as `train`.
 */
import type { CommandModule } from 'yargs'
import { resolveSftConfig } from '../../train/config.js'
import { addOptions, givenFlags, SFT_OPTIONS } from '../options.js'
import { runSft } from '../../app/commands.js'
import { VrftError } from '../../errors.js'
import { printDryRun } from '../options.js'

export const sftCommand: CommandModule<object, Record<string, unknown>> = {
  command: 'sft',
  describe: 'Supervised fine-tuning baseline on the same data (targets: the solutions)',
  builder: (y) => addOptions(y, SFT_OPTIONS)
    .example('$0 sft --model Qwen/Qwen2-VL-2B-Instruct --data train.parquet --max-steps 200', 'SFT baseline with the GRPO budget')
    .strict(),
  handler: async (argv) => {
    const flags = givenFlags(argv, SFT_OPTIONS)
    const cfg = resolveSftConfig(flags, argv.config as string | undefined)
    if (cfg.dryRun && !cfg.model) throw new VrftError('ERR_CONFIG', 'Invalid option --model: expected the model to plan for with --dry-run but received undefined')
    const r = await runSft(cfg)
    if (printDryRun(cfg.dryRun, r.memoryPlan)) return
    console.log(JSON.stringify({ runDir: r.runDir, step: r.step, stopped: r.stopped, checkpoint: r.checkpoint ?? null }))
  },
}
