// GRPO loss terms and chunked token log-probs (see grpo.h). Shapes: B completions, L padded completion
// length, T sequence length, H hidden, V vocabulary, N selected (masked-in) tokens.
#include "rl/grpo.h"

#include "common/errors.h"
#include "rl/logprobs.h"

namespace vrft::rl {

Aggregation parse_aggregation(const std::string& s) {
  if (s == "grpo") return Aggregation::Grpo;
  if (s == "bnpo") return Aggregation::Bnpo;
  if (s == "dr_grpo") return Aggregation::DrGrpo;
  if (s == "dapo" || s == "token") return Aggregation::Dapo;
  throw_arg(fmt("Expected 'grpo', 'bnpo', 'dr_grpo' or 'dapo' for the loss type (aggregation) but received '", s, "'"));
}

ImportanceLevel parse_importance_level(const std::string& s) {
  if (s == "token") return ImportanceLevel::Token;
  if (s == "sequence") return ImportanceLevel::Sequence;
  if (s == "sequence_token") return ImportanceLevel::SequenceToken;
  throw_arg(fmt("Expected 'token', 'sequence' or 'sequence_token' for importanceSamplingLevel but received '", s, "'"));
}

// 1 where a masked-in token's entropy is at or above the (1 − q) quantile of the masked-in entropies
// (linear interpolation, as torch.quantile), 0 elsewhere. (B, L) like mask.
static torch::Tensor entropy_mask(const torch::Tensor& entropy, const torch::Tensor& mask, double q) {
  auto sel = mask > 0;
  auto vals = entropy.masked_select(sel).to(torch::kFloat64);  // (N)
  if (vals.numel() == 0) return torch::zeros_like(mask);
  auto thr = torch::quantile(vals, 1.0 - q).item<double>();
  return (entropy.to(torch::kFloat64) >= thr).logical_and(sel).to(mask.dtype());
}

LossTerms grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                    const torch::Tensor& adv, const torch::Tensor& mask, const LossOptions& o, const LossNorm& n,
                    const torch::Tensor& entropy, const torch::Tensor& rollout_logp) {
  if (o.clipped && !old_logp.defined()) throw_arg("Expected old log-probs for the clipped objective but received none");
  if (o.beta > 0 && !ref_logp.defined()) throw_arg("Expected reference log-probs when beta > 0 but received none");
  if (o.top_entropy_quantile < 1 && !entropy.defined()) throw_arg("Expected token entropies for entropy masking but received none");
  if (o.tis && !rollout_logp.defined()) throw_arg("Expected the sampler's log-probs for truncated importance sampling but received none");
  auto m = mask.to(logp.dtype());                                     // (B, L)
  auto a = adv.to(logp.dtype()).unsqueeze(1);                         // (B, 1)
  auto old = o.clipped ? old_logp.to(logp.dtype()) : logp.detach();   // (B, L)
  auto delta = logp - old;                                            // (B, L)
  torch::Tensor logw;                                                 // (B, L) or (B, 1)
  switch (o.level) {
    case ImportanceLevel::Token:
      logw = delta;
      break;
    case ImportanceLevel::Sequence:
      logw = (delta * m).sum(1, true) / m.sum(1, true).clamp_min(1);
      break;
    case ImportanceLevel::SequenceToken:
      logw = ((delta * m).sum(1, true) / m.sum(1, true).clamp_min(1)).detach() + logp - logp.detach();
      break;
  }
  auto ratio = torch::exp(logw);
  auto unclipped = ratio * a;
  torch::Tensor obj = unclipped, chosen;
  if (o.clipped) {
    auto clipped = torch::clamp(ratio, 1.0 - o.eps_low, 1.0 + o.eps_high) * a;
    obj = torch::min(unclipped, clipped);
    chosen = (clipped < unclipped).expand_as(m).logical_and(m > 0);
  } else {
    chosen = torch::zeros_like(m, torch::kBool);
  }
  auto pg = (-obj).expand_as(m);  // (B, L)
  auto kept = m;
  if (o.top_entropy_quantile < 1) {
    kept = entropy_mask(entropy.to(logp.dtype()), m, o.top_entropy_quantile);
    pg = pg * kept;
  }
  torch::Tensor tis = torch::ones_like(m);
  if (o.tis) {
    tis = torch::exp(logp.detach() - rollout_logp.to(logp.dtype())).clamp_max(o.tis_cap);
    pg = pg * tis;
  }
  auto token = pg;
  torch::Tensor kl;
  if (o.beta > 0) {
    auto d = ref_logp.to(logp.dtype()) - logp;  // (B, L)
    kl = torch::exp(d) - d - 1;
    token = token + o.beta * kl;
  } else {
    kl = torch::zeros_like(logp);
  }
  auto masked = token * m;  // (B, L)
  torch::Tensor loss;
  switch (o.aggregation) {
    case Aggregation::Grpo:
      loss = (masked.sum(1) / m.sum(1).clamp_min(1)).sum() / double(n.completions);
      break;
    case Aggregation::Bnpo:
      loss = masked.sum() / m.sum().clamp_min(1) / double(n.micro_batches);
      break;
    case Aggregation::DrGrpo:
      loss = masked.sum() / double(n.completions * n.max_len);
      break;
    case Aggregation::Dapo:
      loss = masked.sum() / n.tokens;
      break;
  }
  return {loss, masked.detach(), (kl * m).detach(), ratio.detach().expand_as(m), chosen, kept, (tis * m).detach()};
}

TokenLogprobs token_logprobs(model::Qwen2VL& m, const torch::Tensor& hidden, const torch::Tensor& positions,
                             const torch::Tensor& targets, const torch::Tensor& mask, bool entropy, int64_t chunk_bytes) {
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
  lo.entropy = entropy;
  auto part = chunked_token_logprobs(h, w, tgt, lo);                               // (N) [, (N)]
  TokenLogprobs r;
  r.logp = torch::zeros({B, L}, part.logp.options()).masked_scatter(sel, part.logp);  // (B, L)
  if (entropy) r.entropy = torch::zeros({B, L}, part.logp.options()).masked_scatter(sel, part.entropy.detach());
  return r;
}

}  // namespace vrft::rl
