// AdamW with float32 master weights, schedules and gradient clipping (see optim.h).
#include "rl/optim.h"

#include <cmath>

#include "common/errors.h"

namespace vrft::rl {

ScheduleKind parse_schedule(const std::string& s) {
  if (s == "constant") return ScheduleKind::Constant;
  if (s == "linear") return ScheduleKind::Linear;
  if (s == "cosine") return ScheduleKind::Cosine;
  throw_arg(fmt("Expected 'constant', 'linear' or 'cosine' for schedule but received '", s, "'"));
}

double Schedule::factor(int64_t done) const {
  if (warmup_steps > 0 && done < warmup_steps) return double(done) / double(warmup_steps);
  if (kind == ScheduleKind::Constant || total_steps <= 0) return 1.0;
  const double span = std::max<double>(1.0, double(total_steps - warmup_steps));
  const double progress = double(done - warmup_steps) / span;
  if (kind == ScheduleKind::Linear) return std::max(0.0, 1.0 - progress);
  return std::max(0.0, 0.5 * (1.0 + std::cos(M_PI * std::min(1.0, progress))));
}

AdamW::AdamW(const std::vector<std::pair<std::string, torch::Tensor>>& params, const AdamWOptions& o) : o_(o) {
  torch::NoGradGuard ng;
  for (auto& [name, p] : params) {
    Slot s;
    s.name = name;
    s.param = p;
    s.master = p.scalar_type() == torch::kFloat32 ? p : p.detach().to(torch::kFloat32).clone();
    s.m = torch::zeros_like(s.master);
    s.v = torch::zeros_like(s.master);
    slots_.push_back(std::move(s));
  }
}

void AdamW::accumulate() {
  torch::NoGradGuard ng;
  for (auto& s : slots_) {
    auto& g = s.param.mutable_grad();
    if (!g.defined()) continue;
    if (!s.grad.defined()) s.grad = g.scalar_type() == torch::kFloat32 ? g : g.to(torch::kFloat32);  // .grad is reset below
    else s.grad.add_(g.to(torch::kFloat32));
    g = torch::Tensor();
  }
}

void AdamW::zero_grad() {
  for (auto& s : slots_) {
    s.grad = torch::Tensor();
    s.param.mutable_grad() = torch::Tensor();
  }
}

double AdamW::grad_norm() const {
  double sq = 0;
  for (auto& s : slots_)
    if (s.grad.defined()) {
      const double n = s.grad.norm(2).item<double>();
      sq += n * n;
    }
  return std::sqrt(sq);
}

void AdamW::clip(double norm, double max_norm) {
  if (!(max_norm > 0) || !std::isfinite(norm)) return;
  const double c = max_norm / (norm + 1e-6);
  if (c >= 1) return;
  torch::NoGradGuard ng;
  for (auto& s : slots_)
    if (s.grad.defined()) s.grad.mul_(c);
}

void AdamW::step(double lr) {
  torch::NoGradGuard ng;
  ++t_;
  const double bc1 = 1 - std::pow(o_.beta1, double(t_)), bc2 = 1 - std::pow(o_.beta2, double(t_));
  for (auto& s : slots_) {
    if (!s.grad.defined()) continue;  // never received a gradient (e.g. unused): untouched, like torch.optim
    if (o_.weight_decay != 0) s.master.mul_(1 - lr * o_.weight_decay);
    s.m.mul_(o_.beta1).add_(s.grad, 1 - o_.beta1);
    s.v.mul_(o_.beta2).addcmul_(s.grad, s.grad, 1 - o_.beta2);
    auto denom = (s.v.sqrt() / std::sqrt(bc2)).add_(o_.eps);
    s.master.addcdiv_(s.m, denom, -lr / bc1);
    if (!s.master.is_same(s.param)) s.param.copy_(s.master);
  }
}

}  // namespace vrft::rl
