/**
 * `vrft-native plot RUN [--tensorboard DIR]`: PNG charts of a run directory (reward and its components,
 * KL, completion length, loss, evaluation) from its metrics.jsonl / eval.jsonl, written to RUN/plots/.
 * Runs also write them at the end; this redraws them, e.g. while a run is going. `--tensorboard DIR`
 * also writes the scalars as TensorBoard event files (lib/view/tensorboard.ts; a demo folder: one
 * sub-folder per sub-run).
 */
import type { CommandModule } from 'yargs'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { VrftError } from '../../errors.js'
import { plotRun } from '../../app/plot.js'
import { exportTensorboard } from '../../view/tensorboard.js'

export const plotCommand: CommandModule<object, { run: string; tensorboard?: string }> = {
  command: 'plot <run>',
  describe: 'Write PNG charts (reward components, KL, length, loss, eval) of a run directory; --tensorboard DIR writes TensorBoard event files too',
  builder: (y) => y
    .positional('run', { type: 'string', demandOption: true, describe: 'run directory (with metrics.jsonl)' })
    .option('tensorboard', { type: 'string', describe: 'also write the scalars as TensorBoard event files into this folder' })
    .strict(),
  handler: async (argv) => {
    const logged = existsSync(join(argv.run, 'metrics.jsonl')) || existsSync(join(argv.run, 'eval.jsonl'))
    if (!logged && !argv.tensorboard) {
      throw new VrftError('ERR_RUN_DIR', `Expected a run directory with metrics.jsonl for plot but ${argv.run} has none`)
    }
    if (argv.tensorboard) for (const f of exportTensorboard([argv.run], argv.tensorboard)) console.log(f)
    if (logged) for (const f of await plotRun(argv.run)) console.log(f)
  },
}
