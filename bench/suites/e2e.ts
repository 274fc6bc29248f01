/**
 * End to end: GRPO optimizer steps per minute on the built-in demo task (synthetic colour–shape
 * classification, tiny Qwen2-VL, G = 8, 4 prompts per step, 32 new tokens), with the time split by phase
 * (generation, decode, rewards, log-probs, update) from the trainer's own metrics.
 *
 * Baseline, same process, same model and batch: one SFT step on the same prompts (teacher-forced forward
 * + backward + AdamW on the target answers) — the ratio says what GRPO's sampling and extra passes cost
 * over plain supervised training. Uses a freshly initialized tiny model (the cached warm start when
 * present), so it needs the addon and the model initializer.
 *
 * Run alone: node dist/bench/run.js --only e2e [--quick]
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { rewardSet } from '../../lib/rewards/scorer.js'
import { BUILTIN_DEFAULTS, BUILTIN_TASK_DEFAULTS, builtinData, cacheDir } from '../../lib/app/builtin.js'
import { syntheticTarget } from '../../lib/data/synthetic.js'
import { makeTargetEncoder } from '../../lib/train/encode.js'
import { GRPOTrainer } from '../../lib/train/grpo.js'
import { arraySource, type StepRecord } from '../../lib/train/loop.js'
import { SFTTrainer } from '../../lib/train/sft.js'
import { createPolicy, modelIO } from '../../lib/train/setup.js'
import { createTinyModel } from '../../lib/app/tiny.js'
import { type Row, type Suite } from '../harness.js'

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export const e2eSuite: Suite = {
  name: 'e2e',
  async run(ctx) {
    // the classification demo's task (its steps are what the results below measured)
    const s = { ...BUILTIN_DEFAULTS, ...BUILTIN_TASK_DEFAULTS.classification, task: 'classification' as const, warmStartImages: 16, testImages: 4 }
    const data = await builtinData(s)
    // a cached classification warm start (the box tasks' warm starts are other models on other images)
    const isClassification = (d: string) => {
      try {
        const info = JSON.parse(readFileSync(join(cacheDir(), d, 'info.json'), 'utf8')) as { settings?: { task?: string; model?: string } }
        return info.settings?.task === 'classification' && (info.settings.model ?? 'tiny') === 'tiny'
      } catch {
        return false
      }
    }
    const cached = existsSync(cacheDir()) ? readdirSync(cacheDir()).find((d) => d.startsWith('demo-warmstart-') && !d.includes('.tmp') && isClassification(d)) : undefined
    let modelDir = cached ? join(cacheDir(), cached, 'model') : join(ctx.workdir, 'tiny')
    if (!cached || !existsSync(join(modelDir, 'config.json'))) {
      modelDir = join(ctx.workdir, 'tiny')
      await createTinyModel(modelDir, 0)
    }
    const io = await modelIO(modelDir, s)
    const device = ctx.device
    const dtype = ctx.dtype
    const steps = ctx.quick ? 2 : 6
    const base = { modelDir, device, dtype, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, lrScheduler: 'constant' as const, warmupSteps: 0, totalSteps: 0, maxGradNorm: 1, seed: 0 }
    const policy = await createPolicy({ ...base, learningRate: s.learningRate, reference: s.beta > 0 })
    let records: StepRecord[]
    try {
      const tr = new GRPOTrainer({
        policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), rewards: rewardSet('classification'), eosTokenIds: io.eosTokenIds,
        progress: false, evalAtStart: false,
        settings: { promptsPerStep: s.promptsPerStep, numGenerations: s.numGenerations, maxCompletionLength: s.maxCompletionLength, beta: s.beta, microBatchSize: s.microBatchSize, maxSteps: steps + 1, saveEvery: 0, evalEvery: 0, sampleEvery: 0 },
      })
      records = (await tr.train()).records.slice(1) // first step is warm-up
    } finally {
      policy.dispose()
    }
    const sftPolicy = await createPolicy({ ...base, learningRate: s.sftLearningRate, reference: false })
    let sftSeconds: number[]
    try {
      const st = new SFTTrainer({
        policy: sftPolicy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), eosTokenIds: io.eosTokenIds, progress: false,
        encodeTarget: makeTargetEncoder(io.tokenizer, syntheticTarget), settings: { promptsPerStep: s.promptsPerStep, microBatchSize: s.microBatchSize, maxSteps: steps + 1, saveEvery: 0, evalEvery: 0 },
      })
      sftSeconds = (await st.train()).records.slice(1).map((r) => r.seconds.total)
    } finally {
      sftPolicy.dispose()
    }
    const total = median(records.map((r) => r.seconds.total))
    const sft = median(sftSeconds)
    const phases = ['generation', 'decode', 'rewards', 'logprobs', 'update'] as const
    const split = phases.map((p) => `${p} ${((median(records.map((r) => r.seconds[p])) / total) * 100).toFixed(0)}%`).join(', ')
    const spread = `±${(((Math.max(...records.map((r) => r.seconds.total)) - Math.min(...records.map((r) => r.seconds.total))) / 2 / total) * 100).toFixed(0)}%`
    const rows: Row[] = [
      {
        bench: `e2e GRPO step, demo task (${s.promptsPerStep} prompts × G ${s.numGenerations}, ${s.maxCompletionLength} tokens, ${device})`,
        metric: 'steps/min', value: 60 / total, spread,
        baseline: { name: 'SFT step, same prompts', value: 60 / sft }, ratio: sft / total,
        notes: `time split: ${split}; ${median(records.map((r) => r.tokensPerSecond)).toFixed(0)} generated tok/s; model ${modelDir}`,
      },
      ...phases.map((p): Row => ({ bench: `e2e GRPO phase: ${p}`, metric: 's/step', value: median(records.map((r) => r.seconds[p])), notes: 'median over timed steps' })),
    ]
    return rows
  },
}
