// Skinny GEMM for decoding on CPU: y = x·Wᵀ + b for a float32 x of a few rows (one per sequence of the
// batch) against an nn.Linear weight W (N, K), row-major. libtorch hands this shape to the BLAS, and
// OpenBLAS's sgemm at M = 8 reads the weight at a third of the memory bandwidth (the LM head of the
// `small` bench model, 8 × 512 · 512 × 151936: 37 ms, 8.6 GB/s, where a plain read of it takes 12 ms).
// Decode is bound by reading the weights, so this kernel streams each weight row once, keeps the rows of
// x in L1 and all partial sums in registers, prefetches one tile ahead, and splits the rows of W across
// the intra-op threads. Compiled for AVX-512 and for AVX2+FMA, chosen at run time; other CPUs, other
// dtypes, autograd and larger M go to torch::linear; a bfloat16 W goes to skinny_gemm_bf16.cpp.
// The same file dispatches the decode-attention kernel (decode_attention_kernel.inc): a few query rows
// against the KV cache. libtorch 1.13 runs that as one small BLAS call per (row, head) in a serial loop
// plus masked_fill / softmax / copies (~8 ms per step at G = 8 on the `small` model, where reading the
// cache takes ~3); the kernel reads K and V once per (row, head), with the (row, head) blocks spread over
// the intra-op threads.
#include "model/layers.h"

#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <memory>
#include <mutex>
#include <type_traits>
#include <vector>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define VRFT_SKINNY_X86 1
#include <immintrin.h>
#endif

