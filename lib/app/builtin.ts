/**
 * The built-in demo behind `npx vrft-native train` with no arguments: Visual-RFT's open-vocabulary
 * setting in miniature, on a CPU in minutes. `--task detection` (default: the paper's headline task),
 * `classification` or `grounding`.
 *
 *   1. data: synthetic coloured shapes (lib/data/synthetic.ts, lib/data/synthetic-scenes.ts); classes are
 *      colour–shape pairs, split into 12 "base" and 4 held-out "novel" pairs (a Latin square: every word
 *      is seen, never the pair); per task see lib/app/builtin-tasks.ts;
 *   2. model: a tiny Qwen2-VL (classification) or a small Qwen3-VL with a compact Qwen vocabulary (the box
 *      tasks), lib/app/tiny.ts;
 *   3. warm start (stands in for pre-training): SFT on base classes, teaching the
 *      `<think>…</think><answer>…</answer>` format (and, for boxes, localisation in the three phases
 *      of WARM_START_PHASES); cached under
 *      $XDG_CACHE_HOME/vrft-native (or ~/.cache/vrft-native) keyed by its settings and reused next time;
 *   4. few-shot GRPO on the novel classes (the task's reference rewards), evaluated before and after on
 *      held-out novel images, and the same budget of SFT on the same shots for comparison.
 *
 * Everything lands in the run directory: grpo/ and sft/ sub-runs (metrics, samples, charts,
 * checkpoints), summary.json, plots/compare.png and pictures/ (held-out images with the ground-truth and
 * predicted boxes, warm start vs GRPO).
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { dirname, extname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { syntheticTarget } from '../data/synthetic.js'
import { SCENE_DEFAULTS } from '../data/synthetic-scenes.js'
import type { Sample, Task } from '../sample.js'
import { VrftError, describeValue } from '../errors.js'
import { formatConfig, type TrainConfig } from '../train/config.js'
import { flagName } from '../train/defaults.js'
import { GRPO_DEFAULTS as D, needsReference } from '../defaults.js'
import { writeFileAtomic, writeJsonAtomic } from '../train/checkpoint.js'
import type { CommandResult, RunCommandOptions } from './commands.js'
import { makeTargetEncoder } from '../train/encode.js'
import { evaluatePolicy, type PolicyEvaluation } from '../train/evaluate.js'
import { GRPOTrainer, type GrpoSettings } from '../train/grpo.js'
import { OBJECTIVE_KEYS } from '../train/variants.js'
import { arraySource } from '../train/loop.js'
import { barChartSvg, plotRun, svgToPng } from './plot.js'
import { Progress } from '../train/progress.js'
import { rewardSet } from '../rewards/scorer.js'
import { createPolicy, defaultRunDir, modelIO, type PolicyFactoryOptions } from '../train/setup.js'
import type { ModelFolder } from '../model/load.js'
import { installStopSignals } from './signals.js'
import { SFTTrainer } from '../train/sft.js'
import { DEMO_MODELS, DEMO_MODEL_IMAGE_SIZE, createTinyModel, type DemoModelName } from './tiny.js'
import { BUILTIN_TASKS, METRIC_LABELS, TASK_BLURB, WARM_START_PHASES, builtinData, builtinMetrics, type BuiltinDataSets, type BuiltinMetrics } from './builtin-tasks.js'
import { writePictures } from './pictures.js'
import { detectionTruth } from '../rewards/rewards.js'
import { launchLocal } from '../train/distributed.js'

export { builtinData } from './builtin-tasks.js'

/**
 * Settings of the demo (the flags of `train` override the matching ones). Where the demo keeps the paper's
 * value it reads GRPO_DEFAULTS (lib/defaults.ts); the other numbers are the demo's own. The task's own
 * values (BUILTIN_TASK_DEFAULTS) replace these for that task.
 */
