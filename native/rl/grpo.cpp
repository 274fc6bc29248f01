// GRPO loss terms and chunked token log-probs (see grpo.h). Shapes: B completions, L padded completion
// length, T sequence length, H hidden, V vocabulary, N selected (masked-in) tokens.
#include "rl/grpo.h"

#include "common/errors.h"
#include "rl/logprobs.h"

namespace vrft::rl {

Aggregation parse_aggregation(const std::string& s) {
  if (s == "grpo") return Aggregation::Grpo;
  if (s == "token") return Aggregation::Token;
  if (s == "dr_grpo") return Aggregation::DrGrpo;
  throw_arg(fmt("Expected 'grpo', 'token' or 'dr_grpo' for aggregation but received '", s, "'"));
}

LossTerms grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                    const torch::Tensor& adv, const torch::Tensor& mask, const LossOptions& o, const LossNorm& n) {
  if (o.clipped && !old_logp.defined()) throw_arg("Expected old log-probs for the clipped objective but received none");
  if (o.beta > 0 && !ref_logp.defined()) throw_arg("Expected reference log-probs when beta > 0 but received none");
  auto a = adv.to(logp.dtype()).unsqueeze(1);                         // (B, 1)
  auto old = o.clipped ? old_logp.to(logp.dtype()) : logp.detach();   // (B, L)
  auto ratio = torch::exp(logp - old);                                // (B, L)
  auto unclipped = ratio * a;
  torch::Tensor obj = unclipped, chosen;
  if (o.clipped) {
    auto clipped = torch::clamp(ratio, 1.0 - o.eps_low, 1.0 + o.eps_high) * a;
    obj = torch::min(unclipped, clipped);
    chosen = (clipped < unclipped).logical_and(mask > 0);
  } else {
    chosen = torch::zeros_like(mask, torch::kBool);
  }
  auto token = -obj;
  torch::Tensor kl;
  if (o.beta > 0) {
    auto d = ref_logp.to(logp.dtype()) - logp;  // (B, L)
    kl = torch::exp(d) - d - 1;
    token = token + o.beta * kl;
  } else {
    kl = torch::zeros_like(logp);
  }
  auto masked = token * mask;  // (B, L)
  torch::Tensor loss;
  switch (o.aggregation) {
    case Aggregation::Grpo:
      loss = (masked.sum(1) / mask.sum(1).clamp_min(1)).sum() / double(n.completions);
      break;
    case Aggregation::Token:
      loss = masked.sum() / double(n.tokens);
      break;
    case Aggregation::DrGrpo:
      loss = masked.sum() / double(n.completions * n.max_len);
      break;
  }
  return {loss, masked.detach(), (kl * mask).detach(), ratio.detach(), chosen};
}

torch::Tensor token_logprobs(model::Qwen2VL& m, const torch::Tensor& hidden, const torch::Tensor& positions,
                             const torch::Tensor& targets, const torch::Tensor& mask, int64_t chunk_bytes) {
  const int64_t B = hidden.size(0), T = hidden.size(1), H = hidden.size(2), L = positions.size(1);
  const auto dev = hidden.device();
  auto sel = mask.to(dev) > 0;                                                     // (B, L)
  auto rows = (torch::arange(B, positions.options()).unsqueeze(1) * T + positions).to(dev);  // (B, L) flat rows
  auto idx = rows.masked_select(sel);                                              // (N)
  auto tgt = targets.to(dev).masked_select(sel);                                   // (N)
  auto h = hidden.reshape({B * T, H}).index_select(0, idx);                        // (N, H)
  auto w = m->head_weight();                                                       // (V, H)
  LogprobsOptions lo;
  lo.chunk = std::max<int64_t>(1, chunk_bytes / (w.size(0) * 4));
  auto vals = chunked_token_logprobs(h, w, tgt, lo).logp;                          // (N)
  return torch::zeros({B, L}, vals.options()).masked_scatter(sel, vals);  // (B, L)
}

}  // namespace vrft::rl
