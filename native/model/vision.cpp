// Vision tower of Qwen2-VL / Qwen2.5-VL / Qwen3-VL (see vision.h; Qwen3-VL's merger and position
// embeddings are in qwen3vl_vision.cpp). Shapes: N patch rows, D vision width,
// h heads of d = D/h, H the LLM width.
#include "model/vision.h"

#include <algorithm>
#include <numeric>

#include "common/errors.h"

namespace vrft::model {

namespace nn = torch::nn;

VisionAttentionImpl::VisionAttentionImpl(const VisionConfig& c, const torch::TensorOptions& o) : heads(c.num_heads) {
  qkv = register_module("qkv", Lin(c.width, 3 * c.width, true, o));
  proj = register_module("proj", Lin(c.width, c.width, true, o));
}

static torch::Tensor rope_vision(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin) {
  // x (N, h, d); cos/sin (N, 1, d) float32 -> rotated in float32, cast back
  auto xf = x.to(torch::kFloat32);
  return (xf * cos + rotate_half(xf) * sin).to(x.scalar_type());
}

torch::Tensor VisionAttentionImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                           const std::vector<int64_t>& cu) {
  const int64_t n = x.size(0), d = x.size(1) / heads;
  auto qkv_ = qkv->forward(x).view({n, 3, heads, d});  // (N, 3, h, d)
  auto c = cos.unsqueeze(1), s = sin.unsqueeze(1);     // (N, 1, d)
  auto q = rope_vision(qkv_.select(1, 0), c, s);       // (N, h, d)
  auto k = rope_vision(qkv_.select(1, 1), c, s);
  auto v = qkv_.select(1, 2);
  std::vector<torch::Tensor> outs;
  outs.reserve(cu.size());
  for (size_t i = 0; i + 1 < cu.size(); ++i) {
    const int64_t a = cu[i], len = cu[i + 1] - cu[i];
    if (len == 0) continue;
    auto qc = q.narrow(0, a, len).transpose(0, 1).unsqueeze(0);  // (1, h, len, d)
    auto kc = k.narrow(0, a, len).transpose(0, 1).unsqueeze(0);
    auto vc = v.narrow(0, a, len).transpose(0, 1).unsqueeze(0);
    auto oc = attention(qc, kc, vc, std::nullopt);               // (1, h, len, d)
    outs.push_back(oc.squeeze(0).transpose(0, 1).reshape({len, heads * d}));
  }
  return proj->forward(torch::cat(outs, 0));  // (N, D)
}

VisionBlockImpl::VisionBlockImpl(const VisionConfig& c, Arch arch, const torch::TensorOptions& o) : act(c.act) {
  if (arch != Arch::Qwen25VL) {  // Qwen2-VL, Qwen3-VL: LayerNorm
    ln1 = register_module("norm1", LNorm(c.width, 1e-6, o));
    ln2 = register_module("norm2", LNorm(c.width, 1e-6, o));
  } else {
    rms1 = register_module("norm1", RMSNorm(c.width, 1e-6, o));
    rms2 = register_module("norm2", RMSNorm(c.width, 1e-6, o));
  }
  attn = register_module("attn", VisionAttention(c, o));
  auto mlp = register_module("mlp", std::make_shared<nn::Module>());
  if (arch != Arch::Qwen25VL) {  // fc1/fc2 (Qwen2-VL), linear_fc1/linear_fc2 (Qwen3-VL)
    const bool v3 = arch == Arch::Qwen3VL;
    fc1 = mlp->register_module(v3 ? "linear_fc1" : "fc1", Lin(c.width, c.intermediate, true, o));
    fc2 = mlp->register_module(v3 ? "linear_fc2" : "fc2", Lin(c.intermediate, c.width, true, o));
  } else {
    gate = mlp->register_module("gate_proj", Lin(c.width, c.intermediate, true, o));
    up = mlp->register_module("up_proj", Lin(c.width, c.intermediate, true, o));
    down = mlp->register_module("down_proj", Lin(c.intermediate, c.width, true, o));
  }
}

torch::Tensor VisionBlockImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                       const std::vector<int64_t>& cu) {
  const bool v2 = !ln1.is_empty();
  auto h = x + attn->forward(v2 ? ln1->forward(x) : rms1->forward(x), cos, sin, cu);  // (N, D)
  auto y = v2 ? ln2->forward(h) : rms2->forward(h);
  if (v2) return h + fc2->forward(activation(fc1->forward(y), act));
  return h + down->forward(activation(gate->forward(y), act) * up->forward(y));
}

