// The bfloat16 decode kernel: y = x·Wᵀ + b for a few rows of x (one per sequence of the batch) against a
// bfloat16 nn.Linear weight W (N, K), outside autograd on the CPU — the bfloat16 twin of skinny_gemm.cpp
// (same tiling: NR rows of W stream from memory once, MR rows of x stay in L1, every sum in a register).
// Three kernels, chosen at run time:
//   avx512bf16 — vdpbf16ps (_mm512_dpbf16_ps): x rounded to bfloat16 (it is, in a bfloat16 model), pairs of
//                bf16 products summed into float32 lanes; 32 elements of K per instruction;
//   avx512     — widening: W's bf16 shifted into float32 lanes, float32 FMAs against a float32 x;
//   avx2       — the same widening on 8 lanes.
// VRFT_SKINNY_GEMM=avx512 forces the widening AVX-512 kernel, =avx2 the AVX2 one (tests of the fallbacks);
// =0 turns every decode kernel off. No packed copy of W: a bfloat16 model is used where memory is short.
// Sums are float32 in every kernel; y is rounded to x's dtype once at the end.
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "model/layers.h"

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VRFT_SKINNY_BF16_X86 1
#include <immintrin.h>
#endif

namespace vrft::model {

#ifdef VRFT_SKINNY_BF16_X86
namespace bf16_dp {
#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512bf16")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct B {
  using X = uint16_t;
  using T = __m512;
  using W = __m512bh;
  using XV = __m512bh;
  static constexpr int S = 32, MR = 8, NR = 3;  // 24 accumulators + 3 weight vectors + x of 32 registers
  static T zero() { return _mm512_setzero_ps(); }
  static W loadw(const uint16_t* p) { return (W)_mm512_loadu_si512(p); }
  static W loadw_n(const uint16_t* p, int n) { return (W)_mm512_maskz_loadu_epi16(static_cast<__mmask32>((1ull << n) - 1), p); }
  static XV loadx(const uint16_t* p) { return loadw(p); }
  static XV loadx_n(const uint16_t* p, int n) { return loadw_n(p, n); }
  static T dot(T acc, XV x, W w) { return _mm512_dpbf16_ps(acc, x, w); }
  static float sum(T v) { return _mm512_reduce_add_ps(v); }
};
#include "model/skinny_gemm_bf16_kernel.inc"
#pragma GCC diagnostic pop
#pragma GCC pop_options
}  // namespace bf16_dp

namespace bf16_avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct B {
  using X = float;
  using T = __m512;
  using W = __m512;
  using XV = __m512;
  static constexpr int S = 16, MR = 8, NR = 3;
  static T zero() { return _mm512_setzero_ps(); }
  static W widen(__m256i h) { return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16)); }
  static W loadw(const uint16_t* p) { return widen(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }
  static W loadw_n(const uint16_t* p, int n) {
    alignas(32) uint16_t buf[16] = {0};
    std::memcpy(buf, p, sizeof(uint16_t) * n);
    return widen(_mm256_load_si256(reinterpret_cast<const __m256i*>(buf)));
  }
  static XV loadx(const float* p) { return _mm512_loadu_ps(p); }
  static XV loadx_n(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
  static T dot(T acc, XV x, W w) { return _mm512_fmadd_ps(x, w, acc); }
  static float sum(T v) { return _mm512_reduce_add_ps(v); }
};
#include "model/skinny_gemm_bf16_kernel.inc"
#pragma GCC diagnostic pop
#pragma GCC pop_options
}  // namespace bf16_avx512

namespace bf16_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
struct B {
  using X = float;
  using T = __m256;
  using W = __m256;
  using XV = __m256;
  static constexpr int S = 8, MR = 4, NR = 3;  // 12 accumulators + 3 weight vectors of 16 registers
  static T zero() { return _mm256_setzero_ps(); }
  static W widen(__m128i h) { return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16)); }
  static W loadw(const uint16_t* p) { return widen(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p))); }
  static W loadw_n(const uint16_t* p, int n) {
    alignas(16) uint16_t buf[8] = {0};
    std::memcpy(buf, p, sizeof(uint16_t) * n);
    return widen(_mm_load_si128(reinterpret_cast<const __m128i*>(buf)));
  }
  static XV loadx(const float* p) { return _mm256_loadu_ps(p); }
  static XV loadx_n(const float* p, int n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, p, sizeof(float) * n);
    return _mm256_load_ps(buf);
  }
  static T dot(T acc, XV x, W w) { return _mm256_fmadd_ps(x, w, acc); }
  static float sum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};
#include "model/skinny_gemm_bf16_kernel.inc"
#pragma GCC pop_options
}  // namespace bf16_avx2
#endif