export const BUILTIN_DEFAULTS = Object.freeze({
  task: BUILTIN_TASKS[0] as Task,
  seed: D.seed,
  imageSize: 112,
  warmStartImages: 256,
  warmStartSteps: 120,
  warmStartLearningRate: 3e-3,
  warmStartPromptsPerStep: 16,
  shots: 4,
  /** Detection: images per novel class without it (`No Objects`), added to the shots; see BUILTIN_TASK_DEFAULTS. */
  absentShots: 0,
  testImages: 64,
  maxSteps: 30,
  evalEvery: 10,
  promptsPerStep: 2,
  numGenerations: D.numGenerations,
  maxCompletionLength: 24,
  temperature: D.temperature,
  /** Sampling from the top 10 tokens: a 10M-parameter model's tail over 151k tokens derails T=1 samples. */
  topK: 10,
  beta: D.beta,
  learningRate: 5e-4,
  sftLearningRate: 2e-4,
  microBatchSize: 16,
  maxPixels: 112 * 112,
  minPixels: D.minPixels,
  /** Held-out images drawn with their boxes into pictures/. */
  pictures: 4,
  /**
   * Detection and grounding scenes: objects centred in the cells of a grid × grid layout (with 112 px
   * images, one cell per merged image token), 0 = anywhere; see BUILTIN_TASK_DEFAULTS.
   */
  grid: 0,
  /** Detection scenes: the most instances of the asked class in one image (0 when the class is absent). */
  maxInstances: SCENE_DEFAULTS.maxInstances,
  /**
   * The demo model (lib/app/tiny.ts): `tiny` (Qwen2-VL, classification's), `boxes` (Qwen3-VL with a compact
   * vocabulary, grounding's: BOX_TASK_DEFAULTS) or `detect` (`boxes` with RoPE base 10, detection's);
   * `VRFT_DEMO_MODEL` overrides it and sets the image size to the model's.
   */
  model: 'tiny' as DemoModelName,
  /** The warm start's learning-rate schedule: the paper's `linear` decay, or `constant` (the box tasks'). */
  warmStartLrSchedule: D.lrScheduler as 'linear' | 'constant',
  /**
   * Data-parallel processes of the warm start (c10d Gloo on loopback, one thread each; 1 = in this process
   * with the addon's threads). Detection uses 2: on the 2-core machine two single-threaded ranks train
   * 1.3–1.5× faster than one process with two threads (a step's matrices are too small to split well across
   * threads). Part of the cache key: a step's update equals one process's up to rounding, a run's drifts.
   */
  warmStartRanks: 1,
})

type BuiltinNumbers = { -readonly [K in keyof typeof BUILTIN_DEFAULTS]: (typeof BUILTIN_DEFAULTS)[K] extends number ? number : (typeof BUILTIN_DEFAULTS)[K] }

/**
 * The box tasks' demo: the `boxes` model (Qwen3-VL, compact vocabulary: lib/app/tiny.ts) on 128 px images,
 * one merged image token per cell of the 4 × 4 grid, a long warm start in the phases of WARM_START_PHASES
 * (lib/app/builtin-tasks.ts; a step of the 1.5M-parameter model costs ~0.2 s), and GRPO on 16 shots per
 * novel class; each task sets its own step counts and sampling temperature (BUILTIN_TASK_DEFAULTS).
 */
const BOX_TASK_DEFAULTS = Object.freeze({
  model: 'boxes' as DemoModelName, imageSize: DEMO_MODEL_IMAGE_SIZE.boxes, maxPixels: DEMO_MODEL_IMAGE_SIZE.boxes ** 2, grid: 4,
  warmStartImages: 9000, warmStartPromptsPerStep: 8, warmStartLearningRate: 2e-3, warmStartLrSchedule: 'constant' as const,
  shots: 16, testImages: 128, promptsPerStep: 4, evalEvery: 50, learningRate: 2e-4,
})

/**
 * Per-task values that replace BUILTIN_DEFAULTS (boxes need longer answers and more warm-start data).
 * Detection runs on the `detect` model (`boxes` with RoPE base 10: its warm start localizes on every seed,
 * mAP 6.3 % (sd 0.8) over seeds 1–3 against 2.5 % with `boxes`; session 16). Its warm start is 2,500
 * steps (its phases weighted to the detection prompt: WARM_START_PHASES) in 2 single-threaded
 * data-parallel processes (8.7 instead of 10.7 minutes on the 2-core machine; 3,000 steps took 11
 * minutes and gave no better a warm start on seed 1: 1.9 % mAP over 512 images, session 15), it is
 * evaluated on 512 held-out images (128 moved one model's mAP by up to ±1.2 points, as much as the
 * seeds: bench/results/demo-detection-cross-eval.mjs), its few-shot set adds 4 images per novel class
 * without it (`No Objects`; with present-class shots only, GRPO unlearned `No Objects`: 74 → 30 % correct
 * on seed 42; with them 97–100 % on seeds 1–3, mAP the same on average: 2.4 vs 2.5 %, session 15), and its
 * GRPO samples at temperature 1 for 100 steps: a detection answer is ~75 tokens, so at 1 the groups already
 * differ (at 1.5
 * most samples were worse than the greedy answer, and GRPO stayed flat: 7.6 → 7.9 % mAP after 300 steps,
 * against 7.6 → 10.3 % after 100 at 1; bench/results/demo-detection-2026-12-06.md, session 14).
 * Grounding warm-starts for 4,500 steps and samples its ~25-token answers at temperature 1.5 for 300 steps:
 * at 1 the warm-started model is nearly deterministic there (0.01–0.04 nats per token, most groups without
 * any reward spread), so GRPO has nothing to compare (same file, session 13).
 */
