// The native GRPO / SFT trainer: the trainable policy (a Qwen2VL shared with the model binding, so generation
// samples from the current weights), the frozen reference (a copy, or with LoRA the same model with adapters
// off), AdamW with float32 masters, the lr schedule, gradient accumulation over micro-batches, gradient
// checkpointing, freezing, the non-finite guard, and saving. Typical use:
//   Trainer tr(policy, opts);
//   auto r = tr.grpo_step(prompts, rollouts, step_opts);   // one optimizer update
//   tr.save_model(dir, /*merge=*/true); tr.save_state(state_dir);
#pragma once
#include <torch/torch.h>

#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "model/qwen2vl.h"
#include "rl/generate.h"
#include "rl/grpo.h"
#include "rl/lora.h"
#include "rl/optim.h"
#include "rl/state.h"

namespace vrft::rl {

struct TrainerOptions {
  AdamWOptions adam;
  double max_grad_norm = 1.0;  // <= 0: no clipping
  Schedule schedule;
  bool ckpt_text = false;      // gradient checkpointing per decoder layer
  bool ckpt_vision = false;    // ... and per vision block
  bool freeze_vision = false;  // patch embedding + vision blocks
  bool freeze_merger = false;  // visual.merger.*
  LoraOptions lora;            // rank 0 = full fine-tuning
  bool reference = true;       // keep a frozen reference model (needed when β > 0)
  uint64_t seed = 0;           // LoRA init and the trainer's generator
  std::string source_dir;      // HF directory the policy came from (for saving)
  std::string options_json;    // recorded in saved state
};

// One prompt: ids (P) int64, pixels (N, 1176) float32 (undefined when no image), grids one per image.
struct Prompt {
  torch::Tensor ids;
  torch::Tensor pixels;
  std::vector<model::Grid> grids;
};

// One completion (GRPO) or target sequence (SFT) after prompt `prompt`: tokens (L) int64.
struct Sequence {
  int64_t prompt = 0;
  torch::Tensor tokens;
  double advantage = 0;
  torch::Tensor old_logp;  // (L) float32, optional (required when clipped)
  torch::Tensor ref_logp;  // (L) float32, optional: overrides the reference model (tests, precomputed)
  bool in_loss = true;     // false: left out of the loss and its normalizers (e.g. a truncated completion)
};

struct GrpoStepOptions {
  LossOptions loss;
  int64_t micro_batch = 1;  // set by the binding
  int64_t max_completion_length = 0;  // dr_grpo denominator; 0 = the longest completion of the batch
  bool update = true;                 // false: leave the accumulated gradients for inspection, no update
  bool details = false;               // return per-token logp / ref / kl / loss
};

struct StepReport {
  double loss = 0, kl = 0, clip_fraction = 0, grad_norm = 0, lr = 0;
  double entropy = 0;       // mean predictive entropy of the in-loss tokens (from the chunked head pass)
  double entropy_kept = 1;  // fraction of in-loss tokens the entropy mask keeps (1 when q = 1)
  // |logp_rollout − logp_train| per in-loss token (sampler's log-probs vs this pass's); -1 when the rollouts
  // carry no sampler log-probs
  double logp_diff_mean = -1, logp_diff_max = -1;
  double tis_mean = 1;       // mean TIS weight over in-loss tokens (1 when off)
  bool skipped = false;
  int64_t tokens = 0, step = 0, skipped_total = 0;
  double t_ref = 0, t_update = 0;  // seconds: reference log-probs; policy forward/backward + optimizer
  double t_comm = 0;                // seconds in gradient all-reduce (data parallel only)
  torch::Tensor logp, ref_logp, kl_tok, per_token;  // (B, L_max) float32 CPU when details
};

class Trainer {
 public:
  Trainer(model::Qwen2VL policy, const TrainerOptions& o);
  ~Trainer();
  // A training rollout: the P prompts (unpadded; left-padded here with id 0, masked) sampled G =
  // o.num_generations times from the current policy (rl::generate, under InferenceMode); `seqs` receives the P·G
  // completions, row r after prompt r / G, tokens cut at their length, old_logp = their sampling log-probs
  // at temperature 1 (what the clipped objective compares against).
  GenerateResult generate(const std::vector<Prompt>& prompts, const GenerateOptions& o, std::vector<Sequence>& seqs);
  StepReport grpo_step(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, const GrpoStepOptions& o);
  // Cross-entropy on each sequence's tokens after its prompt, mean over all target tokens.
  StepReport sft_step(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, int64_t micro_batch,
                      bool update = true);
  // Per-token log-probs (B, L_max) float32 CPU under the policy or the reference, no grad.
  torch::Tensor logprobs(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, bool reference,
                         int64_t micro_batch);
  // Names of the trainable tensors (model names, or PEFT names with LoRA), in optimizer order.
  std::vector<std::string> trainable_names();
  // float32 accumulated gradient of a trainable tensor (after a step with update = false); ArgError if unknown.
  torch::Tensor grad(const std::string& name);
  // float32 master copy (CPU) of a trainable tensor; ArgError if unknown.
  torch::Tensor master(const std::string& name);
  void save_model(const std::string& dir, bool merge);
  void save_adapter(const std::string& dir);
  void save_state(const std::string& dir);
  void load_state(const std::string& dir);
  const TrainerCounters& counters() const { return counters_; }
  bool has_lora() const { return lora_ != nullptr; }
  model::Qwen2VL policy() const { return policy_; }
  double current_lr() const;
  // Σ over trainable parameters of Σ x² (float64): compared across data-parallel ranks.
  double checksum();

 private:
  struct Packed;
  Packed pack(const std::vector<Sequence>& seqs, size_t begin, size_t end) const;
  TokenLogprobs forward_logp(model::Qwen2VL& m, const std::vector<Prompt>& prompts, const Packed& p, bool train,
                             bool entropy = false);
  torch::Tensor reference_logp(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, const Packed& p);
  torch::Tensor padded(const std::vector<Sequence>& seqs, const Packed& p, bool old) const;
  void check_inputs(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs) const;
  void finish(StepReport& r, bool nonfinite, bool update);

  model::Qwen2VL policy_;
  model::Qwen2VL ref_{nullptr};
  TrainerOptions o_;
  std::unique_ptr<Lora> lora_;
  std::unique_ptr<AdamW> opt_;
  at::Generator gen_;
  TrainerCounters counters_;
  std::mutex mu_;
};

}  // namespace vrft::rl
