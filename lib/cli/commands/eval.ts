/**
 * `vrft-native eval`: evaluate a model on a data set with greedy decoding (COCO mAP or LVIS federated
 * AP for detection, accuracy for classification, mIoU for grounding; lib/eval/), or score an existing
 * results file against COCO/LVIS annotations without a model (`--annotations gt.json --results
 * dt.json|completions.jsonl`). With a model, `--annotations` gives the detection ground truth.
 */
import { readFileSync } from 'node:fs'
import type { Argv, CommandModule } from 'yargs'
import { VrftError } from '../../errors.js'
import { formatReport } from '../../eval/report.js'
import { readCocoAnnotations, resolveCategories, scoreResultsFile, type DetectionProtocol } from '../../eval/evaluate.js'
import { LVIS_MAX_DETS } from '../../eval/lvis.js'
import { writeFileAtomic, writeJsonAtomic } from '../../train/checkpoint.js'
import { evaluatePolicy } from '../../train/evaluate.js'
import { loadEvalPolicy, modelDirOf, modelIO, openData, resolveDevice, resolveTask } from '../../train/setup.js'
import { DATA_DEFAULTS, EVAL_DEFAULTS, GRPO_DEFAULTS } from '../../defaults.js'
import { TOKENIZER_FLAG_HELP } from '../../model/tokenizer.js'

interface EvalArgs {
  model?: string; data?: string; split: string; task?: 'detection' | 'classification' | 'grounding'; limit?: number; maxNewTokens: number
  batchSize: number; maxPixels: number; minPixels: number; device: string; dtype: 'auto' | 'float32' | 'bfloat16'; output?: string; json: boolean
  annotations?: string; results?: string; classes?: string[]; askPresence: boolean; presenceMap?: string; tokenizer?: string
  protocol?: DetectionProtocol; maxDets?: number
}

