/**
 * The built-in demo behind `npx vrft-native train` with no arguments: Visual-RFT's open-vocabulary
 * setting in miniature, on a CPU in minutes.
 *
 *   1. data: synthetic coloured shapes (lib/data/synthetic.ts); classes are colour–shape pairs, split
 *      into 12 "base" and 4 held-out "novel" pairs (a Latin square: every word is seen, never the pair);
 *   2. model: a tiny Qwen2-VL-architecture model with the real Qwen tokenizer (init-model);
 *   3. warm start (stands in for pre-training): SFT on base classes, teaching the
 *      `<think>…</think><answer>…</answer>` format; cached under $XDG_CACHE_HOME/vrft-native (or
 *      ~/.cache/vrft-native) keyed by its settings and reused next time;
 *   4. few-shot GRPO on the novel classes (accuracy + format rewards), evaluated before and after on
 *      held-out novel images, and the same budget of SFT on the same shots for comparison.
 *
 * Everything lands in the run directory: grpo/ and sft/ sub-runs (metrics, samples, charts,
 * checkpoints), summary.json and plots/compare.png.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs'
import { homedir } from 'node:os'
import { join, resolve } from 'node:path'
import { makeSyntheticSet, splitClasses, syntheticTarget } from '../data/synthetic.js'
import type { Sample } from '../sample.js'
import { VrftError } from '../errors.js'
import { formatConfig, type TrainConfig } from '../train/config.js'
import { GRPO_DEFAULTS as D, needsReference } from '../defaults.js'
import { writeFileAtomic, writeJsonAtomic } from '../train/checkpoint.js'
import type { CommandResult, RunCommandOptions } from './commands.js'
import { makeTargetEncoder } from '../train/encode.js'
import { evaluatePolicy, type PolicyEvaluation } from '../train/evaluate.js'
import { GRPOTrainer } from '../train/grpo.js'
import { arraySource } from '../train/loop.js'
import { barChartSvg, plotRun, svgToPng } from './plot.js'
import { Progress } from '../train/progress.js'
import { rewardSet } from '../rewards/scorer.js'
import { createPolicy, defaultRunDir, modelIO, type PolicyFactoryOptions } from '../train/setup.js'
import type { ModelFolder } from '../model/load.js'
import { installStopSignals } from './signals.js'
import { SFTTrainer } from '../train/sft.js'
import { TINY_PRESET, createTinyModel } from './tiny.js'

/**
 * Settings of the demo (the flags of `train` override the matching ones). Where the demo keeps the paper's
 * value it reads GRPO_DEFAULTS (lib/defaults.ts); the other numbers are the demo's own.
 */
export const BUILTIN_DEFAULTS = Object.freeze({
  seed: D.seed,
  imageSize: 112,
  warmStartImages: 256,
  warmStartSteps: 120,
  warmStartLearningRate: 3e-3,
  warmStartPromptsPerStep: 16,
  shots: 4,
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
})

/** The demo's settings after flags. */
export type BuiltinSettings = { -readonly [K in keyof typeof BUILTIN_DEFAULTS]: (typeof BUILTIN_DEFAULTS)[K] } & { output: string; cacheDir: string; quiet: boolean; sft: boolean }

/** The user's cache directory for vrft-native. */
export function cacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.VRFT_CACHE_DIR ?? join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'vrft-native')
}

/** Flags of `train` that the demo honours, mapped onto its settings. */
export function builtinSettings(flags: Record<string, unknown>, cfg?: Partial<TrainConfig>): BuiltinSettings {
  const s: BuiltinSettings = { ...BUILTIN_DEFAULTS, output: cfg?.output ?? defaultRunDir('demo'), cacheDir: cacheDir(), quiet: Boolean(cfg?.quiet), sft: true }
  for (const k of ['seed', 'maxSteps', 'promptsPerStep', 'numGenerations', 'maxCompletionLength', 'temperature', 'topK', 'beta', 'learningRate', 'microBatchSize'] as const) {
    if (flags[k] !== undefined) (s as Record<string, unknown>)[k] = flags[k]
  }
  for (const k of Object.keys(BUILTIN_DEFAULTS)) {
    const env = process.env[`VRFT_DEMO_${k.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()}`]
    if (env !== undefined && Number.isFinite(Number(env))) (s as Record<string, unknown>)[k] = Number(env)
  }
  return s
}

