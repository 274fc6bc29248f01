/**
 * Model shapes and the image prompt the model benchmarks share (model load/prefill, log-probs), and an
 * analytic matmul FLOP count of one forward for roofline figures.
 *   tiny  — the tiny Qwen2-VL shape of the goldens (hidden 64, 2 layers; seconds, for --quick);
 *   small — ~100M parameters, Qwen2-VL-shaped: hidden 512, 8 layers, head_dim 128, vocabulary 151936
 *           (the same shape as bench/suites/generate.ts, so the numbers compare);
 *   2b/3b/7b — the real Qwen2-VL-2B, Qwen2.5-VL-3B, Qwen2-VL-7B shapes (random weights; the model / grpo
 *           suites run them on a GPU only; on the CPU the realsize suite does, from an init-model checkpoint).
 * `--arch qwen3-vl`: the same sizes as Qwen3-VL (qwen3Config; 2b/7b = Qwen3-VL-2B / -8B).
 * Prompt: ~400 tokens around one 476×644 image (grid 1×34×46: 1564 patches, 391 image tokens), random pixels.
 */
import { parseModelConfig, type ModelArch, type ModelConfig } from '../../lib/model/config.js'
import { hubConfig } from '../../lib/model/init-model.js'
import type { PromptBatch } from '../../lib/native/generate.js'
import type { Context } from '../harness.js'

export const IMAGE_PAD = 151655

/** The flat native config of a benchmark size (and architecture: `--arch`, default qwen2-vl). */
export function benchModelConfig(size: Context['size'], arch: ModelArch = 'qwen2-vl'): ModelConfig {
  if (arch === 'qwen3-vl') return qwen3Config(size)
  if (arch !== 'qwen2-vl') throw new Error(`Expected --arch qwen2-vl or qwen3-vl for the benchmark shapes but received ${arch}`)
  const base = {
    arch: 'qwen2-vl' as const, vocabSize: 151936, rmsNormEps: 1e-6, ropeTheta: 1e6,
    imageTokenId: IMAGE_PAD, videoTokenId: 151656, visionStartTokenId: 151652, visionEndTokenId: 151653,
    eosTokenIds: [151645], padTokenId: 151643,
  }
  const vision = (depth: number, width: number, numHeads: number, outHidden: number) => ({
    depth, width, numHeads, intermediate: 4 * width, act: 'quick_gelu' as const, patchSize: 14, temporalPatchSize: 2,
    spatialMergeSize: 2, inChannels: 3, outHidden, windowSize: 112, fullattBlockIndexes: [], tokensPerSecond: 2,
  })
  switch (size) {
    case 'tiny':
      return { ...base, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, mropeSection: [2, 3, 3], tieWordEmbeddings: true, vision: { ...vision(2, 32, 4, 64), intermediate: 64 } }
    case 'small':
      return { ...base, hiddenSize: 512, intermediateSize: 1536, numLayers: 8, numHeads: 4, numKvHeads: 2, headDim: 128, mropeSection: [16, 24, 24], tieWordEmbeddings: true, vision: vision(2, 256, 4, 512) }
    case '2b':
      return { ...base, hiddenSize: 1536, intermediateSize: 8960, numLayers: 28, numHeads: 12, numKvHeads: 2, headDim: 128, mropeSection: [16, 24, 24], tieWordEmbeddings: true, vision: vision(32, 1280, 16, 1536) }
    case '3b':  // Qwen2.5-VL-3B, as init-model writes it
      return parseModelConfig(hubConfig('qwen2.5-vl', '3b', 'bfloat16'))
    case '7b':
      return { ...base, hiddenSize: 3584, intermediateSize: 18944, numLayers: 28, numHeads: 28, numKvHeads: 4, headDim: 128, mropeSection: [16, 24, 24], tieWordEmbeddings: false, vision: vision(32, 1280, 16, 3584) }
  }
}

/**
 * Qwen3-VL at the same sizes: the Qwen2-VL decoder shape with Qwen3's q/k norms, interleaved M-RoPE
 * [24, 20, 20] (tiny: the goldens' qwen3vl shapes), a patch-16 vision tower with learned position
 * embeddings and DeepStack after the first two decoder layers; 2b/7b: the released Qwen3-VL-2B / -8B shapes.
 */
