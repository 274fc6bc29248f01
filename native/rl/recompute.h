// Gradient checkpointing for libtorch C++ (it has no torch.utils.checkpoint) and the training forward of
// Qwen2-VL built on it: per decoder layer and per vision block, activations are dropped in the forward and
// recomputed in the backward. With checkpointing off, these functions call the model's own forward.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <vector>

#include "model/qwen2vl.h"

namespace vrft::rl {

using SegmentFn = std::function<torch::Tensor(const torch::Tensor&)>;

// y = fn(x) keeping only x: the forward runs under NoGrad; the backward recomputes fn(x) with grad enabled
// and backpropagates into x and `params`, which must list every tensor fn reads that needs a gradient (the
// segment's trainable parameters; LoRA-merged weights). fn must be deterministic (no dropout: Qwen2-VL has
// none) and pure (no KV cache: the training forward uses none). When nothing needs a gradient, fn runs
// plainly under NoGrad.
torch::Tensor checkpoint(SegmentFn fn, const torch::Tensor& x, const std::vector<torch::Tensor>& params);

// Tensors a module's forward reads that need gradients: its parameters with requires_grad, plus the current
// `weight` of every Lin inside it that is not its registered parameter (a LoRA-merged weight, see lora.h).
std::vector<torch::Tensor> grad_inputs(torch::nn::Module& m);

// The runner that makes every layer / block a checkpoint segment (for the model's forwards' `run`).
const model::LayerRunner* checkpoint_runner();

// Vision tower: equals m->encode_images(pixels, grids); with ckpt, every block is a checkpoint segment.
// pixels (N, 1176) -> (N/4, H).
torch::Tensor encode_images(model::Qwen2VL& m, const torch::Tensor& pixels, const std::vector<model::Grid>& grids,
                            bool ckpt);

// Decoder over whole sequences (no KV cache): equals m->model->forward(embeds, position_ids, key_mask); with
// ckpt, every layer is a checkpoint segment. embeds (B, T, H), position_ids (3, B, T), key_mask (B, T)
// -> hidden after the final norm (B, T, H).
torch::Tensor decode(model::Qwen2VL& m, const torch::Tensor& embeds, const torch::Tensor& position_ids,
                     const torch::Tensor& key_mask, bool ckpt);

}  // namespace vrft::rl
