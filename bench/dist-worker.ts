/**
 * One rank of the data-parallel benchmark (bench/suites/dist.ts): joins the c10d group when WORLD_SIZE > 1,
 * runs `steps` GRPO steps on its share of a fixed global batch of rollouts, prints one JSON line with
 * the median step time and the all-reduce time per step.
 */
import { distEnv, initDistributed, shard, shutdownDistributed } from '../lib/train/distributed.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import type { EncodedPrompt, Rollout } from '../lib/train/types.js'

const [modelDir, promptsArg, stepsArg] = process.argv.slice(2)
const env = distEnv()
await initDistributed(env, 60000)
const policy = await NativePolicy.create({ modelDir: modelDir!, train: { lr: 1e-5, seed: 1 } })
const P = Number(promptsArg), G = 4
function prompt(k: number): EncodedPrompt {
  const ids = [151644, 8948, 198, 151652, ...Array(16).fill(151655), 151653, 100 + k, 200 + k, 151645, 198, 151644, 77091, 198]
  const px = new Float32Array(64 * 1176).map((_, i) => Math.sin(i * 0.37 + k))
  return { inputIds: Int32Array.from(ids), pixelValues: [px], imageGridThw: [[1, 8, 8]] }
}
const all: Rollout[] = []
for (let k = 0; k < P; k++) {
  const p = prompt(k)
  for (let g = 0; g < G; g++) all.push({ prompt: p, tokens: Int32Array.from({ length: 32 }, (_, j) => 1000 + ((k * 31 + g * 17 + j * 7) % 5000)), advantage: g % 2 ? 0.5 : -0.5 })
}
const [a, b] = shard(P, env.rank, env.worldSize)
const mine = all.slice(a * G, b * G)
const times: number[] = [], comm: number[] = []
for (let s = 0; s < Number(stepsArg); s++) {
  const t0 = performance.now()
  const m = await policy.grpoStepBatch(mine, { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'grpo', microBatchSize: 4, clipped: false, maxCompletionLength: 32 })
  times.push((performance.now() - t0) / 1000)
  comm.push(m.seconds.allreduce ?? 0)
}
const med = (x: number[]) => [...x].sort((p, q) => p - q)[Math.floor(x.length / 2)]!
process.stdout.write(JSON.stringify({ rank: env.rank, step: med(times.slice(1)), allreduce: med(comm.slice(1)), completions: mine.length }) + '\n')
policy.dispose()
if (env.worldSize > 1) shutdownDistributed()
