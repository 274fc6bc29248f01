/**
 * Training configuration: one zod schema per command (GRPO `train`, `sft`), filled from defaults
 * (defaults.ts) < a YAML/JSON config file (`--config`) < command-line flags. Validation errors are
 * ERR_CONFIG and name the option (as its flag), the expected and the received value, and where the value
 * came from. The result is a plain, frozen, fully resolved object that is printed and saved as the run's
 * config.json. The ranges are those the native trainer and generation accept (lib/native/trainer.ts,
 * native/napi/trainer.cpp, generate.cpp), so a value that passes here is never refused later under an
 * internal name (`--epsilon` is the step's epsilonLow, in [0, 1]).
 */
import { readFileSync } from 'node:fs'
import { extname } from 'node:path'
import YAML from 'yaml'
import { z } from 'zod'
import { VrftError, describeValue } from '../errors.js'
import { DATA_DEFAULTS, MEMORY_PLAN_DEFAULTS, TRAINER_DEFAULTS as TD, resolveEpsilonHigh } from '../defaults.js'
import { GRPO_DEFAULTS as D, SFT_DEFAULTS, flagName } from './defaults.js'

export { SFT_DEFAULTS }

const int = (min: number) => z.number().int().min(min)
const task = z.enum(['detection', 'classification', 'grounding'])
/** AdamW learning rate in (0, 1e3] (what the native trainer accepts), with a command's default. */
const learningRate = (d: number) => z.number().positive().max(1e3).default(d)

/** Options shared by `train` and `sft`. */
const common = {
  model: z.string().min(1).optional(),
  data: z.string().min(1).optional(),
  evalData: z.string().min(1).optional(),
  split: z.string().min(1).default(DATA_DEFAULTS.split),
  evalSplit: z.string().min(1).default(DATA_DEFAULTS.evalSplit),
  task: task.optional(),
  output: z.string().min(1).optional(),
  resume: z.union([z.boolean(), z.string().min(1)]).default(false),
  learningRate: learningRate(D.learningRate),
  weightDecay: z.number().min(0).max(1e3).default(D.weightDecay),
  adamBeta1: z.number().min(0).max(0.999999).default(D.adamBeta1),
  adamBeta2: z.number().min(0).max(0.999999).default(D.adamBeta2),
  adamEpsilon: z.number().positive().max(1).default(D.adamEpsilon),
  lrScheduler: z.enum(['linear', 'cosine', 'constant']).default(D.lrScheduler),
  warmupSteps: int(0).default(D.warmupSteps),
  maxGradNorm: z.number().min(0).max(1e30).default(D.maxGradNorm),
  promptsPerStep: int(1).default(D.promptsPerStep),
  microBatchSize: int(1).max(1 << 20).default(D.microBatchSize),
  maxSteps: int(1).default(D.maxSteps),
  maxPromptLength: int(1).default(D.maxPromptLength),
  maxPixels: int(784).default(D.maxPixels),
  minPixels: int(784).default(D.minPixels),
  seed: int(0).default(D.seed),
  saveEvery: int(0).default(D.saveEvery),
  evalEvery: int(0).default(D.evalEvery),
  evalLimit: int(1).optional(),
  keepCheckpoints: int(1).default(D.keepCheckpoints),
  dtype: z.enum(['auto', 'float32', 'bfloat16']).default(D.dtype),
  device: z.string().min(1).default(D.device),
  quiet: z.boolean().default(false),
  onDataError: z.enum(['throw', 'skip']).default(D.onDataError),
  tokenizer: z.string().min(1).optional(),
  loraRank: int(0).max(1 << 16).default(TD.loraRank),
  loraAlpha: z.number().positive().max(1e6).default(TD.loraAlpha),
  loraTargets: z.array(z.string().min(1)).min(1).default([...TD.loraTargets]),
  mergeLora: z.boolean().default(TD.mergeLora),
  gradientCheckpointing: z.boolean().default(TD.gradientCheckpointing),
  freezeVision: z.boolean().default(TD.freezeVision),
  freezeMerger: z.boolean().default(TD.freezeMerger),
  dryRun: z.boolean().default(MEMORY_PLAN_DEFAULTS.dryRun),
  ignoreMemoryPlan: z.boolean().default(MEMORY_PLAN_DEFAULTS.ignoreMemoryPlan),
}

