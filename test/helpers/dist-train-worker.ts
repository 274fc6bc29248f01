// One rank of test/dist-train.test.ts: joins the c10d group (when WORLD_SIZE > 1), takes its shard of a
// fixed global batch of rollouts, runs 3 GRPO steps through NativePolicy and prints the sum and the
// sum of squares of every trainable parameter as one JSON line.
import { distEnv, initDistributed, shard, shutdownDistributed, checkSameParameters } from '../../lib/train/distributed.js'
import { NativePolicy } from '../../lib/train/native-policy.js'
import { trainerBinding } from '../../lib/train/trainer-settings.js'
import type { Rollout } from '../../lib/train/types.js'
import { imagePrompt } from './dist-run.js'
import { hostname } from 'node:os'

const env = distEnv()
await initDistributed(env, 30000)
const modelDir = process.argv[2]!
const policy = await NativePolicy.create({ modelDir, train: { lr: 1e-3, seed: 1, maxGradNorm: 1 } })

// 4 prompts x 2 completions, each prompt with a 4x4-patch image (4 image tokens).
const prompt = imagePrompt
const all: Rollout[] = []
for (let k = 0; k < 4; k++) {
  const p = prompt(k)
  all.push({ prompt: p, tokens: Int32Array.from([300 + k, 301, 302, 151645]), advantage: 0.7 })
  all.push({ prompt: p, tokens: Int32Array.from([400 + k, 401, 151645]), advantage: -0.7 })
}
const [a, b] = shard(4, env.rank, env.worldSize)
const mine = all.slice(a * 2, b * 2)
let allreduce = 0
for (let step = 0; step < 3; step++) {
  const m = await policy.grpoStepBatch(mine, { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'grpo', microBatchSize: 2, clipped: false, maxCompletionLength: 4 })
  allreduce += (m.seconds as { allreduce?: number }).allreduce ?? 0
}
const tb = trainerBinding()
const sums: Record<string, [number, number]> = {}
let checksum = 0
for (const p of tb.trainerParameters(policy.trainer)) {
  if (!p.trainable) continue
  const v = tb.trainerParameter(policy.trainer, p.name)
  let s = 0, q = 0
  for (let i = 0; i < v.length; i++) { s += v[i]!; q += v[i]! * v[i]! }
  sums[p.name] = [s, q]
  checksum += q
}
await checkSameParameters(checksum, 3)
process.stdout.write(JSON.stringify({ rank: env.rank, sums, allreduce, host: hostname(), gloo: process.env.GLOO_SOCKET_IFNAME ?? null, master: env.masterAddr }) + '\n')
policy.dispose()
if (env.worldSize > 1) shutdownDistributed()
