/**
 * The application around the training library: the `train` / `sft` commands as functions (commands.ts),
 * the built-in demo (builtin.ts, tiny.ts), run charts (plot.ts) and stop-signal handling (signals.ts).
 * lib/cli/ parses flags and calls these; embedders may call them directly.
 */
export { runTrain, runSft, type CommandResult, type RunCommandOptions } from './commands.js'
export { runBuiltin, builtinData, builtinSettings, warmStart, cacheDir, BUILTIN_DEFAULTS, BUILTIN_TASK_DEFAULTS, type BuiltinResult, type BuiltinSettings } from './builtin.js'
export { createTinyModel, TINY_PRESET } from './tiny.js'
export { plotRun, lineChartSvg, barChartSvg, svgToPng, type Series, type ChartOptions } from './plot.js'
export { installStopSignals, type StopSignals } from './signals.js'
