/**
 * The `train` and `sft` commands as library functions: resolved config → model, data, rewards, policy,
 * trainer → run directory, with the configuration printed and saved, stop signals installed and the
 * policy disposed at the end. The CLI modules (lib/cli/commands/train.ts, sft.ts) only parse flags.
 */
import { join, resolve } from 'node:path'
import { VrftError } from '../errors.js'
import { formatConfig, type SftConfig, type TrainConfig } from '../train/config.js'
import { syntheticTarget } from '../data/synthetic.js'
import { makeTargetEncoder } from '../train/encode.js'
import { GRPOTrainer } from '../train/grpo.js'
import { objectiveSettings } from '../train/variants.js'
import { Progress } from '../train/progress.js'
import { defaultRunDir, createPolicy, modelDirOf, modelIO, openData, policyOptions, resolveDevice, resolveTask, rewardsOf, type ModelIO, type PolicyFactory } from '../train/setup.js'
import { availableMemory, checkMemoryPlan, formatMemoryPlan, memoryPlanInputOf, trainingMemoryPlan, type MemoryPlan } from '../train/memory-plan.js'
import { installStopSignals } from './signals.js'
import { SFTTrainer } from '../train/sft.js'
import { checkSameConfig, distBackend, distEnv, initDistributed, launchLocal, shutdownDistributed } from '../train/distributed.js'
import { findCheckpoint } from '../train/checkpoint.js'
import { native } from '../native/binding.js'
import { createHash } from 'node:crypto'
import { plotRun } from './plot.js'
import { hostname } from 'node:os'

/** argv without --nproc (the launcher's own option), with --output fixed so every rank shares it. */
function rankArgv(argv: string[], runDir: string): string[] {
  const out: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!
    if (a === '--nproc' || a === '--output') { i++; continue }
    if (a.startsWith('--nproc=') || a.startsWith('--output=')) continue
    out.push(a)
  }
  return [...out, '--output', runDir]
}

/** A fingerprint of the options every rank must share (all but where it writes and how it was launched). */
function configFingerprint(cfg: TrainConfig): number {
  const { output: _o, nproc: _n, quiet: _q, ...rest } = cfg as TrainConfig & { output?: string; nproc?: number; quiet?: boolean }
  return createHash('sha256').update(JSON.stringify(rest)).digest().readUInt32LE(0)
}

