/**
 * `vrft-native view RUN [RUN2 ...] [--port N] [--host H]`: a local page with a run's curves (live while
 * it trains), its samples with the model's boxes drawn on the images, its config and the demo's
 * before/after summary (lib/view/). Several runs are overlaid; a demo folder shows its grpo/ and sft/
 * sub-runs. Runs until SIGINT/SIGTERM.
 */
import type { CommandModule } from 'yargs'
import { waitForStopSignal } from '../../app/signals.js'
import { VIEW_DEFAULTS, createViewServer } from '../../view/server.js'

interface ViewArgs { runs: string[]; host: string; port: number; 'poll-ms': number }

export const viewCommand: CommandModule<object, ViewArgs> = {
  command: 'view <runs..>',
  describe: 'Serve a local page with live curves, samples with boxes drawn on the images, config and summary of run directories',
  builder: (y) => y
    .positional('runs', { type: 'string', array: true, demandOption: true, describe: 'run directories (metrics.jsonl, samples.jsonl ...) or a demo folder' })
    .option('host', { type: 'string', default: VIEW_DEFAULTS.host, describe: 'interface to listen on (the page shows the runs\' files: keep it local)' })
    .option('port', { type: 'number', default: VIEW_DEFAULTS.port, describe: 'TCP port (0 = any free port)' })
    .option('poll-ms', { type: 'number', default: VIEW_DEFAULTS.pollMs, describe: 'how often the run files are checked for new lines (ms)' })
    .strict(),
  handler: async (a) => {
    const server = createViewServer({ runs: a.runs, host: a.host, port: a.port, pollMs: a['poll-ms'] })
    const url = await server.listen()
    console.log(url)
    console.error(`vrft-native view: ${server.runs.map((r) => r.name).join(', ')} on ${url} (Ctrl-C to stop)`)
    await waitForStopSignal()
    await server.close()
  },
}