export const BUILTIN_TASK_DEFAULTS: Readonly<Record<Task, Partial<Omit<BuiltinNumbers, 'task'>>>> = Object.freeze({
  classification: {},
  detection: { ...BOX_TASK_DEFAULTS, model: 'detect', maxCompletionLength: 110, warmStartSteps: 2500, warmStartRanks: 2, maxSteps: 100, temperature: 1, testImages: 512, absentShots: 4 },
  grounding: { ...BOX_TASK_DEFAULTS, maxCompletionLength: 48, warmStartSteps: 4500, maxSteps: 300, temperature: 1.5 },
})

/** The GRPO objective options (the field's variants: loss type, GSPO, DAPO, GDPO, TIS, …) the demo passes to its GRPO stage. */
const DEMO_OBJECTIVE_OPTIONS = ['numIterations', 'epsilon', 'epsilonHigh', 'advantageScale', 'topP', ...OBJECTIVE_KEYS] as const
type DemoObjective = Partial<Pick<GrpoSettings, (typeof DEMO_OBJECTIVE_OPTIONS)[number]>>

/**
 * The demo's settings after flags. `objective`: the GRPO objective options given to the demo (absent: the
 * defaults); they do not touch the warm start.
 */
export type BuiltinSettings = BuiltinNumbers & { output: string; cacheDir: string; quiet: boolean; sft: boolean; objective?: DemoObjective }

/** The user's cache directory for vrft-native. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VRFT_CACHE_DIR ?? join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'vrft-native')
}

/** The demo task named by `--task` (default detection); ERR_INVALID_ARG for another. */
function builtinTask(v: unknown): Task {
  if (v === undefined) return BUILTIN_DEFAULTS.task
  if (!(BUILTIN_TASKS as readonly unknown[]).includes(v)) throw new VrftError('ERR_INVALID_ARG', `Expected ${BUILTIN_TASKS.join(', ')} for the demo's --task but received ${describeValue(v)}`)
  return v as Task
}

/** Options of `train` that the demo takes over into its GRPO settings (and its SFT's, where they apply). */
const DEMO_RUN_OPTIONS = ['seed', 'maxSteps', 'promptsPerStep', 'numGenerations', 'maxCompletionLength', 'temperature', 'topK', 'beta', 'learningRate', 'microBatchSize'] as const

/** The options of `train` the built-in demo uses; every other one needs --model and --data. */
export const BUILTIN_OPTIONS: readonly string[] = Object.freeze(['task', 'output', 'quiet', ...DEMO_RUN_OPTIONS, ...DEMO_OBJECTIVE_OPTIONS])

/**
 * Options of `train` that the demo honours, mapped onto its settings. `flags` are the options the user gave
 * (flags, and a config file's keys); one the demo does not use is ERR_CONFIG rather than silently ignored.
 */