/** The GRPO (`vrft-native train`) configuration schema. */
export const trainConfigSchema = z.strictObject({
  ...common,
  numGenerations: int(2).max(1 << 16).default(D.numGenerations),
  temperature: z.number().min(0).max(1e6).default(D.temperature),
  topP: z.number().gt(0).max(1).default(D.topP),
  topK: int(0).max(1 << 30).default(D.topK),
  maxCompletionLength: int(1).max(1 << 20).default(D.maxCompletionLength),
  beta: z.number().min(0).max(1e6).default(D.beta),
  epsilon: z.number().min(0).max(1).default(D.epsilon),
  epsilonHigh: z.number().min(0).max(1e6).optional(),
  numIterations: int(1).default(D.numIterations),
  lossType: z.enum(['grpo', 'bnpo', 'dr_grpo', 'dapo']).default(D.lossType),
  importanceSamplingLevel: z.enum(['token', 'sequence', 'sequence_token']).default(D.importanceSamplingLevel),
  dynamicSampling: z.boolean().default(D.dynamicSampling),
  maxSamplingRounds: int(1).max(1 << 10).default(D.maxSamplingRounds),
  maskTruncatedCompletions: z.boolean().default(D.maskTruncatedCompletions),
  overlongBuffer: int(0).max(1 << 20).default(D.overlongBuffer),
  overlongPenalty: z.number().min(0).max(1e6).default(D.overlongPenalty),
  rewardNormalization: z.enum(['sum_then_normalize', 'normalize_then_sum']).default(D.rewardNormalization),
  topEntropyQuantile: z.number().gt(0).max(1).default(D.topEntropyQuantile),
  rolloutCorrection: z.enum(['none', 'tis']).default(D.rolloutCorrection),
  tisCap: z.number().min(1).max(1e6).default(D.tisCap),
  advantageScale: z.enum(['group', 'batch', 'none']).default(D.advantageScale),
  sampleEvery: int(0).default(D.sampleEvery),
  reward: z.array(z.string().min(1)).default([]),
  builtinRewards: z.boolean().default(true),
  iouNormalize: z.enum(['max', 'pred']).default(D.iouNormalize),
  iouThreshold: z.number().min(0).lt(1).default(D.iouThreshold),
  classificationMatch: z.enum(['exact', 'substring']).default(D.classificationMatch),
  groundingReward: z.enum(['iou', 'giou']).default(D.groundingReward),
  rewardErrors: z.enum(['throw', 'skip']).default(D.rewardErrors),
  nproc: int(1).default(D.nproc),
  checkEvery: int(0).default(D.checkEvery),
})

/** The SFT (`vrft-native sft`) configuration schema. */
export const sftConfigSchema = z.strictObject({
  ...common,
  learningRate: learningRate(SFT_DEFAULTS.learningRate),
})

/** A resolved GRPO configuration. */
export type TrainConfig = z.output<typeof trainConfigSchema> & { epsilonHigh: number }
/** A resolved SFT configuration. */
export type SftConfig = z.output<typeof sftConfigSchema>
/** What a user may write (every key optional). */
export type TrainConfigInput = z.input<typeof trainConfigSchema>
export type SftConfigInput = z.input<typeof sftConfigSchema>

/** Read a YAML or JSON config file into a plain object (ERR_CONFIG when unreadable or not a mapping). */
export function readConfigFile(file: string): Record<string, unknown> {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Expected a readable YAML or JSON config file for --config but could not read ${file}: ${(e as Error).message}`, { file })
  }
  let v: unknown
  try {
    v = extname(file).toLowerCase() === '.json' ? JSON.parse(text) : YAML.parse(text)
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Config file ${file} is not valid ${extname(file) === '.json' ? 'JSON' : 'YAML'}: ${(e as Error).message}`, { file })
  }
  if (v === null || v === undefined) return {}
  if (typeof v !== 'object' || Array.isArray(v)) {
    throw new VrftError('ERR_CONFIG', `Expected a mapping of options in config file ${file} but received ${describeValue(v)}`, { file })
  }
  // Accept kebab-case keys as written on the command line.
  const out: Record<string, unknown> = {}
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) out[k.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase())] = val
  return out
}

function expectedOf(issue: z.core.$ZodIssue): string {
  switch (issue.code) {
    case 'invalid_type':
      return issue.expected === 'int' ? 'an integer' : `a ${issue.expected}`
    case 'too_small':
      return `${issue.origin === 'number' ? 'a number' : issue.origin === 'string' ? 'a string of length' : 'a value'} ${issue.inclusive ? '>=' : '>'} ${String(issue.minimum)}`
    case 'too_big':
      return `${issue.origin === 'number' ? 'a number' : 'a value'} ${issue.inclusive ? '<=' : '<'} ${String(issue.maximum)}`
    case 'invalid_value':
      return `one of ${issue.values.map((x) => JSON.stringify(x)).join(', ')}`
    case 'invalid_union':
      return 'true, false or a checkpoint path'
    default:
      return issue.message
  }
}

function received(v: unknown): string {
  if (typeof v === 'number' && Number.isNaN(v)) return 'NaN (not a number)'
  if (Array.isArray(v)) return JSON.stringify(v).slice(0, 60)
  return describeValue(v)
}

/**
 * Validate `raw` against `schema`. `sources` maps a key to where its value came from (for the message).
 * Throws ERR_CONFIG naming the first bad option; every problem is in `details.issues`.
 */
