/**
 * The command-line options of `train` and `sft`, generated from the config schemas and the defaults
 * table, so `--help` documents every option with the default the schema applies. Flags are kebab-case
 * forms of the config keys; only flags the user actually gave override the config file.
 */
import type { Argv, Options } from 'yargs'
import { DEFAULTS_TABLE, GRPO_DEFAULTS as D, flagName } from '../train/defaults.js'
import { SFT_DEFAULTS, sftConfigSchema, trainConfigSchema } from '../train/config.js'
import { DATA_DEFAULTS } from '../defaults.js'
import { TOKENIZER_FLAG_HELP } from '../model/tokenizer.js'

interface Opt { key: string; type: 'number' | 'string' | 'boolean' | 'array'; describe: string; choices?: readonly string[]; group?: string }

const described = new Map(DEFAULTS_TABLE.map((d) => [d.key, d]))

/** Options with no entry in the defaults table. */
const EXTRA: Record<string, { describe: string; group?: string }> = {
  model: { describe: 'model directory or Hugging Face hub id resolved from the local cache (e.g. Qwen/Qwen2-VL-2B-Instruct); with no --model and no --data the built-in demo runs', group: 'Data and model:' },
  tokenizer: { describe: TOKENIZER_FLAG_HELP, group: 'Data and model:' },
  data: { describe: 'training data: a .parquet (columns image, problem, solution) or .jsonl/.json records file, a folder of shards (data/<split>-*.parquet, <split>/*.parquet), or a Hugging Face data set id resolved from the local cache (e.g. Org/Name)', group: 'Data and model:' },
  evalData: { describe: 'evaluation data (same forms); evaluated every --eval-every steps and at the end', group: 'Data and model:' },
  split: { describe: `split of a --data folder or hub data set [default: ${JSON.stringify(DATA_DEFAULTS.split)}]`, group: 'Data and model:' },
  evalSplit: { describe: `split of an --eval-data folder or hub data set [default: ${JSON.stringify(DATA_DEFAULTS.evalSplit)}]`, group: 'Data and model:' },
  evalLimit: { describe: 'evaluate only the first N eval samples [default: all]', group: 'Data and model:' },
  task: { describe: 'task of the data: detection, classification, grounding [default: from the samples; the built-in demo: detection]', group: 'Data and model:' },
  output: { describe: 'run directory (config.json, metrics.jsonl, samples.jsonl, plots/, checkpoint-N/) [default: runs/<command>-<time>]', group: 'Run:' },
  resume: { describe: 'continue a run: true = the latest checkpoint of --output, or a checkpoint/run directory [default: false]', group: 'Run:' },
  reward: { describe: 'extra reward ./file.js[:export][=weight] (repeatable); added to the task\'s built-in rewards', group: 'Rewards:' },
  builtinRewards: { describe: 'include the task\'s built-in rewards; --no-builtin-rewards uses only --reward functions [default: true]', group: 'Rewards:' },
  dtype: { describe: `compute dtype: auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16 [default: ${JSON.stringify(D.dtype)}]`, group: 'Run:' },
  device: { describe: `cpu, cuda, cuda:N or auto [default: ${JSON.stringify(D.device)}]`, group: 'Run:' },
  quiet: { describe: 'no progress output [default: false]', group: 'Run:' },
  nproc: { describe: `data-parallel processes on this machine (spawns N ranks over c10d Gloo); torchrun/Slurm set RANK/WORLD_SIZE instead [default: ${D.nproc}]`, group: 'Distributed:' },
}