export function builtinSettings(flags: Record<string, unknown>, cfg?: Partial<TrainConfig>): BuiltinSettings {
  const unused = Object.keys(flags).filter((k) => flags[k] !== undefined && !BUILTIN_OPTIONS.includes(k))
  if (unused.length) {
    throw new VrftError('ERR_CONFIG', `The built-in demo (no --model and no --data) uses only ${BUILTIN_OPTIONS.map(flagName).join(', ')}; ` +
      `received ${unused.map(flagName).join(', ')}, which ${unused.length > 1 ? 'apply' : 'applies'} to training a given --model on given --data`, { unused })
  }
  const task = builtinTask(flags.task ?? cfg?.task ?? process.env.VRFT_DEMO_TASK)
  const s: BuiltinSettings = { ...BUILTIN_DEFAULTS, ...BUILTIN_TASK_DEFAULTS[task], task, output: cfg?.output ?? defaultRunDir('demo'), cacheDir: cacheDir(), quiet: Boolean(cfg?.quiet), sft: true }
  for (const k of DEMO_RUN_OPTIONS) {
    if (flags[k] !== undefined) (s as Record<string, unknown>)[k] = flags[k]
  }
  for (const k of DEMO_OBJECTIVE_OPTIONS) {
    if (flags[k] !== undefined) s.objective = { ...s.objective, [k]: flags[k] }
  }
  const model = process.env.VRFT_DEMO_MODEL
  if (model !== undefined) {
    if (!Object.hasOwn(DEMO_MODELS, model)) throw new VrftError('ERR_INVALID_ARG', `Expected ${Object.keys(DEMO_MODELS).join(' or ')} for VRFT_DEMO_MODEL but received ${describeValue(model)}`)
    s.model = model as DemoModelName
    // the model's own image size: one merged image token per grid cell (Qwen3-VL's patches are 16 px, Qwen2-VL's 14)
    s.imageSize = DEMO_MODEL_IMAGE_SIZE[s.model]
    s.maxPixels = s.imageSize * s.imageSize
  }
  for (const k of Object.keys(BUILTIN_DEFAULTS)) {
    if (k === 'task' || k === 'model' || k === 'warmStartLrSchedule') continue
    const env = process.env[`VRFT_DEMO_${k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`]
    if (env !== undefined && Number.isFinite(Number(env))) (s as Record<string, unknown>)[k] = Number(env)
  }
  return s
}

function factoryOptions(model: ModelFolder, lr: number, steps: number, beta: number, seed: number, lrScheduler: PolicyFactoryOptions['lrScheduler'] = D.lrScheduler): PolicyFactoryOptions {
  return {
    modelDir: model.dir, config: model.config, device: 'cpu', dtype: 'float32', learningRate: lr, weightDecay: D.weightDecay, adamBeta1: D.adamBeta1,
    adamBeta2: D.adamBeta2, adamEpsilon: D.adamEpsilon, lrScheduler, warmupSteps: D.warmupSteps, totalSteps: steps, maxGradNorm: D.maxGradNorm,
    reference: needsReference(beta), seed,
  }
}

/** The warm start's cache key: everything that changes the warm-started model. */
export function warmStartKey(s: BuiltinSettings): string {
  return createHash('sha256').update(JSON.stringify({
    v: 1, preset: DEMO_MODELS[s.model], seed: s.seed, size: s.imageSize, n: s.warmStartImages, steps: s.warmStartSteps,
    lr: s.warmStartLearningRate, bs: s.warmStartPromptsPerStep, mb: s.microBatchSize, px: [s.minPixels, s.maxPixels],
    // the classification cache keeps its key from before the other tasks existed
    ...(s.task === 'classification' && s.model === 'tiny' ? {} : { task: s.task, v: 4, grid: s.grid, maxInstances: s.maxInstances }),
    ...(s.task === 'classification' ? {} : { phases: WARM_START_PHASES[s.task] }),
    ...(s.warmStartLrSchedule === D.lrScheduler ? {} : { schedule: s.warmStartLrSchedule }),
    ...(s.warmStartRanks > 1 ? { ranks: s.warmStartRanks } : {}),
  })).digest('hex').slice(0, 16)
}

/** The warm start's worker script (a rank of the data-parallel warm start), beside this module (.js built, .ts under a loader). */
const WARM_START_WORKER = join(dirname(fileURLToPath(import.meta.url)), `warm-start-worker${extname(fileURLToPath(import.meta.url))}`)

/** What one warm-start job needs: the settings, the initialized model and where to save the result. */
export interface WarmStartJob { settings: BuiltinSettings; init: string; out: string; runs: string }

/**
 * The warm start's SFT phases on `phases` (one SFT run per phase on the same policy: its optimizer and lr
 * schedule carry over; steps split by the phases' shares, the last taking what rounding leaves), from the
 * model in `job.init`, saved to `job.out` (by rank 0 when data-parallel: `dist`, the group already joined).
 */
