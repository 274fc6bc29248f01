#!/usr/bin/env node
/**
 * bfloat16 vs float32 agreement of a real-size model (issue 17): greedy generation on the goldens' image
 * prompt (test/fixtures/goldens: qwen2vl-tiny's img1 case ids, 234 image tokens, with its preprocessed
 * pixels; the vision geometry of every Qwen2-VL size is the same) with the model loaded in float32 (a
 * converted copy) and then in bfloat16 (mapped), one after the other in this process. Reports how many
 * leading greedy tokens agree, and the log-probs each run gave its tokens over the agreeing prefix.
 *   VRFT_PACK_WEIGHTS=0 flock /tmp/vrft-bigmem.lock node dist/bench/agreement.js --model /tmp/m2b [--tokens 32]
 * (VRFT_PACK_WEIGHTS=0: the float32 decode kernel's packed copies of the weights would add ~6 GB at 2b —
 * a float32 2b model with packing reached 14.8 GB anonymous RSS and was OOM-killed on this 24 GB machine.)
 * Writes bench/results/agreement-<model>-<date>.json (with the command).
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { generateIds } from '../lib/native/generate.js'
import { modelBinding } from '../lib/native/model.js'
import { parseModelConfig } from '../lib/model/config.js'
import { readNpy } from '../lib/model/npy.js'
import { machineInfo } from './harness.js'

async function main() {
  const { values } = parseArgs({ options: { model: { type: 'string' }, tokens: { type: 'string', default: '32' } } })
  if (!values.model) throw new Error('Expected --model DIR (a checkpoint, e.g. from init-model) but received none')
  const dir = resolve(values.model)
  const N = Number(values.tokens)
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
  const goldens = join(root, 'test', 'fixtures', 'goldens')
  const meta = JSON.parse(readFileSync(join(goldens, 'cases', 'qwen2vl-tiny', 'img1_shapes_480x640', 'meta.json'), 'utf8')) as { input_ids: number[] | number[][]; image_grid_thw: number[][] }
  const ids = (meta.input_ids as unknown[]).flat(2) as number[]
  const pixels = readNpy(join(goldens, 'preproc', 'img1_shapes_480x640', 'pixel_values.npy.gz')).data as Float32Array
  const prompt = { inputIds: Int32Array.from(ids), batchSize: 1, pixelValues: pixels, imageGridThw: meta.image_grid_thw.map((g) => g as [number, number, number]) }
  const cfg = parseModelConfig(JSON.parse(readFileSync(join(dir, 'config.json'), 'utf8')), join(dir, 'config.json'))
  const mb = modelBinding()
  const runs: Record<string, { ids: number[]; logp: number[]; seconds: number }> = {}
  for (const dtype of ['float32', 'bfloat16'] as const) {
    const model = await mb.modelLoad(dir, cfg, { dtype, device: 'cpu' })
    try {
      const t0 = performance.now()
      const r = await generateIds(model, prompt, { maxNewTokens: N, numGenerations: 1, temperature: 0, eosIds: [] })
      runs[dtype] = { ids: Array.from(r.completions[0]!), logp: Array.from(r.logprobs[0]!), seconds: (performance.now() - t0) / 1000 }
      console.error(`[agreement] ${dtype}: ${runs[dtype]!.ids.join(' ')} (${runs[dtype]!.seconds.toFixed(1)} s)`)
    } finally {
      mb.modelDispose(model)
    }
  }
  const a = runs.float32!, b = runs.bfloat16!
  let agree = 0
  while (agree < Math.min(a.ids.length, b.ids.length) && a.ids[agree] === b.ids[agree]) agree++
  const dLogp = a.logp.slice(0, agree).map((x, i) => Math.abs(x - b.logp[i]!))
  const result = {
    machine: machineInfo(), command: process.argv.slice(1).join(' '), model: dir, promptTokens: ids.length, tokens: N,
    agreeingPrefix: agree, maxAbsLogpDiffOnPrefix: dLogp.length ? Math.max(...dLogp) : null, float32: a, bfloat16: b,
  }
  console.log(JSON.stringify(result))
  const out = join(root, 'bench', 'results')
  mkdirSync(out, { recursive: true })
  writeFileSync(join(out, `agreement-${basename(dir)}-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify(result, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