/** The demo's data sets (deterministic by seed). */
export async function builtinData(s: { seed: number; imageSize: number; warmStartImages: number; shots: number; testImages: number }): Promise<{ base: Sample[]; shots: Sample[]; test: Sample[]; classes: { base: string[]; novel: string[] } }> {
  const classes = splitClasses()
  const size = s.imageSize
  const base = await makeSyntheticSet({ task: 'classification', count: s.warmStartImages, seed: s.seed * 1000 + 1, size, classes: classes.base, idPrefix: 'base' })
  // k shots per novel class: draw until every class has k.
  const pool = await makeSyntheticSet({ task: 'classification', count: s.shots * classes.novel.length * 4, seed: s.seed * 1000 + 2, size, classes: classes.novel, idPrefix: 'shot' })
  const shots: Sample[] = []
  for (const c of classes.novel) shots.push(...pool.filter((x) => x.label === c).slice(0, s.shots))
  const test = await makeSyntheticSet({ task: 'classification', count: s.testImages, seed: s.seed * 1000 + 3, size, classes: classes.novel, idPrefix: 'test' })
  for (const x of [...base, ...shots, ...test]) x.classes = [...classes.base, ...classes.novel]
  return { base, shots, test, classes }
}

function factoryOptions(model: ModelFolder, lr: number, steps: number, beta: number, seed: number): PolicyFactoryOptions {
  return {
    modelDir: model.dir, config: model.config, device: 'cpu', dtype: 'float32', learningRate: lr, weightDecay: D.weightDecay, adamBeta1: D.adamBeta1,
    adamBeta2: D.adamBeta2, adamEpsilon: D.adamEpsilon, lrScheduler: D.lrScheduler, warmupSteps: D.warmupSteps, totalSteps: steps, maxGradNorm: D.maxGradNorm,
    reference: needsReference(beta), seed,
  }
}

/**
 * The warm-started model: from the cache when its key matches, else init + SFT on base classes
 * (written to a temporary folder and renamed into place). Returns the model directory.
 */
export async function warmStart(s: BuiltinSettings, data: { base: Sample[] }, o: RunCommandOptions & { signal?: AbortSignal } = {}): Promise<{ dir: string; cached: boolean; seconds: number }> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  const key = createHash('sha256').update(JSON.stringify({
    v: 1, preset: TINY_PRESET, seed: s.seed, size: s.imageSize, n: s.warmStartImages, steps: s.warmStartSteps,
    lr: s.warmStartLearningRate, bs: s.warmStartPromptsPerStep, mb: s.microBatchSize, px: [s.minPixels, s.maxPixels],
  })).digest('hex').slice(0, 16)
  const dir = join(s.cacheDir, `demo-warmstart-${key}`)
  if (existsSync(join(dir, 'model', 'config.json'))) return { dir: join(dir, 'model'), cached: true, seconds: 0 }
  const t0 = performance.now()
  const tmp = `${dir}.tmp-${process.pid}`
  rmSync(tmp, { recursive: true, force: true })
  mkdirSync(tmp, { recursive: true })
  log(`warm start: initializing a tiny Qwen2-VL and fine-tuning it on ${data.base.length} base-class images (${s.warmStartSteps} SFT steps; cached in ${dir})`)
  const init = join(tmp, 'init')
  await createTinyModel(init, s.seed)
  const io = await modelIO(init, s)
  const policy = await (o.createPolicy ?? createPolicy)(factoryOptions(io.folder, s.warmStartLearningRate, s.warmStartSteps, 0, s.seed))
  try {
    const tr = new SFTTrainer({
      policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.base), eosTokenIds: io.eosTokenIds,
      encodeTarget: makeTargetEncoder(io.tokenizer, syntheticTarget), runDir: join(tmp, 'run'), progress: s.quiet ? false : new Progress(),
      plots: false, ...(o.signal ? { signal: o.signal } : {}),
      settings: { promptsPerStep: s.warmStartPromptsPerStep, microBatchSize: s.microBatchSize, maxSteps: s.warmStartSteps, seed: s.seed, saveEvery: 0, evalEvery: 0, keepCheckpoints: 1, maxPromptLength: D.maxPromptLength, evalMaxNewTokens: s.maxCompletionLength },
    })
    const r = await tr.train()
    if (r.stopped) throw Object.assign(new Error('warm start interrupted'), { code: 'ERR_ABORTED' })
    await policy.saveModel(join(tmp, 'model'))
  } finally {
    policy.dispose()
  }
  rmSync(join(tmp, 'run'), { recursive: true, force: true })
  rmSync(init, { recursive: true, force: true })
  writeJsonAtomic(join(tmp, 'info.json'), { key, settings: s, created: new Date().toISOString() })
  rmSync(dir, { recursive: true, force: true })
  renameSync(tmp, dir)
  return { dir: join(dir, 'model'), cached: false, seconds: (performance.now() - t0) / 1000 }
}

