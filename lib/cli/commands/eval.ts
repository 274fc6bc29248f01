/**
 * `vrft-native eval`: evaluate a model on a data set with greedy decoding (COCO mAP for detection,
 * accuracy for classification, mIoU for grounding; lib/eval/), or score an existing results file against
 * COCO annotations without a model (`--annotations gt.json --results dt.json|completions.jsonl`).
 */
import { readFileSync } from 'node:fs'
import type { Argv, CommandModule } from 'yargs'
import { VrftError } from '../../errors.js'
import { formatReport } from '../../eval/report.js'
import { scoreResultsFile } from '../../eval/evaluate.js'
import { writeFileAtomic, writeJsonAtomic } from '../../train/checkpoint.js'
import { evaluatePolicy } from '../../train/evaluate.js'
import { loadEvalPolicy, modelDirOf, modelIO, openData, resolveDevice, resolveTask } from '../../train/setup.js'
import { GRPO_DEFAULTS } from '../../train/defaults.js'
import { TOKENIZER_FLAG_HELP } from '../../model/tokenizer.js'

interface EvalArgs {
  model?: string; data?: string; task?: 'detection' | 'classification' | 'grounding'; limit?: number; maxNewTokens: number
  batchSize: number; maxPixels: number; minPixels: number; device: string; output?: string; json: boolean
  annotations?: string; results?: string; classes?: string[]; askPresence: boolean; presenceMap?: string; tokenizer?: string
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a model on data (greedy; mAP / accuracy / mIoU), or score a results file against COCO annotations',
  builder: (y) => y
    .option('model', { type: 'string', describe: 'model directory or hub id (local Hugging Face cache)' })
    .option('data', { type: 'string', describe: 'evaluation data (.jsonl/.json/.parquet)' })
    .option('task', { type: 'string', choices: ['detection', 'classification', 'grounding'] as const, describe: 'task [default: from the samples]' })
    .option('limit', { type: 'number', describe: 'evaluate only the first N samples [default: all]' })
    .option('max-new-tokens', { type: 'number', default: GRPO_DEFAULTS.maxCompletionLength, describe: 'max completion tokens' })
    .option('batch-size', { type: 'number', default: 8, describe: 'prompts per generate call' })
    .option('max-pixels', { type: 'number', default: GRPO_DEFAULTS.maxPixels, describe: 'image max_pixels' })
    .option('min-pixels', { type: 'number', default: GRPO_DEFAULTS.minPixels, describe: 'image min_pixels' })
    .option('device', { type: 'string', default: 'auto', describe: 'cpu, cuda, cuda:N or auto' })
    .option('tokenizer', { type: 'string', describe: TOKENIZER_FLAG_HELP })
    .option('ask-presence', { type: 'boolean', default: false, describe: 'detection: first ask whether the class is present; "no" pairs get no detections (the paper\'s open-vocabulary protocol)' })
    .option('presence-map', { type: 'string', describe: 'detection: exist-map JSON {"<imageId>": ["category", ...]} (the reference format; --ask-presence writes one beside --output): only listed pairs are detected' })
    .option('output', { type: 'string', describe: 'write the JSON report here (and the completions beside it as .completions.jsonl)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as one JSON object' })
    .option('annotations', { type: 'string', describe: 'COCO annotations file (results-file mode, no model)' })
    .option('results', { type: 'string', alias: 'predictions', describe: 'COCO results .json or completions .jsonl (results-file mode; alias --predictions)' })
    .option('classes', { type: 'array', string: true, describe: 'results-file mode: category names or ids to evaluate [default: all]' })
    .strict() as unknown as Argv<EvalArgs>,
  handler: async (argv) => {
    let report
    let completions: Array<Record<string, unknown>> | undefined
    let existMap: Record<string, string[]> | undefined
    if (argv.annotations || argv.results) {
      if (!argv.annotations || !argv.results) throw new VrftError('ERR_CONFIG', `Invalid option ${argv.annotations ? '--results' : '--annotations'}: expected a file path (results-file mode needs both) but received undefined`)
      report = await scoreResultsFile(argv.annotations, argv.results, argv.classes ? { classes: argv.classes.map((c) => (/^\d+$/.test(c) ? Number(c) : c)) } : {})
    } else {
      if (!argv.data) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected an evaluation data file but received undefined')
      const modelDir = modelDirOf(argv.model)
      const io = await modelIO(modelDir, { minPixels: argv.minPixels, maxPixels: argv.maxPixels, tokenizer: argv.tokenizer })
      const data = await openData(argv.data, argv.task)
      const task = await resolveTask(argv.task, data)
      const policy = await loadEvalPolicy(modelDir, { device: resolveDevice(argv.device) })
      try {
        const ev = await evaluatePolicy({
          policy, decoder: io.tokenizer, encode: io.encode, data, eosTokenIds: io.eosTokenIds, maxNewTokens: argv.maxNewTokens, task,
          batchSize: argv.batchSize, askPresence: argv.askPresence, ...(argv.presenceMap ? { presenceMap: readPresenceMap(argv.presenceMap) } : {}), ...(argv.limit ? { limit: argv.limit } : {}),
        })
        report = ev.report
        existMap = ev.existMap
        completions = ev.samples.map((s, i) => ({ id: s.id, completion: ev.completions[i], ...(ev.presenceCompletions ? { presence: ev.presenceCompletions[i] } : {}) }))
      } finally {
        policy.dispose()
      }
    }
    if (argv.output) {
      writeJsonAtomic(argv.output, report)
      if (existMap) writeJsonAtomic(argv.output.replace(/\.json$/, '') + '.exist_map.json', existMap)
      if (completions) writeFileAtomic(argv.output.replace(/\.json$/, '') + '.completions.jsonl', completions.map((c) => JSON.stringify(c) + '\n').join(''))
    }
    console.log(argv.json ? JSON.stringify(report) : formatReport(report))
  },
}

/** Read an exist map ({ "<imageId>": ["category", ...] }); a file of another shape is ERR_CONFIG naming what it found. */
export function readPresenceMap(path: string): Record<string, string[]> {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(path, 'utf8'))
  } catch (e) {
    throw new VrftError('ERR_CONFIG', `Invalid option --presence-map: expected a readable JSON file but ${path} gave ${(e as Error).message}`)
  }
  const ok = v !== null && typeof v === 'object' && !Array.isArray(v) &&
    Object.values(v as object).every((x) => Array.isArray(x) && x.every((c) => typeof c === 'string'))
  if (!ok) {
    throw new VrftError('ERR_CONFIG', `Invalid option --presence-map: expected an object of image id -> array of category names but ${path} holds ${JSON.stringify(v).slice(0, 80)}`)
  }
  return v as Record<string, string[]>
}
