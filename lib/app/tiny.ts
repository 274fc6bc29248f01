/**
 * The demo's models, written by the model helper's `initModel` (lib/model/init-model.ts) together with the
 * Qwen tokenizer files:
 *
 * - `tiny` (the classification demo's): a Qwen2-VL-architecture model of ~9.9M parameters (most of them
 *   the 151,936 × 64 tied embedding of the real Qwen vocabulary); the tests use it too.
 * - `boxes` (the grounding demo's): a Qwen3-VL-architecture model of ~1.5M parameters (text
 *   128 wide × 4 layers, vision 64 wide × 4 blocks, DeepStack into the first two layers) with a compact
 *   vocabulary: the Qwen tokenizer restricted to the ~600 tokens of the demo's prompts and answers
 *   (lib/model/compact-vocab.ts; with all 151,936 words it was 20.8M parameters, 94 % embedding, and a
 *   training step cost 5× more). Why Qwen3-VL: to write a box the decoder must read *where* an image token
 *   is, and attention values carry no RoPE; Qwen2-VL's vision tower has only relative 2-D RoPE, while
 *   Qwen3-VL adds learned absolute position embeddings to the patches. Measured (bench/results/
 *   demo-detection-2026-12-06.md): with the mixed warm start of lib/app/builtin-tasks.ts it localizes for
 *   grounding and, with enough steps, picks the asked class among distractors (issue #19); for detection
 *   its 2,500-step warm start left 77 % of its boxes on no object (session 16), hence `detect`.
 * - `detect` (the detection demo's): `boxes` with the text model's RoPE base at 10 instead of 5,000,000.
 * `VRFT_DEMO_MODEL=tiny|boxes|detect` overrides the task's choice.
 */
import { initModel, type InitArch } from '../model/init-model.js'
import { renderChat } from '../model/chat.js'
import { makeSceneSet } from '../data/synthetic-scenes.js'
import { makeSyntheticSet, splitClasses, syntheticTarget } from '../data/synthetic.js'
import { toModelImage } from '../train/encode.js'
import type { Sample } from '../sample.js'

/**
 * A demo model: an init-model architecture and size, with shape changes merged into its config;
 * `vocabulary: 'demo'` = only the tokens of the demo's prompts and answers ({@link demoTexts}).
 */
export interface DemoModel { arch: InitArch; size: 'tiny'; configPatch?: Record<string, unknown>; vocabulary?: 'demo' }

/** The box tasks' Qwen3-VL shape; `ropeTheta` replaces Qwen3-VL's 5,000,000 when given. */
function boxesModel(ropeTheta?: number): DemoModel {
  return Object.freeze({
    arch: 'qwen3-vl', size: 'tiny',
    configPatch: {
      text_config: {
        hidden_size: 128, intermediate_size: 384, num_hidden_layers: 4, num_attention_heads: 4, num_key_value_heads: 2, head_dim: 32,
        ...(ropeTheta !== undefined ? { rope_theta: ropeTheta } : {}),
        rope_scaling: { rope_type: 'default', mrope_section: [6, 5, 5], mrope_interleaved: true },
      },
      vision_config: { depth: 4, hidden_size: 64, intermediate_size: 256, num_heads: 4, out_hidden_size: 128, deepstack_visual_indexes: [1, 2] },
    },
    vocabulary: 'demo',
  })
}

/** The demo's models by name (part of the warm-start cache key). */
export const DEMO_MODELS = Object.freeze({
  tiny: Object.freeze({ arch: 'qwen2-vl', size: 'tiny' }),
  boxes: boxesModel(),
  /**
   * `boxes` with the text model's RoPE base 10: with head_dim 32 the image tokens' row and column get 5
   * rotary pairs each, and at Qwen3-VL's base of 5,000,000 the fastest column pair turns 0.15 rad per cell
   * (at 100 0.56, at 10 0.75). Detection's warm start localizes far better with it (128 base-class scenes:
   * seed 1 at base 100, 28 % of its boxes on the right object against 12 %, mAP 7.0 % against 1.6 %; seed
   * 2, 15 % and 3.5 % at 100, 27 % and 10.7 % at 10; bench/results/demo-detection-2026-12-06.md, session 16).
   */
  detect: boxesModel(10),
} satisfies Record<string, DemoModel>)

/** Name of a demo model. */
export type DemoModelName = keyof typeof DEMO_MODELS

/** Image side the demo uses with each model: 4 × 4 merged image tokens (28 px for Qwen2-VL, 32 px for Qwen3-VL). */
export const DEMO_MODEL_IMAGE_SIZE: Readonly<Record<DemoModelName, number>> = Object.freeze({ tiny: 112, boxes: 128, detect: 128 })

/** What the demo and the tests initialize by default. */
export const TINY_PRESET = DEMO_MODELS.tiny

/**
 * Every text the demo shows a model: the chat-template prompts and the answers of all three tasks, all
 * 16 colour–shape classes, scene grids 2–4, present and absent objects (a compact vocabulary keeps these
 * tokens; anything else still encodes through the byte-level symbols).
 */
export async function demoTexts(): Promise<string[]> {
  const { base, novel } = splitClasses()
  const all = [...base, ...novel]
  const sets: Sample[][] = [await makeSyntheticSet({ task: 'classification', count: 64, seed: 1, size: 64, classes: all })]
  for (const task of ['detection', 'grounding'] as const) {
    for (const grid of [2, 3, 4]) sets.push(await makeSceneSet({ task, count: 48, seed: grid, size: 128, classes: all, allClasses: all, grid, absentRate: 0.25 }))
  }
  return sets.flat().flatMap((s) => [
    renderChat([{ role: 'user', content: [{ type: 'image', image: toModelImage(s.image) }, { type: 'text', text: s.problem }] }]).text,
    syntheticTarget(s),
  ])
}

/** Write a freshly initialized demo model (default `tiny`) into `dir`. */
export async function createTinyModel(dir: string, seed: number, model: DemoModelName = 'tiny'): Promise<void> {
  const m: DemoModel = DEMO_MODELS[model]
  await initModel({
    arch: m.arch, size: m.size, out: dir, seed, ...(m.configPatch ? { configPatch: m.configPatch } : {}),
    ...(m.vocabulary === 'demo' ? { vocabulary: await demoTexts() } : {}),
  })
}
