// LoRA adapters swapped into Lin weight members (see lora.h).
#include "rl/lora.h"

#include <cmath>

#include "common/errors.h"

namespace vrft::rl {

static bool matches(const std::string& name, const std::string& target) {
  if (name == target) return true;
  return name.size() > target.size() && name.compare(name.size() - target.size(), target.size(), target) == 0 &&
         name[name.size() - target.size() - 1] == '.';
}

Lora::Lora(model::Qwen2VL& m, const LoraOptions& o, at::Generator gen) : model_(m), o_(o) {
  if (o.rank < 1) throw_range(fmt("Expected a LoRA rank >= 1 but received ", o.rank));
  if (!(o.alpha > 0)) throw_range(fmt("Expected a LoRA alpha > 0 but received ", o.alpha));
  torch::NoGradGuard ng;
  for (auto& p : m->parameters()) p.requires_grad_(false);
  for (auto& item : m->named_modules()) {
    auto* lin = item.value()->as<model::LinImpl>();
    if (!lin) continue;
    bool hit = false;
    for (auto& t : o.targets) hit = hit || matches(item.key(), t);
    if (!hit) continue;
    Adapter a;
    a.module = item.key();
    a.lin = lin;
    a.base = lin->named_parameters(false)["weight"];
    const int64_t out = a.base.size(0), in = a.base.size(1);
    const double bound = 1.0 / std::sqrt(double(in));
    auto opts = a.base.options();
    a.A = torch::empty({o.rank, in}, torch::kFloat32).uniform_(-bound, bound, gen).to(opts).requires_grad_(true);
    a.B = torch::zeros({out, o.rank}, opts).requires_grad_(true);
    adapters_.push_back(std::move(a));
  }
  if (adapters_.empty()) {
    std::string t;
    for (auto& x : o.targets) t += (t.empty() ? "" : ", ") + x;
    throw_arg(fmt("Expected LoRA target modules that exist in the model but none matched [", t, "]"));
  }
}

Lora::~Lora() { set_mode(Mode::Off); }

torch::Tensor Lora::merged(const Adapter& a) const {
  torch::NoGradGuard ng;  // float32 sums, rounded once to the base dtype (a bfloat16 W + δ would round δ twice)
  auto w = a.base.to(torch::kFloat32) + scale() * torch::matmul(a.B.to(torch::kFloat32), a.A.to(torch::kFloat32));
  return w.to(a.base.scalar_type());  // (out, in)
}

void Lora::set_mode(Mode mode) {
  mode_ = mode;
  for (auto& a : adapters_) {
    a.lin->lora_a = mode == Mode::On ? a.A : torch::Tensor();
    a.lin->lora_b = mode == Mode::On ? a.B : torch::Tensor();
    a.lin->lora_scale = mode == Mode::On ? scale() : 0.0;
  }
}

std::vector<std::pair<std::string, torch::Tensor>> Lora::named_parameters() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& a : adapters_) {
    out.emplace_back("base_model.model." + a.module + ".lora_A.weight", a.A);
    out.emplace_back("base_model.model." + a.module + ".lora_B.weight", a.B);
  }
  return out;
}

}  // namespace vrft::rl
