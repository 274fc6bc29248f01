// Chunked teacher-forced log-probs (see logprobs.h). Shapes: P prompts, G samples each, B = P·G rows,
// T prompt length (padded), L completion length, H hidden, V vocabulary, M = number of real completion
// tokens, c = chunk rows.
#include "rl/logprobs.h"

#include <algorithm>
#include <atomic>

#include "common/errors.h"

namespace vrft::rl {

namespace m = vrft::model;
using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

static std::atomic<int64_t> g_peak_chunk_bytes{0};

int64_t logits_chunk_peak_bytes() { return g_peak_chunk_bytes.load(); }
void reset_logits_chunk_peak() { g_peak_chunk_bytes.store(0); }

static void note_chunk(const torch::Tensor& logits) {
  const int64_t bytes = logits.numel() * int64_t(logits.element_size());
  int64_t cur = g_peak_chunk_bytes.load();
  while (bytes > cur && !g_peak_chunk_bytes.compare_exchange_weak(cur, bytes)) {
  }
}

// float32 logits of rows [s, s + n) of h (M, H) under weight (V, H), divided by temperature -> (n, V).
static torch::Tensor chunk_logits(const torch::Tensor& h, const torch::Tensor& w, int64_t s, int64_t n, double temp) {
  auto lg = torch::linear(h.narrow(0, s, n), w).to(torch::kFloat32);  // (n, V)
  if (temp != 1.0) lg = lg / temp;
  note_chunk(lg);
  return lg;
}

// Autograd function: forward saves only hidden, weight and targets; backward rebuilds each chunk's
// logits, so no (M, V) tensor is ever kept alive.
struct ChunkedLogp : torch::autograd::Function<ChunkedLogp> {
  static variable_list forward(AutogradContext* ctx, const torch::Tensor& hidden, const torch::Tensor& weight,
                               const torch::Tensor& targets, int64_t chunk, double temp, bool want_entropy) {
    const int64_t M = hidden.size(0);
    auto logp = torch::empty({M}, hidden.options().dtype(torch::kFloat32));     // (M)
    auto ent = want_entropy ? torch::empty({M}, logp.options()) : torch::Tensor();
    for (int64_t s = 0; s < M; s += chunk) {
      const int64_t n = std::min(chunk, M - s);
      auto lg = chunk_logits(hidden, weight, s, n, temp);                       // (n, V)
      auto lse = lg.logsumexp(-1);                                              // (n)
      auto tgt = targets.narrow(0, s, n).unsqueeze(-1);                         // (n, 1)
      logp.narrow(0, s, n).copy_(lg.gather(-1, tgt).squeeze(-1) - lse);
      if (want_entropy) {                                                       // H = lse − Σ p·z
        auto p = (lg - lse.unsqueeze(-1)).exp_();
        ent.narrow(0, s, n).copy_(lse - p.mul_(lg).sum(-1));  // in place: one (n, V) temporary besides the logits
      }
    }
    ctx->save_for_backward({hidden, weight, targets});
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["temp"] = temp;
    if (want_entropy) {
      ctx->mark_non_differentiable({ent});
      return {logp, ent};
    }
    return {logp};
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    auto hidden = saved[0], weight = saved[1], targets = saved[2];
    const int64_t chunk = ctx->saved_data["chunk"].toInt();
    const double temp = ctx->saved_data["temp"].toDouble();
    auto g = grads[0];  // (M)
    const int64_t M = hidden.size(0);
    torch::Tensor dh, dw;
    const bool want_h = ctx->needs_input_grad(0), want_w = ctx->needs_input_grad(1);  // e.g. a frozen head
    if (g.defined() && (want_h || want_w)) {
      if (want_h) dh = torch::zeros_like(hidden);  // (M, H)
      if (want_w) dw = torch::zeros_like(weight);  // (V, H)
      for (int64_t s = 0; s < M; s += chunk) {
        const int64_t n = std::min(chunk, M - s);
        auto lg = chunk_logits(hidden, weight, s, n, temp);  // (n, V)
        auto gs = g.narrow(0, s, n).to(torch::kFloat32).unsqueeze(-1);  // (n, 1)
        // d logp / d z = onehot(target) − softmax(z); chain through z = logits / temp
        auto gz = lg.softmax(-1).mul_(-gs);
        gz.scatter_add_(-1, targets.narrow(0, s, n).unsqueeze(-1), gs);
        if (temp != 1.0) gz.div_(temp);
        auto gzw = gz.to(weight.scalar_type());                  // (n, V)
        auto hs = hidden.narrow(0, s, n);                        // (n, H)
        if (want_h) dh.narrow(0, s, n).copy_(torch::mm(gzw, weight));  // (n, H)
        if (want_w) dw.addmm_(gzw.t(), hs.to(weight.scalar_type()));   // (V, H)
      }
    }
    return {dh, dw, torch::Tensor(), torch::Tensor(), torch::Tensor(), torch::Tensor()};
  }
};

LogprobsResult chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                      const torch::Tensor& targets, const LogprobsOptions& o) {
  if (o.chunk < 1) throw_range(fmt("Expected a chunk of at least 1 row but received ", o.chunk));
  if (!(o.temperature > 0)) throw_range(fmt("Expected a temperature > 0 but received ", o.temperature));
  if (hidden.dim() != 2 || targets.dim() != 1 || targets.size(0) != hidden.size(0))
    throw_arg(fmt("Expected hidden (M, H) and targets (M) but received ", hidden.sizes(), " and ", targets.sizes()));
  LogprobsResult r;
  if (hidden.size(0) == 0) {
    r.logp = torch::zeros({0}, hidden.options().dtype(torch::kFloat32));
    if (o.entropy) r.entropy = r.logp.clone();
    return r;
  }
  auto out = ChunkedLogp::apply(hidden, weight, targets.to(hidden.device(), torch::kInt64), o.chunk, o.temperature, o.entropy);
  r.logp = out[0];
  if (o.entropy) r.entropy = out[1];
  return r;
}