export async function trainWarmStart(job: WarmStartJob, phases: BuiltinDataSets['phases'], o: RunCommandOptions & { signal?: AbortSignal; dist?: { rank: number; worldSize: number } } = {}): Promise<void> {
  const s = job.settings
  const lead = !o.dist || o.dist.rank === 0
  const log = lead ? (o.log ?? ((m: string) => process.stderr.write(m + '\n'))) : () => {}
  const io = await modelIO(job.init, s)
  const policy = await (o.createPolicy ?? createPolicy)(factoryOptions(io.folder, s.warmStartLearningRate, s.warmStartSteps, 0, s.seed, s.warmStartLrSchedule))
  try {
    let done = 0
    for (const [p, { samples: part, steps: share }] of phases.entries()) {
      const steps = p === phases.length - 1 ? s.warmStartSteps - done : Math.round(share * s.warmStartSteps)
      done += steps
      if (phases.length > 1) log(`warm start phase ${p + 1}/${phases.length}: ${part.length} images, ${steps} steps`)
      const tr = new SFTTrainer({
        policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(part), eosTokenIds: io.eosTokenIds,
        encodeTarget: makeTargetEncoder(io.tokenizer, syntheticTarget), ...(lead ? { runDir: join(job.runs, String(p)) } : {}),
        progress: s.quiet || !lead ? false : new Progress(), plots: false, ...(o.signal ? { signal: o.signal } : {}), ...(o.dist ? { dist: o.dist } : {}),
        settings: { promptsPerStep: s.warmStartPromptsPerStep, microBatchSize: s.microBatchSize, maxSteps: steps, seed: s.seed + p, saveEvery: 0, evalEvery: 0, keepCheckpoints: 1, maxPromptLength: D.maxPromptLength, evalMaxNewTokens: s.maxCompletionLength },
      })
      const r = await tr.train()
      if (r.stopped) throw Object.assign(new Error('warm start interrupted'), { code: 'ERR_ABORTED' })
    }
    if (lead) await policy.saveModel(job.out)
  } finally {
    policy.dispose()
  }
}

/**
 * The warm-started model: from the cache when its key ({@link warmStartKey}) matches, else init + SFT on
 * base classes (written to a temporary folder and renamed into place), in this process or, with
 * `warmStartRanks` > 1, in that many single-threaded data-parallel worker processes (which build the
 * warm-start data themselves: `data` may then be undefined). Returns the model directory.
 */
export async function warmStart(s: BuiltinSettings, data: Pick<BuiltinDataSets, 'base' | 'phases'> | undefined, o: RunCommandOptions & { signal?: AbortSignal } = {}): Promise<{ dir: string; cached: boolean; seconds: number }> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  const key = warmStartKey(s)
  const dir = warmStartDir(s)
  if (isWarmStartCached(s)) return { dir: join(dir, 'model'), cached: true, seconds: 0 }
  const ranks = warmStartRanks(s, o)
  if (s.warmStartPromptsPerStep % ranks !== 0) {
    throw new VrftError('ERR_CONFIG', `Expected the warm start's prompts per step (${s.warmStartPromptsPerStep}) to be a multiple of its ranks (warmStartRanks ${ranks}) so every rank takes the same share`)
  }
  const t0 = performance.now()
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  const phases = WARM_START_PHASES[s.task as 'detection' | 'grounding']?.length ?? 1
  log(`warm start: initializing the demo's '${s.model}' model (${DEMO_MODELS[s.model].arch}, lib/app/tiny.ts) and fine-tuning it on ${s.warmStartImages} base-class images (${s.warmStartSteps} SFT steps${phases > 1 ? ` in ${phases} phases` : ''}` +
    `${ranks > 1 ? `, ${ranks} data-parallel single-threaded processes` : ''}; cached in ${dir})`)
  const job: WarmStartJob = { settings: s, init: join(tmp, 'init'), out: join(tmp, 'model'), runs: join(tmp, 'run') }
  try {
    await createTinyModel(job.init, s.seed, s.model)
    if (ranks > 1) {
      const jobFile = join(tmp, 'job.json')
      writeJsonAtomic(jobFile, job)
      await launchLocal(ranks, [jobFile], {
        script: WARM_START_WORKER, graceMs: 5000, ...(o.signal ? { signal: o.signal } : {}),
        env: { VRFT_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', OMP_NUM_THREADS: '1' },
      }).catch((e: unknown) => {
        if (o.signal?.aborted) throw Object.assign(new Error('warm start interrupted'), { code: 'ERR_ABORTED' })
        throw e
      })
    } else {
      const d = data ?? await builtinData(s)
      await trainWarmStart(job, d.phases, { ...o, log })
    }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })  // nothing half-trained is left in the cache folder
    throw e
  }
  rmSync(job.runs, { recursive: true, force: true })
  rmSync(job.init, { recursive: true, force: true })
  rmSync(join(tmp, 'job.json'), { force: true })
  writeJsonAtomic(join(tmp, 'info.json'), { key, settings: s, created: new Date().toISOString() })
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return { dir: join(dir, 'model'), cached: false, seconds: (performance.now() - t0) / 1000 }
}

