/**
 * The `train` and `sft` commands as library functions: resolved config → model, data, rewards, policy,
 * trainer → run directory, with the configuration printed and saved, stop signals installed and the
 * policy disposed at the end. The CLI modules (lib/cli/commands/train.ts, sft.ts) only parse flags.
 */
import { join, resolve } from 'node:path'
import { VrftError } from '../errors.js'
import { formatConfig, type SftConfig, type TrainConfig } from './config.js'
import { syntheticTarget } from '../data/synthetic.js'
import { makeTargetEncoder } from './encode.js'
import { GRPOTrainer } from './grpo.js'
import { Progress } from './progress.js'
import { defaultRunDir, createPolicy, modelDirOf, modelIO, openData, policyOptions, resolveTask, rewardsOf, type PolicyFactory } from './setup.js'
import { installStopSignals } from './signals.js'
import { SFTTrainer } from './sft.js'

/** What a command run returns. */
export interface CommandResult {
  runDir: string
  step: number
  stopped: boolean
  checkpoint?: string
  plots: string[]
  lastEval?: number
}

/** Common options of the command runners. */
export interface RunCommandOptions {
  /** Policy factory (default: NativePolicy / VRFT_POLICY_MODULE). */
  createPolicy?: PolicyFactory
  /** Install SIGINT/SIGTERM handlers (default true). */
  handleSignals?: boolean
  /** Where to print (default stderr). */
  log?: (msg: string) => void
}

function printConfig(log: (m: string) => void, title: string, cfg: Record<string, unknown>, runDir: string): void {
  log(`${title} — run directory ${runDir}\nresolved configuration (saved to config.json):\n${formatConfig(cfg)}`)
}

/** `vrft-native train` with a model and data. */
export async function runTrain(cfg: TrainConfig, o: RunCommandOptions = {}): Promise<CommandResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  if (!cfg.data) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected a training data file (.jsonl/.json/.parquet) but received undefined (run with neither --model nor --data for the built-in demo)')
  const modelDir = modelDirOf(cfg.model)
  if (cfg.resume === true && !cfg.output) throw new VrftError('ERR_CONFIG', 'Invalid option --output: expected the run directory to continue (--resume) but received undefined')
  const runDir = resolve(cfg.output ?? defaultRunDir('grpo'))
  const io = await modelIO(modelDir, cfg)
  const train = await openData(cfg.data, cfg.task)
  const task = await resolveTask(cfg.task, train)
  const evalData = cfg.evalData ? await openData(cfg.evalData, task) : undefined
  const rewards = await rewardsOf(cfg, task)
  const resolved = { ...cfg, model: cfg.model, modelDir, task, output: runDir, rewards: rewards.map((r) => `${r.name}×${r.weight}`) }
  printConfig(log, 'vrft-native train (GRPO)', resolved, runDir)
  const policy = await (o.createPolicy ?? createPolicy)(policyOptions(cfg, modelDir))
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const trainer = new GRPOTrainer({
      policy, decoder: io.tokenizer, encode: io.encode, train, ...(evalData ? { eval: evalData } : {}), rewards, eosTokenIds: io.eosTokenIds,
      runDir, config: resolved, task, progress: cfg.quiet ? false : new Progress(),
      ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
      settings: {
        promptsPerStep: cfg.promptsPerStep, numGenerations: cfg.numGenerations, maxCompletionLength: cfg.maxCompletionLength,
        maxPromptLength: cfg.maxPromptLength, temperature: cfg.temperature, topP: cfg.topP, topK: cfg.topK, beta: cfg.beta,
        epsilon: cfg.epsilon, epsilonHigh: cfg.epsilonHigh, numIterations: cfg.numIterations, aggregation: cfg.aggregation,
        advantageScale: cfg.advantageScale, microBatchSize: cfg.microBatchSize, maxSteps: cfg.maxSteps, seed: cfg.seed,
        saveEvery: cfg.saveEvery, evalEvery: evalData ? cfg.evalEvery : 0, keepCheckpoints: cfg.keepCheckpoints, sampleEvery: cfg.sampleEvery,
        evalMaxNewTokens: cfg.maxCompletionLength, ...(cfg.evalLimit ? { evalLimit: cfg.evalLimit } : {}),
      },
    })
    if (cfg.resume) {
      const from = await trainer.resume(cfg.resume === true ? true : cfg.resume)
      log(from ? `resuming from ${from} (step ${trainer.step}, data position ${trainer.position})` : 'no checkpoint to resume from: starting fresh')
    }
    const r = await trainer.train()
    const last = r.evaluations.at(-1)
    log(`${r.stopped ? 'stopped' : 'finished'} at step ${r.step}; checkpoint ${r.checkpoint ?? '(none)'}; charts ${r.plots.length ? join(runDir, 'plots') : '(none)'}`)
    return { runDir, step: r.step, stopped: r.stopped, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}), plots: r.plots, ...(last ? { lastEval: last.score } : {}) }
  } finally {
    sig?.dispose()
    policy.dispose()
  }
}