namespace vrft::model {

#ifdef VRFT_SKINNY_X86
namespace skinny_avx512 {
#pragma GCC push_options
#pragma GCC target("avx512f")
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"  // GCC 12: false positives in its own avx512fintrin.h
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
struct V {
  using T = __m512;
  static constexpr int L = 16, MR = 8, NR = 3;  // 24 accumulators + 3 weight vectors of 32 registers
  static T zero() { return _mm512_setzero_ps(); }
  static T load(const float* p) { return _mm512_loadu_ps(p); }
  static T load_n(const float* p, int n) { return _mm512_maskz_loadu_ps(static_cast<__mmask16>((1u << n) - 1), p); }
  static T fma(T a, T b, T c) { return _mm512_fmadd_ps(a, b, c); }
  static float sum(T v) { return _mm512_reduce_add_ps(v); }
  static void store(float* p, T v) { _mm512_storeu_ps(p, v); }
  static void store_n(float* p, T v, int n) { _mm512_mask_storeu_ps(p, static_cast<__mmask16>((1u << n) - 1), v); }
  static T set1(float x) { return _mm512_set1_ps(x); }
  static T add(T a, T b) { return _mm512_add_ps(a, b); }
};
#include "model/skinny_gemm_kernel.inc"
#include "model/decode_attention_kernel.inc"
#pragma GCC diagnostic pop
#pragma GCC pop_options
}  // namespace skinny_avx512

namespace skinny_avx2 {
#pragma GCC push_options
#pragma GCC target("avx2,fma")
struct V {
  using T = __m256;
  static constexpr int L = 8, MR = 4, NR = 3;  // 12 accumulators + 3 weight vectors of 16 registers
  static T zero() { return _mm256_setzero_ps(); }
  static T load(const float* p) { return _mm256_loadu_ps(p); }
  static T load_n(const float* p, int n) {
    alignas(32) float buf[8] = {0, 0, 0, 0, 0, 0, 0, 0};
    std::memcpy(buf, p, sizeof(float) * n);
    return _mm256_load_ps(buf);
  }
  static T fma(T a, T b, T c) { return _mm256_fmadd_ps(a, b, c); }
  static float sum(T v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static void store(float* p, T v) { _mm256_storeu_ps(p, v); }
  static void store_n(float* p, T v, int n) {
    if (n == L) return _mm256_storeu_ps(p, v);
    alignas(32) float buf[8];
    _mm256_store_ps(buf, v);
    std::memcpy(p, buf, sizeof(float) * n);
  }
  static T set1(float x) { return _mm256_set1_ps(x); }
  static T add(T a, T b) { return _mm256_add_ps(a, b); }
};
#include "model/skinny_gemm_kernel.inc"
#include "model/decode_attention_kernel.inc"
#pragma GCC pop_options
}  // namespace skinny_avx2
#endif

namespace {

using Columns = void (*)(const float*, int64_t, int64_t, const float*, const float*, float*, int64_t, int64_t, int64_t);
using AttendBlock = void (*)(const float*, int64_t, int64_t, const float*, int64_t, const float*, int64_t, int64_t, int64_t,
                             const uint8_t*, int64_t, int64_t, float, float*, int64_t, float*);

using Pack = void (*)(const float*, int64_t, int64_t, float*, int64_t, int64_t);

struct Isa {
  const char* name;
  Columns columns;         // W as stored, (N, K)
  Columns packed_columns;  // W packed in panels of `panel` rows (pack_panels)
  Pack pack;
  int64_t panel;
  AttendBlock attend;
};

// VRFT_SKINNY_GEMM, read once: "avx2" picks the AVX2 kernel on an AVX-512 CPU (to test it); 0/off/false
// start with the kernel turned off. VRFT_PACK_WEIGHTS=0/off/false: no packed copies of the weights.
bool env_is(std::initializer_list<const char*> values, const char* name = "VRFT_SKINNY_GEMM") {
  const char* e = std::getenv(name);
  if (!e) return false;
  for (const char* v : values)
    if (std::strcmp(e, v) == 0) return true;
  return false;
}

Isa detect() {
#ifdef VRFT_SKINNY_X86
  __builtin_cpu_init();
  const bool avx2_only = env_is({"avx2"});
  if (!avx2_only && __builtin_cpu_supports("avx512f")) {
    namespace k = skinny_avx512;
    return {"avx512", &k::columns, &k::packed_columns, &k::pack_panels, k::kPanel, &k::attend_block};
  }
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    namespace k = skinny_avx2;
    return {"avx2", &k::columns, &k::packed_columns, &k::pack_panels, k::kPanel, &k::attend_block};
  }
#endif
  return {"none", nullptr, nullptr, nullptr, 0, nullptr};
}

const Isa& isa() {
  static const Isa i = detect();
  return i;
}

std::atomic<bool>& enabled_flag() {
  static std::atomic<bool> on{!env_is({"0", "off", "false"})};
  return on;
}

std::atomic<bool>& packing_flag() {
  static std::atomic<bool> on{!env_is({"0", "off", "false"}, "VRFT_PACK_WEIGHTS")};
  return on;
}

}  // namespace

struct PackedWeight {
  std::mutex mu;
  // the weight the copy was made from, its version counter and data pointer then
  c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl> src{
      c10::intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>()};
  int64_t version = -1;
  const void* data = nullptr;
  torch::Tensor packed;
};

std::shared_ptr<PackedWeight> new_packed_weight() { return std::make_shared<PackedWeight>(); }
bool packed_weights_enabled() { return packing_flag().load(std::memory_order_relaxed); }
void set_packed_weights_enabled(bool on) { packing_flag().store(on, std::memory_order_relaxed); }

// pw's packed copy of w, made again when w is another tensor than the one it was made from, or the same one
// changed in place (its version counter moved: an optimizer step, a weight load). Undefined for inference
// tensors, which have no version counter.
static torch::Tensor packed_for(PackedWeight& pw, const torch::Tensor& w, const Isa& k) {
  if (w.is_inference()) return {};
  std::lock_guard<std::mutex> lock(pw.mu);
  const int64_t version = static_cast<int64_t>(w._version());
  if (pw.packed.defined() && pw.src.lock().get() == w.unsafeGetTensorImpl() && pw.version == version && pw.data == w.data_ptr())
    return pw.packed;
  pw.packed = torch::Tensor();  // free the stale copy before making the new one
  const int64_t N = w.size(0), K = w.size(1), panels = (N + k.panel - 1) / k.panel;
  auto packed = torch::empty({panels * k.panel * K}, w.options());
  const float* wp = w.data_ptr<float>();
  float* pp = packed.data_ptr<float>();
  at::parallel_for(0, panels, 1, [&](int64_t p0, int64_t p1) { k.pack(wp, N, K, pp, p0, p1); });
  pw.src = c10::weak_intrusive_ptr<c10::TensorImpl, c10::UndefinedTensorImpl>(w.getIntrusivePtr());
  pw.version = version;
  pw.data = w.data_ptr();
  pw.packed = packed;
  return packed;
}

// Set by linear() when the kernel ran, and into how many parallel tasks it split the rows of W (for
// skinny_gemm_check on the calling thread).
thread_local bool kernel_ran = false;
thread_local int kernel_tasks = 0;
thread_local bool kernel_packed = false;

bool skinny_gemm_enabled() { return enabled_flag().load(std::memory_order_relaxed); }
void set_skinny_gemm_enabled(bool on) { enabled_flag().store(on, std::memory_order_relaxed); }
std::string skinny_gemm_isa() { return isa().name; }

torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b, PackedWeight* pack) {
  const Isa& k = isa();
  if (w.scalar_type() == torch::kBFloat16) {  // the bfloat16 kernel (skinny_gemm_bf16.cpp), or libtorch
    auto y = linear_bf16(x, w, b);
    return y.defined() ? y : torch::linear(x, w, b);
  }
  const bool grad = at::GradMode::is_enabled() &&
                    (x.requires_grad() || w.requires_grad() || (b.defined() && b.requires_grad()));
  if (!k.columns || grad || !skinny_gemm_enabled() || !x.device().is_cpu() || !w.device().is_cpu() ||
      x.scalar_type() != torch::kFloat32 || w.scalar_type() != torch::kFloat32 || w.dim() != 2 || x.dim() < 1 ||
      !w.is_contiguous() || x.size(-1) != w.size(1) || w.size(1) == 0 ||
      (b.defined() && (b.scalar_type() != torch::kFloat32 || !b.is_contiguous() || b.dim() != 1 || b.size(0) != w.size(0))))
    return torch::linear(x, w, b);
  const int64_t K = w.size(1), N = w.size(0);
  const int64_t M = x.numel() / K;
  if (M == 0 || M > kSkinnyMaxRows) return torch::linear(x, w, b);
  const auto xc = x.contiguous();
  auto out_shape = x.sizes().vec();
  out_shape.back() = N;
  auto y = torch::empty(out_shape, x.options());
  const float* xp = xc.data_ptr<float>();
  const float* wp = w.data_ptr<float>();
  const float* bp = b.defined() ? b.data_ptr<float>() : nullptr;
  float* yp = y.data_ptr<float>();
  // The parallel range: panels of k.panel rows of the packed copy, or single rows of W as stored. Each task
  // reads at least ~128 KiB of W, so small layers stay on one thread.
  const auto packed = pack && packed_weights_enabled() ? packed_for(*pack, w, k) : torch::Tensor();
  const float* src = packed.defined() ? packed.data_ptr<float>() : wp;
  const Columns run = packed.defined() ? k.packed_columns : k.columns;
  const int64_t unit = packed.defined() ? k.panel : 1;
  const int64_t grain = std::max<int64_t>(1, (int64_t{32} << 10) / (K * unit));
  std::atomic<int> tasks{0};
  at::parallel_for(0, (N + unit - 1) / unit, grain, [&](int64_t u0, int64_t u1) {
    tasks.fetch_add(1, std::memory_order_relaxed);
    run(xp, M, K, src, bp, yp, N, u0, u1);
  });
  kernel_ran = true;
  kernel_packed = packed.defined();
  kernel_tasks = tasks.load();
  return y;
}

torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const std::optional<torch::Tensor>& allowed) {
  const Isa& kern = isa();
  if (!kern.attend || !skinny_gemm_enabled() || q.dim() != 4 || k.dim() != 4 || v.dim() != 4) return {};
  for (const auto* t : {&q, &k, &v})
    if (!t->device().is_cpu() || t->scalar_type() != torch::kFloat32 || t->stride(3) != 1) return {};
  if (at::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad())) return {};
  const int64_t B = q.size(0), H = q.size(1), R = q.size(2), d = q.size(3), L = k.size(2);
  if (R < 1 || R > kDecodeMaxQueries || L < 1 || d < 1 || !k.sizes().equals({B, H, L, d}) || !v.sizes().equals({B, H, L, d}))
    return {};
  torch::Tensor m;
  if (allowed) {
    const auto& a = *allowed;
    if (a.scalar_type() != torch::kBool || !a.device().is_cpu() || a.dim() != 4) return {};
    const int64_t want[4] = {B, H, R, L};
    for (int x = 0; x < 4; ++x)
      if (a.size(x) != want[x] && a.size(x) != 1) return {};
    m = a.expand({B, H, R, L});  // size-1 dims broadcast with stride 0
  }
  auto out = torch::empty({B, H, R, d}, q.options());
  const float scale = static_cast<float>(1.0 / std::sqrt(double(d)));
  const float *qp = q.data_ptr<float>(), *kp = k.data_ptr<float>(), *vp = v.data_ptr<float>();
  const uint8_t* mp = m.defined() ? reinterpret_cast<const uint8_t*>(m.data_ptr<bool>()) : nullptr;
  float* op = out.data_ptr<float>();
  // Tiny blocks (a tiny model, a short cache) stay together: each task does at least ~64k multiply-adds.
  const int64_t grain = std::max<int64_t>(1, (int64_t{1} << 16) / (2 * R * L * d));
  at::parallel_for(0, B * H, grain, [&](int64_t i0, int64_t i1) {
    static thread_local std::vector<float> scores;
    if (scores.size() < size_t(R * L)) scores.resize(R * L);
    for (int64_t idx = i0; idx < i1; ++idx) {
      const int64_t b = idx / H, h = idx % H;
      kern.attend(qp + b * q.stride(0) + h * q.stride(1), q.stride(2), R, kp + b * k.stride(0) + h * k.stride(1), k.stride(2),
               vp + b * v.stride(0) + h * v.stride(1), v.stride(2), L, d,
               mp ? mp + b * m.stride(0) + h * m.stride(1) : nullptr, mp ? m.stride(2) : 0, mp ? m.stride(3) : 0, scale,
               op + idx * R * d, d, scores.data());
    }
  });
  return out;
}