// Log-probs of the real completion tokens from the hidden rows (B·L, H) that predict them.
static LogprobsResult logprobs_at(m::Qwen2VLImpl& model, const torch::Tensor& h, const torch::Tensor& comp,
                                  const torch::Tensor& comp_mask, const LogprobsOptions& o) {
  const int64_t B = comp.size(0), L = comp.size(1);
  const auto dev = h.device();
  auto idx = comp_mask.reshape({-1}).nonzero().squeeze(-1).to(dev);                           // (M)
  auto tgt = comp.reshape({-1}).to(dev).index_select(0, idx);                                  // (M)
  auto part = chunked_token_logprobs(h.index_select(0, idx), model.head_weight(), tgt, o);
  LogprobsResult r;
  r.logp = torch::zeros({B * L}, part.logp.options()).index_copy(0, idx, part.logp).view({B, L});
  if (o.entropy) r.entropy = torch::zeros({B * L}, part.logp.options()).index_copy(0, idx, part.entropy).view({B, L});
  return r;
}

torch::Tensor shared_prefix_hidden(m::Qwen2VLImpl& model, const torch::Tensor& prompt_ids, const torch::Tensor& prompt_mask,
                                   const torch::Tensor& pixels, const std::vector<m::Grid>& grids,
                                   const torch::Tensor& row_prompt, const torch::Tensor& comp, const torch::Tensor& comp_mask,
                                   const m::LayerRunner* vision_run, const m::LayerRunner* text_run) {
  const int64_t Tp = prompt_ids.size(1), L = comp.size(1);
  auto rope = m::get_rope_index(model.cfg, prompt_ids, prompt_mask, grids);                  // (3, U, Tp), (U)
  torch::Tensor img;
  if (pixels.defined() && pixels.numel()) img = model.encode_images(pixels, grids, nullptr, vision_run);  // (N/4, H)
  auto emb_p = model.embed(prompt_ids, img);                                                 // (U, Tp, H)
  const auto dev = emb_p.device();
  auto rows = row_prompt.to(dev, torch::kInt64);                                             // (B)
  auto deltas = rope.rope_deltas.to(dev).index_select(0, rows);                              // (B)
  auto [hid_p, hid_c] = model.model->forward_shared(emb_p, rope.position_ids.to(dev), prompt_mask.to(dev, torch::kInt64),
                                                    model.model->embed(comp), m::decode_positions(deltas, Tp, L).to(dev),
                                                    comp_mask.to(dev, torch::kInt64), rows, text_run);  // (U, Tp, H), (B, L, H)
  // position Tp−1 of the prompt predicts completion token 0; completion position j−1 predicts token j
  return torch::cat({hid_p.select(1, Tp - 1).index_select(0, rows).unsqueeze(1), hid_c.narrow(1, 0, L - 1)}, 1);  // (B, L, H)
}