/** `vrft-native sft`: the supervised baseline on the same data (targets: each sample's solution). */
export async function runSft(cfg: SftConfig, o: RunCommandOptions & { target?: 'solution' | 'synthetic' } = {}): Promise<CommandResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  if (!cfg.data) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected a training data file (.jsonl/.json/.parquet) but received undefined')
  const modelDir = modelDirOf(cfg.model)
  if (cfg.resume === true && !cfg.output) throw new VrftError('ERR_CONFIG', 'Invalid option --output: expected the run directory to continue (--resume) but received undefined')
  const runDir = resolve(cfg.output ?? defaultRunDir('sft'))
  const io = await modelIO(modelDir, cfg)
  const train = await openData(cfg.data, cfg.task)
  const task = await resolveTask(cfg.task, train)
  const evalData = cfg.evalData ? await openData(cfg.evalData, task) : undefined
  const resolved = { ...cfg, modelDir, task, output: runDir }
  printConfig(log, 'vrft-native sft', resolved, runDir)
  const policy = await (o.createPolicy ?? createPolicy)(policyOptions(cfg, modelDir))
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const trainer = new SFTTrainer({
      policy, decoder: io.tokenizer, encode: io.encode, train, ...(evalData ? { eval: evalData } : {}), eosTokenIds: io.eosTokenIds,
      encodeTarget: makeTargetEncoder(io.tokenizer, o.target === 'synthetic' ? syntheticTarget : undefined),
      runDir, config: resolved, task, progress: cfg.quiet ? false : new Progress(),
      ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
      settings: {
        promptsPerStep: cfg.promptsPerStep, microBatchSize: cfg.microBatchSize, maxSteps: cfg.maxSteps, seed: cfg.seed,
        saveEvery: cfg.saveEvery, evalEvery: evalData ? cfg.evalEvery : 0, keepCheckpoints: cfg.keepCheckpoints,
        maxPromptLength: cfg.maxPromptLength, evalMaxNewTokens: 256, ...(cfg.evalLimit ? { evalLimit: cfg.evalLimit } : {}),
      },
    })
    if (cfg.resume) {
      const from = await trainer.resume(cfg.resume === true ? true : cfg.resume)
      log(from ? `resuming from ${from} (step ${trainer.step})` : 'no checkpoint to resume from: starting fresh')
    }
    const r = await trainer.train()
    const last = r.evaluations.at(-1)
    log(`${r.stopped ? 'stopped' : 'finished'} at step ${r.step}; checkpoint ${r.checkpoint ?? '(none)'}`)
    return { runDir, step: r.step, stopped: r.stopped, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}), plots: r.plots, ...(last ? { lastEval: last.score } : {}) }
  } finally {
    sig?.dispose()
    policy.dispose()
  }
}
