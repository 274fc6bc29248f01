import { builtinData, BUILTIN_DEFAULTS } from '../lib/train/builtin.js'
import { GRPOTrainer } from '../lib/train/grpo.js'
import { arraySource } from '../lib/train/loop.js'
import { rewardSet } from '../lib/rewards/scorer.js'
import { createPolicy, modelIO } from '../lib/train/setup.js'
import { Progress } from '../lib/train/progress.js'
const s = { ...BUILTIN_DEFAULTS }
const data = await builtinData(s)
const dir = process.argv[2]!
const io = await modelIO(dir, s)
const lr = Number(process.env.LR ?? 3e-4)
const policy = await createPolicy({ modelDir: dir, device: 'cpu', dtype: 'float32', learningRate: lr, weightDecay: 0, adamBeta1: 0.9, adamBeta2: 0.999, adamEpsilon: 1e-8, lrScheduler: 'linear', warmupSteps: 0, totalSteps: 20, maxGradNorm: 1, reference: true, seed: 42 })
const tr = new GRPOTrainer({ policy, decoder: io.tokenizer, encode: io.encode, train: arraySource(data.shots), eval: arraySource(data.test), rewards: rewardSet('classification'), eosTokenIds: io.eosTokenIds, progress: new Progress(), runDir: '/tmp/grpo-exp',
  settings: { promptsPerStep: 2, numGenerations: 8, maxCompletionLength: 24, topK: 10, beta: 0.04, microBatchSize: 16, maxSteps: 20, evalEvery: 10, saveEvery: 0, sampleEvery: 5 } })
await tr.train()