VisionTowerImpl::VisionTowerImpl(const VisionConfig& c, Arch a, const torch::TensorOptions& o) : cfg(c), arch(a) {
  auto pe = register_module("patch_embed", std::make_shared<nn::Module>());
  auto proj = pe->register_module("proj", std::make_shared<nn::Module>());
  patch_weight = proj->register_parameter(
      "weight", torch::empty({c.width, c.in_channels, c.temporal_patch_size, c.patch_size, c.patch_size}, o));
  if (a == Arch::Qwen3VL) {
    patch_bias = proj->register_parameter("bias", torch::empty({c.width}, o));
    auto pe = register_module("pos_embed", std::make_shared<nn::Module>());
    pos_embed = pe->register_parameter("weight", torch::empty({c.num_position_embeddings, c.width}, o));
  }
  blocks = register_module("blocks", nn::ModuleList());
  for (int64_t i = 0; i < c.depth; ++i) blocks->push_back(VisionBlock(c, a, o));
  if (a == Arch::Qwen3VL) {
    merger3 = register_module("merger", PatchMerger(c, false, o));
    deepstack_mergers = register_module("deepstack_merger_list", nn::ModuleList());
    for (size_t i = 0; i < c.deepstack_visual_indexes.size(); ++i) deepstack_mergers->push_back(PatchMerger(c, true, o));
    return;
  }
  auto merger = register_module("merger", std::make_shared<nn::Module>());
  const int64_t m2 = c.spatial_merge_size * c.spatial_merge_size, wide = c.width * m2;
  if (a == Arch::Qwen2VL) ln_q = merger->register_module("ln_q", LNorm(c.width, 1e-6, o));
  else rms_q = merger->register_module("ln_q", RMSNorm(c.width, 1e-6, o));
  auto mlp = merger->register_module("mlp", std::make_shared<nn::Module>());
  mlp0 = mlp->register_module("0", Lin(wide, wide, true, o));
  mlp2 = mlp->register_module("2", Lin(wide, c.out_hidden, true, o));
}

void check_grids(const std::vector<Grid>& grids, int64_t rows, int64_t merge) {
  int64_t total = 0;
  for (size_t i = 0; i < grids.size(); ++i) {
    auto [t, h, w] = grids[i];
    if (t < 1 || h < merge || w < merge || h % merge || w % merge)
      throw_coded("ERR_INVALID_ARG", fmt("Expected image_grid_thw[", i, "] = [t >= 1, h, w] with h and w positive multiples of ",
                                         merge, " but received [", t, ", ", h, ", ", w, "]"));
    total += t * h * w;
  }
  if (total != rows)
    throw_coded("ERR_INVALID_ARG", fmt("Expected ", total, " pixel rows (sum of t*h*w over ", grids.size(),
                                       " image grids) but received ", rows));
}

// Patch (row, col) of every pixel row in patchify order: merge blocks in raster order, 2x2 inside.
static torch::Tensor patch_positions(const std::vector<Grid>& grids, int64_t m) {
  std::vector<int64_t> pos;
  for (auto [t, h, w] : grids)
    for (int64_t f = 0; f < t; ++f)
      for (int64_t bh = 0; bh < h / m; ++bh)
        for (int64_t bw = 0; bw < w / m; ++bw)
          for (int64_t mh = 0; mh < m; ++mh)
            for (int64_t mw = 0; mw < m; ++mw) {
              pos.push_back(bh * m + mh);
              pos.push_back(bw * m + mw);
            }
  return torch::tensor(pos, torch::kInt64).view({-1, 2});  // (N, 2)
}

WindowLayout window_layout(const std::vector<Grid>& grids, int64_t window_size, int64_t patch_size, int64_t merge) {
  WindowLayout out;
  out.cu_seqlens.push_back(0);
  const int64_t ws = window_size / merge / patch_size, unit = merge * merge;  // window side in merge blocks
  int64_t base = 0;
  for (auto [t, h, w] : grids) {
    const int64_t lh = h / merge, lw = w / merge;
    const int64_t nh = (lh + ws - lh % ws) / ws, nw = (lw + ws - lw % ws) / ws;  // pad by ws - n%ws (HF)
    for (int64_t f = 0; f < t; ++f)
      for (int64_t wy = 0; wy < nh; ++wy)
        for (int64_t wx = 0; wx < nw; ++wx) {
          int64_t count = 0;
          for (int64_t y = wy * ws; y < std::min(lh, wy * ws + ws); ++y)
            for (int64_t x = wx * ws; x < std::min(lw, wx * ws + ws); ++x, ++count)
              out.index.push_back(base + (f * lh + y) * lw + x);
          if (count) out.cu_seqlens.push_back(out.cu_seqlens.back() + count * unit);
        }
    base += t * lh * lw;
  }
  return out;
}

