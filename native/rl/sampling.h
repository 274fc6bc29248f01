// Next-token selection for generation: greedy, or sampling at a temperature with optional top-k and
// top-p (nucleus) filtering, drawn from a torch::Generator the caller seeds once per generate call, so
// that the same seed, inputs, options and machine give the same tokens (see make_generator).
#pragma once
#include <torch/types.h>

#include <ATen/core/Generator.h>
#include <cstdint>
#include <optional>

namespace vrft::rl {

struct SamplingParams {
  bool greedy = false;       // argmax (temperature / top_k / top_p ignored); temperature 0 means greedy
  double temperature = 1.0;  // > 0 when sampling
  int64_t top_k = 0;         // keep the k most likely tokens; 0 = all
  double top_p = 1.0;        // keep the smallest set whose probability reaches top_p; 1 = all
};

// A fresh generator for `device` (CPU or CUDA), seeded with `seed`, or with a non-deterministic seed when
// absent. It is cloned from the device's default generator, so no global random state is touched.
at::Generator make_generator(c10::Device device, std::optional<uint64_t> seed);

// logits (N, V) float32 -> the filtered, temperature-scaled logits (N, V) the sampler draws from
// (tokens outside top-k / top-p set to -inf). The most likely token always survives.
torch::Tensor filter_logits(const torch::Tensor& logits, const SamplingParams& p);

// One draw per row of probs (N, V) (non-negative, any positive total) -> token ids (N) int64. On the CPU in
// float32: inverse CDF, one uniform u per row from gen, then the first token whose running sum (in double)
// exceeds u · (the row's total); a zero-probability token is never drawn. The stream is the same on every
// libtorch (libtorch 2.x's CPU multinomial draws an exponential per vocabulary entry: 1.2 M log() calls per
// decode step at G = 8 on a 152k vocabulary, ~10 ms). Elsewhere: torch::multinomial.
torch::Tensor draw_rows(const torch::Tensor& probs, at::Generator& gen);

// One decode step's choice. tok (N) int64; logp (N): log-prob of tok under softmax(logits) (temperature 1);
// logp_temp (N): under softmax(logits / temperature), defined only when sampling at a temperature != 1.
struct Picked {
  torch::Tensor tok, logp, logp_temp;
};

// logits (N, V) float32 -> the next token of each row: argmax when greedy, else one draw per row from
// softmax(filter_logits(logits)) using gen (draw_rows), with its log-probs. Without top-k/top-p at temperature 1 this
// is one softmax pass and one cumulative-sum pass over the (N, V) logits (no log_softmax pass).
Picked pick_next(const torch::Tensor& logits, const SamplingParams& p, at::Generator& gen);

}  // namespace vrft::rl
