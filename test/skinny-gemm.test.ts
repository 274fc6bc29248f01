// The CPU decode kernel (native/model/skinny_gemm.cpp): y = x·Wᵀ + b for up to 16 rows of x, against
// torch::linear on every code path: row blocks and their remainders (M = 1..16), the vector tail of K,
// the row tail of N (tiles of 3), bias, a strided x, and the hand-off to torch::linear above 16 rows or
// when turned off. Whether this CPU has the kernel at all is reported, not skipped: the checks still run.
// VRFT_SKINNY_GEMM=avx2 (see skinny-gemm-avx2.test.ts) runs the same checks on the AVX2 kernel.
import t, { type Test } from 'tap'
import { native } from '../lib/native/binding.js'

const n = native()
const isa = n.runtimeInfo().skinnyGemm
t.comment(`decode kernel on this CPU: ${isa}`)

type Case = { m: number; k: number; n: number; bias?: boolean; strided?: boolean; packed?: boolean }

async function check(t: Test, c: Case, expectUsed: boolean): Promise<void> {
  const r = await n.skinnyGemmCheck({ ...c, seed: c.m * 1000 + c.k + c.n })
  // float32 sums of k products in another order: a few ulps of the largest partial sums
  const tol = 1e-7 * Math.sqrt(c.k) * Math.max(1, r.maxAbsRef)
  t.ok(r.maxAbsDiff <= tol, `${JSON.stringify(c)}: |diff| ${r.maxAbsDiff.toExponential(2)} <= ${tol.toExponential(2)}`)
  t.equal(r.used, expectUsed, `${JSON.stringify(c)}: kernel ${expectUsed ? 'used' : 'not used'}`)
  if (c.packed) t.equal(r.packed, expectUsed, `${JSON.stringify(c)}: ${expectUsed ? 'read the packed copy' : 'no packed copy'}`)
}

t.test('every row count, with and without bias', async (t) => {
  for (let m = 1; m <= 17; m++)
    for (const bias of [false, true]) await check(t, { m, k: 37, n: 7, bias }, isa !== 'none' && m <= 16)
})

t.test('K: whole vectors and every kind of tail', async (t) => {
  for (const k of [1, 5, 8, 15, 16, 17, 64, 100, 500, 512, 1536])
    await check(t, { m: 8, k, n: 10 }, isa !== 'none')
})

t.test('N: tiles of 3 and the single-row tail; large N splits across threads', async (t) => {
  for (const nn of [1, 2, 3, 4, 5, 6, 1001, 20000])
    await check(t, { m: 5, k: 64, n: nn, bias: true }, isa !== 'none')
})

t.test('a strided x (a view of a wider tensor) is read correctly', async (t) => {
  await check(t, { m: 8, k: 96, n: 33, strided: true, bias: true }, isa !== 'none')
  await check(t, { m: 3, k: 7, n: 4, strided: true }, isa !== 'none')
})

t.test('packed W: every row count and bias, K and N tails, strided x; W changed in place is packed again', async (t) => {
  // a panel is 48 rows (AVX-512) or 24 (AVX2): N below, at and across panel edges
  for (let m = 1; m <= 16; m++) await check(t, { m, k: 37, n: 50, bias: m % 2 === 0, packed: true }, isa !== 'none')
  for (const k of [1, 15, 16, 17, 512]) await check(t, { m: 8, k, n: 97, packed: true }, isa !== 'none')
  for (const nn of [1, 23, 24, 25, 47, 48, 49, 20000]) await check(t, { m: 3, k: 64, n: nn, bias: true, packed: true }, isa !== 'none')
  await check(t, { m: 8, k: 96, n: 100, strided: true, bias: true, packed: true }, isa !== 'none')
})

t.test('packed weights turned off: the kernel reads W as stored', async (t) => {
  t.equal(n.runtimeInfo().packedWeights, true, 'on by default (VRFT_PACK_WEIGHTS unset)')
  t.equal(n.setPackedWeights(false), false)
  try {
    const r = await n.skinnyGemmCheck({ m: 8, k: 64, n: 100, packed: true, seed: 5 })
    t.equal(r.used, isa !== 'none')
    t.equal(r.packed, false, 'no packed copy read')
    t.ok(r.maxAbsDiff <= 1e-7 * 8 * Math.max(1, r.maxAbsRef), `|diff| ${r.maxAbsDiff.toExponential(2)}`)
  } finally {
    t.equal(n.setPackedWeights(true), true)
  }
  t.throws(() => n.setPackedWeights(1 as unknown as boolean), { code: 'ERR_INVALID_ARG' })
})

t.test('turned off, every call goes to torch::linear', async (t) => {
  t.equal(n.setSkinnyGemm(false), false)
  t.equal(n.runtimeInfo().skinnyGemmEnabled, false)
  try {
    await check(t, { m: 8, k: 64, n: 10 }, false)
  } finally {
    t.equal(n.setSkinnyGemm(true), isa !== 'none')
  }
  t.throws(() => n.setSkinnyGemm('yes' as unknown as boolean), { code: 'ERR_INVALID_ARG' })
})

// at::parallel_for is a header template: the addon must be compiled with libtorch's OpenMP, or every call
// runs on one thread (this was the case until the build passed -fopenmp: the decode ran at half speed).
t.test('a large W is split across the intra-op threads (run from a worker thread, as generate is)', async (t) => {
  const threads = n.getNumThreads()
  t.comment(`intra-op threads: ${threads}`)
  const r = await n.skinnyGemmCheck({ m: 8, k: 512, n: 40000, seed: 3 })
  if (isa === 'none') {
    t.equal(r.used, false)
    return
  }
  t.equal(r.used, true)
  if (threads < 2) t.equal(r.tasks, 1, 'one intra-op thread: one task')
  else t.ok(r.tasks >= 2, `${threads} intra-op threads: W split into ${r.tasks} tasks (expected >= 2)`)
})
