// Qwen2-VL / Qwen2.5-VL top level: image encoding, embedding with image rows spliced in, LM head,
// M-RoPE position ids (get_rope_index), config range checks. See qwen2vl.h.
#include "model/qwen2vl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "common/errors.h"

namespace vrft::model {

static void bad_config(const std::string& field, const std::string& expected, const std::string& found) {
  throw_coded("ERR_CONFIG", fmt("Expected ", expected, " for ", field, " but found ", found));
}

void ModelConfig::check() const {
  auto pos = [](const char* f, int64_t v) { if (v < 1) bad_config(f, "a positive integer", std::to_string(v)); };
  pos("vocab_size", vocab_size);
  pos("hidden_size", hidden_size);
  pos("intermediate_size", intermediate_size);
  pos("num_hidden_layers", num_layers);
  pos("num_attention_heads", num_heads);
  pos("num_key_value_heads", num_kv_heads);
  pos("head_dim", head_dim);
  if (num_heads % num_kv_heads) bad_config("num_key_value_heads", fmt("a divisor of num_attention_heads (", num_heads, ")"), std::to_string(num_kv_heads));
  if (head_dim % 2) bad_config("head_dim", "an even number", std::to_string(head_dim));
  if (mrope_section.size() != 3) bad_config("mrope_section", "3 entries", fmt(mrope_section.size(), " entries"));
  if (mrope_section[0] + mrope_section[1] + mrope_section[2] != head_dim / 2)
    bad_config("mrope_section", fmt("entries summing to head_dim/2 = ", head_dim / 2),
               fmt("[", mrope_section[0], ",", mrope_section[1], ",", mrope_section[2], "]"));
  for (auto [f, v] : {std::pair<const char*, int64_t>{"image_token_id", image_token_id},
                      {"vision_start_token_id", vision_start_token_id}})
    if (v < 0 || v >= vocab_size) bad_config(f, fmt("a token id below vocab_size ", vocab_size), std::to_string(v));
  pos("vision_config.depth", vision.depth);
  pos("vision_config width", vision.width);
  pos("vision_config.num_heads", vision.num_heads);
  pos("vision_config intermediate size", vision.intermediate);
  if (vision.width % vision.num_heads || vision.head_dim() % 4)
    bad_config("vision_config.num_heads", "a divisor of the vision width giving a head size divisible by 4", std::to_string(vision.num_heads));
  if (vision.out_hidden != hidden_size) bad_config("vision_config out hidden size", fmt("the LLM hidden_size ", hidden_size), std::to_string(vision.out_hidden));
  pos("vision_config.spatial_merge_size", vision.spatial_merge_size);
  pos("vision_config.patch_size", vision.patch_size);
  pos("vision_config.temporal_patch_size", vision.temporal_patch_size);
  pos("vision_config.in_channels", vision.in_channels);
  const std::vector<std::string> acts{"quick_gelu", "silu", "gelu", "gelu_pytorch_tanh"};
  if (std::find(acts.begin(), acts.end(), vision.act) == acts.end())
    bad_config("vision_config.hidden_act", "quick_gelu, silu, gelu or gelu_pytorch_tanh", vision.act);
  if (arch == Arch::Qwen25VL) {
    if (vision.window_size < vision.patch_size * vision.spatial_merge_size || vision.window_size % (vision.patch_size * vision.spatial_merge_size))
      bad_config("vision_config.window_size", fmt("a positive multiple of ", vision.patch_size * vision.spatial_merge_size), std::to_string(vision.window_size));
    for (auto i : vision.fullatt_block_indexes)
      if (i < 0 || i >= vision.depth) bad_config("vision_config.fullatt_block_indexes", fmt("indexes below depth ", vision.depth), std::to_string(i));
  }
  if (qwen3()) {
    const auto side = int64_t(std::llround(std::sqrt(double(vision.num_position_embeddings))));
    if (vision.num_position_embeddings < 1 || side * side != vision.num_position_embeddings)
      bad_config("vision_config.num_position_embeddings", "a positive square number", std::to_string(vision.num_position_embeddings));
    if (int64_t(vision.deepstack_visual_indexes.size()) > num_layers)
      bad_config("vision_config.deepstack_visual_indexes", fmt("at most num_hidden_layers (", num_layers, ") entries"),
                 fmt(vision.deepstack_visual_indexes.size(), " entries"));
    for (auto i : vision.deepstack_visual_indexes)
      if (i < 0 || i >= vision.depth) bad_config("vision_config.deepstack_visual_indexes", fmt("indexes below depth ", vision.depth), std::to_string(i));
  }
}

Qwen2VLImpl::Qwen2VLImpl(const ModelConfig& c, const torch::TensorOptions& o) : cfg(c) {
  c.check();
  visual = register_module("visual", VisionTower(c.vision, c.arch, o));
  model = register_module("model", TextModel(c, o));
  if (!c.tie_word_embeddings) {
    auto h = register_module("lm_head", std::make_shared<torch::nn::Module>());
    lm_head = h->register_parameter("weight", torch::empty({c.vocab_size, c.hidden_size}, o));
  }
}

torch::Tensor Qwen2VLImpl::encode_images(const torch::Tensor& pixels, const std::vector<Grid>& grids,
                                         std::vector<torch::Tensor>* trace, const LayerRunner* run) {
  if (pixels.dim() != 2 || pixels.size(1) != cfg.vision.patch_dim())
    throw_coded("ERR_INVALID_ARG", fmt("Expected pixel values of shape [N, ", cfg.vision.patch_dim(), "] but received ", pixels.sizes()));
  return visual->forward(pixels, grids, trace, run);
}

torch::Tensor Qwen2VLImpl::head_weight() const { return lm_head.defined() ? lm_head : model->embed_tokens; }

torch::Tensor Qwen2VLImpl::embed(const torch::Tensor& ids, const torch::Tensor& image_embeds) {
  auto x = model->embed(ids);  // (B, T, H)
  auto is_img = (ids == cfg.image_token_id).to(x.device());  // (B, T)
  const int64_t n_tok = is_img.sum().item<int64_t>();
  const int64_t n_emb = image_embeds.defined() ? image_embeds.size(0) : 0;
  if (n_tok != n_emb)
    throw_coded("ERR_INVALID_ARG", fmt("Expected as many image tokens (id ", cfg.image_token_id, ") as image embeddings (",
                                       n_emb, ") but the prompts hold ", n_tok));
  if (n_tok == 0) return x;
  // Qwen3-VL: image_embeds (N_img, (1 + k)·H) carry the DeepStack features as column blocks; x widens to
  // (B, T, (1 + k)·H) with zeros outside the image rows (see TextModelImpl::forward)
  x = widen_embeds(x, image_embeds.size(1));
  return x.masked_scatter(is_img.unsqueeze(-1).expand_as(x), image_embeds.to(x.scalar_type()));
}

RopeIndex get_rope_index(const ModelConfig& c, const torch::Tensor& ids_, const torch::Tensor& mask_,
                         const std::vector<Grid>& grids) {
  auto ids = ids_.to(torch::kCPU, torch::kInt64).contiguous();
  auto mask = mask_.defined() ? mask_.to(torch::kCPU, torch::kInt64).contiguous() : torch::ones_like(ids);
  const int64_t B = ids.size(0), T = ids.size(1), m = c.vision.spatial_merge_size;
  int64_t rows = 0;
  for (auto [t, h, w] : grids) rows += t * h * w;
  check_grids(grids, rows, m);  // shapes only: t >= 1, h and w multiples of the merge size
  auto pos = torch::ones({3, B, T}, torch::kInt64);
  auto deltas = torch::zeros({B}, torch::kInt64);
  auto P = pos.accessor<int64_t, 3>();
  auto I = ids.accessor<int64_t, 2>();
  auto M = mask.accessor<int64_t, 2>();
  size_t g = 0;  // next image grid
  for (int64_t b = 0; b < B; ++b) {
    std::vector<int64_t> cols;  // unpadded token columns
    for (int64_t j = 0; j < T; ++j)
      if (M[b][j]) cols.push_back(j);
    const int64_t n = cols.size();
    int64_t next = 0;  // max position so far + 1
    int64_t i = 0;
    while (i < n) {
      if (I[b][cols[i]] != c.image_token_id) {
        for (int a = 0; a < 3; ++a) P[a][b][cols[i]] = next;
        ++next, ++i;
        continue;
      }
      if (g >= grids.size())
        throw_coded("ERR_INVALID_ARG", fmt("Expected one image per run of image tokens but prompt ", b, " has an image token run at ",
                                           cols[i], " beyond the ", grids.size(), " image(s) given"));
      auto [t, h, w] = grids[g];
      const int64_t lh = h / m, lw = w / m, need = t * lh * lw;
      int64_t run = 0;
      while (i + run < n && I[b][cols[i + run]] == c.image_token_id) ++run;
      if (run != need)
        throw_coded("ERR_INVALID_ARG", fmt("Expected ", need, " image tokens for image ", g, " (grid ", t, "x", h, "x", w, " / ", m * m,
                                           ") but prompt ", b, " has a run of ", run, " at column ", cols[i]));
      const int64_t s = next;
      int64_t mx = s - 1;
      for (int64_t k = 0; k < need; ++k) {
        const int64_t tt = c.arch == Arch::Qwen25VL ? 0 : k / (lh * lw), hh = (k / lw) % lh, ww = k % lw;
        const int64_t col = cols[i + k];
        P[0][b][col] = s + tt, P[1][b][col] = s + hh, P[2][b][col] = s + ww;
        mx = std::max({mx, s + tt, s + hh, s + ww});
      }
      next = mx + 1;
      i += need;
      ++g;
    }
    deltas[b] = next - T;
  }
  if (g != grids.size())
    throw_coded("ERR_INVALID_ARG", fmt("Expected ", grids.size(), " image token runs (one per image) but the prompts hold ", g));
  return {pos, deltas};
}

torch::Tensor decode_positions(const torch::Tensor& rope_deltas, int64_t start, int64_t n) {
  auto idx = torch::arange(start, start + n, rope_deltas.options().dtype(torch::kInt64)).view({1, n});
  auto p = idx + rope_deltas.to(torch::kInt64).view({-1, 1});  // (B, n)
  return p.unsqueeze(0).expand({3, p.size(0), n}).contiguous();    // (3, B, n)
}

}  // namespace vrft::model
