/**
 * `vrft-native plot RUN`: PNG charts of a run directory (reward and its components, KL, completion length,
 * loss, evaluation) from its metrics.jsonl / eval.jsonl, written to RUN/plots/. Runs also write them at
 * the end; this redraws them, e.g. while a run is going.
 */
import type { CommandModule } from 'yargs'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { VrftError } from '../../errors.js'
import { plotRun } from '../../app/plot.js'

export const plotCommand: CommandModule<object, { run: string }> = {
  command: 'plot <run>',
  describe: 'Write PNG charts (reward components, KL, length, loss, eval) of a run directory',
  builder: (y) => y.positional('run', { type: 'string', demandOption: true, describe: 'run directory (with metrics.jsonl)' }).strict(),
  handler: async (argv) => {
    if (!existsSync(join(argv.run, 'metrics.jsonl')) && !existsSync(join(argv.run, 'eval.jsonl'))) {
      throw new VrftError('ERR_RUN_DIR', `Expected a run directory with metrics.jsonl for plot but ${argv.run} has none`)
    }
    const files = await plotRun(argv.run)
    for (const f of files) console.log(f)
  },
}
