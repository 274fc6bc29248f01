// Vision tower of Qwen2-VL and Qwen2.5-VL (module names = HF keys under "visual."):
//   patch_embed.proj (Conv3d as a matmul over 1176-wide patch rows) -> 2D rotary -> blocks -> merger.
// Qwen2-VL blocks: LayerNorm, full attention per image, fc1/fc2 MLP (QuickGELU). Qwen2.5-VL blocks:
// RMSNorm, window attention (full in fullatt_block_indexes), SwiGLU MLP; rows run in window order and
// the merger output is permuted back to raster order.
#pragma once
#include <torch/torch.h>

#include <array>
#include <vector>

#include "model/config.h"
#include "model/layers.h"

namespace vrft::model {

using Grid = std::array<int64_t, 3>;  // image_grid_thw: (t, h, w) in patches

struct VisionAttentionImpl : torch::nn::Module {
  Lin qkv{nullptr}, proj{nullptr};
  int64_t heads;
  VisionAttentionImpl(const VisionConfig& c, const torch::TensorOptions& o);
  // x (N, D); cos/sin (N, head_dim) float32; attention inside each [cu[i], cu[i+1]) only. -> (N, D)
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& cu);
};
TORCH_MODULE(VisionAttention);

struct VisionBlockImpl : torch::nn::Module {
  LNorm ln1{nullptr}, ln2{nullptr};       // "norm1"/"norm2": LayerNorm (Qwen2-VL)
  RMSNorm rms1{nullptr}, rms2{nullptr};   // "norm1"/"norm2": RMSNorm (Qwen2.5-VL)
  VisionAttention attn{nullptr};
  // MLP: fc1/fc2 (Qwen2-VL) or gate_proj/up_proj/down_proj (Qwen2.5-VL), all with bias
  Lin fc1{nullptr}, fc2{nullptr}, gate{nullptr}, up{nullptr}, down{nullptr};
  std::string act;
  VisionBlockImpl(const VisionConfig& c, Arch arch, const torch::TensorOptions& o);
  // x (N, D) -> (N, D). A pure function of its inputs (ready for per-block gradient checkpointing).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const std::vector<int64_t>& cu);
};
TORCH_MODULE(VisionBlock);

// Qwen3-VL patch merger ("merger", "deepstack_merger_list.i"): LayerNorm over D before the 2×2 shuffle
// (merger) or over 4D after it (DeepStack mergers), then linear_fc1, GELU, linear_fc2: (N, D) -> (N/4, H).
struct PatchMergerImpl : torch::nn::Module {
  LNorm norm{nullptr};
  Lin fc1{nullptr}, fc2{nullptr};
  int64_t unit;
  bool postshuffle;
  PatchMergerImpl(const VisionConfig& c, bool postshuffle_norm, const torch::TensorOptions& o);
  torch::Tensor forward(const torch::Tensor& x);
};
TORCH_MODULE(PatchMerger);

// Qwen3-VL learned position embeddings: the (side × side, D) table `pos_embed` bilinearly interpolated to
// each image's (h, w) patch grid (HF fast_pos_embed_interpolate: linspace(0, side − 1, h) corners, float32
// weights), repeated over t frames, in patchify order (merge blocks in raster order, 2×2 inside) -> (N, D).
torch::Tensor interpolate_pos_embed(const torch::Tensor& table, const std::vector<Grid>& grids, int64_t merge);

struct VisionTowerImpl : torch::nn::Module {
  VisionConfig cfg;
  Arch arch;
  torch::Tensor patch_weight;  // patch_embed.proj.weight (D, C, tp, p, p)
  torch::Tensor patch_bias;    // patch_embed.proj.bias (D): Qwen3-VL only
  torch::Tensor pos_embed;     // pos_embed.weight (num_position_embeddings, D): Qwen3-VL only
  torch::nn::ModuleList blocks;
  LNorm ln_q{nullptr};         // merger.ln_q (Qwen2-VL)
  RMSNorm rms_q{nullptr};      // merger.ln_q (Qwen2.5-VL)
  Lin mlp0{nullptr}, mlp2{nullptr};  // merger.mlp.0 (4D -> 4D), merger.mlp.2 (4D -> H)
  PatchMerger merger3{nullptr};      // merger (Qwen3-VL)
  torch::nn::ModuleList deepstack_mergers{nullptr};  // deepstack_merger_list (Qwen3-VL)
  VisionTowerImpl(const VisionConfig& c, Arch arch, const torch::TensorOptions& o);
  // pixels (N, 1176) in any float dtype, grids: one (t, h, w) per image with N = Σ t·h·w.
  // Returns image embeddings (N/4, H) in raster order of merge blocks, image after image; for Qwen3-VL
  // (N/4, (1 + k)·H): the merger output, then the k DeepStack features (one per deepstack_visual_indexes
  // block, in block order) as further column blocks.
  // trace (optional, debugging/tests): the patch embeddings (N, D) in patchify order (Qwen3-VL: then the
  // interpolated position embeddings), then each block's output (N, D) in the row order the blocks see
  // (window order for Qwen2.5-VL).
  // run (optional): how each block runs (see LayerRunner).
  torch::Tensor forward(const torch::Tensor& pixels, const std::vector<Grid>& grids,
                        std::vector<torch::Tensor>* trace = nullptr, const LayerRunner* run = nullptr);
};
TORCH_MODULE(VisionTower);

// Qwen2.5-VL window layout over merge blocks: permutation (index into the N/4 merge blocks) and the
// cumulative patch-row boundaries of the windows (empty windows dropped). Exposed for tests.
struct WindowLayout {
  std::vector<int64_t> index;
  std::vector<int64_t> cu_seqlens;
};
WindowLayout window_layout(const std::vector<Grid>& grids, int64_t window_size, int64_t patch_size,
                           int64_t merge);

// Checks grids against the pixel rows (ERR_INVALID_ARG naming the image on mismatch).
void check_grids(const std::vector<Grid>& grids, int64_t rows, int64_t merge);

}  // namespace vrft::model
