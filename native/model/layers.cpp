// Building blocks: empty-initialized Linear/RMSNorm/LayerNorm and the attention function (see layers.h).
#include "model/layers.h"

#include <cstdlib>

namespace vrft::model {

LinImpl::LinImpl(int64_t in, int64_t out, bool with_bias, const torch::TensorOptions& o) {
  weight = register_parameter("weight", torch::empty({out, in}, o));
  if (with_bias) bias = register_parameter("bias", torch::empty({out}, o));
}

RMSNormImpl::RMSNormImpl(int64_t dim, double eps_, const torch::TensorOptions& o) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, o));
}

torch::Tensor RMSNormImpl::forward(const torch::Tensor& x) {
  auto xf = x.to(torch::kFloat32);
  auto var = xf.pow(2).mean(-1, /*keepdim=*/true);
  xf = xf * torch::rsqrt(var + eps);
  return weight * xf.to(x.scalar_type());
}

LNormImpl::LNormImpl(int64_t dim, double eps_, const torch::TensorOptions& o) : eps(eps_) {
  weight = register_parameter("weight", torch::empty({dim}, o));
  bias = register_parameter("bias", torch::empty({dim}, o));
}

torch::Tensor rotate_half(const torch::Tensor& x) {
  auto h = x.size(-1) / 2;
  auto x1 = x.narrow(-1, 0, h), x2 = x.narrow(-1, h, h);
  return torch::cat({-x2, x1}, -1);
}

torch::Tensor activation(const torch::Tensor& x, const std::string& name) {
  if (name == "quick_gelu") return x * torch::sigmoid(1.702 * x);
  if (name == "silu") return torch::silu(x);
  if (name == "gelu") return torch::gelu(x);
  return torch::gelu(x, "tanh");  // gelu_pytorch_tanh (config.check() allows only these four)
}

bool using_sdpa() {
#if TORCH_VERSION_MAJOR >= 2
  static const bool manual = [] {
    const char* e = std::getenv("VRFT_MANUAL_ATTENTION");
    return e && std::string(e) == "1";
  }();
  return !manual;
#else
  return false;
#endif
}

torch::Tensor attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                        const std::optional<torch::Tensor>& allowed) {
  if (q.size(-2) <= kDecodeMaxQueries) {  // decode steps on the CPU
    auto out = decode_attention(q, k, v, allowed);
    if (out.defined()) return out;
    // bfloat16 cache: the float32 kernel on float32 copies (the cache is small next to the weights a
    // decode step reads; libtorch 1.13 would run one bf16 BLAS call per row and head)
    if (q.scalar_type() == torch::kBFloat16 && q.device().is_cpu() && !(at::GradMode::is_enabled() && q.requires_grad())) {
      auto f = torch::kFloat32;
      out = decode_attention(q.to(f), k.to(f), v.to(f), allowed);
      if (out.defined()) return out.to(q.scalar_type());
    }
  }
#if TORCH_VERSION_MAJOR >= 2
  if (using_sdpa()) {
    c10::optional<at::Tensor> m;
    if (allowed) m = *allowed;
    return at::scaled_dot_product_attention(q, k, v, m);  // (B, h, Tq, d)
  }
#endif
  return reference_attention(q, k, v, allowed);
}

torch::Tensor reference_attention(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                  const std::optional<torch::Tensor>& allowed) {
  const double scale = 1.0 / std::sqrt(double(q.size(-1)));
  if (q.scalar_type() == torch::kBFloat16 && q.device().is_cpu()) {
    // bfloat16 on the CPU (libtorch 1.13, measured at the 2B vision tower's 16 × 1564² attention): a matmul
    // against kᵀ as a transposed view runs 5× slower than against a contiguous kᵀ; scaling the scores costs a
    // pass over (Tq × Tk) where scaling q costs one over (Tq × d); softmax of bfloat16 scores computes in
    // float32 and rounds once, as softmax(dtype=float32).to(bfloat16) does, at a third of its time.
    auto scores = torch::matmul(q * scale, k.transpose(-2, -1).contiguous());  // (B, h, Tq, Tk)
    if (allowed) scores = scores.masked_fill(allowed->logical_not(), -std::numeric_limits<float>::infinity());
    return torch::matmul(torch::softmax(scores, -1), v);
  }
  auto scores = torch::matmul(q, k.transpose(-2, -1)) * scale;  // (B, h, Tq, Tk)
  if (allowed) scores = scores.masked_fill(allowed->logical_not(), -std::numeric_limits<float>::infinity());
  auto p = torch::softmax(scores, -1, torch::kFloat32).to(q.scalar_type());
  return torch::matmul(p, v);  // (B, h, Tq, d)
}

}  // namespace vrft::model