export function validateConfig<S extends z.ZodType>(schema: S, raw: Record<string, unknown>, sources: Record<string, string> = {}): z.output<S> {
  const r = schema.safeParse(raw, { reportInput: true })
  if (r.success) return r.data
  const msgs = r.error.issues.map((issue) => {
    if (issue.code === 'unrecognized_keys') {
      return `unknown option ${issue.keys.map((k) => flagName(k)).join(', ')} (${issue.keys.map((k) => sources[k] ?? 'config').join(', ')})`
    }
    const key = String(issue.path[0] ?? '')
    const at = issue.path.length > 1 ? `${flagName(key)}[${issue.path.slice(1).join('.')}]` : flagName(key)
    const input = 'input' in issue ? issue.input : raw[key]
    return `Invalid option ${at}${sources[key] ? ` (from ${sources[key]})` : ''}: expected ${expectedOf(issue)} but received ${received(input)}`
  })
  throw new VrftError('ERR_CONFIG', msgs.join('; '), { issues: msgs })
}

/**
 * Merge defaults < config file < flags and validate. `flags` holds only options the user gave (camelCase).
 * Also checks relations between options (min ≤ max pixels, G and micro-batches).
 */
/** The options a resolved config was given (flags and config-file keys), by config: see {@link givenOptionKeys}. */
const GIVEN = new WeakMap<object, readonly string[]>()

/** The keys of a config from resolveConfig that the user gave (as flags or in the config file), not defaults. */
export function givenOptionKeys(cfg: object): readonly string[] {
  return GIVEN.get(cfg) ?? []
}

export function resolveConfig<S extends typeof trainConfigSchema | typeof sftConfigSchema>(
  schema: S,
  flags: Record<string, unknown>,
  configFile?: string,
): z.output<S> {
  const fromFile = configFile ? readConfigFile(configFile) : {}
  const sources: Record<string, string> = {}
  for (const k of Object.keys(fromFile)) sources[k] = `config file ${configFile}`
  for (const k of Object.keys(flags)) sources[k] = `flag ${flagName(k)}`
  const merged: Record<string, unknown> = { ...fromFile, ...flags }
  if (schema === trainConfigSchema && 'aggregation' in merged) {
    throw new VrftError('ERR_CONFIG', `Option --aggregation${sources.aggregation ? ` (from ${sources.aggregation})` : ''} is now --loss-type (TRL's names): grpo → grpo, token → dapo, dr_grpo → dr_grpo; received ${received(merged.aggregation)}`)
  }
  const cfg = validateConfig(schema, merged, sources) as z.output<S> & Record<string, unknown>
  const fail = (key: string, expected: string, v: unknown): never => {
    throw new VrftError('ERR_CONFIG', `Invalid option ${flagName(key)}${sources[key] ? ` (from ${sources[key]})` : ''}: expected ${expected} but received ${received(v)}`)
  }
  if (cfg.minPixels > cfg.maxPixels) fail('minPixels', `a value <= max-pixels (${cfg.maxPixels})`, cfg.minPixels)
  if (cfg.mergeLora && cfg.loraRank === 0) fail('mergeLora', 'false without LoRA (merging needs --lora-rank > 0)', cfg.mergeLora)
  if ('epsilon' in cfg) (cfg as Record<string, unknown>).epsilonHigh = resolveEpsilonHigh(cfg.epsilon as number, cfg.epsilonHigh as number | undefined)
  if ('overlongBuffer' in cfg && (cfg.overlongBuffer as number) > (cfg.maxCompletionLength as number)) {
    fail('overlongBuffer', `a value <= max-completion-length (${String(cfg.maxCompletionLength)})`, cfg.overlongBuffer)
  }
  if (cfg.rolloutCorrection === 'tis' && (cfg.numIterations as number) > 1) {
    fail('rolloutCorrection', "'none' with --num-iterations > 1 (the clipped ratio already compares against the sampler's log-probs; tis needs --num-iterations 1)", cfg.rolloutCorrection)
  }
  GIVEN.set(cfg, Object.freeze(Object.keys(sources)))
  return Object.freeze(cfg) as z.output<S>
}

/** A readable multi-line rendering of a resolved config (printed at the start of a run). */
export function formatConfig(cfg: Record<string, unknown>): string {
  const keys = Object.keys(cfg).sort()
  const w = Math.max(...keys.map((k) => flagName(k).length))
  return keys.map((k) => `  ${flagName(k).padEnd(w)}  ${JSON.stringify(cfg[k])}`).join('\n')
}

/** Resolve a GRPO config (defaults < file < flags). */
export function resolveTrainConfig(flags: Record<string, unknown>, configFile?: string): TrainConfig {
  return resolveConfig(trainConfigSchema, flags, configFile) as TrainConfig
}

/** Resolve an SFT config (defaults < file < flags). */
export function resolveSftConfig(flags: Record<string, unknown>, configFile?: string): SftConfig {
  return resolveConfig(sftConfigSchema, flags, configFile)
}
