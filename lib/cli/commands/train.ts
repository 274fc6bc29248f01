/**
 * `vrft-native train`: GRPO (Visual-RFT) training. With `--model` and `--data` it trains that model on that
 * data; with neither it runs the built-in demo (synthetic shapes, a tiny Qwen2-VL, warm start, few-shot GRPO
 * on held-out classes, before/after evaluation and an SFT comparison) on a CPU in minutes.
 * Every option has a documented default (lib/defaults.ts); `--config file.yaml` sets many at once.
 */
import type { CommandModule } from 'yargs'
import { givenOptionKeys, resolveTrainConfig } from '../../train/config.js'
import { addOptions, givenFlags, TRAIN_OPTIONS } from '../options.js'
import { runTrain, type CommandResult } from '../../app/commands.js'
import { VrftError } from '../../errors.js'
import { printDryRun } from '../options.js'
import { runBuiltin } from '../../app/builtin.js'

export const trainCommand: CommandModule<object, Record<string, unknown>> = {
  command: 'train',
  describe: 'GRPO fine-tuning (Visual-RFT); with no --model/--data: the built-in CPU demo',
  builder: (y) => addOptions(y, TRAIN_OPTIONS)
    .example('$0 train', 'built-in demo: tiny model, synthetic shapes, a few minutes on a CPU')
    .example('$0 train --model Qwen/Qwen2-VL-2B-Instruct --data train.parquet --eval-data test.jsonl', 'the paper\'s setting')
    .example('$0 train --model <dir> --lora-rank 16 --gradient-checkpointing --freeze-vision --dry-run', 'print the memory plan of a LoRA run and exit')
    .example('$0 train --config run.yaml --resume --output runs/x', 'continue a run from its latest checkpoint')
    .strict(),
  handler: async (argv) => {
    const flags = givenFlags(argv, TRAIN_OPTIONS)
    const cfg = resolveTrainConfig(flags, argv.config as string | undefined)
    if (cfg.dryRun && !cfg.model) throw new VrftError('ERR_CONFIG', 'Invalid option --model: expected the model to plan for with --dry-run but received undefined')
    // the demo gets the options the user gave (flags and the config file's keys), with their validated values
    const given = (): Record<string, unknown> => Object.fromEntries(givenOptionKeys(cfg).map((k) => [k, (cfg as Record<string, unknown>)[k]]))
    const r = !cfg.model && !cfg.data ? await runBuiltin({ flags: given(), config: cfg }) : await runTrain(cfg)
    process.exitCode = 0
    if (printDryRun(cfg.dryRun, (r as CommandResult).memoryPlan)) return
    console.log(JSON.stringify({ runDir: r.runDir, step: r.step, stopped: r.stopped, checkpoint: r.checkpoint ?? null }))
  },
}
