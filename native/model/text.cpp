// Qwen2 decoder with M-RoPE, GQA and a preallocated KV cache (see text.h). Shapes: B batch, T new tokens,
// L = start_pos + T keys, H hidden, nh query heads, nkv kv heads, d head_dim.
#include "model/text.h"

#include "common/errors.h"

namespace vrft::model {

KVCache KVCache::allocate(const ModelConfig& c, int64_t batch, int64_t max_len, const torch::TensorOptions& o) {
  KVCache kv;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    kv.k.push_back(torch::zeros({batch, c.num_kv_heads, max_len, c.head_dim}, o));
    kv.v.push_back(torch::zeros({batch, c.num_kv_heads, max_len, c.head_dim}, o));
  }
  return kv;
}

KVCache KVCache::expand(int64_t times, int64_t new_max_len) const {
  KVCache out;
  out.length = length;
  for (size_t l = 0; l < k.size(); ++l) {
    for (int which = 0; which < 2; ++which) {
      const auto& src = which ? v[l] : k[l];  // (B, nkv, max, d)
      const int64_t ml = new_max_len < 0 ? src.size(2) : new_max_len;
      if (ml < length) throw_range(fmt("Expected a cache length >= ", length, " but received ", ml));
      auto dst = torch::zeros({src.size(0) * times, src.size(1), ml, src.size(3)}, src.options());
      dst.narrow(2, 0, length).copy_(src.narrow(2, 0, length).repeat_interleave(times, 0));
      (which ? out.v : out.k).push_back(dst);
    }
  }
  return out;
}

int64_t mrope_axis(const ModelConfig& c, int64_t j) {
  const auto& s = c.mrope_section;
  if (c.qwen3()) return j % 3 == 1 && j < 3 * s[1] ? 1 : j % 3 == 2 && j < 3 * s[2] ? 2 : 0;
  return j < s[0] ? 0 : j < s[0] + s[1] ? 1 : 2;
}

torch::Tensor widen_embeds(const torch::Tensor& e, int64_t width) {
  const int64_t H = e.size(-1);
  if (H == width) return e;
  auto shape = e.sizes().vec();
  shape.back() = width - H;
  return torch::cat({e, torch::zeros(shape, e.options())}, -1);
}

std::pair<torch::Tensor, torch::Tensor> mrope_cos_sin(const ModelConfig& c, const torch::Tensor& position_ids) {
  const int64_t half = c.head_dim / 2;
  auto inv = 1.0 / torch::pow(c.rope_theta, torch::arange(0, c.head_dim, 2, torch::kFloat32) / double(c.head_dim));  // (d/2)
  std::vector<int64_t> axis(c.head_dim);
  for (int64_t dd = 0; dd < c.head_dim; ++dd) axis[dd] = mrope_axis(c, dd % half);
  auto dev = position_ids.device();
  auto pos = position_ids.to(torch::kFloat32).permute({1, 2, 0});                         // (B, T, 3)
  auto sel = pos.index_select(2, torch::tensor(axis, torch::kInt64).to(dev));             // (B, T, d)
  auto freqs = sel * torch::cat({inv, inv}).to(dev);                                      // (B, T, d)
  return {freqs.cos(), freqs.sin()};
}

