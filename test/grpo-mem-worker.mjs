// A child process of test/trainer-ckpt.test.ts: loads the model in argv[2] (flat config JSON in argv[3]),
// runs one GRPO forward/backward (no update) over long sequences with gradient checkpointing on or off
// (argv[4] = 'on' | 'off'), and prints one JSON line with the peak RSS growth over the step, measured from
// a baseline taken after a warm-up step (so allocator caches and one-time buffers are already counted).
// Loads the addon like lib/native/binding.ts.
import { createRequire } from 'node:module'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { readFileSync } from 'node:fs'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const n = createRequire(import.meta.url)(process.env.VRFT_NATIVE_ADDON ?? join(root, 'build/Release/vrft_native.node'))
const [dir, cfgPath, mode, lenArg] = process.argv.slice(2)
const config = JSON.parse(readFileSync(cfgPath, 'utf8'))
const ckpt = mode === 'on'
const len = Number(lenArg ?? 768)
n.setNumThreads(1)
const model = await n.modelLoad(dir, config, { dtype: 'float32', device: 'cpu' })
const trainer = await n.trainerCreate(model, {
  lr: 1e-6, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, maxGradNorm: 1, schedule: 'constant', warmupSteps: 0, totalSteps: 0,
  checkpointText: ckpt, checkpointVision: ckpt, freezeVision: false, freezeMerger: false, reference: false, seed: 0, sourceDir: dir, optionsJson: '{}',
})
const prompt = Int32Array.from({ length: 16 }, (_, i) => 1 + i)
const mk = (L, seed) => Int32Array.from({ length: L }, (_, i) => 1 + ((i * 37 + seed * 11) % 250))
const batch = { prompts: [{ inputIds: prompt }], rollouts: [0, 1].map((s) => ({ prompt: 0, tokens: mk(len, s), advantage: s ? 1 : -1 })) }
const opts = { beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 0, update: false, details: false }
const small = { prompts: batch.prompts, rollouts: batch.rollouts.map((r) => ({ ...r, tokens: r.tokens.subarray(0, 8) })) }
await n.trainerGrpoStep(trainer, small, opts)  // warm-up: optimizer state, gradient buffers
const rss0 = process.memoryUsage().rss
const peak0 = process.resourceUsage().maxRSS * 1024
await n.trainerGrpoStep(trainer, batch, opts)
const peak1 = process.resourceUsage().maxRSS * 1024
process.stdout.write(JSON.stringify({ mode, rss0, peak0, peak1, growth: peak1 - Math.max(rss0, peak0) }) + '\n')