/** What a command run returns. */
export interface CommandResult {
  runDir: string
  step: number
  stopped: boolean
  checkpoint?: string
  plots: string[]
  lastEval?: number
  /** The run's memory plan (with --dry-run the run stops after it). */
  memoryPlan?: { plan: MemoryPlan; available?: number; text: string }
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

/**
 * The memory plan of a run (lib/train/memory-plan.ts), before the model is loaded: logged, and on the CPU
 * checked against the available memory (ERR_MEMORY_PLAN) unless --ignore-memory-plan or --dry-run.
 */
async function planMemory(cfg: TrainConfig | SftConfig, io: ModelIO, kind: 'grpo' | 'sft', log: (m: string) => void, ranks = 1): Promise<NonNullable<CommandResult['memoryPlan']>> {
  const device = resolveDevice(cfg.device)
  let bytes: number | undefined
  try {
    bytes = (await native().checkpointInfo(io.folder.dir)).totalBytes
  } catch { /* no weights (yet): the plan assumes a bfloat16 checkpoint; loading says what is missing */ }
  // each rank generates for its share of the step's prompts
  const plan = trainingMemoryPlan({
    ...memoryPlanInputOf({ ...cfg, promptsPerStep: Math.max(1, cfg.promptsPerStep / ranks) }, io.folder.config, kind, device, bytes),
    runtimeBytes: process.memoryUsage().rss,
  })
  const available = device === 'cpu' ? availableMemory() : undefined
  const text = formatMemoryPlan(plan, available) + (available === undefined ? `\n  (device ${device}: not checked against host memory)` : '')
  if (!cfg.dryRun) {
    log(text)
    if (available !== undefined && !cfg.ignoreMemoryPlan) checkMemoryPlan(plan, available, `vrft-native ${kind === 'grpo' ? 'train' : 'sft'}`)
  }
  return { plan, ...(available !== undefined ? { available } : {}), text }
}

function printConfig(log: (m: string) => void, title: string, cfg: Record<string, unknown>, runDir: string): void {
  log(`${title} — run directory ${runDir}\nresolved configuration (saved to config.json):\n${formatConfig(cfg)}`)
}

/** `vrft-native train` with a model and data. */
export async function runTrain(cfg: TrainConfig, o: RunCommandOptions = {}): Promise<CommandResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  if (!cfg.data && !cfg.dryRun) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected training data (a .parquet/.jsonl/.json file, a folder of shards or a hub data set id) but received undefined (run with neither --model nor --data for the built-in demo)')
  const modelDir = modelDirOf(cfg.model)
  if (cfg.dryRun) {
    const memoryPlan = await planMemory(cfg, await modelIO(modelDir, cfg), 'grpo', log)
    return { runDir: resolve(cfg.output ?? '.'), step: 0, stopped: false, plots: [], memoryPlan }
  }
  if (cfg.resume === true && !cfg.output) throw new VrftError('ERR_CONFIG', 'Invalid option --output: expected the run directory to continue (--resume) but received undefined')
  const runDir = resolve(cfg.output ?? defaultRunDir('grpo'))
  const denv = distEnv()
  const ranks = Math.max(denv.worldSize, cfg.nproc)
  if (cfg.promptsPerStep % ranks !== 0) throw new VrftError('ERR_CONFIG', `Invalid option --prompts-per-step: expected a multiple of the number of ranks (${ranks}) but received ${cfg.promptsPerStep}`)
  if (cfg.nproc > 1 && denv.worldSize === 1) {
    log(`launching ${cfg.nproc} data-parallel ranks on this machine (c10d Gloo over 127.0.0.1); run directory ${runDir}`)
    await launchLocal(cfg.nproc, rankArgv(process.argv.slice(2), runDir))
    return { runDir, step: cfg.maxSteps, stopped: false, plots: [] }
  }
  const parallel = denv.worldSize > 1
  if (parallel) {
    const cuda = cfg.device === 'cuda' || (cfg.device === 'auto' && native().runtimeInfo().cudaAvailable)
    if (cuda) cfg = { ...cfg, device: `cuda:${denv.localRank}` }
    const backend = distBackend(cuda)
    await initDistributed(denv, Number(process.env.VRFT_DIST_TIMEOUT_MS ?? 600000), backend)
    await checkSameConfig(configFingerprint(cfg))
    log(`rank ${denv.rank} of ${denv.worldSize} joined from ${hostname()} (${denv.masterAddr}:${denv.masterPort}, c10d ${backend}${process.env.GLOO_SOCKET_IFNAME && backend === 'gloo' ? ` on ${process.env.GLOO_SOCKET_IFNAME}` : ''})${denv.rank === 0 ? '' : '; rank 0 logs and checkpoints'}`)
  }
  const lead = denv.rank === 0
  const io = await modelIO(modelDir, cfg)
  const train = await openData(cfg.data!, cfg.task, { split: cfg.split, onError: cfg.onDataError })
  const task = await resolveTask(cfg.task, train)
  const evalData = cfg.evalData ? await openData(cfg.evalData, task, { split: cfg.evalSplit, onError: cfg.onDataError }) : undefined
  if (lead) logSkipped(log, train, evalData)
  const rewards = await rewardsOf(cfg, task)
  const resolved = { ...cfg, model: cfg.model, modelDir, task, output: runDir, rewards: rewards.map((r) => `${r.name}×${r.weight}`) }
  if (lead) printConfig(log, 'vrft-native train (GRPO)', resolved, runDir)
  const memoryPlan = await planMemory(cfg, io, 'grpo', lead ? log : () => {}, denv.worldSize)
  const policy = await (o.createPolicy ?? createPolicy)(policyOptions(cfg, io.folder))
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const trainer = new GRPOTrainer({
      policy, decoder: io.tokenizer, encode: io.encode, train, ...(evalData ? { eval: evalData } : {}), rewards, eosTokenIds: io.eosTokenIds, onRewardError: cfg.rewardErrors,
      ...(lead ? { runDir } : {}), config: resolved, task, progress: cfg.quiet || !lead ? false : new Progress(), plot: plotRun,
      ...(parallel ? { dist: { rank: denv.rank, worldSize: denv.worldSize, checkEvery: cfg.checkEvery } } : {}),
      ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
      settings: {
        promptsPerStep: cfg.promptsPerStep, numGenerations: cfg.numGenerations, maxCompletionLength: cfg.maxCompletionLength,
        maxPromptLength: cfg.maxPromptLength, temperature: cfg.temperature, topP: cfg.topP, topK: cfg.topK, beta: cfg.beta,
        epsilon: cfg.epsilon, epsilonHigh: cfg.epsilonHigh, numIterations: cfg.numIterations, ...objectiveSettings(cfg),
        advantageScale: cfg.advantageScale, microBatchSize: cfg.microBatchSize, maxSteps: cfg.maxSteps, seed: cfg.seed,
        saveEvery: cfg.saveEvery, evalEvery: evalData ? cfg.evalEvery : 0, keepCheckpoints: cfg.keepCheckpoints, sampleEvery: cfg.sampleEvery,
        evalMaxNewTokens: cfg.maxCompletionLength, ...(cfg.evalLimit ? { evalLimit: cfg.evalLimit } : {}),
      },
    })
    if (cfg.resume) {
      const which = lead ? (cfg.resume === true ? true : cfg.resume) : (cfg.resume === true ? findCheckpoint(runDir, true) : cfg.resume)
      const from = which ? await trainer.resume(which) : undefined
      log(from ? `resuming from ${from} (step ${trainer.step}, data position ${trainer.position})` : 'no checkpoint to resume from: starting fresh')
    }
    const r = await trainer.train()
    const last = r.evaluations.at(-1)
    log(`${r.stopped ? 'stopped' : 'finished'} at step ${r.step}; checkpoint ${r.checkpoint ?? '(none)'}; charts ${r.plots.length ? join(runDir, 'plots') : '(none)'}`)
    return { runDir, step: r.step, stopped: r.stopped, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}), plots: r.plots, ...(last ? { lastEval: last.score } : {}), memoryPlan }
  } finally {
    sig?.dispose()
    policy.dispose()
    if (parallel) shutdownDistributed()
  }
}

