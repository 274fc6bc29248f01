// The parts of the Qwen3-VL vision tower that Qwen2-VL / Qwen2.5-VL lack (see vision.h): the patch mergers
// (main and DeepStack) and the bilinear interpolation of the learned position embeddings. The blocks, the
// 2D rotary table and the attention are shared with Qwen2-VL (vision.cpp).
#include <cmath>

#include "common/errors.h"
#include "model/vision.h"

namespace vrft::model {

PatchMergerImpl::PatchMergerImpl(const VisionConfig& c, bool postshuffle_norm, const torch::TensorOptions& o)
    : unit(c.spatial_merge_size * c.spatial_merge_size), postshuffle(postshuffle_norm) {
  const int64_t wide = c.width * unit;
  norm = register_module("norm", LNorm(postshuffle ? wide : c.width, 1e-6, o));
  fc1 = register_module("linear_fc1", Lin(wide, wide, true, o));
  fc2 = register_module("linear_fc2", Lin(wide, c.out_hidden, true, o));
}

torch::Tensor PatchMergerImpl::forward(const torch::Tensor& x) {
  const int64_t wide = x.size(1) * unit;  // x (N, D)
  auto y = postshuffle ? norm->forward(x.reshape({-1, wide})) : norm->forward(x).reshape({-1, wide});  // (N/4, 4D)
  return fc2->forward(torch::gelu(fc1->forward(y)));  // (N/4, H); nn.GELU() (exact)
}

torch::Tensor interpolate_pos_embed(const torch::Tensor& table, const std::vector<Grid>& grids, int64_t m) {
  const int64_t n = table.size(0), D = table.size(1);
  const auto side = int64_t(std::llround(std::sqrt(double(n))));
  if (side * side != n) throw_arg(fmt("Expected a square number of position embeddings but received ", n));
  const auto dev = table.device();
  const auto f32 = torch::TensorOptions().dtype(torch::kFloat32);
  std::vector<torch::Tensor> out;
  for (auto [t, h, w] : grids) {
    // corner indexes and weights over the (h, w) grid, as HF: float32 linspace, truncation, clip at side − 1
    auto hi = torch::linspace(0, double(side - 1), h, f32), wi = torch::linspace(0, double(side - 1), w, f32);
    auto hf = hi.to(torch::kInt64), wf = wi.to(torch::kInt64);
    auto hc = (hf + 1).clamp_max(side - 1), wc = (wf + 1).clamp_max(side - 1);
    auto dh = (hi - hf).view({h, 1}), dw = (wi - wf).view({1, w});
    auto bf = (hf * side).view({h, 1}), bc = (hc * side).view({h, 1});
    auto wfv = wf.view({1, w}), wcv = wc.view({1, w});
    const torch::Tensor idx[4] = {bf + wfv, bf + wcv, bc + wfv, bc + wcv};  // (h, w) each
    const torch::Tensor wt[4] = {(1 - dh) * (1 - dw), (1 - dh) * dw, dh * (1 - dw), dh * dw};
    torch::Tensor pe;
    for (int k = 0; k < 4; ++k) {
      auto term = table.index_select(0, idx[k].reshape({-1}).to(dev)) * wt[k].reshape({-1, 1}).to(dev, table.scalar_type());
      pe = k ? pe + term : term;  // (h·w, D), summed in HF's order
    }
    // repeat over frames, then patchify order: (t, h/m, m, w/m, m, D) -> (t, h/m, w/m, m, m, D)
    out.push_back(pe.repeat({t, 1}).view({t, h / m, m, w / m, m, D}).permute({0, 1, 3, 2, 4, 5}).reshape({-1, D}));
  }
  return torch::cat(out, 0);  // (N, D)
}

}  // namespace vrft::model