SkinnyCheck skinny_gemm_check(int64_t M, int64_t K, int64_t N, bool bias, bool strided, bool packed, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto x = strided ? at::randn({M, 2 * K}, gen).narrow(1, 1, K) : at::randn({M, K}, gen);
  auto w = at::randn({N, K}, gen);
  auto b = bias ? at::randn({N}, gen) : torch::Tensor();
  auto pack = packed ? new_packed_weight() : nullptr;
  SkinnyCheck r{0, 0, false, 0, false};
  // with a pack: a second round after changing W in place, which must not read the stale packed copy
  for (int round = 0; round < (packed ? 2 : 1); ++round) {
    if (round == 1) w.mul_(-0.5).add_(0.25);
    kernel_ran = false;
    kernel_tasks = 0;
    kernel_packed = false;
    auto got = linear(x, w, b, pack.get());
    r.used = kernel_ran;
    r.tasks = kernel_tasks;
    r.packed = kernel_packed;
    auto ref = torch::linear(x, w, b);
    r.max_abs_diff = std::max(r.max_abs_diff, (got - ref).abs().max().item<double>());
    r.max_abs_ref = std::max(r.max_abs_ref, ref.abs().max().item<double>());
  }
  return r;
}

}  // namespace vrft::model

namespace vrft::model {

AttentionCheck decode_attention_check(int64_t B, int64_t H, int64_t R, int64_t L, int64_t d, int mask, uint64_t seed) {
  torch::NoGradGuard no_grad;
  auto gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  auto q = at::randn({B, H, R, d}, gen);
  auto k = at::randn({B, H, L + 5, d}, gen).narrow(2, 0, L);  // views of a longer cache, as in decoding
  auto v = at::randn({B, H, L + 5, d}, gen).narrow(2, 0, L);
  std::optional<torch::Tensor> allowed;
  if (mask == 1) {
    auto keep = at::rand({B, 1, 1, L}, gen) > 0.3;
    keep.narrow(3, L - 1, 1).fill_(true);  // every row keeps at least one key
    allowed = keep;
  } else if (mask == 2) {
    auto qi = torch::arange(L - R, L).view({R, 1}), kj = torch::arange(0, L).view({1, L});
    allowed = (kj <= qi).view({1, 1, R, L});
  }
  auto got = decode_attention(q, k, v, allowed);
  const bool used = got.defined();
  auto ref = reference_attention(q, k, v, allowed);
  if (!used) got = ref;
  return {(got - ref).abs().max().item<double>(), ref.abs().max().item<double>(), used};
}

}  // namespace vrft::model
