// Greedy / temperature / top-k / top-p token selection (see sampling.h). Shapes: N rows, V vocabulary.
#include "rl/sampling.h"

#include <ATen/Context.h>

#include <mutex>
#include <random>

namespace vrft::rl {

at::Generator make_generator(c10::Device device, std::optional<uint64_t> seed) {
  auto def = at::globalContext().defaultGenerator(device);
  at::Generator gen;
  {
    std::lock_guard<std::mutex> lock(def.mutex());
    gen = def.clone();
  }
  uint64_t s = seed ? *seed : (uint64_t(std::random_device{}()) << 32) ^ std::random_device{}();
  std::lock_guard<std::mutex> lock(gen.mutex());
  gen.set_current_seed(s);
  return gen;
}

// Top-k / top-p filtering of logits already divided by the temperature.
static torch::Tensor filter_scaled(torch::Tensor x, const SamplingParams& p) {
  const double ninf = -std::numeric_limits<double>::infinity();
  const int64_t V = x.size(-1);
  if (p.top_k > 0 && p.top_k < V) {
    auto kth = std::get<0>(x.topk(p.top_k, -1)).narrow(-1, p.top_k - 1, 1);  // (N, 1) k-th largest
    x = x.masked_fill(x < kth, ninf);
  }
  if (p.top_p < 1.0) {
    auto [sorted, order] = x.sort(-1, /*descending=*/true);                  // (N, V)
    auto probs = sorted.softmax(-1);
    auto before = probs.cumsum(-1) - probs;                                 // mass strictly before each token
    auto drop_sorted = before >= p.top_p;                                   // first token never dropped
    auto drop = torch::zeros_like(drop_sorted).scatter(-1, order, drop_sorted);
    x = x.masked_fill(drop, ninf);
  }
  return x;
}

torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingParams& p) {
  return filter_scaled(logits / p.temperature, p);
}

static torch::Tensor gather_rows(const torch::Tensor& x, const torch::Tensor& idx) {
  return x.gather(-1, idx.unsqueeze(-1)).squeeze(-1);
}

Picked pick_next(const torch::Tensor& logits, const SamplingParams& p, at::Generator& gen) {
  Picked r;
  if (p.greedy) {
    r.tok = logits.argmax(-1);                                     // (N)
    r.logp = gather_rows(logits.log_softmax(-1), r.tok);
    return r;
  }
  const bool scaled = p.temperature != 1.0;
  const bool filtered = (p.top_k > 0 && p.top_k < logits.size(-1)) || p.top_p < 1.0;
  auto z = scaled ? logits / p.temperature : logits;               // (N, V)
  auto probs_z = z.softmax(-1);                                    // the unfiltered sampling distribution
  auto probs = filtered ? filter_scaled(z, p).softmax(-1) : probs_z;
  // One draw per row: with and without replacement are the same distribution, and ATen's CPU kernel for
  // replacement=true is ~6x faster on a 152k vocabulary (one cumulative sum and a binary search per row).
  r.tok = torch::multinomial(probs, 1, /*replacement=*/true, gen).squeeze(-1);  // (N)
  // log p(tok) from the softmax already computed. A float32 probability keeps ~7 significant digits down to
  // 1e-38; a token that unlikely (drawn with probability < 1e-26) gets the exact log_softmax instead.
  auto lp_z = gather_rows(probs_z, r.tok).log();
  if ((lp_z < -60).any().item<bool>()) lp_z = gather_rows(z.log_softmax(-1), r.tok);
  if (scaled) {
    r.logp_temp = lp_z;
    r.logp = gather_rows(logits.log_softmax(-1), r.tok);
  } else {
    r.logp = lp_z;
  }
  return r;
}

}  // namespace vrft::rl
