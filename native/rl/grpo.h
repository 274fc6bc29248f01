// The GRPO loss as small pure functions: per-token policy log-probs (and entropies) from hidden states
// (chunked over the vocabulary-sized head, recomputed in the backward), the k3 KL to the reference, the
// importance weight / clipped objective at token or sequence level, entropy masking, truncated importance
// sampling against the sampler, and the four loss types. Formulas (../shared/VISUAL-RFT.md, goldens/grpo,
// README "Objective options"):
//   old   = old_logp when clipped (μ > 1 updates per rollout), else stopgrad(logp); Δ = logp − old
//   token:          w_t = exp(Δ_t)
//   sequence:       w_i = exp(Σ_t Δ_t·m_t / Σ_t m_t)                      (GSPO; one weight per completion)
//   sequence_token: w_t = stopgrad(w_i) · exp(logp_t − stopgrad(logp_t))  (GSPO-token)
//   pg    = −w·A                                     (unclipped)
//         = −min(w·A, clip(w, 1 − ε_low, 1 + ε_high)·A)   (clipped)
//   pg   ·= [H_t ≥ quantile(H, 1 − q)]   when q < 1  (entropy masking, threshold over the micro-batch's tokens)
//   pg   ·= min(exp(stopgrad(logp) − rollout_logp), C)  when tis (truncated importance sampling)
//   kl    = exp(ref − logp) − (ref − logp) − 1;  token = pg + β·kl
//   grpo:    Σ_i (Σ_t token·m / Σ_t m) / n_completions
//   bnpo:    (Σ token·m / Σ m over this micro-batch) / n_micro_batches
//   dr_grpo: Σ token·m / (n_completions · L_max)
//   dapo:    Σ token·m / (tokens of the whole optimizer step, every micro-batch and every rank)
#pragma once
#include <torch/torch.h>

#include <string>

#include "model/qwen2vl.h"

namespace vrft::rl {

enum class Aggregation { Grpo, Bnpo, DrGrpo, Dapo };
// "grpo" | "bnpo" | "dr_grpo" | "dapo" (TRL's loss_type names); "token" is accepted as the pre-#20 name of
// dapo (ArgError otherwise).
Aggregation parse_aggregation(const std::string& s);

enum class ImportanceLevel { Token, Sequence, SequenceToken };
// "token" | "sequence" | "sequence_token" (ArgError otherwise).
ImportanceLevel parse_importance_level(const std::string& s);

// No defaults here: the binding (native/napi/trainer.cpp) fills every field, resolved from lib/defaults.ts.
struct LossOptions {
  double beta = 0;
  double eps_low = 0, eps_high = 0;
  Aggregation aggregation = Aggregation::Grpo;
  ImportanceLevel level = ImportanceLevel::Token;
  bool clipped = false;             // use old_logp and the clipped objective
  double top_entropy_quantile = 1;  // q in (0, 1]; 1 = every token
  bool tis = false;                 // weight the policy term by min(π_train / π_rollout, tis_cap)
  double tis_cap = 2;
};

// Sizes of the whole optimizer step, so that micro-batch losses add up to the step's loss: completions,
// masked tokens (dapo: the all-rank count divided by the number of ranks, since ranks average their
// gradients), micro-batches (bnpo) and the dr_grpo maximum completion length.
struct LossNorm {
  int64_t completions = 1;
  double tokens = 1;
  int64_t micro_batches = 1;
  int64_t max_len = 1;
};

struct LossTerms {
  torch::Tensor loss;       // () this micro-batch's share of the step loss (differentiable)
  torch::Tensor per_token;  // (B, L) token losses (0 where mask is 0), detached
  torch::Tensor kl;         // (B, L) k3 KL (0 where mask is 0 or β = 0), detached
  torch::Tensor ratio;      // (B, L) importance weight w, detached
  torch::Tensor clipped;    // (B, L) bool: the clipped term was chosen (strictly smaller), masked
  torch::Tensor kept;       // (B, L) float 0/1: the entropy mask (= mask when q = 1)
  torch::Tensor tis;        // (B, L) TIS weight (1 where off), masked, detached
};

// logp (B, L) float with grad; old_logp (B, L) or undefined (required when clipped); ref_logp (B, L) or
// undefined (required when β > 0); adv (B); mask (B, L) 0/1; entropy (B, L) or undefined (required when
// q < 1); rollout_logp (B, L) the sampler's log-probs or undefined (required when tis).
LossTerms grpo_loss(const torch::Tensor& logp, const torch::Tensor& old_logp, const torch::Tensor& ref_logp,
                    const torch::Tensor& adv, const torch::Tensor& mask, const LossOptions& o, const LossNorm& n,
                    const torch::Tensor& entropy = {}, const torch::Tensor& rollout_logp = {});

struct TokenLogprobs {
  torch::Tensor logp;     // (B, L) float32, 0 where mask is 0
  torch::Tensor entropy;  // (B, L) float32 (no grad), 0 where mask is 0; undefined unless asked for
};

// log p(targets) from hidden states: hidden (B, T, H); positions (B, L) int64 = the hidden row that predicts
// each target; targets (B, L) int64; mask (B, L) (0 = padding).
// Only masked-in rows go through the head, in chunks of about `chunk_bytes` of float32 logits, by the gen
// helper's chunked_token_logprobs (rl/logprobs.h): one chunk's logits live at a time, forward and backward;
// the entropy of each row's softmax comes out of the same chunk (no (B, T, V) tensor ever exists).
TokenLogprobs token_logprobs(model::Qwen2VL& m, const torch::Tensor& hidden, const torch::Tensor& positions,
                             const torch::Tensor& targets, const torch::Tensor& mask, bool entropy = false,
                             int64_t chunk_bytes = 256 << 20);

}  // namespace vrft::rl
