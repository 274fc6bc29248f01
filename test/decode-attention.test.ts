// The CPU decode-attention kernel (native/model/decode_attention_kernel.inc, dispatched in skinny_gemm.cpp):
// a few query rows against a KV cache, against the reference formula (matmul, masked float32 softmax,
// matmul) over every shape it takes: one and several query rows (grouped heads, several new tokens), head
// sizes with and without a vector tail, short and long caches, no mask, a key-padding mask, a causal mask,
// and the hand-off to the usual path above 16 query rows or when the decode kernels are off. Whether this CPU
// has the kernel is reported, not skipped: the checks still run (then every call takes the usual path).
import t, { type Test } from 'tap'
import { native } from '../lib/native/binding.js'

const n = native()
const isa = n.runtimeInfo().skinnyGemm
t.comment(`decode kernels on this CPU: ${isa}`)

type Case = { b: number; h: number; r: number; l: number; d: number; mask?: 0 | 1 | 2 }

async function check(t: Test, c: Case, expectUsed: boolean): Promise<void> {
  const r = await n.decodeAttentionCheck({ ...c, seed: c.b * 7919 + c.r * 131 + c.l * 17 + c.d + (c.mask ?? 0) })
  const tol = 2e-6 * Math.max(1, r.maxAbsRef)
  t.ok(r.maxAbsDiff <= tol, `${JSON.stringify(c)}: |diff| ${r.maxAbsDiff.toExponential(2)} <= ${tol.toExponential(2)}`)
  t.equal(r.used, expectUsed, `${JSON.stringify(c)}: kernel ${expectUsed ? 'used' : 'not used'}`)
}

t.test('query rows 1..16, every mask kind', async (t) => {
  for (const r of [1, 2, 3, 7, 16])
    for (const mask of [0, 1, 2] as const) await check(t, { b: 2, h: 2, r, l: 40, d: 128, mask }, isa !== 'none')
})

t.test('head sizes: whole vectors and tails', async (t) => {
  for (const d of [1, 5, 8, 16, 17, 64, 80, 100, 128, 256])
    await check(t, { b: 3, h: 2, r: 2, l: 33, d, mask: 1 }, isa !== 'none')
})

t.test('cache lengths from one key to thousands', async (t) => {
  for (const l of [1, 2, 15, 16, 17, 500, 3000]) await check(t, { b: 2, h: 3, r: 1, l, d: 64, mask: l > 1 ? 1 : 0 }, isa !== 'none')
})

t.test('the decode shape of the small bench model: G = 8 rows, 2 kv heads of 2 query heads each', async (t) => {
  await check(t, { b: 8, h: 2, r: 2, l: 480, d: 128, mask: 1 }, isa !== 'none')
})

t.test('more than 16 query rows (a prefill) or the kernels off: the usual path', async (t) => {
  await check(t, { b: 1, h: 2, r: 17, l: 40, d: 64, mask: 2 }, false)
  t.equal(n.setSkinnyGemm(false), false)
  try {
    await check(t, { b: 2, h: 2, r: 1, l: 40, d: 64, mask: 1 }, false)
  } finally {
    t.equal(n.setSkinnyGemm(true), isa !== 'none')
  }
})

t.test('bad options are typed errors', async (t) => {
  t.throws(() => n.decodeAttentionCheck({ b: 1, h: 1, r: 5, l: 3, d: 8, mask: 2 }), { code: 'ERR_INVALID_ARG', name: 'RangeError' })
  t.throws(() => n.decodeAttentionCheck({ b: 0, h: 1, r: 1, l: 3, d: 8 }), { code: 'ERR_INVALID_ARG' })
})
