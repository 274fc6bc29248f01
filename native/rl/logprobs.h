// Teacher-forced per-token log-probs of completions after prompts (+ images), never materializing the
// float32 (rows × vocabulary) logits of a whole batch: the LM head, log-softmax and gather run over chunks
// of token rows, inside a custom autograd function whose backward recomputes each chunk's logits. So the
// same core serves inference (under c10::InferenceMode / NoGradGuard) and the GRPO step (grad mode on:
// gradients flow to every model parameter and the image encoder), with peak logits memory ≈ chunk × V × 4
// bytes forward and backward, whatever batch × length is.
//
// The GRPO trainer builds on shared_prefix_hidden + chunked_token_logprobs (below); the whole pipeline for
// prompts with G completions each (the `logprobs` binding) is:
//   LogprobsResult completion_logprobs(Qwen2VLImpl& model,
//       const torch::Tensor& prompt_ids,       // (P, T) int64, left-padded
//       const torch::Tensor& prompt_mask,      // (P, T) 0/1 (undefined = all real)
//       const torch::Tensor& pixels,           // (N, 1176) float, all images of the P prompts, or undefined
//       const std::vector<model::Grid>& grids, // one (t, h, w) per image, prompt 0's first
//       const torch::Tensor& completion_ids,   // (B, L) int64, right-padded, B = P·G (G ≥ 1)
//       const torch::Tensor& completion_mask,  // (B, L) 0/1 (undefined = all real)
//       const LogprobsOptions& opts);          // chunk rows, entropy, temperature, share_prefix
//   -> logp (B, L) float32 (0 where completion_mask is 0), entropy (B, L) float32 (non-differentiable)
// Completion row b follows prompt b / G (G = B / P samples per prompt share one prompt row and one image
// encoding). logp[b, j] = log_softmax(logits(prompt_b + completion_b[:j]) / temperature)[completion_b[j]].
#pragma once
#include <torch/torch.h>

#include <vector>

#include "model/qwen2vl.h"

namespace vrft::rl {

struct LogprobsOptions {
  int64_t chunk = 256;       // token rows per LM-head call: logits memory ≈ chunk × V × 4 bytes
  bool entropy = false;      // also return the per-token entropy of softmax(logits / temperature)
  double temperature = 1.0;  // logits are divided by it before the log-softmax
  bool share_prefix = true;  // each prompt once, its K/V shared by its rows (false: the prompt re-runs in
                             // every row; the benchmark baseline)
};

struct LogprobsResult {
  torch::Tensor logp;     // (B, L) float32, differentiable when grad mode is on
  torch::Tensor entropy;  // (B, L) float32 or undefined; never requires grad
};

LogprobsResult completion_logprobs(model::Qwen2VLImpl& model, const torch::Tensor& prompt_ids,
                                   const torch::Tensor& prompt_mask, const torch::Tensor& pixels,
                                   const std::vector<model::Grid>& grids, const torch::Tensor& completion_ids,
                                   const torch::Tensor& completion_mask, const LogprobsOptions& opts);

// The hidden states that predict each completion token, running every prompt once and sharing its
// keys/values with all its completion rows instead of re-running the prompt in each row (differentiable;
// what the GRPO step's passes and inference use). prompt_ids/mask (U, Tp) left-padded (+ the U prompts'
// images); row_prompt (B) int64: the prompt of completion row b; completion ids/mask (B, L) right-padded.
// vision_run / text_run: how vision blocks / decoder layers run (activation checkpointing), or nullptr.
// -> (B, L, H): row b, position j = the state after prompt + completion[:j] (after the final norm).
torch::Tensor shared_prefix_hidden(model::Qwen2VLImpl& model, const torch::Tensor& prompt_ids, const torch::Tensor& prompt_mask,
                                   const torch::Tensor& pixels, const std::vector<model::Grid>& grids,
                                   const torch::Tensor& row_prompt, const torch::Tensor& completion_ids,
                                   const torch::Tensor& completion_mask, const model::LayerRunner* vision_run = nullptr,
                                   const model::LayerRunner* text_run = nullptr);

// The head + gather part alone: hidden (M, H) rows (after the final norm), weight (V, H) the LM head,
// targets (M) int64 -> logp (M) float32 [, entropy (M)], chunked over rows as above; differentiable
// w.r.t. hidden and weight.
LogprobsResult chunked_token_logprobs(const torch::Tensor& hidden, const torch::Tensor& weight,
                                      const torch::Tensor& targets, const LogprobsOptions& opts);

// The largest float32 logits chunk (bytes) any chunked_token_logprobs call built since the last reset
// (process-wide; forward and backward). For memory tests and benchmarks.
int64_t logits_chunk_peak_bytes();
void reset_logits_chunk_peak();

}  // namespace vrft::rl
