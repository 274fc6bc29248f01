#!/usr/bin/env node
// Writes the Hugging Face baseline's inputs (bench/gpu/hf_baseline.py) from the benchmark's own definitions,
// so that both sides run the same work: OUT/config.json (the hub config `vrft-native init-model` writes for
// the size, checked here against the benchmark's model shape), OUT/work.json (the benchmark prompt's ids and
// image grid, the GRPO step's G / L / micro-batch and the decode's G / N, the GRPO step's analytic matmul
// FLOPs for an MFU figure). Needs the compiled TypeScript (dist/).
// Usage: node bench/gpu/hf-inputs.mjs OUT SIZE [--quick]      (SIZE: tiny | 2b)
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const [out, size] = process.argv.slice(2)
const quick = process.argv.includes('--quick')
if (!out || (size !== 'tiny' && size !== '2b')) {
  console.error('usage: node bench/gpu/hf-inputs.mjs OUT tiny|2b [--quick]')
  process.exit(2)
}
const dist = new URL('../../dist/', import.meta.url)
const load = (p) => import(new URL(p, dist).href)
const { hubConfig } = await load('lib/model/init-model.js')
const { parseModelConfig } = await load('lib/model/config.js')
const { benchModelConfig, benchPrompt, grpoStepFlops, PROMPT_GRID } = await load('bench/suites/shapes.js')
const { grpoShape } = await load('bench/suites/grpo.js')
const { decodeShape } = await load('bench/suites/generate.js')

const hub = hubConfig('qwen2-vl', size, 'bfloat16')
const ours = benchModelConfig(size)
const theirs = parseModelConfig(hub, `hubConfig(qwen2-vl, ${size})`)
const keys = ['vocabSize', 'hiddenSize', 'intermediateSize', 'numLayers', 'numHeads', 'numKvHeads', 'headDim', 'tieWordEmbeddings']
const vkeys = ['depth', 'width', 'numHeads', 'intermediate', 'outHidden', 'patchSize', 'spatialMergeSize']
const diff = [...keys.filter((k) => ours[k] !== theirs[k]), ...vkeys.filter((k) => ours.vision[k] !== theirs.vision[k]).map((k) => `vision.${k}`)]
if (diff.length) {
  console.error(`hf-inputs: the benchmark's ${size} shape and init-model's config differ in ${diff.join(', ')}`)
  process.exit(1)
}
const prompt = benchPrompt()
const grpo = grpoShape(quick)
mkdirSync(out, { recursive: true })
writeFileSync(join(out, 'config.json'), JSON.stringify(hub, null, 2) + '\n')
writeFileSync(join(out, 'work.json'), JSON.stringify({
  size, quick,
  inputIds: Array.from(prompt.inputIds), imageGridThw: PROMPT_GRID, padTokenId: ours.padTokenId,
  grpo: { ...grpo, beta: 0.04, flops: grpoStepFlops(ours, prompt.inputIds.length, PROMPT_GRID[0] * PROMPT_GRID[1] * PROMPT_GRID[2], grpo.G, grpo.L, grpo.micro).useful },
  decode: decodeShape(quick),
}) + '\n')
console.error(`hf-inputs: wrote ${out}/config.json and work.json (${size}, prompt ${prompt.inputIds.length} tokens)`)
