// The GRPO loss as small pure functions: per-token policy log-probs from hidden states (chunked over the
// vocabulary-sized head, recomputed in the backward), the k3 KL to the reference, the ratio / clipped
// objective, and the three aggregation modes. Formulas (../shared/VISUAL-RFT.md, goldens/grpo):
//   ratio = exp(logp − old), old = stopgrad(logp) unless clipped (μ > 1 updates per rollout)
//   kl    = exp(ref − logp) − (ref − logp) − 1
//   token = −ratio·A + β·kl                                         (unclipped)
//   token = −min(ratio·A, clip(ratio, 1 − ε_low, 1 + ε_high)·A) + β·kl   (clipped)
//   grpo: mean_i(Σ_j token·mask / Σ_j mask); token: Σ token·mask / Σ mask; dr_grpo: Σ token·mask / (n·L_max)
#pragma once
#include <torch/torch.h>

#include <string>

#include "model/qwen2vl.h"

namespace vrft::rl {

enum class Aggregation { Grpo, Token, DrGrpo };
// "grpo" | "token" | "dr_grpo" (ArgError otherwise).
Aggregation parse_aggregation(const std::string& s);

// No defaults here: the binding (native/napi/trainer.cpp) requires every field, resolved from lib/defaults.ts.
struct LossOptions {
  double beta = 0;
  double eps_low = 0, eps_high = 0;
  Aggregation aggregation = Aggregation::Grpo;
  bool clipped = false;  // use old_logp and the clipped objective
};

// Sizes of the whole optimizer batch (all micro-batches), so that micro-batch losses add up to the batch
// loss: completions, masked tokens, and the dr_grpo maximum completion length.
struct LossNorm {
  int64_t completions = 1;
  int64_t tokens = 1;
  int64_t max_len = 1;
};

struct LossTerms {
  torch::Tensor loss;       // () this micro-batch's share of the batch loss (differentiable)
  torch::Tensor per_token;  // (B, L) token losses (0 where mask is 0), detached
  torch::Tensor kl;         // (B, L) k3 KL (0 where mask is 0 or β = 0), detached
  torch::Tensor ratio;      // (B, L) detached
  torch::Tensor clipped;    // (B, L) bool: the clipped term was chosen (strictly smaller), masked
};

// logp (B, L) float32 with grad; old_logp (B, L) or undefined (required when clipped); ref_logp (B, L) or
// undefined (required when β > 0); adv (B) float32; mask (B, L) float32 0/1.
LossTerms grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                    const torch::Tensor& adv, const torch::Tensor& mask, const LossOptions& o, const LossNorm& n);

// log p(targets) from hidden states: hidden (B, T, H); positions (B, L) int64 = the hidden row that predicts
// each target; targets (B, L) int64; mask (B, L) (0 = padding). -> (B, L) float32, 0 where mask is 0.
// Only masked-in rows go through the head, in chunks of about `chunk_bytes` of float32 logits, by the gen
// helper's chunked_token_logprobs (rl/logprobs.h): one chunk's logits live at a time, forward and backward.
torch::Tensor token_logprobs(model::Qwen2VL& m, const torch::Tensor& hidden, const torch::Tensor& positions,
                             const torch::Tensor& targets, const torch::Tensor& mask, int64_t chunk_bytes = 256 << 20);

}  // namespace vrft::rl
