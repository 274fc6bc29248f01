// LoRA on chosen Linear layers of Qwen2-VL: each adapted Lin gets the adapter's A and B attached
// (model::LinImpl computes x·Wᵀ + (α/r)·(x·Aᵀ)·Bᵀ), for training (grad to A and B) and generation alike;
// detached, the Lin is the base model — the reference model with no copy of the weights. W is never merged
// in memory (no second copy of the adapted weights, and no gradient of a full [out, in] matrix); merged()
// makes W + (α/r)·B·A only to save a merged checkpoint.
// PEFT naming: adapter of module "model.layers.0.self_attn.q_proj" -> tensors
// "base_model.model.model.layers.0.self_attn.q_proj.lora_A.weight" (r, in) and "...lora_B.weight" (out, r).
#pragma once
#include <torch/torch.h>

#include <string>
#include <vector>

#include "model/qwen2vl.h"

namespace vrft::rl {

struct LoraOptions {
  int64_t rank = 0;  // 0 = LoRA off
  double alpha = 0;  // set by the binding (lib/native/trainer.ts resolves the default)
  // Module name suffixes (PEFT target_modules semantics: a module matches when its name equals a target or
  // ends with "." + target). Default: the decoder's seven projections.
  std::vector<std::string> targets{"q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"};
};

class Lora {
 public:
  enum class Mode { Off, On };  // adapters detached (the base = the reference model) or attached
  struct Adapter {
    std::string module;  // model module name, e.g. "model.layers.0.self_attn.q_proj"
    model::LinImpl* lin = nullptr;
    torch::Tensor base;  // the registered weight (out, in), frozen
    torch::Tensor A, B;  // (r, in), (out, r): trainable, in the model's dtype
  };
  // Finds the target Lins (ArgError when none matches) and creates A (kaiming-uniform, bound 1/√in, as PEFT)
  // and B (zeros) from `gen`. Freezes every model parameter.
  Lora(model::Qwen2VL& m, const LoraOptions& o, at::Generator gen);
  ~Lora();
  // Attaches (On) or detaches (Off) every adapter. Gradients reach A and B when grad mode is on. A and B are
  // updated in place (optimizer step, state load), so attached adapters stay current without re-attaching.
  void set_mode(Mode mode);
  // Adapters detached for a scope (the reference model), attached again when it ends, exceptions included.
  struct Detached {
    explicit Detached(Lora& l) : lora(l) { lora.set_mode(Mode::Off); }
    ~Detached() { lora.set_mode(Mode::On); }
    Detached(const Detached&) = delete;
    Detached& operator=(const Detached&) = delete;
    Lora& lora;
  };
  Mode mode() const { return mode_; }
  double scale() const { return o_.alpha / double(o_.rank); }
  const LoraOptions& options() const { return o_; }
  std::vector<Adapter>& adapters() { return adapters_; }
  // Trainable tensors with their PEFT names ("base_model.model.<module>.lora_A.weight", ...).
  std::vector<std::pair<std::string, torch::Tensor>> named_parameters() const;
  // W + s·B·A for one adapter (no grad; float32 sums), in the base dtype: for saving merged weights.
  torch::Tensor merged(const Adapter& a) const;

 private:
  model::Qwen2VL model_;
  LoraOptions o_;
  std::vector<Adapter> adapters_;
  Mode mode_ = Mode::Off;
};

}  // namespace vrft::rl
