// Greedy / temperature / top-k / top-p token selection (see sampling.h). Shapes: N rows, V vocabulary.
#include "rl/sampling.h"

#include <ATen/Context.h>

#include <atomic>
#include <cmath>
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

torch::Tensor draw_rows(const torch::Tensor& probs, at::Generator& gen) {
  if (!probs.device().is_cpu() || probs.scalar_type() != torch::kFloat32)
    return torch::multinomial(probs, 1, /*replacement=*/true, gen).squeeze(-1);
  const auto p = probs.contiguous();
  const int64_t N = p.size(0), V = p.size(1);
  const auto u = at::rand({N}, gen, torch::TensorOptions().dtype(torch::kFloat64));
  auto out = torch::empty({N}, torch::kInt64);
  const float* pp = p.data_ptr<float>();
  const double* up = u.data_ptr<double>();
  int64_t* op = out.data_ptr<int64_t>();
  std::atomic<int64_t> bad{-1};  // a row with no positive finite total (NaN / inf / all-zero logits)
  at::parallel_for(0, N, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* row = pp + r * V;
      double acc[4] = {0, 0, 0, 0};  // four chains: the sum is not one long dependency chain
      int64_t v = 0;
      for (; v + 4 <= V; v += 4)
        for (int a = 0; a < 4; ++a) acc[a] += row[v + a];
      for (; v < V; ++v) acc[0] += row[v];
      const double total = (acc[0] + acc[1]) + (acc[2] + acc[3]);
      if (!(total > 0) || !std::isfinite(total)) {
        bad.store(r);
        op[r] = 0;
        continue;
      }
      const double target = up[r] * total;
      double run = 0;
      int64_t pick = -1, last = -1;
      for (v = 0; v < V; ++v) {
        if (!(row[v] > 0.f)) continue;
        last = v;
        run += row[v];
        if (run > target) {
          pick = v;
          break;
        }
      }
      op[r] = pick >= 0 ? pick : last;  // last: rounding left the running sum a hair short of the target
    }
  });
  // the same condition and error kind as torch::multinomial (a c10::Error, ERR_TORCH in JS)
  TORCH_CHECK(bad.load() < 0, "invalid multinomial distribution: row ", bad.load(),
              " of the sampling probabilities has no positive finite total (NaN, inf or all-zero logits)");
  return out;
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
  r.tok = draw_rows(probs, gen);  // (N)
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
