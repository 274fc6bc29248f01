// The same checks as skinny-gemm-bf16.test.ts on the widening avx2 bfloat16 kernel, which an AVX-512 BF16 CPU
// would otherwise never run: VRFT_SKINNY_GEMM=avx2 is read when the addon first picks its kernels, so it is
// set before loading it.
import t from 'tap'

process.env.VRFT_SKINNY_GEMM = 'avx2'
const { native } = await import('../lib/native/binding.js')
const isa = native().runtimeInfo().skinnyGemmBf16
t.not(isa, 'avx512bf16', `VRFT_SKINNY_GEMM=avx2 keeps the vdpbf16ps kernel out (got ${isa})`)
await import('./skinny-gemm-bf16.test.js')
