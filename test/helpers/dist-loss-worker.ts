// One rank of test/dist-loss.test.ts: joins the c10d group (when WORLD_SIZE > 1), takes its shard of a fixed
// global batch of 4 completions of different lengths (2 prompts × 2), runs one GRPO step with update: false
// (the ranks' gradients are all-reduced all the same) for the loss type and micro-batch size given on the
// command line (or, for 'sft', one SFT step on the same completions), and prints the averaged gradients of a few tensors as one JSON line.
import { distEnv, initDistributed, shard, shutdownDistributed } from '../../lib/train/distributed.js'
import { NativePolicy, toNativeBatch } from '../../lib/train/native-policy.js'
import { trainerBinding } from '../../lib/train/trainer-settings.js'
import type { LossType, Rollout } from '../../lib/train/types.js'
import { imagePrompt } from './dist-run.js'

const env = distEnv()
await initDistributed(env, 30000)
const [modelDir, lossType, micro] = [process.argv[2]!, process.argv[3]! as LossType, Number(process.argv[4])]
const policy = await NativePolicy.create({ modelDir, train: { lr: 1e-3, seed: 1, maxGradNorm: 0 } })

// Rank 0's completions hold 9 + 2 tokens, rank 1's 3 + 1: a per-rank token mean weighs them differently.
const p0 = imagePrompt(0), p1 = imagePrompt(1)
const all: Rollout[] = [
  { prompt: p0, tokens: Int32Array.from([300, 301, 302, 303, 304, 305, 306, 307, 151645]), advantage: 0.9 },
  { prompt: p0, tokens: Int32Array.from([400, 151645]), advantage: -0.9 },
  { prompt: p1, tokens: Int32Array.from([500, 501, 151645]), advantage: 0.4 },
  { prompt: p1, tokens: Int32Array.from([151645]), advantage: -0.4 },
]
const [a, b] = shard(2, env.rank, env.worldSize)
const mine = all.slice(a * 2, b * 2)
const tb = trainerBinding()
// lossType 'sft': one SFT step (cross-entropy on the same completions as targets) instead of GRPO
const r = lossType === ('sft' as LossType)
  ? await tb.trainerSftStep(policy.trainer, toNativeBatch(mine.map((x) => ({ prompt: x.prompt, tokens: x.tokens })), false), { microBatchSize: micro, update: false })
  : await tb.trainerGrpoStep(policy.trainer, toNativeBatch(mine, false), {
    beta: 0, epsilonLow: 0.2, epsilonHigh: 0.2, aggregation: lossType, microBatchSize: micro, clipped: false, maxCompletionLength: 0, update: false, details: false,
  })
const grads: Record<string, number[]> = {}
for (const name of ['model.layers.0.self_attn.q_proj.weight', 'model.layers.1.mlp.down_proj.weight', 'visual.blocks.0.attn.qkv.weight']) {
  grads[name] = Array.from(tb.trainerGrad(policy.trainer, name).data)
}
process.stdout.write(JSON.stringify({ rank: env.rank, loss: r.loss, tokens: r.tokens, gradNorm: r.gradNorm, grads }) + '\n')
policy.dispose()
if (env.worldSize > 1) shutdownDistributed()