namespace {

using Columns = void (*)(const void*, int64_t, int64_t, const uint16_t*, const float*, float*, int64_t, int64_t, int64_t);

struct Bf16Isa {
  const char* name;
  Columns columns;
  bool x_bf16;  // the kernel reads x as bfloat16 (else float32)
};

bool env_equals(const char* v) {
  const char* e = std::getenv("VRFT_SKINNY_GEMM");
  return e && std::strcmp(e, v) == 0;
}

Bf16Isa detect_bf16() {
#ifdef VRFT_SKINNY_BF16_X86
  __builtin_cpu_init();
  const bool avx2_only = env_equals("avx2"), no_dp = env_equals("avx512");
  if (!avx2_only && !no_dp && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512bw"))
    return {"avx512bf16", &bf16_dp::columns, true};
  if (!avx2_only && __builtin_cpu_supports("avx512f")) return {"avx512", &bf16_avx512::columns, false};
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return {"avx2", &bf16_avx2::columns, false};
#endif
  return {"none", nullptr, false};
}

const Bf16Isa& bf16_isa() {
  static const Bf16Isa i = detect_bf16();
  return i;
}

thread_local bool bf16_kernel_ran = false;

}  // namespace

std::string skinny_gemm_bf16_isa() { return bf16_isa().name; }

torch::Tensor linear_bf16(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b) {
  const Bf16Isa& k = bf16_isa();
  if (!k.columns || !skinny_gemm_enabled()) return {};
  if (w.scalar_type() != torch::kBFloat16 || !w.device().is_cpu() || w.dim() != 2 || !w.is_contiguous() || w.size(1) == 0)
    return {};
  if (!x.device().is_cpu() || (x.scalar_type() != torch::kBFloat16 && x.scalar_type() != torch::kFloat32) || x.dim() < 1 ||
      x.size(-1) != w.size(1))
    return {};
  if (b.defined() && (!b.device().is_cpu() || b.dim() != 1 || b.size(0) != w.size(0) ||
                      (b.scalar_type() != torch::kBFloat16 && b.scalar_type() != torch::kFloat32)))
    return {};
  if (at::GradMode::is_enabled() && (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()))) return {};
  const int64_t K = w.size(1), N = w.size(0), M = x.numel() / K;
  if (M == 0 || M > kSkinnyMaxRows) return {};
  const auto xc = x.to(k.x_bf16 ? torch::kBFloat16 : torch::kFloat32).contiguous();
  const auto bc = b.defined() ? b.to(torch::kFloat32).contiguous() : torch::Tensor();
  auto y = torch::empty({M, N}, x.options().dtype(torch::kFloat32));
  const void* xp = xc.data_ptr();
  const auto* wp = reinterpret_cast<const uint16_t*>(w.data_ptr());
  const float* bp = bc.defined() ? bc.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  const int64_t grain = std::max<int64_t>(1, (int64_t{32} << 10) / (K * 2));  // >= ~32 KiB of W per task
  at::parallel_for(0, N, grain, [&](int64_t n0, int64_t n1) { k.columns(xp, M, K, wp, bp, yp, N, n0, n1); });
  bf16_kernel_ran = true;
  auto out_shape = x.sizes().vec();
  out_shape.back() = N;
  return y.view(out_shape).to(x.scalar_type());
}

SkinnyBf16Check skinny_gemm_bf16_check(int64_t M, int64_t K, int64_t N, bool bias, bool strided, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto x = (strided ? at::randn({M, 2 * K}, gen).narrow(1, 1, K) : at::randn({M, K}, gen)).to(torch::kBFloat16);
  auto w = at::randn({N, K}, gen).to(torch::kBFloat16);
  auto b = bias ? at::randn({N}, gen).to(torch::kBFloat16) : torch::Tensor();
  bf16_kernel_ran = false;
  auto got = linear(x, w, b);
  SkinnyBf16Check r{};
  r.used = bf16_kernel_ran;
  // the exact answer for these bfloat16 inputs: float32 products and sums (float64 would differ by ~1e-7)
  auto ref = torch::linear(x.to(torch::kFloat64), w.to(torch::kFloat64), bias ? b.to(torch::kFloat64) : torch::Tensor());
  auto lib = torch::linear(x, w, b);  // libtorch's own bfloat16 linear, for comparison
  r.max_abs_diff = (got.to(torch::kFloat64) - ref).abs().max().item<double>();
  r.torch_abs_diff = (lib.to(torch::kFloat64) - ref).abs().max().item<double>();
  r.max_abs_ref = ref.abs().max().item<double>();
  r.out_bf16 = got.scalar_type() == torch::kBFloat16;
  return r;
}

}  // namespace vrft::model
