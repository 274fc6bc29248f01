// Qwen2-VL / Qwen2.5-VL / Qwen3-VL for conditional generation: the C++ API the forward binding, generation and GRPO
// build on. Registered names equal the HF checkpoint keys: "visual.*", "model.*", "lm_head.weight" (absent
// when tied). Typical use:
//   auto m = load_model(dir, cfg, torch::kBFloat16, torch::kCUDA);
//   auto img = m->encode_images(pixels, grids);                 // (N/4, H)
//   auto emb = m->embed(ids, img);                              // (B, T, H), image pads replaced in order
//   auto rp  = get_rope_index(cfg, ids, mask, grids);           // position_ids (3, B, T), deltas (B)
//   auto kv  = KVCache::allocate(cfg, B, T + max_new, opts);    // optional
//   auto hid = m->model->forward(emb, rp.position_ids, mask, &kv, 0);   // (B, T, H)
//   auto lg  = m->head(hid.narrow(1, T - 1, 1));                // (B, 1, V)
// Decode step for the token at absolute index p: position p + delta on all 3 axes (decode_positions).
#pragma once
#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "model/config.h"
#include "model/text.h"
#include "model/vision.h"

namespace vrft::model {

struct Qwen2VLImpl : torch::nn::Module {
  ModelConfig cfg;
  VisionTower visual{nullptr};
  TextModel model{nullptr};
  torch::Tensor lm_head;  // lm_head.weight (V, H); undefined when tied (head uses model.embed_tokens.weight)
  Qwen2VLImpl(const ModelConfig& c, const torch::TensorOptions& o);

  // pixels (N, 1176) float (any dtype/device), grids one (t, h, w) per image -> (Σ t·h·w/4, H).
  torch::Tensor encode_images(const torch::Tensor& pixels, const std::vector<Grid>& grids,
                              std::vector<torch::Tensor>* trace = nullptr, const LayerRunner* run = nullptr);
  // ids (B, T) int64; image_embeds (N_img, H) or undefined. Rows where id == image_token_id are replaced,
  // in row-major order, by image_embeds rows; the counts must match exactly (ERR_INVALID_ARG otherwise).
  // -> (B, T, H), differentiable w.r.t. the embedding table and image_embeds. Qwen3-VL with images:
  // image_embeds (N_img, (1 + k)·H) from encode_images -> (B, T, (1 + k)·H), the DeepStack blocks zero
  // outside image rows (TextModelImpl::forward adds them after the first k layers).
  torch::Tensor embed(const torch::Tensor& ids, const torch::Tensor& image_embeds);
  // The LM head weight (V, H): lm_head.weight, or embed_tokens.weight when tied.
  torch::Tensor head_weight() const;
  // hidden (..., H) -> logits (..., V) in hidden's dtype. For log-probs over long sequences call it on
  // chunks of positions (never B×T×V at once).
  torch::Tensor head(const torch::Tensor& hidden) const { return model::linear(hidden, head_weight(), {}, head_pack.get()); }
  std::shared_ptr<PackedWeight> head_pack = new_packed_weight();  // the decode kernel's copy of head_weight()
};
TORCH_MODULE(Qwen2VL);

// ---- M-RoPE position ids (HF get_rope_index, images only) ----
struct RopeIndex {
  torch::Tensor position_ids;  // (3, B, T) int64, CPU; padding positions = 1
  torch::Tensor rope_deltas;   // (B) int64: max position + 1 − T (T = padded length)
};
// ids, mask (B, T) int64 CPU (left padding: mask 0 = pad). grids: all images of the batch, in order
// (sample 0's images first). Errors (ERR_INVALID_ARG): an image's run of image tokens has the wrong
// length, more image runs than grids, grids left over, image tokens without a grid.
RopeIndex get_rope_index(const ModelConfig& c, const torch::Tensor& ids, const torch::Tensor& mask,
                         const std::vector<Grid>& grids);
// Positions (3, B, n) for tokens at absolute indices [start, start + n): start + i + delta[b] on all axes.
torch::Tensor decode_positions(const torch::Tensor& rope_deltas, int64_t start, int64_t n);

// ---- loading, init, counting ----
// Builds the model on dtype/device and fills it from a HF directory (model.safetensors or shards, either
// naming scheme), tensor by tensor from the memory map: on the CPU a tensor stored in `dtype` becomes the
// parameter without a copy (the private copy-on-write mapping), any other is converted. Errors: ERR_WEIGHTS_MISSING /
// ERR_WEIGHTS_UNEXPECTED / ERR_WEIGHTS_SHAPE naming the tensor(s).
Qwen2VL load_model(const std::string& dir, const ModelConfig& c, c10::ScalarType dtype, c10::Device device);
// Number of parameters (tied embedding counted once), computed on the meta device (no memory).
int64_t parameter_count(const ModelConfig& c);
// Writes a randomly initialized checkpoint (biases 0.1·z, norm scales 1 + 0.1·z, matrices z/√fan_in,
// embeddings z/√H) into dir: model.safetensors, or model-0000i-of-0000n.safetensors + index when larger
// than max_shard_bytes. Tensors are generated one at a time (peak memory ≈ one shard).
void write_random_checkpoint(const std::string& dir, const ModelConfig& c, uint64_t seed, c10::ScalarType dtype,
                             uint64_t max_shard_bytes);
// Maps a checkpoint key to the model's name ("model.visual.x" -> "visual.x", "model.language_model.x" ->
// "model.x"; others unchanged).
std::string canonical_key(const std::string& key);

}  // namespace vrft::model
