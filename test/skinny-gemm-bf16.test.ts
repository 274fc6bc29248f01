// The bfloat16 decode kernel (native/model/skinny_gemm_bf16.cpp): y = x·Wᵀ + b for up to 16 bf16 rows of x
// against a bf16 W, checked against the exact product of the same bf16 inputs (float64) within bfloat16
// tolerance — the output is rounded to bf16 once (unit roundoff 2^-8), the sums are float32 — on every code
// path: row blocks and their remainders (M = 1..16), the K tail of each vector width (32 bf16 for
// vdpbf16ps, 16 / 8 floats for the widening kernels), the row tail of N (tiles of 3), bias, a strided x,
// N split across threads, and the hand-off to libtorch above 16 rows. libtorch's own bf16 linear is
// measured against the same reference and reported. VRFT_SKINNY_GEMM=avx512 / avx2 run the widening
// kernels (skinny-gemm-bf16-avx512.test.ts, skinny-gemm-bf16-avx2.test.ts).
import t, { type Test } from 'tap'
import { native } from '../lib/native/binding.js'

const n = native()
const isa = n.runtimeInfo().skinnyGemmBf16
t.comment(`bfloat16 decode kernel on this CPU: ${isa}`)

type Case = { m: number; k: number; n: number; bias?: boolean; strided?: boolean }

async function check(t: Test, c: Case, expectUsed: boolean): Promise<void> {
  const r = await n.skinnyGemmBf16Check({ ...c, seed: c.m * 1000 + c.k + c.n })
  // one rounding of y to bf16 (unit roundoff 2^-8: 7 stored mantissa bits; taken of the largest |y|) +
  // float32 sums of k products
  const tol = (2 ** -8 + 1e-6 * Math.sqrt(c.k)) * Math.max(1, r.maxAbsRef)
  t.ok(r.maxAbsDiff <= tol, `${JSON.stringify(c)}: |diff| ${r.maxAbsDiff.toExponential(2)} <= ${tol.toExponential(2)} (libtorch bf16: ${r.torchAbsDiff.toExponential(2)})`)
  t.equal(r.used, expectUsed, `${JSON.stringify(c)}: kernel ${expectUsed ? 'used' : 'not used'}`)
  t.ok(r.outBf16, 'y in x\'s dtype (bfloat16)')
}

const has = isa !== 'none'
t.test('every row count, with and without bias; libtorch above 16 rows', async (t) => {
  for (let m = 1; m <= 17; m++)
    for (const bias of [false, true]) await check(t, { m, k: 77, n: 7, bias }, has && m <= 16)
})

t.test('K: whole vectors and every kind of tail', async (t) => {
  for (const k of [1, 5, 8, 15, 16, 17, 31, 32, 33, 64, 100, 512, 1536])
    await check(t, { m: 8, k, n: 10 }, has)
})

t.test('N: tiles of 3 and the single-row tail; large N splits across threads; strided x', async (t) => {
  for (const nn of [1, 2, 3, 4, 5, 1001, 20000]) await check(t, { m: 5, k: 64, n: nn, bias: true }, has)
  await check(t, { m: 8, k: 96, n: 33, strided: true, bias: true }, has)
  await check(t, { m: 3, k: 7, n: 4, strided: true }, has)
})

t.test('turned off: libtorch takes every call', async (t) => {
  t.equal(n.setSkinnyGemm(false), false)
  try {
    await check(t, { m: 8, k: 64, n: 10 }, false)
  } finally {
    n.setSkinnyGemm(true)
  }
})
