/**
 * The benchmark suites, in the order they run (`--only name,name` picks some). Each suite reports Rows with
 * a baseline measured in the same process and/or a utilization of the limits measured in the same run.
 */
import type { Suite } from '../harness.js'
import { limitsSuite } from './limits.js'
import { rewardsSuite } from './rewards.js'
import { evalSuite } from './eval.js'
import { tokenizerSuite } from './tokenizer.js'
import { preprocessSuite } from './preprocess.js'
import { modelSuite } from './model.js'
import { generateSuite } from './generate.js'
import { logprobsSuite } from './logprobs.js'
import { grpoSuite } from './grpo.js'
import { e2eSuite } from './e2e.js'
import { serveSuite } from './serve.js'
import { distSuite } from './dist.js'
import { multihostSuite } from './multihost.js'
import { dataSuite } from './data.js'
import { realsizeSuite } from './realsize.js'
import { dtypeSuite } from './dtype.js'

export const suites: Suite[] = [limitsSuite, rewardsSuite, evalSuite, tokenizerSuite, preprocessSuite, modelSuite, generateSuite, logprobsSuite, grpoSuite, e2eSuite, serveSuite, distSuite, dataSuite, multihostSuite, dtypeSuite, realsizeSuite]
