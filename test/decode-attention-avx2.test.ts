// The same checks as decode-attention.test.ts on the AVX2 kernel, which an AVX-512 CPU would otherwise never
// run: VRFT_SKINNY_GEMM=avx2 is read when the addon first picks its kernels, so it is set before loading it.
import t from 'tap'

process.env.VRFT_SKINNY_GEMM = 'avx2'
const { native } = await import('../lib/native/binding.js')
const isa = native().runtimeInfo().skinnyGemm
t.not(isa, 'avx512', `VRFT_SKINNY_GEMM=avx2 keeps the AVX-512 kernel out (got ${isa})`)
await import('./decode-attention.test.js')
