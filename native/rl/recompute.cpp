// Gradient checkpointing (see recompute.h): a hand-made autograd Node that stores a segment's input and
// closure, and recomputes the segment with grad enabled when the backward reaches it. The model's own layer
// loops (TextModelImpl::forward, VisionTowerImpl::forward) run each layer through it via a LayerRunner;
// test/trainer-ckpt.test.ts checks that both give the same gradients.
#include "rl/recompute.h"

#include <torch/csrc/autograd/function.h>
#include <torch/csrc/autograd/functions/utils.h>

namespace vrft::rl {

namespace ag = torch::autograd;
namespace m = vrft::model;

namespace {

struct CheckpointBackward : ag::Node {
  SegmentFn fn;
  torch::Tensor x;  // detached input
  bool x_grad = false;
  std::vector<torch::Tensor> params;

  ag::variable_list apply(ag::variable_list&& grads) override {
    ag::variable_list out(1 + params.size());
    if (!grads[0].defined()) return out;
    torch::AutoGradMode on(true);
    auto xd = x.detach();
    if (x_grad) xd.requires_grad_(true);
    auto y = fn(xd);
    ag::variable_list inputs;
    if (x_grad) inputs.push_back(xd);
    for (auto& p : params) inputs.push_back(p);
    auto g = ag::grad({y}, inputs, {grads[0]}, /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
    size_t k = 0;
    if (x_grad) out[0] = g[k++];
    for (size_t i = 0; i < params.size(); ++i) out[1 + i] = g[k++];
    release_variables();
    return out;
  }
  void release_variables() override {
    x = torch::Tensor();
    params.clear();
    fn = nullptr;
  }
  std::string name() const override { return "vrft::CheckpointBackward"; }
};

}  // namespace

torch::Tensor checkpoint(SegmentFn fn, const torch::Tensor& x, const std::vector<torch::Tensor>& params) {
  std::vector<torch::Tensor> need;
  for (auto& p : params)
    if (p.requires_grad()) need.push_back(p);
  const bool x_grad = x.requires_grad();
  torch::Tensor y;
  {
    torch::NoGradGuard ng;
    y = fn(x.detach());
  }
  if (!torch::GradMode::is_enabled() || (!x_grad && need.empty())) return y;
  auto node = std::shared_ptr<CheckpointBackward>(new CheckpointBackward(), ag::deleteNode);
  node->fn = std::move(fn);
  node->x = x.detach();
  node->x_grad = x_grad;
  node->params = need;
  ag::variable_list edges_of{x};
  edges_of.insert(edges_of.end(), need.begin(), need.end());
  node->set_next_edges(ag::collect_next_edges(edges_of));
  ag::create_gradient_edge(y, node);
  return y;
}

std::vector<torch::Tensor> grad_inputs(torch::nn::Module& mod) {
  std::vector<torch::Tensor> out;
  for (auto& p : mod.parameters(true))
    if (p.requires_grad()) out.push_back(p);
  for (auto& sub : mod.modules(/*include_self=*/true)) {
    auto* lin = sub->as<m::LinImpl>();
    if (!lin) continue;
    for (auto* t : {&lin->lora_a, &lin->lora_b})  // an attached LoRA adapter (not registered in the module)
      if (t->defined() && t->requires_grad()) out.push_back(*t);
  }
  return out;
}

// Every layer a checkpoint segment over its own parameters (and attached LoRA adapters).
static const m::LayerRunner kCheckpointEachLayer = [](torch::nn::Module& layer, m::LayerFn fn, const torch::Tensor& x) {
  return checkpoint(std::move(fn), x, grad_inputs(layer));
};

const m::LayerRunner* checkpoint_runner() { return &kCheckpointEachLayer; }

}  // namespace vrft::rl
