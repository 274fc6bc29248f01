// The binding's native objects and data flow (issue #16): Model, Trainer, Rollouts and AbortFlag are type-tagged
// ObjectWraps — handing one where another is expected is a TypeError with ERR_INVALID_ARG naming both, never
// undefined behaviour —, native errors are VrftErrors, and one GRPO step (μ = 2 updates) copies each prompt's
// pixels from JS into native tensors exactly once (counted by the binding's transferStats).
import t from 'tap'
import { join } from 'node:path'
import { tempDir } from './tmp.js'
import { VrftError } from '../lib/errors.js'
import { native, nativeAvailable, type NativeBinding } from '../lib/native/binding.js'
import { initModel } from '../lib/model/init-model.js'
import { NativePolicy } from '../lib/train/native-policy.js'
import type { EncodedPrompt, StepOptions } from '../lib/train/types.js'

function prompt(k: number): EncodedPrompt {
  const px = new Float32Array(16 * 1176).map((_, i) => Math.cos(i * 0.1 + k))
  return {
    inputIds: Int32Array.from([151644, 8948, 198, 151652, 151655, 151655, 151655, 151655, 151653, 1000 + k, 2000, 151645, 198, 151644, 77091, 198]),
    pixelValues: [px], imageGridThw: [[1, 4, 4]],
  }
}

if (!nativeAvailable()) {
  t.fail('the native addon is not built (npm run build:native)')
} else {
  const n: NativeBinding = native()
  const dir = tempDir('vrft-objects-')
  const modelDir = join(dir, 'm')
  t.before(async () => { await initModel({ arch: 'qwen2-vl', size: 'tiny', out: modelDir, seed: 3 }) })

  t.test('a wrong native object is a TypeError naming what was expected and what was received', async (t) => {
    const policy = await NativePolicy.create({ modelDir, train: { seed: 1 } })
    t.teardown(() => policy.dispose())
    const r = await policy.generate([prompt(0)], { numGenerations: 2, maxNewTokens: 3, temperature: 1, topP: 1, topK: 0, eosTokenIds: [151645], seed: 1 })
    const any = n as unknown as Record<string, (...a: unknown[]) => unknown>
    const typeError = (message: RegExp) => ({ name: 'TypeError', code: 'ERR_INVALID_ARG', message })
    // a Trainer where a Model is expected, and the reverse
    t.throws(() => any.modelDispose!(policy.trainer), typeError(/Expected a Model \(from modelLoad\) for model but received a Trainer/))
    t.throws(() => any.modelInfo!(r.native), typeError(/Expected a Model .* but received a Rollouts/))
    await t.rejects(async () => any.generate!(policy.trainer, {}), typeError(/Expected a Model .* received a Trainer/))
    await t.rejects(async () => any.trainerCreate!(r.native, {}), typeError(/Expected a Model .* received a Rollouts/))
    t.throws(() => any.trainerInfo!(policy.model), typeError(/Expected a Trainer \(from trainerCreate\) for trainer but received a Model/))
    await t.rejects(async () => any.trainerStep!(policy.model, r.native, {}), typeError(/Expected a Trainer .* received a Model/))
    await t.rejects(async () => any.trainerStep!(policy.trainer, policy.trainer, {}), typeError(/Expected a Rollouts \(from trainerGenerate\) for rollouts but received a Trainer/))
    t.throws(() => any.generateAbortSet!(policy.model), typeError(/Expected an AbortFlag .* received a Model/))
    // look-alikes and primitives
    t.throws(() => any.trainerInfo!({}), typeError(/received an object/))
    t.throws(() => any.trainerInfo!(Object.create(Object.getPrototypeOf(policy.trainer))), typeError(/Expected a Trainer/))
    t.throws(() => any.modelInfo!(42), typeError(/received 42/))
    // the classes cannot be made from JS
    const Model = (n as unknown as { Model: new () => unknown }).Model
    t.throws(() => new Model(), typeError(/Model objects are made by modelLoad/))
    // the error classes: TypeError and VrftError at once; other native errors are VrftErrors with their code
    try {
      any.trainerInfo!(policy.model)
      t.fail('expected a throw')
    } catch (e) {
      t.ok(e instanceof TypeError, 'a TypeError')
      t.ok(e instanceof VrftError, 'and a VrftError')
    }
    try {
      any.throwTest!('torch')
      t.fail('expected a throw')
    } catch (e) {
      t.ok(e instanceof VrftError, 'a libtorch error is a VrftError')
      t.equal((e as VrftError).code, 'ERR_TORCH')
    }
    // a step over another step's rollout works (it is this trainer's), with one advantage per completion
    await t.rejects(policy.grpoStep(r, [1], stepOpts(false)), { code: 'ERR_INVALID_ARG', message: /Expected 2 advantages \(one per completion\) but received 1/ })
  })

  t.test('one GRPO step with two updates copies each prompt\'s pixels into native code once', async (t) => {
    const policy = await NativePolicy.create({ modelDir, train: { lr: 1e-4, seed: 1 } })
    t.teardown(() => policy.dispose())
    const prompts = [prompt(1), prompt(2), prompt(3)]
    const bytes = prompts.reduce((a, p) => a + p.pixelValues[0]!.byteLength, 0)
    n.transferStats(true)
    const r = await policy.generate(prompts, { numGenerations: 2, maxNewTokens: 4, temperature: 1, topP: 1, topK: 0, eosTokenIds: [151645], seed: 7 })
    t.equal(r.completions.length, 6)
    t.same(r.completions.map((c) => c.promptIndex), [0, 0, 1, 1, 2, 2], 'prompt-major: completion i follows prompt i / G')
    const adv = [0.5, -0.5, 1, -1, 0.25, -0.25]
    const m1 = await policy.grpoStep(r, adv, stepOpts(true))
    const m2 = await policy.grpoStep(r, adv, stepOpts(true))
    const s = n.transferStats()
    t.equal(s.pixelArrays, prompts.length, 'one pixel array per prompt for the whole step')
    t.equal(s.pixelBytes, bytes, 'each prompt\'s pixels once')
    t.equal(policy.info().step, 2, 'two updates ran')
    t.equal(m1.skipped || m2.skipped, false)
    t.ok(m2.clipFraction >= 0 && Number.isFinite(m2.loss))
  })
}

function stepOpts(clipped: boolean): StepOptions {
  return { beta: 0.04, epsilonLow: 0.2, epsilonHigh: 0.2, lossType: 'grpo', microBatchSize: 2, clipped, maxCompletionLength: 4 }
}
