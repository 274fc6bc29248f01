/**
 * The Qwen3-VL-2B shape (init-model --arch qwen3-vl --size 2b: random weights, 2.13B parameters) generates in
 * bfloat16 on the CPU: greedy tokens from the bfloat16 weights against the same checkpoint in float32 —
 * the prompt's last-position log-probs agree to bfloat16 precision and the first greedy token is the same
 * (unless float32 sees a near-tie). Needs ~13 GB of memory and minutes of CPU, so it runs only when
 * VRFT_QWEN3VL_2B names such a folder (made with `vrft-native init-model DIR --arch qwen3-vl --size 2b`);
 * run it under the shared lock:
 *   flock /tmp/vrft-bigmem.lock env VRFT_QWEN3VL_2B=/tmp/q3vl-2b npx tap test/qwen3vl-2b.test.ts
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { generate, loadGenerationModel } from '../lib/generate.js'
import { native } from '../lib/native/binding.js'
import { Q3 } from './qwen3vl-helpers.js'

const dir = process.env.VRFT_QWEN3VL_2B
if (!dir || !existsSync(join(dir, 'config.json'))) {
  const why = `needs VRFT_QWEN3VL_2B=<a folder from init-model --arch qwen3-vl --size 2b> (got ${dir ?? 'nothing'}); it loads 2.13B parameters twice`
  t.comment(`SKIPPED: ${why}`)
  t.test('bfloat16 greedy generation against float32', { skip: why }, async () => {})
} else {
  const conv = [[{ role: 'user' as const, content: [{ type: 'image' as const, image: join(Q3, 'images', 'img0_noise_200x300.png') }, { type: 'text' as const, text: 'Detect the red square.' }] }]]
  const run = async (dtype: 'bfloat16' | 'float32') => {
    const m = await loadGenerationModel(dir, { dtype })
    try {
      const t0 = performance.now()
      const out = await generate(m, conv, { maxNewTokens: 8, temperature: 0 })
      const seconds = (performance.now() - t0) / 1000
      const x = out.inputs
      const f = await native().modelForward(m.handle, {
        inputIds: x.inputIds, batch: 1, pixelValues: x.pixelValues[0], imageGridThw: x.imageGridThw.flat(), logits: 'last', topk: 2,
      })
      return { s: out.samples[0]![0]!, seconds, prompt: x.seqLen, timing: out.timing, logits: f.logits!, top2: f.topkValues!.slice(-2) }
    } finally {
      m.dispose()
    }
  }
  t.test('bfloat16 greedy generation against float32', async (t) => {
    const bf = await run('bfloat16')
    t.equal(bf.s.ids.length, 8, `bfloat16: 8 tokens in ${bf.seconds.toFixed(1)} s (prefill ${bf.timing.prefillSeconds.toFixed(1)} s of a ${bf.prompt}-token prompt, decode ${bf.timing.decodeSeconds.toFixed(1)} s)`)
    t.ok(bf.s.logprobs.every((x) => Number.isFinite(x) && x <= 0), 'finite log-probs')
    const f32 = await run('float32')
    t.comment(`bfloat16 ${JSON.stringify(bf.s.ids)} vs float32 ${JSON.stringify(f32.s.ids)}; first-token log-probs ${bf.s.logprobs[0]} vs ${f32.s.logprobs[0]}`)
    let diff = 0
    let ref = 0
    for (let i = 0; i < f32.logits.length; i++) {
      diff = Math.max(diff, Math.abs(bf.logits[i]! - f32.logits[i]!))
      ref = Math.max(ref, Math.abs(f32.logits[i]!))
    }
    t.ok(diff <= 0.05 * ref, `last-position logits: max |bf16 − f32| ${diff.toExponential(2)} of max |f32| ${ref.toFixed(3)}`)
    const gap = f32.top2[0]! - f32.top2[1]!
    if (gap > 2 * diff) t.equal(bf.s.ids[0], f32.s.ids[0], `the first greedy token agrees with float32 (top-2 gap ${gap.toExponential(2)} > 2 × the logit error)`)
    else t.comment(`float32's top-2 gap ${gap.toExponential(2)} is within twice the bfloat16 logit error: the first tokens may differ (${bf.s.ids[0]} vs ${f32.s.ids[0]})`)
  })
}
