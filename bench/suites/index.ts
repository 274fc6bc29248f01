/**
 * The benchmark suites, in the order they run (`--only name,name` picks some). Each suite reports Rows with
 * a baseline measured in the same process and/or a utilization of the limits measured in the same run.
 */
import type { Suite } from '../harness.js'
import { limitsSuite } from './limits.js'
import { rewardsSuite } from './rewards.js'
import { tokenizerSuite } from './tokenizer.js'
import { preprocessSuite } from './preprocess.js'
import { generateSuite } from './generate.js'

export const suites: Suite[] = [limitsSuite, rewardsSuite, tokenizerSuite, preprocessSuite, generateSuite]
