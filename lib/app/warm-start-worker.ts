/**
 * One rank of the demo's data-parallel warm start (lib/app/builtin.ts `warmStart` with warmStartRanks > 1),
 * started by `launchLocal` with the c10d variables and the path of a job file (WarmStartJob): joins the
 * group, builds the warm-start images (deterministic by seed: the same on every rank), trains the phases on
 * its share of every step's prompts, and rank 0 saves the model.
 */
import { readFileSync } from 'node:fs'
import { distEnv, initDistributed, shutdownDistributed } from '../train/distributed.js'
import { builtinData } from './builtin-tasks.js'
import { trainWarmStart, type WarmStartJob } from './builtin.js'

const job = JSON.parse(readFileSync(process.argv[2]!, 'utf8')) as WarmStartJob
const env = distEnv()
await initDistributed(env, Number(process.env.VRFT_DIST_TIMEOUT_MS ?? 600000))
try {
  const data = await builtinData(job.settings)
  await trainWarmStart(job, data.phases, { dist: { rank: env.rank, worldSize: env.worldSize }, ...(job.settings.quiet ? { log: () => {} } : {}) })
} finally {
  if (env.worldSize > 1) shutdownDistributed()
}