/** Result of the demo. */
export interface BuiltinResult extends CommandResult {
  before: number
  afterGrpo: number
  afterSft?: number
  summary: Record<string, unknown>
}

const pct = (x: number) => `${(100 * x).toFixed(1)}%`

/** Run the demo (see the file header). */
export async function runBuiltin(o: RunCommandOptions & { flags?: Record<string, unknown>; config?: Partial<TrainConfig>; settings?: Partial<BuiltinSettings> } = {}): Promise<BuiltinResult> {
  const log = o.log ?? ((m: string) => process.stderr.write(m + '\n'))
  const s: BuiltinSettings = { ...builtinSettings(o.flags ?? {}, o.config), ...o.settings }
  const runDir = resolve(s.output)
  mkdirSync(runDir, { recursive: true })
  log(`vrft-native train: built-in demo (no --model/--data given) — run directory ${runDir}\n` +
    'Open-vocabulary Visual-RFT in miniature: warm start on base colour–shape classes, few-shot GRPO on held-out novel pairs.\n' +
    `settings (saved to config.json):\n${formatConfig(s as unknown as Record<string, unknown>)}`)
  writeJsonAtomic(join(runDir, 'config.json'), { demo: true, ...s })
  const sig = o.handleSignals === false ? undefined : installStopSignals(log)
  try {
    const t0 = performance.now()
    const data = await builtinData(s)
    log(`data: ${data.base.length} base images (${data.classes.base.length} classes), ${data.shots.length} shots of ${data.classes.novel.join(', ')}, ${data.test.length} novel test images`)
    let ws: Awaited<ReturnType<typeof warmStart>>
    try {
      ws = await warmStart(s, data, { ...o, log, ...(sig ? { signal: sig.stop } : {}) })
    } catch (e) {
      if (!sig?.stop.aborted) throw e
      log('interrupted during the warm start: nothing was cached; run again to start over')
      return { runDir, step: 0, stopped: true, plots: [], before: NaN, afterGrpo: NaN, summary: { interrupted: 'warm start' } }
    }
    log(ws.cached ? `warm start: cached model ${ws.dir}` : `warm start: done in ${ws.seconds.toFixed(0)} s → ${ws.dir}`)
    const io = await modelIO(ws.dir, s)
    const rewards = rewardSet('classification')
    const evaluate = async (policy: Awaited<ReturnType<typeof createPolicy>>): Promise<PolicyEvaluation> => evaluatePolicy({
      policy, decoder: io.tokenizer, encode: io.encode, data: arraySource(data.test), eosTokenIds: io.eosTokenIds,
      maxNewTokens: s.maxCompletionLength, task: 'classification', rewards, batchSize: 16,
    })
    // GRPO, evaluated on the held-out novel images before the first step, every evalEvery steps and at the end.
    const policy = await (o.createPolicy ?? createPolicy)(factoryOptions(io.folder, s.learningRate, s.maxSteps, s.beta, s.seed))
    let grpo: Awaited<ReturnType<GRPOTrainer['train']>>
    try {
      const tr = new GRPOTrainer({
        policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), eval: arraySource(data.test), rewards, eosTokenIds: io.eosTokenIds,
        runDir: join(runDir, 'grpo'), config: { demo: true, ...s }, task: 'classification', progress: s.quiet ? false : new Progress(), plot: plotRun,
        ...(sig ? { signal: sig.stop, abandonSignal: sig.abandon } : {}),
        settings: {
          promptsPerStep: s.promptsPerStep, numGenerations: s.numGenerations, maxCompletionLength: s.maxCompletionLength, temperature: s.temperature,
          topK: s.topK, beta: s.beta, microBatchSize: s.microBatchSize, maxSteps: s.maxSteps, seed: s.seed, saveEvery: 0, evalEvery: s.evalEvery, sampleEvery: 5,
          keepCheckpoints: 1, evalMaxNewTokens: s.maxCompletionLength,
        },
      })
      grpo = await tr.train()
    } finally {
      policy.dispose()
    }
    const before = grpo.evaluations[0]
    const after = grpo.evaluations.at(-1)
    if (!before || !after) throw new VrftError('ERR_ABORTED', 'the demo was interrupted before its first evaluation')
    log(`novel-class accuracy: warm start ${pct(before.score)} → after ${grpo.step} GRPO steps ${pct(after.score)} (format ${pct(before.rewards.format ?? 0)} → ${pct(after.rewards.format ?? 0)})`)
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
        log(`after ${s.maxSteps} SFT steps on the same shots: novel-class accuracy ${pct(sftEval.score)}`)
      } finally {
        sp.dispose()
      }
    }
    const summary = {
      task: 'classification (novel colour–shape pairs)', novelClasses: data.classes.novel, shots: s.shots, steps: grpo.step,
      accuracy: { warmStart: before.score, grpo: after.score, ...(sftEval ? { sft: sftEval.score } : {}) },
      format: { warmStart: before.rewards.format, grpo: after.rewards.format, ...(sftEval ? { sft: sftEval.rewards.format } : {}) },
      seconds: (performance.now() - t0) / 1000, warmStartCached: ws.cached, warmStartModel: ws.dir,
    }
    writeJsonAtomic(join(runDir, 'summary.json'), summary)
    const bars = [{ label: 'warm start', value: before.score }, { label: '+ GRPO', value: after.score }, ...(sftEval ? [{ label: '+ SFT', value: sftEval.score }] : [])]
    writeFileAtomic(join(runDir, 'plots', 'compare.png'), await svgToPng(barChartSvg({ title: 'Novel-class accuracy (held-out images)', bars, format: pct })))
    log('\n' + [
      'novel-class accuracy on held-out images',
      `  warm start only : ${pct(before.score)}`,
      `  + GRPO          : ${pct(after.score)}  (${grpo.step} steps × ${s.promptsPerStep} prompts × G=${s.numGenerations})`,
      ...(sftEval ? [`  + SFT (same budget): ${pct(sftEval.score)}`] : []),
      `charts: ${join(runDir, 'grpo', 'plots')}  summary: ${join(runDir, 'summary.json')}  (${summary.seconds.toFixed(0)} s)`,
    ].join('\n'))
    return {
      runDir, step: grpo.step, stopped: grpo.stopped, ...(grpo.checkpoint ? { checkpoint: grpo.checkpoint } : {}), plots: grpo.plots,
      before: before.score, afterGrpo: after.score, ...(sftEval ? { afterSft: sftEval.score } : {}), summary, lastEval: after.score,
    }
  } finally {
    sig?.dispose()
  }
}

/** Read a previous demo summary (for tests and the bench). */
export function readSummary(runDir: string): Record<string, unknown> {
  return JSON.parse(readFileSync(join(runDir, 'summary.json'), 'utf8')) as Record<string, unknown>
}
