// Small building blocks shared by the vision tower and the decoder: Linear / RMSNorm / LayerNorm modules
// whose parameters are created empty (no init, any device incl. meta) so a checkpoint fills them by name,
// rotate_half, and one attention function (SDPA on libtorch >= 2, a float32-softmax path everywhere).
#pragma once
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>

namespace vrft::model {

// How the layer loops of the vision tower and the decoder run each layer: `fn` is the layer's forward on
// its input x, `layer` the module holding its parameters. Null = call fn(x); rl/recompute.h passes one
// that makes every layer an activation-checkpoint segment.
using LayerFn = std::function<torch::Tensor(const torch::Tensor&)>;
using LayerRunner = std::function<torch::Tensor(torch::nn::Module& layer, LayerFn fn, const torch::Tensor& x)>;

// The CPU decode kernels of skinny_gemm.cpp (AVX-512 or AVX2, chosen at run time), both turned off by
// VRFT_SKINNY_GEMM=0 or set_skinny_gemm_enabled(false):
//
// y = x·wᵀ + b. Float32 CPU inputs of at most kSkinnyMaxRows rows outside autograd (decode steps) take the
// skinny-GEMM kernel of skinny_gemm.cpp; everything else is torch::linear. VRFT_SKINNY_GEMM=0 or
// set_skinny_gemm_enabled(false) turns the kernel off (the benchmark's baseline).
// With `pack`, the kernel reads W from a copy packed in panels of rows (one sequential stream, no horizontal
// sums: ~20 % faster on the LM head), made on the first such call and made again whenever W changes (another
// tensor, or its version counter moved, as after an optimizer step). It costs a second copy of every weight
// the decode uses; VRFT_PACK_WEIGHTS=0 or set_packed_weights_enabled(false) reads W as stored instead.
constexpr int64_t kSkinnyMaxRows = 16;
struct PackedWeight;
std::shared_ptr<PackedWeight> new_packed_weight();
bool packed_weights_enabled();
void set_packed_weights_enabled(bool on);
torch::Tensor linear(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b = {}, PackedWeight* pack = nullptr);
bool skinny_gemm_enabled();
void set_skinny_gemm_enabled(bool on);
std::string skinny_gemm_isa();  // "avx512", "avx2" or "none" (this CPU or compiler has no kernel)
// Self-check for the tests: linear() against torch::linear on random (M, K)·(N, K)ᵀ inputs, x strided when
// asked, W packed when asked (then a second round after changing W in place). Returns the largest
// |difference| and |reference|, whether the kernel took the call (and read a packed copy), and into how
// many parallel tasks it split W's rows (> 1 only when this code is built with libtorch's OpenMP).
struct SkinnyCheck { double max_abs_diff, max_abs_ref; bool used; int tasks; bool packed; };

// The bfloat16 decode kernel (skinny_gemm_bf16.cpp): y = x·Wᵀ + b for a bfloat16 W and a bfloat16 or
// float32 x of at most kSkinnyMaxRows rows outside autograd, on the CPU; y in x's dtype. Undefined when the
// inputs do not fit (linear() then calls torch::linear). Same switch as the float32 kernel.
torch::Tensor linear_bf16(const torch::Tensor& x, const torch::Tensor& w, const torch::Tensor& b);
std::string skinny_gemm_bf16_isa();  // "avx512bf16" (vdpbf16ps), "avx512" / "avx2" (widening) or "none"
// Self-check for the tests: linear() on random bfloat16 inputs against the exact (float64) product of those
// inputs; torch_abs_diff is libtorch's own bfloat16 linear against the same reference.
struct SkinnyBf16Check { double max_abs_diff, torch_abs_diff, max_abs_ref; bool used, out_bf16; };
SkinnyBf16Check skinny_gemm_bf16_check(int64_t M, int64_t K, int64_t N, bool bias, bool strided, uint64_t seed);

// Attention of a few query rows (a decode step: rep·T <= kDecodeMaxQueries) against a KV cache, float32 on
// the CPU outside autograd: q (B, h, R, d), k/v (B, h, L, d) with contiguous rows (views of the cache are
// fine), allowed as in attention(). Reads K and V once, with no (R × L) score tensors or BLAS calls per
// head. Returns an undefined tensor when the inputs do not fit (attention() then takes its usual path).
constexpr int64_t kDecodeMaxQueries = 16;
torch::Tensor decode_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const std::optional<torch::Tensor>& allowed);
// Self-check for the tests: decode_attention() against the reference formula (matmul, masked softmax,
// matmul) on random inputs; k/v are views of a longer cache. mask: 0 none, 1 a key-padding mask (B, 1, 1, L),
// 2 a causal mask over the last R keys (1, 1, R, L).
struct AttentionCheck { double max_abs_diff, max_abs_ref; bool used; };
AttentionCheck decode_attention_check(int64_t B, int64_t H, int64_t R, int64_t L, int64_t d, int mask, uint64_t seed);
SkinnyCheck skinny_gemm_check(int64_t M, int64_t K, int64_t N, bool bias, bool strided, bool packed, uint64_t seed);

