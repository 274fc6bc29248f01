// Gradient checkpointing (see recompute.h): a hand-made autograd Node that stores a segment's input and
// closure, and recomputes the segment with grad enabled when the backward reaches it. The per-layer and
// per-block loops below mirror TextModelImpl::forward and VisionTowerImpl::forward (native/model), which run
// their layers internally; test/trainer-ckpt.test.ts checks that both give the same gradients.
#include "rl/recompute.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

#include <algorithm>

#include "common/errors.h"

namespace vrft::rl {

namespace ag = torch::autograd;
namespace m = vrft::model;

namespace {

struct CheckpointBackward : ag::Node {
  SegmentFn fn;
  torch::Tensor x;  // detached input
  bool x_grad = false;
  std::vector<torch::Tensor> params;

  ag::variable_list apply(ag::variable_list&& grads) override {
    ag::variable_list out(1 + params.size());
    if (!grads[0].defined()) return out;
    torch::AutoGradMode on(true);
    auto xd = x.detach();
    if (x_grad) xd.requires_grad_(true);
    auto y = fn(xd);
    ag::variable_list inputs;
    if (x_grad) inputs.push_back(xd);
    for (auto& p : params) inputs.push_back(p);
    auto g = ag::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    size_t k = 0;
    if (x_grad) out[0] = g[k++];
    for (size_t i = 0; i < params.size(); ++i) out[1 + i] = g[k++];
    release_variables();
    return out;
  }
  void release_variables() override {
    x = torch::Tensor();
    params.clear();
    fn = nullptr;
  }
  std::string name() const override { return "vrft::CheckpointBackward"; }
};

}  // namespace

torch::Tensor checkpoint(SegmentFn fn, const torch::Tensor& x, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> need;
  for (auto& p : params)
    if (p.requires_grad()) need.push_back(p);
  const bool x_grad = x.requires_grad();
  torch::Tensor y;
  {
    torch::NoGradGuard ng;
    y = fn(x.detach());
  }
  if (!torch::GradMode::is_enabled() || (!x_grad && need.empty())) return y;
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(), ag::deleteNode);
  node->fn = std::move(fn);
  node->x = x.detach();
  node->x_grad = x_grad;
  node->params = need;
  ag::variable_list edges_of{x};
  edges_of.insert(edges_of.end(), need.begin(), need.end());
  node->set_next_edges(ag::collect_next_edges(edges_of));
  ag::create_gradient_edge(y, node);
  return y;
}

std::vector<torch::Tensor> grad_inputs(torch::nn::Module& mod) {
  std::vector<torch::Tensor> out;
  for (auto& p : mod.parameters(true))
    if (p.requires_grad()) out.push_back(p);
  for (auto& sub : mod.modules(/*include_self=*/true)) {
    auto* lin = sub->as<m::LinImpl>();
    if (!lin) continue;
    auto reg = lin->named_parameters(false)["weight"];
    if (!lin->weight.is_same(reg) && lin->weight.requires_grad()) out.push_back(lin->weight);
  }
  return out;
}

// Patch (row, col) of every pixel row in patchify order (as in native/model/vision.cpp).
static torch::Tensor patch_positions(const std::vector<m::Grid>& grids, int64_t mm) {
  std::vector<int64_t> pos;
  for (auto [t, h, w] : grids)
    for (int64_t f = 0; f < t; ++f)
      for (int64_t bh = 0; bh < h / mm; ++bh)
        for (int64_t bw = 0; bw < w / mm; ++bw)
          for (int64_t mh = 0; mh < mm; ++mh)
            for (int64_t mw = 0; mw < mm; ++mw) {
              pos.push_back(bh * mm + mh);
              pos.push_back(bw * mm + mw);
            }
  return torch::tensor(pos, torch::kInt64).view({-1, 2});  // (N, 2)
}