export const evalCommand: CommandModule<object, EvalArgs> = {
  command: 'eval',
  describe: 'Evaluate a model on data (greedy; mAP / accuracy / mIoU), or score a results file against COCO or LVIS annotations',
  builder: (y) => y
    .option('model', { type: 'string', describe: 'model directory or hub id (local Hugging Face cache)' })
    .option('data', { type: 'string', describe: 'evaluation data: a .parquet/.jsonl/.json file, a folder of shards or a Hugging Face data set id from the local cache (e.g. Org/Name)' })
    .option('split', { type: 'string', default: DATA_DEFAULTS.evalSplit, describe: 'split of a --data folder or hub data set' })
    .option('task', { type: 'string', choices: ['detection', 'classification', 'grounding'] as const, describe: 'task [default: from the samples]' })
    .option('limit', { type: 'number', describe: 'evaluate only the first N samples [default: all]' })
    .option('max-new-tokens', { type: 'number', default: GRPO_DEFAULTS.maxCompletionLength, describe: 'max completion tokens' })
    .option('batch-size', { type: 'number', default: EVAL_DEFAULTS.batchSize, describe: 'prompts per generate call' })
    .option('max-pixels', { type: 'number', default: GRPO_DEFAULTS.maxPixels, describe: 'image max_pixels' })
    .option('min-pixels', { type: 'number', default: GRPO_DEFAULTS.minPixels, describe: 'image min_pixels' })
    .option('device', { type: 'string', default: GRPO_DEFAULTS.device, describe: 'cpu, cuda, cuda:N or auto' })
    .option('dtype', { type: 'string', choices: ['auto', 'float32', 'bfloat16'] as const, default: GRPO_DEFAULTS.dtype, describe: 'compute dtype: auto (float32 on CPU, bfloat16 on CUDA), float32, bfloat16' })
    .option('tokenizer', { type: 'string', describe: TOKENIZER_FLAG_HELP })
    .option('ask-presence', { type: 'boolean', default: false, describe: 'detection: first ask whether the class is present; "no" pairs get no detections (the paper\'s open-vocabulary protocol)' })
    .option('presence-map', { type: 'string', describe: 'detection: exist-map JSON {"<imageId>": ["category", ...]} (the reference format; --ask-presence writes one beside --output): only listed pairs are detected' })
    .option('output', { type: 'string', describe: 'write the JSON report here (and the completions beside it as .completions.jsonl)' })
    .option('json', { type: 'boolean', default: false, describe: 'print the report as one JSON object' })
    .option('annotations', { type: 'string', describe: 'COCO or LVIS annotations file: the ground truth (with --results: no model; with --model: the samples\' image_id and category name index it)' })
    .option('results', { type: 'string', alias: 'predictions', describe: 'COCO results .json or completions .jsonl (results-file mode; alias --predictions)' })
    .option('classes', { type: 'array', string: true, describe: 'detection: category names, ids or a named list (lvis-rare-13, lvis-fewshot-6, coco-fewshot-8, coco-ov-novel-15, coco-ov-base-65) to evaluate [default: all]' })
    .option('protocol', { type: 'string', choices: ['coco', 'lvis'] as const, describe: 'detection scoring: coco (pycocotools) or lvis (lvis-api federated) [default: lvis when the annotations\' images carry neg_category_ids, else coco]' })
    .option('max-dets', { type: 'number', describe: `LVIS protocol: detections kept per image [default: ${LVIS_MAX_DETS}]` })
    .check((a) => {
      const m = a.maxDets as number | undefined
      if (m !== undefined && !(Number.isInteger(m) && m >= 1)) throw new VrftError('ERR_CONFIG', `Invalid option --max-dets: expected a positive integer but received ${m}`)
      if (m !== undefined && a.protocol === 'coco') throw new VrftError('ERR_CONFIG', `Invalid option --max-dets: expected it only with the lvis protocol (coco caps 1, 10, 100 per class) but received ${m} with --protocol coco`)
      return true
    })
    .strict() as unknown as Argv<EvalArgs>,
  handler: async (argv) => {
    let report
    let completions: Array<Record<string, unknown>> | undefined
    let existMap: Record<string, string[]> | undefined
    const classes = argv.classes?.map((c) => (/^\d+$/.test(c) ? Number(c) : c))
    if (argv.results || (argv.annotations && !argv.model)) {
      if (!argv.annotations || !argv.results) throw new VrftError('ERR_CONFIG', `Invalid option ${argv.annotations ? '--results' : '--annotations'}: expected a file path (results-file mode needs both) but received undefined`)
      report = await scoreResultsFile(argv.annotations, argv.results, {
        ...(classes ? { classes } : {}), ...(argv.protocol ? { protocol: argv.protocol } : {}), ...(argv.maxDets !== undefined ? { maxDets: argv.maxDets } : {}),
      })
    } else {
      if (!argv.data) throw new VrftError('ERR_CONFIG', 'Invalid option --data: expected evaluation data (a file, a folder of shards or a hub data set id) but received undefined')
      if (classes && !argv.annotations) throw new VrftError('ERR_CONFIG', 'Invalid option --classes: with --model it selects categories of --annotations, expected an annotations file but received none')
      const modelDir = modelDirOf(argv.model)
      const io = await modelIO(modelDir, { minPixels: argv.minPixels, maxPixels: argv.maxPixels, tokenizer: argv.tokenizer })
      const data = await openData(argv.data, argv.task, { split: argv.split })
      const task = await resolveTask(argv.task, data)
      const groundTruth = argv.annotations ? await readCocoAnnotations(argv.annotations) : undefined
      const detection = {
        ...(groundTruth ? { groundTruth } : {}), ...(argv.protocol ? { protocol: argv.protocol } : {}), ...(argv.maxDets !== undefined ? { maxDets: argv.maxDets } : {}),
        ...(classes && groundTruth ? { catIds: resolveCategories(groundTruth, classes) } : {}),
      }
      const policy = await loadEvalPolicy(io.folder, { device: resolveDevice(argv.device), ...(argv.dtype === 'auto' ? {} : { dtype: argv.dtype }) })
      try {
        const ev = await evaluatePolicy({
          policy, decoder: io.tokenizer, encode: io.encode, data, eosTokenIds: io.eosTokenIds, maxNewTokens: argv.maxNewTokens, task,
          batchSize: argv.batchSize, detection, askPresence: argv.askPresence, ...(argv.presenceMap ? { presenceMap: readPresenceMap(argv.presenceMap) } : {}), ...(argv.limit ? { limit: argv.limit } : {}),
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
