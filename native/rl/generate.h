// Batched generation with a preallocated KV cache and one shared prefill per prompt.
//   P prompts (left-padded, with their images) × G samples each -> B = P·G completions; row b follows
//   prompt b / G. Each prompt and its images are encoded and prefilled once; the prompt's cache rows are
//   then repeated G times (KVCache::expand) into a cache sized for T + max_new_tokens, and all B rows
//   decode together, one token per step, until every row has produced an eos id or max_new_tokens.
// No JS in the loop: sampling, eos checks and log-probs stay native; `should_stop` (checked once per step)
// lets the caller cancel (-> CodedError ERR_ABORTED).
// Modes (the baselines of bench/suites/generate.ts are real modes, not fakes):
//   Cache            the above;
//   NoCache          no KV cache: every step re-runs the decoder over prompt + tokens so far (image
//                    embeddings computed once);
//   PerSamplePrefill every sample encodes its images and prefills its prompt itself (B rows), then
//                    decodes with a cache.
// Reproducibility: sampling draws from one torch generator seeded per call (sampling.h), so the same seed,
// inputs, options, batch composition, device and libtorch build give the same tokens. Greedy ignores it.
// Run under c10::InferenceMode (the cache is written in place).
#pragma once
#include <torch/torch.h>

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "model/qwen2vl.h"
#include "rl/sampling.h"

namespace vrft::rl {

enum class GenerateMode { Cache, NoCache, PerSamplePrefill };

struct GenerateOptions {
  int64_t max_new_tokens = 64;
  int64_t num_generations = 1;          // G (set by the binding from numGenerations)
  SamplingParams sampling;
  std::vector<int64_t> eos_ids;         // stop on any (generation_config eos_token_id)
  int64_t pad_id = 0;                   // written after a row finished
  std::optional<uint64_t> seed;         // absent: non-deterministic
  GenerateMode mode = GenerateMode::Cache;
  std::function<bool()> should_stop;    // optional; true -> throw ERR_ABORTED at the next step
  // optional, for streaming: called once per step, on the generating thread, with that step's token of
  // every row (B = P·G, pad_id for rows already finished) and the step index
  std::function<void(std::vector<int32_t> tokens, int64_t step)> on_step;
};

struct GenerateResult {
  torch::Tensor ids;        // (B, N) int64, N = steps run (≤ max_new_tokens); pad_id after a row's end
  torch::Tensor lengths;    // (B) int64: tokens generated per row, eos included
  torch::Tensor logp;       // (B, N) float32: log_softmax(logits)[token] (temperature 1); 0 after the end
  torch::Tensor logp_temp;  // (B, N) float32: log_softmax(logits / temperature)[token]; undefined when
                            // greedy or temperature == 1
  int64_t prompt_len = 0;   // T (padded)
  double prefill_seconds = 0, decode_seconds = 0;
};

// ids, mask (P, T) int64 CPU (left padding); pixels (N, 1176) float or undefined; grids one per image.
GenerateResult generate(model::Qwen2VLImpl& model, const torch::Tensor& ids, const torch::Tensor& mask,
                        const torch::Tensor& pixels, const std::vector<model::Grid>& grids,
                        const GenerateOptions& opts);

}  // namespace vrft::rl
