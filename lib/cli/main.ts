#!/usr/bin/env node
/**
 * The `vrft-native` command line. One file per command under lib/cli/commands/, each exporting a yargs
 * CommandModule; `strict()` rejects unknown options. Errors with a `code` print as one clear line (plus
 * the code) and exit 1; anything else prints its stack. A flag that takes one value may be given once:
 * a repeat is ERR_CONFIG naming it (lib/cli/flags.ts); array options (`--reward`, `--classes`) repeat.
 */
import yargs from 'yargs'
import { hideBin } from 'yargs/helpers'
import { commands } from './commands/index.js'
import { checkRepeatedFlags, type FlagTable } from './flags.js'

export async function main(argv: string[] = hideBin(process.argv)): Promise<void> {
  let cli = yargs(argv)
    .scriptName('vrft-native')
    .usage('$0 <command> [options]\n\nVisual reinforcement fine-tuning (Visual-RFT / GRPO) for Qwen2-VL and Qwen2.5-VL on libtorch.')
    .strict()
    // a flag that takes one value may be given once (yargs would sum repeated numbers): see flags.ts
    .middleware(((_argv: unknown, y: { getOptions(): FlagTable }) => checkRepeatedFlags(argv, y.getOptions())) as never, true)
    .recommendCommands()
    .demandCommand(1, 'Name a command (see --help).')
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(110, process.stdout.columns || 110))
    .fail((msg, err) => {
      if (err) throw err
      console.error(`vrft-native: ${msg} (see vrft-native --help)`)
      process.exit(2)
    })
  for (const c of commands) cli = cli.command(c as never)
  await cli.parseAsync()
}

function report(e: unknown): never {
  const err = e as { code?: string; message?: string; stack?: string }
  if (err && typeof err.code === 'string') {
    console.error(`vrft-native: ${err.message} [${err.code}]`)
    if (process.env.VRFT_DEBUG) console.error(err.stack)
  } else {
    console.error(err?.stack ?? String(e))
  }
  process.exit(1)
}

main().catch(report)
