// Gradient checkpointing for libtorch C++ (it has no torch.utils.checkpoint), and the LayerRunner that
// applies it to every decoder layer and vision block of Qwen2-VL's own forwards: activations are dropped in
// the forward and recomputed in the backward.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "model/qwen2vl.h"

namespace vrft::rl {

using SegmentFn = std::function<torch::Tensor(const torch::Tensor&)>;

// y = fn(x) keeping only x: the forward runs under NoGrad; the backward recomputes fn(x) with grad enabled
// and backpropagates into x and `params`, which must list every tensor fn reads that needs a gradient (the
// segment's trainable parameters; attached LoRA adapters). fn must be deterministic (no dropout: Qwen2-VL has
// none) and pure (no KV cache: the training forward uses none). When nothing needs a gradient, fn runs
// plainly under NoGrad.
torch::Tensor checkpoint(SegmentFn fn, const torch::Tensor& x, const std::vector<torch::Tensor>& params);

// Tensors a module's forward reads that need gradients: its parameters with requires_grad, plus the LoRA
// adapter (lora_a, lora_b) attached to any Lin inside it (see lora.h).
std::vector<torch::Tensor> grad_inputs(torch::nn::Module& m);

// The runner that makes every layer / block a checkpoint segment (for the model's forwards' `run`).
const model::LayerRunner* checkpoint_runner();

}  // namespace vrft::rl
