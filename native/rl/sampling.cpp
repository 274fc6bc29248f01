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

torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingParams& p) {
  auto x = logits / p.temperature;  // (N, V)
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

torch::Tensor select_next(const torch::Tensor& logits, const SamplingParams& p, at::Generator& gen) {
  if (p.greedy) return logits.argmax(-1);  // (N)
  auto probs = filter_logits(logits, p).softmax(-1);  // (N, V)
  // One draw per row: with and without replacement are the same distribution, and ATen's CPU kernel for
  // replacement=true is ~6x faster on a 152k vocabulary (one cumulative sum and a binary search per row).
  return torch::multinomial(probs, 1, /*replacement=*/true, gen).squeeze(-1);  // (N)
}

}  // namespace vrft::rl