LogprobsResult completion_logprobs(m::Qwen2VLImpl& model, const torch::Tensor& prompt_ids_,
                                   const torch::Tensor& prompt_mask_, const torch::Tensor& pixels,
                                   const std::vector<m::Grid>& grids, const torch::Tensor& completion_ids_,
                                   const torch::Tensor& completion_mask_, const LogprobsOptions& o) {
  auto prompt_ids = prompt_ids_.to(torch::kCPU, torch::kInt64);
  auto comp = completion_ids_.to(torch::kCPU, torch::kInt64);
  if (prompt_ids.dim() != 2 || comp.dim() != 2)
    throw_arg(fmt("Expected prompt ids (P, T) and completion ids (B, L) but received ", prompt_ids.sizes(), " and ", comp.sizes()));
  const int64_t P = prompt_ids.size(0), T = prompt_ids.size(1), B = comp.size(0), L = comp.size(1);
  if (P < 1 || T < 1 || B < 1 || B % P)
    throw_arg(fmt("Expected completion rows (", B, ") to be a positive multiple of the prompt rows (", P, ")"));
  const int64_t G = B / P;
  auto prompt_mask = prompt_mask_.defined() ? prompt_mask_.to(torch::kCPU, torch::kInt64) : torch::ones_like(prompt_ids);
  auto comp_mask = completion_mask_.defined() ? completion_mask_.to(torch::kCPU, torch::kInt64) : torch::ones_like(comp);
  if (!prompt_mask.sizes().equals(prompt_ids.sizes()) || !comp_mask.sizes().equals(comp.sizes()))
    throw_arg(fmt("Expected masks shaped like their ids but received ", prompt_mask.sizes(), " and ", comp_mask.sizes()));
  const int64_t V = model.cfg.vocab_size;
  if (comp.numel() && (comp.min().item<int64_t>() < 0 || comp.max().item<int64_t>() >= V))
    throw_range(fmt("Expected completion ids between 0 and ", V - 1));
  if (o.share_prefix) {  // each prompt once, its K/V shared by its G rows
    auto row_prompt = torch::arange(B, torch::kInt64).div(G, "floor");                      // (B)
    auto hid = shared_prefix_hidden(model, prompt_ids, prompt_mask, pixels, grids, row_prompt, comp, comp_mask);  // (B, L, H)
    return logprobs_at(model, hid.reshape({B * L, hid.size(2)}), comp, comp_mask, o);
  }
  auto rope = m::get_rope_index(model.cfg, prompt_ids, prompt_mask, grids);    // (3, P, T), (P)
  torch::Tensor img;
  if (pixels.defined() && pixels.numel()) img = model.encode_images(pixels, grids);  // (N/4, H)
  auto emb_p = model.embed(prompt_ids, img);                                  // (P, T, H)
  auto dev = emb_p.device();
  auto emb = torch::cat({emb_p.repeat_interleave(G, 0), m::widen_embeds(model.model->embed(comp), emb_p.size(2))}, 1);  // (B, T+L, H)
  auto deltas = rope.rope_deltas.repeat_interleave(G, 0);                                      // (B)
  auto pos = torch::cat({rope.position_ids.repeat_interleave(G, 1), m::decode_positions(deltas, T, L)}, 2);  // (3, B, T+L)
  auto mask = torch::cat({prompt_mask.repeat_interleave(G, 0), comp_mask}, 1);                // (B, T+L)
  auto hid = model.model->forward(emb, pos.to(dev), mask.to(dev));                            // (B, T+L, H)
  // position T−1+j predicts completion token j; only real completion tokens go through the head
  return logprobs_at(model, hid.narrow(1, T - 1, L).reshape({B * L, hid.size(2)}), comp, comp_mask, o);
}

}  // namespace vrft::rl