/**
 * CPU seconds (user + system) of this process's child processes that have ended and been reaped — the
 * warm-start ranks — from /proc/self/stat (cutime + cstime, in Linux's USER_HZ of 100); undefined where
 * there is no /proc.
 */
export function childCpuSeconds(): number | undefined {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ') // fields 3… of proc(5): the name may hold spaces
    const ticks = Number(f[13]) + Number(f[14]) // fields 16 and 17
    return Number.isFinite(ticks) ? ticks / 100 : undefined
  } catch {
    return undefined
  }
}

/** The warm start's cache folder (its model in `model/`). */
function warmStartDir(s: BuiltinSettings): string {
  return join(s.cacheDir, `demo-warmstart-${warmStartKey(s)}`)
}

/** Whether the warm start of these settings is in the cache. */
function isWarmStartCached(s: BuiltinSettings): boolean {
  return existsSync(join(warmStartDir(s), 'model', 'config.json'))
}

/** The warm start's processes: `warmStartRanks`, or 1 when a policy factory is injected (it lives in this process). */
function warmStartRanks(s: BuiltinSettings, o: RunCommandOptions): number {
  return o.createPolicy ? 1 : Math.max(1, Math.floor(s.warmStartRanks))
}

/** Result of the demo. */
export interface BuiltinResult extends CommandResult {
  /** The task's headline metric (detection mAP, grounding mIoU, classification accuracy). */
  before: number
  afterGrpo: number
  afterSft?: number
  summary: Record<string, unknown>
}

const pct = (x: number) => (Number.isFinite(x) ? `${(100 * x).toFixed(1)}%` : 'n/a')

/** Held-out samples to draw: for detection the first images with the asked class and one without. */
function pictureIndexes(task: Task, test: readonly Sample[], n: number): number[] {
  if (task !== 'detection') return test.slice(0, n).map((_, i) => i)
  const present = test.flatMap((s, i) => (detectionTruth(s).length ? [i] : []))
  const absent = test.flatMap((s, i) => (detectionTruth(s).length ? [] : [i]))
  return [...present.slice(0, Math.max(0, n - 1)), ...absent.slice(0, 1)].slice(0, n)
}

/** The settings as flags: the objective options given beside the others, under their own names. */
function flatSettings(s: BuiltinSettings): Record<string, unknown> {
  const { objective, ...rest } = s
  return { ...rest, ...objective }
}