function qwen3Config(size: Context['size']): ModelConfig {
  const base = {
    arch: 'qwen3-vl' as const, vocabSize: 151936, rmsNormEps: 1e-6, ropeTheta: 5e6,
    imageTokenId: IMAGE_PAD, videoTokenId: 151656, visionStartTokenId: 151652, visionEndTokenId: 151653,
    eosTokenIds: [151645], padTokenId: 151643,
  }
  const vision = (depth: number, width: number, numHeads: number, intermediate: number, outHidden: number, deepstackVisualIndexes: number[], numPositionEmbeddings = 2304) => ({
    depth, width, numHeads, intermediate, act: 'gelu_pytorch_tanh' as const, patchSize: 16, temporalPatchSize: 2, spatialMergeSize: 2,
    inChannels: 3, outHidden, windowSize: 112, fullattBlockIndexes: [], tokensPerSecond: 2, numPositionEmbeddings, deepstackVisualIndexes,
  })
  switch (size) {
    case 'tiny':
      return { ...base, hiddenSize: 64, intermediateSize: 128, numLayers: 2, numHeads: 4, numKvHeads: 2, headDim: 16, mropeSection: [4, 2, 2], tieWordEmbeddings: true, vision: vision(3, 32, 4, 64, 64, [0, 1], 64) }
    case 'small':
      return { ...base, hiddenSize: 512, intermediateSize: 1536, numLayers: 8, numHeads: 4, numKvHeads: 2, headDim: 128, mropeSection: [24, 20, 20], tieWordEmbeddings: true, vision: vision(2, 256, 4, 1024, 512, [0, 1]) }
    case '2b':
      return { ...base, hiddenSize: 2048, intermediateSize: 6144, numLayers: 28, numHeads: 16, numKvHeads: 8, headDim: 128, mropeSection: [24, 20, 20], tieWordEmbeddings: true, vision: vision(24, 1024, 16, 4096, 2048, [5, 11, 17]) }
    case '3b':
      throw new Error('Expected --size tiny, small, 2b or 7b with --arch qwen3-vl (Qwen3-VL has no 3B release) but received 3b')
    case '7b':
      return { ...base, hiddenSize: 4096, intermediateSize: 12288, numLayers: 36, numHeads: 32, numKvHeads: 8, headDim: 128, mropeSection: [24, 20, 20], tieWordEmbeddings: false, vision: vision(27, 1152, 16, 4304, 4096, [8, 16, 24]) }
  }
}

export const sizeLabel = (size: Context['size'], arch: ModelArch = 'qwen2-vl') =>
  `${size === 'small' ? 'small ~100M' : size}${arch === 'qwen2-vl' ? '' : ` ${arch}`}`

/** The image grid of the benchmark prompt: 1×34×46 patches (a 476×644 image at patch 14). */
export const PROMPT_GRID: [number, number, number] = [1, 34, 46]
/** The prompt grid of an architecture: Qwen3-VL's patch 16 sees the same image as 1×30×40 (480×640). */
export const promptGrid = (arch: ModelArch = 'qwen2-vl'): [number, number, number] => (arch === 'qwen3-vl' ? [1, 30, 40] : [...PROMPT_GRID])

/**
 * A ~400-token chat prompt around one image (391 image tokens; Qwen3-VL: 300, and no system turn, as its
 * template), random pixels in the normalised range.
 */
