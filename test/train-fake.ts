/**
 * An in-memory TrainablePolicy for the training-loop tests (a test double, no model): it samples one
 * "token" per completion from a softmax over a few fixed answers, seeded by SamplingOptions.seed; GRPO
 * steps move the logits by lr·advantage (so later metrics depend on the state) and are recorded with the
 * rollouts they received; saveModel/saveState/loadState round-trip everything as JSON. Also exports a
 * decoder, an encoder and a tiny classification data set to go with it.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Sample } from '../lib/data/types.js'
import { hubConfig } from '../lib/model/init-model.js'
import { defaultTokenizerPath } from '../lib/model/tokenizer.js'
import { mulberry32 } from '../lib/train/order.js'
import type { Completion, EncodedPrompt, Rollouts, SamplingOptions, StepMetrics, StepOptions, TrainablePolicy } from '../lib/train/types.js'

/** The fixed answers the fake policy can give; token id = index + 1. */
export const ANSWERS = [
  '<think>round</think><answer>circle</answer>',
  '<think>four sides</think><answer>square</answer>',
  '<think>three sides</think><answer>triangle</answer>',
  'circle',
]

/** Decoder of the fake tokens. */
export const fakeDecoder = {
  async decode(ids: ArrayLike<number>): Promise<string> {
    return Array.from(ids).map((i) => ANSWERS[i - 1] ?? '').join('')
  },
}

/** Encoder: prompt ids carry the sample's index so rollouts can be traced back. */
export async function fakeEncode(s: Sample): Promise<EncodedPrompt> {
  const n = Number(s.id.split('-')[1])
  return { inputIds: Int32Array.from([100, n, 101]), pixelValues: [new Float32Array(4)], imageGridThw: [[1, 2, 2]] }
}

/** A classification data set of n samples cycling through circle/square/triangle. */
export function fakeSamples(n: number): Sample[] {
  const labels = ['circle', 'square', 'triangle']
  return Array.from({ length: n }, (_, i) => ({
    id: `s-${i}`, image: { path: `/nonexistent/${i}.png` }, problem: 'What shape?', solution: `<answer>${labels[i % 3]}</answer>`,
    task: 'classification' as const, label: labels[i % 3]!,
  }))
}

/** What the fake policy saw. */
export interface FakeCall {
  kind: 'generate' | 'grpoStep' | 'sftStep'
  prompts?: number[]
  opts?: SamplingOptions | StepOptions
  rollouts?: Array<{ prompt: number; token: number; advantage: number; hasOld: boolean }>
}