/** Run the demo (see the file header). */
export async function runBuiltin(o: RunCommandOptions & { flags?: Record<string, unknown>; config?: Partial<TrainConfig>; settings?: Partial<BuiltinSettings> } = {}): Promise<BuiltinResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  // a task given in settings picks that task's defaults, as --task does
  const s: BuiltinSettings = { ...builtinSettings({ ...o.flags, ...(o.settings?.task ? { task: o.settings.task } : {}) }, o.config), ...o.settings }
  const task = builtinTask(s.task)
  const runDir = resolve(s.output)
  mkdirSync(runDir, { recursive: true })
  log(`vrft-native train: built-in demo, task ${task} (no --model/--data given) — run directory ${runDir}\n` +
    `${TASK_BLURB[task]}\n` +
    `settings (saved to config.json${s.objective ? ', the GRPO objective options under "objective"' : ''}):\n${formatConfig(flatSettings(s))}`)
  writeJsonAtomic(join(runDir, 'config.json'), { demo: true, ...s })
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const t0 = performance.now()
    const cpu0 = process.cpuUsage()
    const child0 = childCpuSeconds()
    // the warm-start images only when this process trains on them (not cached, one rank)
    const needBase = warmStartRanks(s, o) === 1 && !isWarmStartCached(s)
    const data = await builtinData(s, { base: needBase })
    log(`data: ${s.warmStartImages} base images (${data.classes.base.length} classes)${needBase ? '' : ' for the warm start'}, ${data.shots.length} shots of ${data.classes.novel.join(', ')}${task === 'detection' && s.absentShots ? ` (${s.shots} with the class and ${s.absentShots} without it, per class)` : ''}, ${data.test.length} novel test images`)
    let ws: Awaited<ReturnType<typeof warmStart>>
    try {
      ws = await warmStart(s, needBase ? data : undefined, { ...o, log, ...(sig ? { signal: sig.stop } : {}) })
    } catch (e) {
      if (!sig?.stop.aborted) throw e
      log('interrupted during the warm start: nothing was cached; run again to start over')
      return { runDir, step: 0, stopped: true, plots: [], before: NaN, afterGrpo: NaN, summary: { interrupted: 'warm start' } }
    }
    log(ws.cached ? `warm start: cached model ${ws.dir}` : `warm start: done in ${ws.seconds.toFixed(0)} s → ${ws.dir}`)
    const io = await modelIO(ws.dir, s)
    const rewards = rewardSet(task)
    const evaluate = async (policy: Awaited<ReturnType<typeof createPolicy>>): Promise<PolicyEvaluation> => evaluatePolicy({
      policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(data.test), eosTokenIds: io.eosTokenIds,
      maxNewTokens: s.maxCompletionLength, task, rewards, batchSize: 16,
    })
    // GRPO, evaluated on the held-out novel images before the first step, every evalEvery steps and at the end.
    const policy = await (o.createPolicy ?? createPolicy)(factoryOptions(io.folder, s.learningRate, s.maxSteps, s.beta, s.seed))
    let grpo: Awaited<ReturnType<GRPOTrainer['train']>>
    try {
      const tr = new GRPOTrainer({
        policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), eval: arraySource(data.test), rewards, eosTokenIds: io.eosTokenIds,
        runDir: join(runDir, 'grpo'), config: { demo: true, ...s }, task, progress: s.quiet ? false : new Progress(), plot: plotRun,
        ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
        settings: {
          promptsPerStep: s.promptsPerStep, numGenerations: s.numGenerations, maxCompletionLength: s.maxCompletionLength, temperature: s.temperature,
          topK: s.topK, beta: s.beta, microBatchSize: s.microBatchSize, maxSteps: s.maxSteps, seed: s.seed, saveEvery: 0, evalEvery: s.evalEvery, sampleEvery: 5,
          keepCheckpoints: 1, evalMaxNewTokens: s.maxCompletionLength, ...s.objective,
        },
      })
      grpo = await tr.train()
    } finally {
      policy.dispose()
    }
    const before = grpo.evaluations[0]
    const after = grpo.evaluations.at(-1)
    if (!before || !after) throw new VrftError('ERR_ABORTED', 'the demo was interrupted before its first evaluation')
    const mBefore = builtinMetrics(task, before)
    const mAfter = builtinMetrics(task, after)
    const head = Object.keys(mBefore)[0]!
    log(`novel-class ${METRIC_LABELS[head] ?? head}: warm start ${pct(mBefore[head]!)} → after ${grpo.step} GRPO steps ${pct(mAfter[head]!)} (format ${pct(mBefore.format!)} → ${pct(mAfter.format!)})`)
    // The same budget of SFT on the same shots.
    let sftEval: PolicyEvaluation | undefined
    if (s.sft && !sig?.stop.aborted) {
      const sp = await (o.createPolicy ?? createPolicy)(factoryOptions(io.folder, s.sftLearningRate, s.maxSteps, 0, s.seed))
      try {
        const st = new SFTTrainer({
          policy: sp, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), eosTokenIds: io.eosTokenIds,
          encodeTarget: makeTargetEncoder(io.tokenizer, syntheticTarget), runDir: join(runDir, 'sft'), config: { demo: true, baseline: 'sft', ...s }, plot: plotRun,
          progress: s.quiet ? false : new Progress(), ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
          settings: { promptsPerStep: s.promptsPerStep, microBatchSize: s.microBatchSize, maxSteps: s.maxSteps, seed: s.seed, saveEvery: 0, evalEvery: 0, keepCheckpoints: 1, evalMaxNewTokens: s.maxCompletionLength },
        })
        await st.train()
        sftEval = await evaluate(sp)
      } finally {
        sp.dispose()
      }
    }
    const mSft = sftEval ? builtinMetrics(task, sftEval) : undefined
    const idx = pictureIndexes(task, data.test, s.pictures)
    const pictures = await writePictures(join(runDir, 'pictures'), task, idx.map((i) => data.test[i]!), [
      { label: 'warm start', completions: idx.map((i) => before.completions[i]!) },
      { label: `+ GRPO (${grpo.step} steps)`, completions: idx.map((i) => after.completions[i]!) },
    ], idx.length)
    const cpu = process.cpuUsage(cpu0)
    const child1 = childCpuSeconds()
    const childSeconds = child0 !== undefined && child1 !== undefined ? child1 - child0 : undefined
    const metrics: Record<string, Record<string, number>> = {}
    for (const k of Object.keys(mBefore)) metrics[k] = { warmStart: mBefore[k]!, grpo: mAfter[k]!, ...(mSft ? { sft: mSft[k]! } : {}) }
    const summary = {
      task, headline: head, novelClasses: data.classes.novel, shots: s.shots, ...(task === 'detection' ? { absentShots: s.absentShots } : {}), shotImages: data.shots.length, testImages: data.test.length, steps: grpo.step,
      metrics, [head]: metrics[head], format: metrics.format,
      seconds: (performance.now() - t0) / 1000, cpuSeconds: (cpu.user + cpu.system) / 1e6 + (childSeconds ?? 0), ...(childSeconds !== undefined ? { childCpuSeconds: childSeconds } : {}), warmStartCached: ws.cached, warmStartSeconds: ws.seconds, warmStartModel: ws.dir,
      pictures,
    }
    writeJsonAtomic(join(runDir, 'summary.json'), summary)
    const show = (m: BuiltinMetrics) => Object.keys(mBefore).map((k) => `${k} ${pct(m[k]!)}`).join('  ')
    const bars = Object.keys(mBefore).filter((k) => k !== 'format').flatMap((k) => [
      { label: `${k} warm`, value: mBefore[k]! }, { label: `${k} GRPO`, value: mAfter[k]! }, ...(mSft ? [{ label: `${k} SFT`, value: mSft[k]! }] : []),
    ]).filter((b) => Number.isFinite(b.value))
    const title = `Novel classes, held-out images (${task})`
    writeFileAtomic(join(runDir, 'plots', 'compare.png'), await svgToPng(barChartSvg({ title, bars, format: pct, width: Math.max(520, 120 * bars.length) })))
    log('\n' + [
      `${task}: novel classes on ${data.test.length} held-out images (${Object.keys(mBefore).map((k) => METRIC_LABELS[k] ?? k).join(', ')})`,
      `  warm start only    : ${show(mBefore)}`,
      `  + GRPO             : ${show(mAfter)}  (${grpo.step} steps × ${s.promptsPerStep} prompts × G=${s.numGenerations})`,
      ...(mSft ? [`  + SFT (same budget): ${show(mSft)}`] : []),
      `pictures (green dashed: truth, red: predicted; warm start | GRPO):`,
      ...pictures.map((p) => `  ${p}`),
      `charts: ${join(runDir, 'grpo', 'plots')}  comparison: ${join(runDir, 'plots', 'compare.png')}  summary: ${join(runDir, 'summary.json')}`,
      `time: ${summary.seconds.toFixed(0)} s wall-clock, ${summary.cpuSeconds.toFixed(0)} s CPU${ws.cached ? ' (warm start cached)' : warmStartRanks(s, o) > 1 ? (childSeconds !== undefined ? ` (${childSeconds.toFixed(0)} s of it in the warm-start ranks)` : ' in this process (the warm-start ranks not counted)') : ''}`,
    ].join('\n'))
    return {
      runDir, step: grpo.step, stopped: grpo.stopped, ...(grpo.checkpoint ? { checkpoint: grpo.checkpoint } : {}), plots: grpo.plots,
      before: mBefore[head]!, afterGrpo: mAfter[head]!, ...(mSft ? { afterSft: mSft[head]! } : {}), summary, lastEval: after.score,
    }
  } finally {
    sig?.dispose()
  }
}

/** Read a previous demo summary (for tests and the bench). */
export function readSummary(runDir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<string, unknown>
}
