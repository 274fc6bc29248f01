// Optimization pieces of the trainer: AdamW over float32 master weights (the model may compute in
// bfloat16), learning-rate schedules with warmup (the Hugging Face formulas), global-norm gradient
// clipping, and the non-finite guard (a NaN/Inf gradient or loss skips the update).
#pragma once
#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace vrft::rl {

enum class ScheduleKind { Constant, Linear, Cosine };
// "constant" | "linear" | "cosine" (ArgError otherwise).
ScheduleKind parse_schedule(const std::string& s);

struct Schedule {
  ScheduleKind kind = ScheduleKind::Linear;
  int64_t warmup_steps = 0;
  int64_t total_steps = 0;  // linear/cosine decay horizon; 0 = no decay (constant after warmup)
  // Multiplier of the base lr for the update that follows `done` completed updates (HF LambdaLR):
  // done/warmup during warmup, then 1 (constant), (total − done)/(total − warmup) (linear) or
  // ½(1 + cos(π·progress)) with progress = (done − warmup)/(total − warmup) (cosine), never below 0.
  double factor(int64_t done) const;
};

struct AdamWOptions {
  // No defaults here: set by the binding from the resolved settings (lib/defaults.ts).
  double lr = 0;
  double beta1 = 0, beta2 = 0;
  double eps = 0;
  double weight_decay = 0;
};

// AdamW (decoupled weight decay, bias-corrected, PyTorch's formulation) over named parameters. Each slot
// keeps a float32 master copy when the parameter is not float32 (bf16 compute); otherwise the parameter is
// its own master. Gradients are accumulated in float32 (`accumulate` after each micro-batch backward).
class AdamW {
 public:
  struct Slot {
    std::string name;
    torch::Tensor param;   // the model's parameter (any dtype/device)
    torch::Tensor master;  // float32 (== param when param is float32)
    torch::Tensor m, v;    // float32 moments
    torch::Tensor grad;    // float32 accumulated gradient (undefined until accumulate)
  };
  AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& params, const AdamWOptions& o);
  // Moves the parameters' .grad into the float32 accumulators and clears .grad.
  void accumulate();
  void zero_grad();
  // Global L2 norm of the accumulated gradients (float64 sum of squares); NaN/Inf when any is non-finite.
  double grad_norm() const;
  // Scales gradients by min(1, max_norm / (norm + 1e-6)) (torch.nn.utils.clip_grad_norm_).
  void clip(double norm, double max_norm);
  // One AdamW update at learning rate lr; copies masters into bf16 parameters. Increments step().
  void step(double lr);
  int64_t steps() const { return t_; }
  void set_steps(int64_t t) { t_ = t; }
  std::vector<Slot>& slots() { return slots_; }
  const AdamWOptions& options() const { return o_; }

 private:
  std::vector<Slot> slots_;
  AdamWOptions o_;
  int64_t t_ = 0;
};

}  // namespace vrft::rl