DecoderLayerImpl::DecoderLayerImpl(const ModelConfig& c, const torch::TensorOptions& o)
    : heads(c.num_heads), kv_heads(c.num_kv_heads), head_dim(c.head_dim) {
  auto attn = register_module("self_attn", std::make_shared<torch::nn::Module>());
  const bool qkv_bias = !c.qwen3();  // Qwen2: q/k/v biases; Qwen3: none, per-head q_norm/k_norm instead
  q_proj = attn->register_module("q_proj", Lin(c.hidden_size, c.num_heads * c.head_dim, qkv_bias, o));
  k_proj = attn->register_module("k_proj", Lin(c.hidden_size, c.num_kv_heads * c.head_dim, qkv_bias, o));
  v_proj = attn->register_module("v_proj", Lin(c.hidden_size, c.num_kv_heads * c.head_dim, qkv_bias, o));
  o_proj = attn->register_module("o_proj", Lin(c.num_heads * c.head_dim, c.hidden_size, false, o));
  if (c.qwen3()) {
    q_norm = attn->register_module("q_norm", RMSNorm(c.head_dim, c.rms_norm_eps, o));
    k_norm = attn->register_module("k_norm", RMSNorm(c.head_dim, c.rms_norm_eps, o));
  }
  auto mlp = register_module("mlp", std::make_shared<torch::nn::Module>());
  gate_proj = mlp->register_module("gate_proj", Lin(c.hidden_size, c.intermediate_size, false, o));
  up_proj = mlp->register_module("up_proj", Lin(c.hidden_size, c.intermediate_size, false, o));
  down_proj = mlp->register_module("down_proj", Lin(c.intermediate_size, c.hidden_size, false, o));
  input_layernorm = register_module("input_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
  post_attention_layernorm = register_module("post_attention_layernorm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
}

std::tuple<torch::Tensor, torch::Tensor, torch::Tensor> DecoderLayerImpl::qkv(const torch::Tensor& x, const torch::Tensor& cos,
                                                                           const torch::Tensor& sin) {
  const int64_t B = x.size(0), T = x.size(1);
  auto y = input_layernorm->forward(x);
  auto q = q_proj->forward(y).view({B, T, heads, head_dim});     // (B, T, nh, d)
  auto k = k_proj->forward(y).view({B, T, kv_heads, head_dim});  // (B, T, nkv, d)
  if (!q_norm.is_empty()) q = q_norm->forward(q), k = k_norm->forward(k);
  q = q.transpose(1, 2), k = k.transpose(1, 2);                  // (B, nh|nkv, T, d)
  auto v = v_proj->forward(y).view({B, T, kv_heads, head_dim}).transpose(1, 2);  // (B, nkv, T, d)
  return {q * cos + rotate_half(q) * sin, k * cos + rotate_half(k) * sin, v};
}

torch::Tensor DecoderLayerImpl::attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                       const torch::Tensor& allowed) {
  const int64_t B = q.size(0), T = q.size(2);
  // Grouped-query attention without copying K/V per query head: query head i uses kv head i / rep, so the
  // rep query heads of a group are stacked along the query axis, (B, nkv, rep·T, d), and all attend to the
  // group's one (B, nkv, L, d) key/value block; row r·T + t of the group uses the mask row of token t.
  const int64_t rep = heads / kv_heads;
  torch::Tensor a;
  if (rep > 1) {
    auto qg = q.reshape({B, kv_heads, rep * T, head_dim});                              // (B, nkv, rep·T, d)
    auto mg = allowed.size(2) == 1 ? allowed : allowed.repeat({1, 1, rep, 1});          // (B|1, 1, rep·T|1, L)
    a = attention(qg, k, v, mg).reshape({B, heads, T, head_dim});  // (B, nh, T, d); SDPA may return a strided view
  } else {
    a = attention(q, k, v, allowed);                                                    // (B, nh, T, d)
  }
  return a.transpose(1, 2).reshape({B, T, heads * head_dim});  // (B, T, nh·d)
}

torch::Tensor DecoderLayerImpl::finish(const torch::Tensor& x, const torch::Tensor& a) {
  auto h = x + o_proj->forward(a);
  auto z = post_attention_layernorm->forward(h);
  return h + down_proj->forward(torch::silu(gate_proj->forward(z)) * up_proj->forward(z));  // (B, T, H)
}

torch::Tensor DecoderLayerImpl::forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                                        const torch::Tensor& allowed, KVCache* cache, int64_t layer, int64_t start_pos) {
  const int64_t T = x.size(1);
  auto [q, k, v] = qkv(x, cos, sin);
  if (cache) {
    cache->k[layer].narrow(2, start_pos, T).copy_(k);
    cache->v[layer].narrow(2, start_pos, T).copy_(v);
    k = cache->k[layer].narrow(2, 0, start_pos + T);  // (B, nkv, L, d)
    v = cache->v[layer].narrow(2, 0, start_pos + T);
  }
  return finish(x, attend(q, k, v, allowed));
}

std::pair<torch::Tensor, torch::Tensor> DecoderLayerImpl::forward_shared(
    const torch::Tensor& xp, const torch::Tensor& cos_p, const torch::Tensor& sin_p, const torch::Tensor& allowed_p,
    const torch::Tensor& xc, const torch::Tensor& cos_c, const torch::Tensor& sin_c, const torch::Tensor& allowed_c,
    const torch::Tensor& rows) {
  auto [qp, kp, vp] = qkv(xp, cos_p, sin_p);  // (U, ., Tp, d)
  auto [qc, kc, vc] = qkv(xc, cos_c, sin_c);  // (B, ., L, d)
  auto k = torch::cat({kp.index_select(0, rows), kc}, 2);  // (B, nkv, Tp + L, d)
  auto v = torch::cat({vp.index_select(0, rows), vc}, 2);
  return {finish(xp, attend(qp, kp, vp, allowed_p)), finish(xc, attend(qc, k, v, allowed_c))};
}