torch::Tensor encode_images(m::Qwen2VL& model, const torch::Tensor& pixels, const std::vector<m::Grid>& grids, bool ckpt) {
  if (!ckpt) return model->encode_images(pixels, grids);
  auto& vt = *model->visual;
  const auto& cfg = vt.cfg;
  if (pixels.dim() != 2 || pixels.size(1) != cfg.patch_dim())
    throw_coded("ERR_INVALID_ARG", fmt("Expected pixel values of shape [N, ", cfg.patch_dim(), "] but received ", pixels.sizes()));
  const int64_t mm = cfg.spatial_merge_size, unit = mm * mm, D = cfg.width, n = pixels.size(0);
  m::check_grids(grids, n, mm);
  const auto dev = vt.patch_weight.device();
  auto x = torch::matmul(pixels.to(dev, vt.patch_weight.scalar_type()), vt.patch_weight.reshape({D, -1}).t());  // (N, D)
  const int64_t hd = cfg.head_dim(), dim = hd / 2;
  auto inv = 1.0 / torch::pow(10000.0, torch::arange(0, dim, 2, torch::kFloat32) / double(dim));  // (hd/4)
  auto pos = patch_positions(grids, mm).to(torch::kFloat32);                                      // (N, 2)
  auto theta = torch::cat({pos.select(1, 0).unsqueeze(1) * inv, pos.select(1, 1).unsqueeze(1) * inv}, 1);  // (N, hd/2)
  std::vector<int64_t> cu_full{0}, cu_win;
  for (auto [t, h, w] : grids)
    for (int64_t f = 0; f < t; ++f) cu_full.push_back(cu_full.back() + h * w);
  torch::Tensor widx;
  const bool v25 = vt.arch == m::Arch::Qwen25VL;
  if (v25) {
    auto wl = m::window_layout(grids, cfg.window_size, cfg.patch_size, mm);
    cu_win = wl.cu_seqlens;
    widx = torch::tensor(wl.index, torch::kInt64);  // (N/4)
    x = x.view({n / unit, unit, D}).index_select(0, widx.to(dev)).view({n, D});
    theta = theta.view({n / unit, unit, dim}).index_select(0, widx).view({n, dim});
  }
  auto emb = torch::cat({theta, theta}, 1);  // (N, hd) float32
  auto cos = emb.cos().to(dev), sin = emb.sin().to(dev);
  for (size_t i = 0; i < vt.blocks->size(); ++i) {
    const bool full = !v25 || std::find(cfg.fullatt_block_indexes.begin(), cfg.fullatt_block_indexes.end(), int64_t(i)) !=
                                  cfg.fullatt_block_indexes.end();
    auto block = vt.blocks[i]->as<m::VisionBlock>();
    auto cu = full ? cu_full : cu_win;
    x = checkpoint([block, cos, sin, cu](const torch::Tensor& h) { return block->forward(h, cos, sin, cu); }, x,
                   grad_inputs(*block));
  }
  x = v25 ? vt.rms_q->forward(x) : vt.ln_q->forward(x);
  x = vt.mlp2->forward(torch::gelu(vt.mlp0->forward(x.view({n / unit, unit * D}))));  // (N/4, H)
  if (v25) x = x.index_select(0, torch::argsort(widx).to(dev));
  return x;
}

torch::Tensor decode(m::Qwen2VL& model, const torch::Tensor& embeds, const torch::Tensor& position_ids,
                     const torch::Tensor& key_mask, bool ckpt) {
  auto& tm = *model->model;
  if (!ckpt) return tm.forward(embeds, position_ids, key_mask);
  const int64_t B = embeds.size(0), T = embeds.size(1);
  const auto dev = embeds.device();
  if (position_ids.dim() != 3 || position_ids.size(0) != 3 || position_ids.size(1) != B || position_ids.size(2) != T)
    throw_arg(fmt("Expected position_ids of shape [3, ", B, ", ", T, "] but received ", position_ids.sizes()));
  auto [cos, sin] = m::mrope_cos_sin(tm.cfg, position_ids.to(dev));
  cos = cos.to(embeds.scalar_type()).unsqueeze(1);  // (B, 1, T, d)
  sin = sin.to(embeds.scalar_type()).unsqueeze(1);
  auto ar = torch::arange(0, T, torch::TensorOptions().dtype(torch::kInt64).device(dev));
  auto qi = ar.view({T, 1}), kj = ar.view({1, T});
  auto allowed = (kj <= qi).unsqueeze(0);  // (1, T, T)
  if (key_mask.defined())
    allowed = allowed.logical_and(key_mask.to(dev).to(torch::kBool).unsqueeze(1)).logical_or((kj == qi).unsqueeze(0));
  allowed = allowed.unsqueeze(1);  // (B|1, 1, T, T)
  auto x = embeds;
  for (size_t l = 0; l < tm.layers->size(); ++l) {
    auto layer = tm.layers[l]->as<m::DecoderLayer>();
    x = checkpoint([layer, cos = cos, sin = sin, allowed, l](const torch::Tensor& h) {
                     return layer->forward(h, cos, sin, allowed, nullptr, int64_t(l), 0);
                   },
                   x, grad_inputs(*layer));
  }
  return tm.norm->forward(x);  // (B, T, H)
}

}  // namespace vrft::rl