/** With --on-data-error skip: say how many records were skipped, and the first reason. */
function logSkipped(log: (m: string) => void, ...sets: Array<{ source?: string } | undefined>): void {
  for (const d of sets) {
    const sk = (d as { skipped?: ReadonlyArray<{ error?: { message?: string }; message?: string }> } | undefined)?.skipped
    if (sk?.length) log(`--on-data-error skip: skipped ${sk.length} malformed record(s) of ${d?.source ?? 'the data'} (first: ${sk[0]?.error?.message ?? sk[0]?.message ?? 'see the data file'})`)
  }
}

/** `vrft-native sft`: the supervised baseline on the same data (targets: each sample's solution). */
export async function runSft(cfg: SftConfig, o: RunCommandOptions & { target?: 'solution' | 'synthetic' } = {}): Promise<CommandResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  if (!cfg.data && !cfg.dryRun) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected training data (a .parquet/.jsonl/.json file, a folder of shards or a hub data set id) but received undefined')
  const modelDir = modelDirOf(cfg.model)
  if (cfg.dryRun) {
    const memoryPlan = await planMemory(cfg, await modelIO(modelDir, cfg), 'sft', log)
    return { runDir: resolve(cfg.output ?? '.'), step: 0, stopped: false, plots: [], memoryPlan }
  }
  if (cfg.resume === true && !cfg.output) throw new VrftError('ERR_CONFIG', 'Invalid option --output: expected the run directory to continue (--resume) but received undefined')
  const runDir = resolve(cfg.output ?? defaultRunDir('sft'))
  const io = await modelIO(modelDir, cfg)
  const train = await openData(cfg.data!, cfg.task, { split: cfg.split, onError: cfg.onDataError })
  const task = await resolveTask(cfg.task, train)
  const evalData = cfg.evalData ? await openData(cfg.evalData, task, { split: cfg.evalSplit, onError: cfg.onDataError }) : undefined
  logSkipped(log, train, evalData)
  const resolved = { ...cfg, modelDir, task, output: runDir }
  printConfig(log, 'vrft-native sft', resolved, runDir)
  const memoryPlan = await planMemory(cfg, io, 'sft', log)
  const policy = await (o.createPolicy ?? createPolicy)(policyOptions(cfg, io.folder))
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const trainer = new SFTTrainer({
      policy, decoder: io.tokenizer, encode: io.encode, train, ...(evalData ? { eval: evalData } : {}), eosTokenIds: io.eosTokenIds,
      encodeTarget: makeTargetEncoder(io.tokenizer, o.target === 'synthetic' ? syntheticTarget : undefined),
      runDir, config: resolved, task, progress: cfg.quiet ? false : new Progress(), plot: plotRun,
      ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
      settings: {
        promptsPerStep: cfg.promptsPerStep, microBatchSize: cfg.microBatchSize, maxSteps: cfg.maxSteps, seed: cfg.seed,
        saveEvery: cfg.saveEvery, evalEvery: evalData ? cfg.evalEvery : 0, keepCheckpoints: cfg.keepCheckpoints,
        maxPromptLength: cfg.maxPromptLength, ...(cfg.evalLimit ? { evalLimit: cfg.evalLimit } : {}),
      },
    })
    if (cfg.resume) {
      const from = await trainer.resume(cfg.resume === true ? true : cfg.resume)
      log(from ? `resuming from ${from} (step ${trainer.step})` : 'no checkpoint to resume from: starting fresh')
    }
    const r = await trainer.train()
    const last = r.evaluations.at(-1)
    log(`${r.stopped ? 'stopped' : 'finished'} at step ${r.step}; checkpoint ${r.checkpoint ?? '(none)'}`)
    return { runDir, step: r.step, stopped: r.stopped, ...(r.checkpoint ? { checkpoint: r.checkpoint } : {}), plots: r.plots, ...(last ? { lastEval: last.score } : {}), memoryPlan }
  } finally {
    sig?.dispose()
    policy.dispose()
  }
}