/** The fake policy. */
export class FakePolicy implements TrainablePolicy {
  logits = [0, 0, 0, 0]
  step = 0
  lr: number
  totalSteps: number
  calls: FakeCall[] = []
  disposed = false
  /** Milliseconds each generate waits (to test signals). */
  delayMs = 0
  constructor(opts: { lr?: number; totalSteps?: number } = {}) {
    this.lr = opts.lr ?? 0.5
    this.totalSteps = opts.totalSteps ?? 100
  }
  private probs(): number[] {
    const m = Math.max(...this.logits)
    const e = this.logits.map((l) => Math.exp(l - m))
    const z = e.reduce((a, b) => a + b, 0)
    return e.map((x) => x / z)
  }
  /** Rollouts of the fake: the completions plus the prompts they follow (what NativePolicy keeps natively). */
  async generate(prompts: EncodedPrompt[], opts: SamplingOptions): Promise<Rollouts & { prompts: EncodedPrompt[] }> {
    this.calls.push({ kind: 'generate', prompts: prompts.map((p) => p.inputIds[1]!), opts: { ...opts, signal: undefined } as SamplingOptions })
    if (this.delayMs) {
      await new Promise<void>((res, rej) => {
        const t = setTimeout(res, this.delayMs)
        opts.signal?.addEventListener('abort', () => { clearTimeout(t); rej(Object.assign(new Error('aborted'), { code: 'ERR_ABORTED' })) })
      })
    }
    const rnd = mulberry32(opts.seed ?? 0)
    const p = this.probs()
    const out: Completion[] = []
    prompts.forEach((_, pi) => {
      for (let g = 0; g < opts.numGenerations; g++) {
        let k = 0
        if (opts.temperature === 0) k = p.indexOf(Math.max(...p))
        else {
          let u = rnd()
          while (k < p.length - 1 && u >= p[k]!) u -= p[k++]!
        }
        out.push({ promptIndex: pi, tokens: Int32Array.from([k + 1]), logprobs: Float32Array.from([Math.log(p[k]!)]), finished: k !== 3 })
      }
    })
    return { numGenerations: opts.numGenerations, completions: out, prompts }
  }
  /** Dynamic sampling's regrouping: the listed groups of earlier rollouts, prompts re-indexed in order. */
  selectGroups(parts: Array<{ rollouts: Rollouts; groups: number[] }>): Rollouts & { prompts: EncodedPrompt[] } {
    const prompts: EncodedPrompt[] = []
    const completions: Completion[] = []
    const G = parts[0]!.rollouts.numGenerations
    for (const { rollouts, groups } of parts) {
      for (const g of groups) {
        prompts.push((rollouts as Rollouts & { prompts: EncodedPrompt[] }).prompts[g]!)
        for (let j = 0; j < G; j++) completions.push({ ...rollouts.completions[g * G + j]!, promptIndex: prompts.length - 1 })
      }
    }
    return { numGenerations: G, completions, prompts }
  }
  private lrNow(): number {
    return this.lr * Math.max(0, 1 - this.step / this.totalSteps)
  }
  async grpoStep(r: Rollouts, advantages: ArrayLike<number>, opts: StepOptions): Promise<StepMetrics> {
    const prompts = (r as Rollouts & { prompts: EncodedPrompt[] }).prompts
    const rollouts = r.completions.map((c, i) => ({ prompt: prompts[c.promptIndex]!, tokens: c.tokens, advantage: advantages[i]!, oldLogprobs: opts.clipped ? c.logprobs : undefined }))
    this.calls.push({
      kind: 'grpoStep', opts,
      rollouts: rollouts.map((r) => ({ prompt: r.prompt.inputIds[1]!, token: r.tokens[0]!, advantage: r.advantage, hasOld: r.oldLogprobs !== undefined })),
    })
    const lr = this.lrNow()
    let loss = 0
    for (const r of rollouts) {
      this.logits[r.tokens[0]! - 1]! += (lr * r.advantage) / rollouts.length
      loss -= r.advantage / rollouts.length
    }
    this.step++
    return { loss, kl: 0.001 * this.step, clipFraction: opts.clipped ? 0.1 : 0, gradNorm: 1, lr, skipped: false, tokens: rollouts.length, seconds: { logprobs: 0.001, update: 0.002 } }
  }
  async sftStep(batch: Array<{ prompt: EncodedPrompt; targets: Int32Array }>): Promise<StepMetrics> {
    this.calls.push({ kind: 'sftStep', prompts: batch.map((b) => b.prompt.inputIds[1]!) })
    const lr = this.lrNow()
    this.step++
    return { loss: 2 / this.step, kl: 0, clipFraction: 0, gradNorm: 1, lr, skipped: false, tokens: batch.length, seconds: { logprobs: 0, update: 0.001 } }
  }
  async saveModel(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true })
    // A valid config.json (the tiny preset's): the model loader reads and validates it before any policy exists.
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ ...hubConfig('qwen2-vl', 'tiny', 'float32'), fake: true }))
    // and the tokenizer, as the native trainer copies the source folder's non-weight files (ERR_TOKENIZER_MISSING otherwise)
    copyFileSync(defaultTokenizerPath(), join(dir, 'tokenizer.json'))
    writeFileSync(join(dir, 'weights.json'), JSON.stringify(this.logits))
  }
  async saveState(dir: string): Promise<void> {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'state.json'), JSON.stringify({ logits: this.logits, step: this.step }))
  }
  async loadState(dir: string): Promise<void> {
    const s = JSON.parse(readFileSync(join(dir, 'state.json'), 'utf8')) as { logits: number[]; step: number }
    this.logits = s.logits
    this.step = s.step
  }
  dispose(): void {
    this.disposed = true
  }
}

/** A policy factory for the CLI (VRFT_POLICY_MODULE): the CLI tests load this file. */
export async function createPolicy(): Promise<TrainablePolicy> {
  const p = new FakePolicy()
  p.delayMs = Number(process.env.FAKE_DELAY_MS ?? 0)
  return p
}
