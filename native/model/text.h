// The Qwen2 decoder of Qwen2-VL / Qwen2.5-VL (module names = HF keys under "model."): embed_tokens,
// layers.N.{self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, input_layernorm, post_attention_layernorm},
// norm. M-RoPE over 3 position axes, grouped-query attention, optional preallocated KV cache.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/config.h"
#include "model/layers.h"

namespace vrft::model {

// Preallocated KV cache. Per layer l: k[l], v[l] of shape (B, kv_heads, max_len, head_dim) in the model's
// dtype/device; keys are stored already rotated (M-RoPE applied). `length` = number of filled positions
// (the same for every row: rows are left padded, padding is excluded by the key mask).
// Use it under torch::NoGradGuard / InferenceMode: forward writes into it in place.
struct KVCache {
  std::vector<torch::Tensor> k, v;
  int64_t length = 0;
  int64_t max_len() const { return k.empty() ? 0 : k[0].size(2); }
  int64_t batch() const { return k.empty() ? 0 : k[0].size(0); }
  // Zeros, (batch, kv_heads, max_len, head_dim) per layer.
  static KVCache allocate(const ModelConfig& c, int64_t batch, int64_t max_len, const torch::TensorOptions& o);
  // Repeat every row `times` times along the batch (row b -> rows b*times .. b*times+times-1): after one
  // prefill of B prompts, G samples each share the prompt's keys. New max_len may be larger (copied into
  // a fresh allocation) or -1 to keep it.
  KVCache expand(int64_t times, int64_t new_max_len = -1) const;
};

// M-RoPE cos/sin: position_ids (3, B, T) int64 -> cos, sin (B, T, head_dim) float32. Dimension d uses
// frequency j = d mod head_dim/2, inv_freq[j] = θ^(-2j/head_dim), of the axis mrope_axis(c, j).
std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const ModelConfig& c, const torch::Tensor& position_ids);
// The position axis (0 t, 1 h, 2 w) of rotary frequency j. Qwen2-VL/2.5-VL: sections in a row, t (j < s0),
// h (j < s0+s1), w. Qwen3-VL (interleaved, HF apply_interleaved_mrope): j % 3 == 1 and j < 3·s1 -> h,
// j % 3 == 2 and j < 3·s2 -> w, every other j -> t ([4,2,2]: t,h,w,t,h,w,t,t).
int64_t mrope_axis(const ModelConfig& c, int64_t j);

// Zero-pads embeddings (..., H) on the last axis to `width` (see TextModelImpl::forward: DeepStack
// channels); returns e itself when it is that wide already.
torch::Tensor widen_embeds(const torch::Tensor& e, int64_t width);

struct DecoderLayerImpl : torch::nn::Module {
  Lin q_proj{nullptr}, k_proj{nullptr}, v_proj{nullptr}, o_proj{nullptr};
  Lin gate_proj{nullptr}, up_proj{nullptr}, down_proj{nullptr};
  RMSNorm input_layernorm{nullptr}, post_attention_layernorm{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};  // Qwen3 (self_attn.q_norm / k_norm over head_dim); null otherwise
  int64_t heads, kv_heads, head_dim;
  DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o);
  // x (B, T, H); cos/sin (B, 1, T, d) in x's dtype; allowed (B, 1, T, L) bool with L = start_pos + T.
  // cache: nullptr (keys of this call only; start_pos must be 0) or the cache whose layer `layer` is
  // written at [start_pos, start_pos + T). -> (B, T, H). Pure apart from the cache write.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& allowed, KVCache* cache, int64_t layer, int64_t start_pos);
  // Shared prompts: xp (U, Tp, H) prompt rows attend among themselves (allowed_p (U|1, 1, Tp, Tp)); xc (B, L, H)
  // continuation rows, row b following prompt rows[b], attend to that prompt's keys and their own
  // (allowed_c (B, 1, L, Tp + L)). Differentiable (no cache): each prompt's K/V are computed once.
  // -> (xp', xc').
  std::pair<torch::Tensor, torch::Tensor> forward_shared(const torch::Tensor& xp, const torch::Tensor& cos_p, const torch::Tensor& sin_p,
                                                         const torch::Tensor& allowed_p, const torch::Tensor& xc,
                                                         const torch::Tensor& cos_c, const torch::Tensor& sin_c,
                                                         const torch::Tensor& allowed_c, const torch::Tensor& rows);

 private:
  // rotated q (B, nh, T, d), k, v (B, nkv, T, d) of x (B, T, H)
  std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> qkv(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin);
  // grouped-query attention of q over k/v (B, nkv, L, d) -> (B, T, nh·d)
  torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v, const torch::Tensor& allowed);
  // output projection, residual, MLP: x (B, T, H), a (B, T, nh·d) -> (B, T, H)
  torch::Tensor finish(const torch::Tensor& x, const torch::Tensor& a);
};
TORCH_MODULE(DecoderLayer);

struct TextModelImpl : torch::nn::Module {
  ModelConfig cfg;
  torch::Tensor embed_tokens;  // embed_tokens.weight (V, H)
  torch::nn::ModuleList layers;
  RMSNorm norm{nullptr};
  TextModelImpl(const ModelConfig& c, const torch::TensorOptions& o);
  // ids (B, T) int64 -> (B, T, H)
  torch::Tensor embed(const torch::Tensor& ids) { return torch::embedding(embed_tokens, ids.to(embed_tokens.device())); }
  // embeds (B, T, H), or (B, T, (1 + k)·H) for Qwen3-VL prompts with images: channel block 1 + l holds the
  // DeepStack feature added to the hidden states after decoder layer l (zero outside image positions, so
  // adding it everywhere is exact), as Qwen2VLImpl::embed makes them. Decode-step embeddings are plain
  // (B, T, H): DeepStack enters with the prompt only. position_ids (3, B, T) int64; key_mask
  // (B, start_pos + T) (1 = real token, 0 = padding) or undefined (all real); causal attention over cached
  // + new keys. With a cache, writes the new keys at [start_pos, start_pos + T) and sets cache->length =
  // start_pos + T. -> hidden after the final norm (B, T, H). run (optional): how each layer runs (see
  // LayerRunner; not with a cache).
  torch::Tensor forward(const torch::Tensor& embeds, const torch::Tensor& position_ids, const torch::Tensor& key_mask,
                        KVCache* cache = nullptr, int64_t start_pos = 0, std::vector<torch::Tensor>* trace = nullptr,
                        const LayerRunner* run = nullptr);
  // embeds (..., (1 + k)·H) -> the hidden part (..., H) and the k DeepStack blocks (views).
  std::pair<torch::Tensor, std::vector<torch::Tensor>> split_deepstack(const torch::Tensor& embeds) const;
  // Prompts shared by several continuations, differentiable: prompt embeds (U, Tp, H), positions (3, U, Tp),
  // mask (U, Tp) (left padding); continuation embeds (B, L, H), positions (3, B, L), mask (B, L) (right
  // padding), row b following prompt rows[b] (B). Equals forward() on each row's prompt + continuation.
  // -> (prompt hidden (U, Tp, H), continuation hidden (B, L, H)), after the final norm. run: as forward().
  std::pair<torch::Tensor, torch::Tensor> forward_shared(const torch::Tensor& embeds_p, const torch::Tensor& pos_p,
                                                         const torch::Tensor& mask_p, const torch::Tensor& embeds_c,
                                                         const torch::Tensor& pos_c, const torch::Tensor& mask_c,
                                                         const torch::Tensor& rows, const LayerRunner* run = nullptr);
};
TORCH_MODULE(TextModel);

}  // namespace vrft::model