TextModelImpl::TextModelImpl(const ModelConfig& c, const torch::TensorOptions& o) : cfg(c) {
  auto emb = register_module("embed_tokens", std::make_shared<torch::nn::Module>());
  embed_tokens = emb->register_parameter("weight", torch::empty({c.vocab_size, c.hidden_size}, o));
  layers = register_module("layers", torch::nn::ModuleList());
  for (int64_t i = 0; i < c.num_layers; ++i) layers->push_back(DecoderLayer(c, o));
  norm = register_module("norm", RMSNorm(c.hidden_size, c.rms_norm_eps, o));
}

// allowed[b, i, j] = key j (of start + T) is not after query i (absolute index start + i) and is a real
// token (key_mask (B, start + T) bool, or undefined = all real); a query always sees itself, so rows of
// padding never have an empty softmax. -> (B|1, T, start + T)
static torch::Tensor causal_allowed(int64_t start, int64_t T, const torch::Tensor& key_mask, const torch::Device& dev) {
  const int64_t L = start + T;
  auto qi = torch::arange(start, L, torch::TensorOptions().dtype(torch::kInt64).device(dev)).view({T, 1});
  auto kj = torch::arange(0, L, torch::TensorOptions().dtype(torch::kInt64).device(dev)).view({1, L});
  auto allowed = (kj <= qi).unsqueeze(0);  // (1, T, L)
  if (!key_mask.defined()) return allowed;
  return allowed.logical_and(key_mask.unsqueeze(1)).logical_or((kj == qi).unsqueeze(0));  // (B, T, L)
}

// M-RoPE tables of position_ids (3, B, T) in `like`'s dtype and device: cos, sin (B, 1, T, d).
static std::pair<torch::Tensor, torch::Tensor> rope_tables(const ModelConfig& c, const torch::Tensor& position_ids, const torch::Tensor& like) {
  auto [cos, sin] = mrope_cos_sin(c, position_ids.to(like.device()));
  return {cos.to(like.scalar_type()).unsqueeze(1), sin.to(like.scalar_type()).unsqueeze(1)};
}

std::pair<torch::Tensor, std::vector<torch::Tensor>> TextModelImpl::split_deepstack(const torch::Tensor& embeds) const {
  const int64_t H = cfg.hidden_size, W = embeds.size(-1);
  if (W == H) return {embeds, {}};
  if (W % H || W / H - 1 > cfg.num_layers)
    throw_arg(fmt("Expected embeddings of width ", H, " (+ up to ", cfg.num_layers, " DeepStack blocks of ", H, ") but received width ", W));
  std::vector<torch::Tensor> ds;
  for (int64_t i = 1; i < W / H; ++i) ds.push_back(embeds.narrow(-1, i * H, H));
  return {embeds.narrow(-1, 0, H), ds};
}

torch::Tensor TextModelImpl::forward(const torch::Tensor& embeds, const torch::Tensor& position_ids,
                                     const torch::Tensor& key_mask, KVCache* cache, int64_t start_pos,
                                     std::vector<torch::Tensor>* trace, const LayerRunner* run) {
  const int64_t B = embeds.size(0), T = embeds.size(1), L = start_pos + T;
  const auto dev = embeds.device();
  if (position_ids.dim() != 3 || position_ids.size(0) != 3 || position_ids.size(1) != B || position_ids.size(2) != T)
    throw_arg(fmt("Expected position_ids of shape [3, ", B, ", ", T, "] but received ", position_ids.sizes()));
  if (!cache && start_pos != 0) throw_arg(fmt("Expected start_pos 0 without a KV cache but received ", start_pos));
  if (cache && run) throw_arg("Expected no layer runner with a KV cache (a runner may re-run layers, which would write the cache twice)");
  if (cache && (cache->batch() != B || L > cache->max_len() || (int64_t)cache->k.size() != cfg.num_layers))
    throw_arg(fmt("Expected a KV cache for ", B, " rows and >= ", L, " positions but received one for ", cache->batch(),
                  " rows and ", cache->max_len(), " positions"));
  auto [cos, sin] = rope_tables(cfg, position_ids, embeds);  // (B, 1, T, d)
  if (key_mask.defined() && (key_mask.dim() != 2 || key_mask.size(0) != B || key_mask.size(1) != L))
    throw_arg(fmt("Expected an attention mask of shape [", B, ", ", L, "] but received ", key_mask.sizes()));
  auto allowed = causal_allowed(start_pos, T, key_mask.defined() ? key_mask.to(dev).to(torch::kBool) : key_mask, dev).unsqueeze(1);  // (B|1, 1, T, L)
  torch::Tensor x;
  std::vector<torch::Tensor> deepstack;  // Qwen3-VL: added after layers 0 .. k-1
  std::tie(x, deepstack) = split_deepstack(embeds);
  if (trace) trace->push_back(x);
  for (size_t l = 0; l < layers->size(); ++l) {
    auto* layer = layers[l]->as<DecoderLayer>();
    if (run)
      x = (*run)(*layer, [layer, cos = cos, sin = sin, allowed, l](const torch::Tensor& h) {
        return layer->forward(h, cos, sin, allowed, nullptr, int64_t(l), 0);
      }, x);
    else
      x = layer->forward(x, cos, sin, allowed, cache, int64_t(l), start_pos);
    if (trace) trace->push_back(x);
    if (l < deepstack.size()) {
      x = x + deepstack[l];
      if (trace) trace->push_back(x);
    }
  }
  if (cache) cache->length = L;
  return norm->forward(x);  // (B, T, H)
}

