/**
 * What GRPO and SFT training share: the run directory (config.json, metrics.jsonl, samples.jsonl,
 * eval.jsonl, plots/), the step driver as an async iterator of events, stop/abandon signals, periodic
 * evaluation, checkpoints and resume. A subclass supplies only `runStep` (grpo.ts, sft.ts).
 *
 * Stopping: `signal` asks to stop after the current step (then the state is saved); `abandonSignal`
 * also abandons the step in flight (its generation is aborted; nothing of it is kept) and saves the
 * state of the last complete step. Either way `run()` ends normally.
 */
import { appendFileSync, existsSync, mkdirSync } from 'node:fs'
import { join, resolve } from 'node:path'
import type { Task } from '../data/types.js'
import type { NamedReward } from '../rewards/scorer.js'
import { findCheckpoint, readTrainerState, saveCheckpoint, truncateJsonl, writeJsonAtomic, type TrainerState } from './checkpoint.js'
import { evaluatePolicy, type PolicyEvaluation } from './evaluate.js'
import type { PromptEncoder, SampleSource, TextDecoder } from './loop.js'
import { DataOrder } from './order.js'
import { Progress } from './progress.js'
import type { TrainablePolicy } from './types.js'

/** Settings every trainer needs. */
export interface BaseSettings {
  maxSteps: number
  seed: number
  saveEvery: number
  evalEvery: number
  evalLimit?: number
  keepCheckpoints: number
  maxPromptLength: number
  /** Max new tokens for evaluation (GRPO: maxCompletionLength). */
  evalMaxNewTokens: number
}

/** Options shared by GRPOTrainer and SFTTrainer. */
export interface TrainerOptions {
  policy: TrainablePolicy
  decoder: TextDecoder
  encode: PromptEncoder
  train: SampleSource
  eval?: SampleSource
  eosTokenIds: number[]
  /** Where files go. Without it nothing is written (no checkpoints either). */
  runDir?: string
  /** The resolved configuration, saved as config.json at the start. */
  config?: Record<string, unknown>
  task?: Task
  /** Rewards reported during evaluation. */
  evalRewards?: readonly NamedReward[]
  /** Stop after the current step (then save). */
  signal?: AbortSignal
  /** Abandon the step in flight (then save the last complete step). */
  abandonSignal?: AbortSignal
  /** Progress output; false for none. Default: stderr. */
  progress?: Progress | false
  /** Evaluate before the first step when eval data is given (default true). */
  evalAtStart?: boolean
  /**
   * Draws a run directory's charts at the end of the run (the application's: `plotRun` from the package root
   * writes plots/*.png). Without it no charts are drawn.
   */
  plot?: (runDir: string) => Promise<string[]>
  /** false: skip the charts even with `plot` (default true). */
  plots?: boolean
}

/** What `run()` yields. */
export type TrainerEvent<R> =
  | { type: 'step'; record: R }
  | { type: 'eval'; step: number; evaluation: PolicyEvaluation }
  | { type: 'checkpoint'; step: number; dir: string }
  | { type: 'stopped'; step: number; abandoned: boolean }
  | { type: 'done'; step: number; plots: string[] }

/** Base of the trainers: files, events, evaluation, checkpoints, resume. */
export abstract class Trainer<R extends { step: number }> {
  readonly opts: TrainerOptions
  readonly settings: BaseSettings
  readonly order: DataOrder
  /** Optimizer steps completed. */
  step = 0
  /** Global data position. */
  position = 0
  /** Training seconds so far. */
  elapsed = 0
  private lastSaved = -1
  protected abstract readonly kind: 'grpo' | 'sft'

  constructor(opts: TrainerOptions, settings: BaseSettings) {
    this.opts = opts
    this.settings = settings
    this.order = new DataOrder(opts.train.length, settings.seed)
    if (opts.runDir) mkdirSync(opts.runDir, { recursive: true })
  }

  /** One optimizer step (1-based `step`) from `position`; returns its record and the new position. */
  protected abstract runStep(step: number, position: number, signal?: AbortSignal): Promise<{ record: R; position: number; samples?: Array<Record<string, unknown>> }>

  /** Path of a file in the run directory (undefined without one). */
  file(name: string): string | undefined {
    return this.opts.runDir ? join(this.opts.runDir, name) : undefined
  }

  /** Append one JSON line to a run file. */
  protected append(name: string, rec: unknown): void {
    const f = this.file(name)
    if (f) appendFileSync(f, JSON.stringify(rec) + '\n')
  }

  /** The newest complete checkpoint of this run, if any. */
  latestCheckpoint(): string | undefined {
    return this.opts.runDir ? findCheckpoint(this.opts.runDir, true) : undefined
  }

  /**
   * Continue from a checkpoint (`true`: this run's latest; a path: that checkpoint). Restores data
   * position, step and the policy's optimizer/RNG state, and drops log lines of steps after it.
   * Returns the checkpoint directory, or undefined when there is none (a fresh start).
   */
  async resume(which: boolean | string = true): Promise<string | undefined> {
    if (which === false || (which === true && !this.opts.runDir)) return undefined
    const dir = findCheckpoint(this.opts.runDir ?? '.', which)
    if (!dir) return undefined
    const st = readTrainerState(dir)
    await this.opts.policy.loadState(join(dir, 'state'))
    this.step = st.step
    this.position = st.position
    this.elapsed = st.elapsedSeconds
    this.lastSaved = st.step
    for (const f of ['metrics.jsonl', 'samples.jsonl', 'eval.jsonl']) {
      const p = this.file(f)
      if (p) truncateJsonl(p, (r) => typeof r.step !== 'number' || r.step <= st.step)
    }
    return resolve(dir)
  }