// y = x·Wᵀ (+ b). Parameters "weight" [out, in] and optionally "bias" [out], left uninitialized.
// With a LoRA adapter attached (rl/lora.h sets lora_a [r, in], lora_b [out, r], lora_scale):
// y = x·Wᵀ (+ b) + s·(x·Aᵀ)·Bᵀ — W is never merged or copied, and autograd reaches A and B through two
// rank-r matmuls (no gradient of the full [out, in] matrix).
struct LinImpl : torch::nn::Module {
  torch::Tensor weight, bias;
  torch::Tensor lora_a, lora_b;  // not registered: the adapter's tensors belong to rl::Lora
  double lora_scale = 0;
  std::shared_ptr<PackedWeight> pack = new_packed_weight();  // the decode kernel's copy of weight
  LinImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x) {
    auto y = model::linear(x, weight, bias, pack.get());
    if (!lora_a.defined()) return y;
    return y + model::linear(model::linear(x, lora_a, {}, nullptr), lora_b, {}, nullptr) * lora_scale;
  }
};
TORCH_MODULE(Lin);

// RMSNorm (Qwen2): w · cast(x·rsqrt(mean(x²) + eps)), statistics in float32. Parameter "weight" [dim].
struct RMSNormImpl : torch::nn::Module {
  torch::Tensor weight;
  double eps;
  RMSNormImpl(int64_t dim, double eps, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(RMSNorm);

// LayerNorm with "weight" and "bias" [dim] (Qwen2-VL vision, eps 1e-6).
struct LNormImpl : torch::nn::Module {
  torch::Tensor weight, bias;
  double eps;
  LNormImpl(int64_t dim, double eps, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x) { return torch::layer_norm(x, {weight.size(0)}, weight, bias, eps); }
};
TORCH_MODULE(LNorm);

// [-x2, x1] over the two halves of the last dimension.
torch::Tensor rotate_half(const torch::Tensor& x);

// Activation by HF name: quick_gelu, silu, gelu (exact), gelu_pytorch_tanh.
torch::Tensor activation(const torch::Tensor& x, const std::string& name);

// Scaled dot-product attention. q (B, h, Tq, d), k/v (B, h, Tk, d) (kv heads already repeated),
// allowed: optional bool mask broadcastable to (B, h, Tq, Tk), true = may attend; every row must allow at
// least one key. Scale 1/√d, softmax in float32. Returns (B, h, Tq, d) in q's dtype.
torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const std::optional<torch::Tensor>& allowed);

// The float32-softmax formula of attention(): matmul, masked softmax, matmul (no SDPA, no decode kernel).
torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const std::optional<torch::Tensor>& allowed);

// Whether attention() uses at::scaled_dot_product_attention (libtorch >= 2; VRFT_MANUAL_ATTENTION=1 forces
// the manual path).
bool using_sdpa();

}  // namespace vrft::model