const GROUPS: Record<string, string> = {
  numGenerations: 'GRPO:', temperature: 'GRPO:', topP: 'GRPO:', topK: 'GRPO:', maxCompletionLength: 'GRPO:', beta: 'GRPO:',
  numIterations: 'GRPO:', epsilon: 'GRPO:', epsilonHigh: 'GRPO:', lossType: 'GRPO:', advantageScale: 'GRPO:',
  importanceSamplingLevel: 'GRPO:', dynamicSampling: 'GRPO:', maxSamplingRounds: 'GRPO:', maskTruncatedCompletions: 'GRPO:',
  overlongBuffer: 'GRPO:', overlongPenalty: 'GRPO:', rewardNormalization: 'GRPO:', topEntropyQuantile: 'GRPO:',
  rolloutCorrection: 'GRPO:', tisCap: 'GRPO:',
  iouNormalize: 'Rewards:', iouThreshold: 'Rewards:', classificationMatch: 'Rewards:', groundingReward: 'Rewards:',
  maxPromptLength: 'Data and model:', maxPixels: 'Data and model:', minPixels: 'Data and model:',
  saveEvery: 'Run:', evalEvery: 'Run:', sampleEvery: 'Run:', keepCheckpoints: 'Run:', seed: 'Run:', maxSteps: 'Optimizer:',
  checkEvery: 'Distributed:',
  loraRank: 'LoRA, freezing and memory:', loraAlpha: 'LoRA, freezing and memory:', loraTargets: 'LoRA, freezing and memory:', mergeLora: 'LoRA, freezing and memory:',
  gradientCheckpointing: 'LoRA, freezing and memory:', freezeVision: 'LoRA, freezing and memory:', freezeMerger: 'LoRA, freezing and memory:',
  dryRun: 'LoRA, freezing and memory:', ignoreMemoryPlan: 'LoRA, freezing and memory:',
}

function optionsOf(shape: Record<string, unknown>, overrides: Record<string, unknown> = {}): Opt[] {
  const out: Opt[] = []
  for (const [key, def] of Object.entries(shape)) {
    type Def = { type: string; innerType?: { _zod: { def: Def } }; entries?: Record<string, string> }
    let d = (def as { _zod: { def: Def } })._zod.def
    while ((d.type === 'default' || d.type === 'optional') && d.innerType) d = d.innerType._zod.def
    const type = d.type === 'number' ? 'number' : d.type === 'boolean' ? 'boolean' : d.type === 'array' ? 'array' : 'string'
    const entry = described.get(key)
    const value = key in overrides ? overrides[key] : entry?.value
    const describe = entry ? `${entry.description} [default: ${JSON.stringify(value)}]` : EXTRA[key]?.describe ?? key
    const opt: Opt = { key, type, describe, group: GROUPS[key] ?? EXTRA[key]?.group ?? 'Optimizer:' }
    if (d.type === 'enum' && d.entries) opt.choices = Object.values(d.entries)
    out.push(opt)
  }
  return out
}

/** yargs option specs of `train`. */
export const TRAIN_OPTIONS: readonly Opt[] = optionsOf(trainConfigSchema.shape)
/** yargs option specs of `sft`. */
export const SFT_OPTIONS: readonly Opt[] = optionsOf(sftConfigSchema.shape, SFT_DEFAULTS)

/** Add the options to a yargs builder (no yargs defaults: absent flags stay undefined). */
export function addOptions<T>(y: Argv<T>, opts: readonly Opt[]): Argv<T> {
  let out = y.option('config', { type: 'string', describe: 'YAML or JSON file of options (keys as below, camelCase or kebab-case); flags override it', group: 'Run:' }) as unknown as Argv<T>
  for (const o of opts) {
    const flag = flagName(o.key).slice(2)
    const spec: Options = { type: o.type === 'array' ? 'array' : o.type, describe: o.describe, group: o.group ?? 'Options:' }
    if (o.type === 'array') spec.string = true
    if (o.choices) spec.choices = [...o.choices]
    if (o.key === 'resume') { spec.type = 'string'; spec.coerce = (v: unknown) => (v === '' || v === 'true' ? true : v === 'false' ? false : v) }
    out = out.option(flag, spec) as Argv<T>
  }
  return out
}

/** The options the user gave on the command line (camelCase keys), from parsed argv. */
export function givenFlags(argv: Record<string, unknown>, opts: readonly Opt[]): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const o of opts) {
    const v = argv[o.key] ?? argv[flagName(o.key).slice(2)]
    if (v !== undefined) out[o.key] = o.type === 'array' ? (Array.isArray(v) ? v.map(String) : [String(v)]) : v
  }
  return out
}

/**
 * `--dry-run`: print the memory plan and one JSON line (peak, phase, available, fits) to stdout; true when it
 * printed (the command then ends there).
 */
export function printDryRun(dryRun: boolean, m: { plan: { peakBytes: number; peakPhase: string }; available?: number; text: string } | undefined): boolean {
  if (!dryRun || !m) return false
  console.log(m.text)
  console.log(JSON.stringify({ dryRun: true, peakBytes: m.plan.peakBytes, peakPhase: m.plan.peakPhase, available: m.available ?? null, fits: m.available === undefined ? null : m.plan.peakBytes <= m.available }))
  return true
}