torch::Tensor VisionTowerImpl::forward(const torch::Tensor& pixels, const std::vector<Grid>& grids,
                                       std::vector<torch::Tensor>* trace, const LayerRunner* run) {
  const int64_t m = cfg.spatial_merge_size, unit = m * m, D = cfg.width;
  check_grids(grids, pixels.size(0), m);
  const auto dev = patch_weight.device();
  const auto dt = patch_weight.scalar_type();
  const int64_t n = pixels.size(0);
  // 1. patch embedding: Conv3d with stride = kernel is a matmul over the 1176-wide rows
  auto x = torch::matmul(pixels.to(dev, dt), patch_weight.reshape({D, -1}).t());  // (N, D)
  if (patch_bias.defined()) x = x + patch_bias;
  if (trace) trace->push_back(x);  // patch embeddings in patchify (raster) order
  if (pos_embed.defined()) {  // Qwen3-VL: learned absolute positions
    auto pe = interpolate_pos_embed(pos_embed, grids, m);  // (N, D)
    if (trace) trace->push_back(pe);
    x = x + pe;
  }
  // 2. 2D rotary table: θ = [row·inv_freq, col·inv_freq], emb = cat(θ, θ)
  const int64_t hd = cfg.head_dim(), dim = hd / 2;
  auto inv = 1.0 / torch::pow(10000.0, torch::arange(0, dim, 2, torch::kFloat32) / double(dim));  // (hd/4)
  auto pos = patch_positions(grids, m).to(torch::kFloat32);                                          // (N, 2)
  auto theta = torch::cat({pos.select(1, 0).unsqueeze(1) * inv, pos.select(1, 1).unsqueeze(1) * inv}, 1);  // (N, hd/2)
  // 3. attention spans: each image frame (full), or windows (Qwen2.5-VL)
  std::vector<int64_t> cu_full{0};
  for (auto [t, h, w] : grids)
    for (int64_t f = 0; f < t; ++f) cu_full.push_back(cu_full.back() + h * w);
  std::vector<int64_t> cu_win;
  torch::Tensor widx;
  if (arch == Arch::Qwen25VL) {
    auto wl = window_layout(grids, cfg.window_size, cfg.patch_size, m);
    cu_win = wl.cu_seqlens;
    widx = torch::tensor(wl.index, torch::kInt64);  // (N/4)
    x = x.view({n / unit, unit, D}).index_select(0, widx.to(dev)).view({n, D});
    theta = theta.view({n / unit, unit, dim}).index_select(0, widx).view({n, dim});
  }
  auto emb = torch::cat({theta, theta}, 1);  // (N, hd) float32
  auto cos = emb.cos().to(dev), sin = emb.sin().to(dev);
  // 4. blocks (Qwen3-VL: DeepStack features from the outputs of deepstack_visual_indexes blocks)
  std::vector<torch::Tensor> deepstack;
  const auto& dsi = cfg.deepstack_visual_indexes;
  for (size_t i = 0; i < blocks->size(); ++i) {
    bool full = arch != Arch::Qwen25VL ||  // Qwen2-VL, Qwen3-VL: full attention per image
                std::find(cfg.fullatt_block_indexes.begin(), cfg.fullatt_block_indexes.end(), int64_t(i)) !=
                    cfg.fullatt_block_indexes.end();
    auto* block = blocks[i]->as<VisionBlock>();
    const auto& cu = full ? cu_full : cu_win;
    if (run)
      x = (*run)(*block, [block, cos, sin, cu](const torch::Tensor& h) { return block->forward(h, cos, sin, cu); }, x);
    else
      x = block->forward(x, cos, sin, cu);
    if (trace) trace->push_back(x);
    if (arch == Arch::Qwen3VL) {
      auto it = std::find(dsi.begin(), dsi.end(), int64_t(i));
      if (it != dsi.end()) deepstack.push_back(deepstack_mergers[it - dsi.begin()]->as<PatchMerger>()->forward(x));  // (N/4, H)
    }
  }
  if (arch == Arch::Qwen3VL) {  // merger output, then the DeepStack features as column blocks
    deepstack.insert(deepstack.begin(), merger3->forward(x));
    return torch::cat(deepstack, 1);  // (N/4, (1 + k)·H)
  }
  // 5. merger: norm, group the 4 rows of a merge block, MLP -> (N/4, H)
  x = arch == Arch::Qwen2VL ? ln_q->forward(x) : rms_q->forward(x);
  x = mlp2->forward(torch::gelu(mlp0->forward(x.view({n / unit, unit * D}))));
  if (arch == Arch::Qwen25VL) x = x.index_select(0, torch::argsort(widx).to(dev));
  return x;
}

}  // namespace vrft::model