  /** The state saved with a checkpoint. */
  state(): TrainerState {
    return { kind: this.kind, step: this.step, position: this.position, seed: this.settings.seed, elapsedSeconds: this.elapsed }
  }

  /** Save a checkpoint of the current step now. Returns its directory (undefined without a runDir). */
  async saveCheckpoint(): Promise<string | undefined> {
    if (!this.opts.runDir) return undefined
    const dir = await saveCheckpoint(this.opts.runDir, this.opts.policy, this.state(), this.settings.keepCheckpoints)
    this.lastSaved = this.step
    return dir
  }

  /** Greedy evaluation on the eval data (undefined when there is none). */
  async evaluate(signal?: AbortSignal): Promise<PolicyEvaluation | undefined> {
    const o = this.opts
    if (!o.eval || o.eval.length === 0) return undefined
    return evaluatePolicy({
      policy: o.policy, decoder: o.decoder, encode: o.encode, data: o.eval, eosTokenIds: o.eosTokenIds,
      maxNewTokens: this.settings.evalMaxNewTokens,
      ...(o.task ? { task: o.task } : {}), ...(o.evalRewards ? { rewards: o.evalRewards } : {}),
      ...(this.settings.evalLimit ? { limit: this.settings.evalLimit } : {}), ...(signal ? { signal } : {}),
    })
  }

  private prog: Progress | undefined
  private progress(): Progress | undefined {
    if (this.opts.progress === false) return undefined
    return (this.prog ??= this.opts.progress ?? new Progress())
  }

  private async doEval(): Promise<TrainerEvent<R> | undefined> {
    const ev = await this.evaluate(this.opts.abandonSignal)
    if (!ev) return undefined
    this.append('eval.jsonl', { step: this.step, score: ev.score, rewards: ev.rewards, report: ev.report, seconds: ev.seconds, time: new Date().toISOString() })
    this.progress()?.log(`eval @ step ${this.step}: score ${ev.score.toFixed(4)} ${JSON.stringify(ev.rewards)}`)
    return { type: 'eval', step: this.step, evaluation: ev }
  }

  /**
   * Train until `maxSteps` or a stop signal, yielding an event per step, evaluation and checkpoint.
   * Call `resume()` first to continue a run.
   */
  async *run(): AsyncGenerator<TrainerEvent<R>> {
    const o = this.opts
    const s = this.settings
    if (o.runDir && o.config) writeJsonAtomic(join(o.runDir, 'config.json'), o.config)
    const prog = this.progress()
    const stopped = () => Boolean(o.signal?.aborted || o.abandonSignal?.aborted)
    if (this.step === 0 && (o.evalAtStart ?? true) && s.evalEvery > 0 && !stopped()) {
      const e = await this.doEval()
      if (e) yield e
    }
    let abandoned = false
    while (this.step < s.maxSteps && !stopped()) {
      const t0 = performance.now()
      let r: Awaited<ReturnType<typeof this.runStep>>
      try {
        r = await this.runStep(this.step + 1, this.position, o.abandonSignal)
      } catch (e) {
        if (o.abandonSignal?.aborted) { abandoned = true; break }
        throw e
      }
      this.step++
      this.position = r.position
      this.elapsed += (performance.now() - t0) / 1000
      this.append('metrics.jsonl', r.record)
      if (r.samples) for (const line of r.samples) this.append('samples.jsonl', line)
      prog?.step(r.record, s.maxSteps, this.elapsed)
      yield { type: 'step', record: r.record }
      if (s.evalEvery > 0 && this.step % s.evalEvery === 0 && this.step < s.maxSteps && !stopped()) {
        const e = await this.doEval()
        if (e) yield e
      }
      if (s.saveEvery > 0 && this.step % s.saveEvery === 0 && this.step < s.maxSteps) {
        const dir = await this.saveCheckpoint()
        if (dir) yield { type: 'checkpoint', step: this.step, dir }
      }
    }
    prog?.done()
    const early = this.step < s.maxSteps
    if (!early && s.evalEvery > 0) {
      const e = await this.doEval()
      if (e) yield e
    }
    if (this.step !== this.lastSaved && this.step > 0) {
      const dir = await this.saveCheckpoint()
      if (dir) yield { type: 'checkpoint', step: this.step, dir }
    }
    if (early) yield { type: 'stopped', step: this.step, abandoned }
    const plots = o.runDir && o.plot && (o.plots ?? true) && existsSync(join(o.runDir, 'metrics.jsonl')) ? await o.plot(o.runDir) : []
    yield { type: 'done', step: this.step, plots }
  }

  /** Run to the end; returns the last step, the final checkpoint and whether it stopped early. */
  async train(): Promise<{ step: number; checkpoint?: string; stopped: boolean; records: R[]; evaluations: PolicyEvaluation[]; plots: string[] }> {
    const records: R[] = []
    const evaluations: PolicyEvaluation[] = []
    let checkpoint: string | undefined
    let stopped = false
    let plots: string[] = []
    for await (const ev of this.run()) {
      if (ev.type === 'step') records.push(ev.record)
      else if (ev.type === 'eval') evaluations.push(ev.evaluation)
      else if (ev.type === 'checkpoint') checkpoint = ev.dir
      else if (ev.type === 'stopped') stopped = true
      else if (ev.type === 'done') plots = ev.plots
    }
    return { step: this.step, ...(checkpoint ? { checkpoint } : {}), stopped, records, evaluations, plots }
  }
}