std::pair<torch::Tensor, torch::Tensor> TextModelImpl::forward_shared(const torch::Tensor& embeds_p, const torch::Tensor& pos_p,
                                                                     const torch::Tensor& mask_p, const torch::Tensor& embeds_c,
                                                                     const torch::Tensor& pos_c, const torch::Tensor& mask_c,
                                                                     const torch::Tensor& rows, const LayerRunner* run) {
  const int64_t U = embeds_p.size(0), Tp = embeds_p.size(1), B = embeds_c.size(0), L = embeds_c.size(1);
  const auto dev = embeds_p.device();
  if (pos_p.dim() != 3 || pos_p.size(1) != U || pos_p.size(2) != Tp || pos_c.dim() != 3 || pos_c.size(1) != B || pos_c.size(2) != L)
    throw_arg(fmt("Expected positions [3, ", U, ", ", Tp, "] and [3, ", B, ", ", L, "] but received ", pos_p.sizes(), " and ", pos_c.sizes()));
  if (!mask_p.sizes().equals({U, Tp}) || !mask_c.sizes().equals({B, L}) || rows.dim() != 1 || rows.size(0) != B)
    throw_arg(fmt("Expected masks [", U, ", ", Tp, "] and [", B, ", ", L, "] and ", B, " row prompts but received ", mask_p.sizes(),
                  ", ", mask_c.sizes(), " and ", rows.sizes()));
  auto rws = rows.to(dev, torch::kInt64);
  torch::Tensor cp, sp, cc, sc;
  std::tie(cp, sp) = rope_tables(cfg, pos_p, embeds_p);  // (U, 1, Tp, d)
  std::tie(cc, sc) = rope_tables(cfg, pos_c, embeds_p);  // (B, 1, L, d)
  // prompts: causal over their real keys; continuations: their prompt's real keys, then causal over their
  // own real keys
  auto mp = mask_p.to(dev).to(torch::kBool), mc = mask_c.to(dev).to(torch::kBool);
  auto allowed_p = causal_allowed(0, Tp, mp, dev).unsqueeze(1);  // (U, 1, Tp, Tp)
  auto own = causal_allowed(0, L, mc, dev);                        // (B, L, L)
  auto allowed_c = torch::cat({mp.index_select(0, rws).unsqueeze(1).expand({B, L, Tp}), own}, 2).unsqueeze(1);  // (B, 1, L, Tp+L)
  torch::Tensor xp, xc = embeds_c;
  std::vector<torch::Tensor> deepstack;  // DeepStack enters with the prompts only
  std::tie(xp, deepstack) = split_deepstack(embeds_p);
  const int64_t np = xp.numel();
  const auto shp = xp.sizes().vec(), shc = xc.sizes().vec();
  for (size_t l = 0; l < layers->size(); ++l) {
    auto* layer = layers[l]->as<DecoderLayer>();
    if (!run) {
      std::tie(xp, xc) = layer->forward_shared(xp, cp, sp, allowed_p, xc, cc, sc, allowed_c, rws);
      if (l < deepstack.size()) xp = xp + deepstack[l];
      continue;
    }
    // a runner sees one tensor: both streams flattened into it
    auto out = (*run)(*layer, [=](const torch::Tensor& x) {
      auto [a, b] = layer->forward_shared(x.narrow(0, 0, np).view(shp), cp, sp, allowed_p, x.narrow(0, np, x.numel() - np).view(shc),
                                          cc, sc, allowed_c, rws);
      return torch::cat({a.reshape({-1}), b.reshape({-1})});
    }, torch::cat({xp.reshape({-1}), xc.reshape({-1})}));
    xp = out.narrow(0, 0, np).view(shp);
    xc = out.narrow(0, np, out.numel() - np).view(shc);
    if (l < deepstack.size()) xp = xp + deepstack[l];
  }
  return {norm->forward(xp), norm->forward(xc)};
}

}  // namespace vrft::model