export function benchPrompt(arch: ModelArch = 'qwen2-vl'): PromptBatch {
  const grid = promptGrid(arch)
  const nPatches = grid[0] * grid[1] * grid[2]
  const system = [151644, 8948, 198, 2610, 525, 264, 10950, 17847, 13, 151645, 198]
  const prefix = [...(arch === 'qwen3-vl' ? [] : system), 151644, 872, 198, 151652]
  const suffix = [151653, 74785, 419, 2168, 13, 151645, 198, 151644, 77091, 198]
  const ids = [...prefix, ...new Array<number>(nPatches / 4).fill(IMAGE_PAD), ...suffix]
  const patchDim = 3 * 2 * (arch === 'qwen3-vl' ? 16 : 14) ** 2
  const pixels = new Float32Array(nPatches * patchDim)
  let s = 12345
  for (let i = 0; i < pixels.length; i++) {
    s = (s * 1103515245 + 12345) >>> 0
    pixels[i] = (s / 2 ** 32) * 4 - 2
  }
  return { inputIds: Int32Array.from(ids), batchSize: 1, pixelValues: pixels, imageGridThw: [grid] }
}

/**
 * Matmul FLOPs of one forward of `tokens` text tokens with `patches` vision patches, producing logits for
 * `logitRows` positions: 2·m·n·k per linear layer, attention scores and values counted in full
 * (4·T²·width per layer, no causal halving), norms / activations / RoPE ignored.
 */
/**
 * Decoder matmul FLOPs of one forward with a shared prompt: the prompt's `prompt` tokens run once and
 * `rows` continuations of `cont` tokens each attend to it and to themselves (rl::shared_prefix_hidden).
 */
export function sharedPrefixTextFlops(c: ModelConfig, prompt: number, rows: number, cont: number): number {
  const H = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim
  const perToken = 2 * (H * q + 2 * H * kv + q * H + 3 * H * c.intermediateSize)
  return c.numLayers * (perToken * (prompt + rows * cont) + 4 * q * (prompt * prompt + rows * cont * (prompt + cont)))
}

export function forwardFlops(c: ModelConfig, tokens: number, patches: number, logitRows: number): { vision: number; text: number; head: number; total: number } {
  const v = c.vision
  const N = patches, W = v.width, M = v.spatialMergeSize ** 2
  const vision = 2 * N * (v.inChannels * v.temporalPatchSize * v.patchSize ** 2) * W +
    v.depth * (2 * N * W * (3 * W + W + 2 * v.intermediate) + 4 * N * N * W) +
    2 * (N / M) * (M * W * M * W + M * W * v.outHidden)
  const T = tokens, H = c.hiddenSize, q = c.numHeads * c.headDim, kv = c.numKvHeads * c.headDim
  const text = c.numLayers * (2 * T * (H * q + 2 * H * kv + q * H + 3 * H * c.intermediateSize) + 4 * T * T * q)
  const head = 2 * logitRows * H * c.vocabSize
  return { vision, text, head, total: vision + text + head }
}

/** Bytes read per decode step besides the KV cache: every decoder weight plus the LM head. */
export function decodeWeightBytes(c: ModelConfig, eltBytes: number): number {
  const H = c.hiddenSize, d = c.headDim, q = c.numHeads * d, kv = c.numKvHeads * d
  const layer = H * q + q + 2 * (H * kv + kv) + q * H + 3 * H * c.intermediateSize + 2 * H
  return (c.numLayers * layer + c.vocabSize * H + H) * eltBytes
}

/**
 * Analytic matmul FLOPs of one GRPO step (the `grpo` suite's count): G completions of L tokens after a
 * P-token prompt with `patches` vision patches, micro-batches of `micro`. Per policy micro-batch one image
 * encoding, the prompt once plus micro × L completion tokens, micro × L logit rows, × 3 for forward +
 * backward; the reference forward (no graph) runs the prompt group of G rows at once. Gradient-checkpoint
 * recomputation is not useful work and is not counted. `tokens`: the policy's tokens (for the naive figure).
 */
export function grpoStepFlops(c: ModelConfig, P: number, patches: number, G: number, L: number, micro: number): { useful: number; tokens: number } {
  const f = forwardFlops(c, L, patches, L)
  const pass = (rows: number) => f.vision + sharedPrefixTextFlops(c, P, rows, L) + rows * f.head
  let fwd = 0, tokens = 0
  for (let b = 0; b < G; b += micro) {
    const rows = Math.min(micro, G - b)
    fwd += pass(rows)
    tokens += P + rows * L
  }
  return { useful: 3 * fwd + pass(G), tokens }
}
