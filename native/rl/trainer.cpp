// The GRPO / SFT trainer (see trainer.h). Shapes: n sequences in the step, B rows of one micro-batch,
// T = longest prompt + completion of the micro-batch, L = longest completion, H hidden.
#include "rl/trainer.h"

#include "dist/process_group.h"

#include <ATen/CPUGeneratorImpl.h>

#include <chrono>
#include <cmath>
#include <map>

#include "common/errors.h"
#include "rl/logprobs.h"
#include "rl/recompute.h"

namespace vrft::rl {

namespace m = vrft::model;

static double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

static bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

struct Trainer::Packed {
  std::vector<size_t> rows;     // sequence indices, in row order
  torch::Tensor tgt;            // (B, L) int64: each row's tokens, right padded with 0
  torch::Tensor tmask;          // (B, L) float32 0/1
  std::vector<int64_t> uniq;    // distinct prompts, in order of first appearance
  std::vector<size_t> row_uniq; // row -> index into uniq
};

Trainer::Trainer(m::Qwen2VL policy, const TrainerOptions& o)
    : policy_(std::move(policy)), o_(o), gen_(at::make_generator<at::CPUGeneratorImpl>(o.seed)) {
  torch::NoGradGuard ng;
  std::vector<std::pair<std::string, torch::Tensor>> trainable;
  if (o.lora.rank > 0) {
    lora_ = std::make_unique<Lora>(policy_, o.lora, gen_);
    trainable = lora_->named_parameters();
    lora_->set_mode(Lora::Mode::On);
  } else {
    for (auto& p : policy_->named_parameters(true)) {
      const auto& k = p.key();
      const bool merger = starts_with(k, "visual.merger.") || starts_with(k, "visual.deepstack_merger_list.");  // Qwen3-VL: DeepStack mergers too
      const bool frozen = (o.freeze_vision && starts_with(k, "visual.") && !merger) || (o.freeze_merger && merger);
      p.value().requires_grad_(!frozen);
      if (!frozen) trainable.emplace_back(k, p.value());
    }
  }
  if (trainable.empty()) throw_arg("Expected at least one trainable tensor but every parameter is frozen");
  if (o.reference && !lora_) {  // a frozen copy of the starting weights
    auto w = policy_->model->embed_tokens;
    ref_ = m::Qwen2VL(policy_->cfg, w.options());
    auto src = policy_->named_parameters(true);
    for (auto& p : ref_->named_parameters(true)) {
      p.value().copy_(src[p.key()]);
      p.value().requires_grad_(false);
    }
  }
  opt_ = std::make_unique<AdamW>(trainable, o.adam);
}

Trainer::~Trainer() = default;

double Trainer::current_lr() const { return o_.adam.lr * o_.schedule.factor(counters_.calls); }

std::vector<std::string> Trainer::trainable_names() {
  std::vector<std::string> out;
  for (auto& s : opt_->slots()) out.push_back(s.name);
  return out;
}

torch::Tensor Trainer::grad(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : opt_->slots())
    if (s.name == name) return s.grad.defined() ? s.grad.to(torch::kCPU) : torch::zeros_like(s.master, torch::kCPU);
  throw_arg(fmt("Expected the name of a trainable tensor but received '", name, "'"));
}

torch::Tensor Trainer::master(const std::string& name) {
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : opt_->slots())
    if (s.name == name) return s.master.detach().to(torch::kCPU, torch::kFloat32);
  throw_arg(fmt("Expected the name of a trainable tensor but received '", name, "'"));
}

void Trainer::check_inputs(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs) const {
  const int64_t V = policy_->cfg.vocab_size;
  if (seqs.empty()) throw_arg("Expected at least one sequence but received none");
  for (size_t i = 0; i < prompts.size(); ++i) {
    auto& p = prompts[i];
    if (p.ids.dim() != 1 || p.ids.size(0) < 1) throw_arg(fmt("Expected prompts[", i, "].inputIds to hold at least one id"));
    if (p.ids.min().item<int64_t>() < 0 || p.ids.max().item<int64_t>() >= V)
      throw_range(fmt("Expected prompts[", i, "].inputIds between 0 and ", V - 1));
  }
  for (size_t i = 0; i < seqs.size(); ++i) {
    auto& s = seqs[i];
    if (s.prompt < 0 || s.prompt >= (int64_t)prompts.size())
      throw_range(fmt("Expected rollouts[", i, "].prompt between 0 and ", prompts.size() - 1, " but received ", s.prompt));
    const int64_t L = s.tokens.size(0);
    if (L && (s.tokens.min().item<int64_t>() < 0 || s.tokens.max().item<int64_t>() >= V))
      throw_range(fmt("Expected rollouts[", i, "].tokens between 0 and ", V - 1));
    for (auto [t, what] : {std::pair{&s.old_logp, "oldLogprobs"}, std::pair{&s.ref_logp, "refLogprobs"}})
      if (t->defined() && t->numel() != L)
        throw_arg(fmt("Expected rollouts[", i, "].", what, " to hold ", L, " values (one per token) but received ", t->numel()));
  }
}

Trainer::Packed Trainer::pack(const std::vector<Sequence>& seqs, size_t begin, size_t end) const {
  Packed p;
  int64_t L = 1;
  std::map<int64_t, size_t> seen;
  for (size_t i = begin; i < end; ++i) {
    auto& s = seqs[i];
    p.rows.push_back(i);
    L = std::max(L, s.tokens.size(0));
    auto it = seen.find(s.prompt);
    if (it == seen.end()) it = seen.emplace(s.prompt, p.uniq.size()).first, p.uniq.push_back(s.prompt);
    p.row_uniq.push_back(it->second);
  }
  const int64_t B = p.rows.size();
  p.tgt = torch::zeros({B, L}, torch::kInt64);
  p.tmask = torch::zeros({B, L}, torch::kFloat32);
  for (int64_t b = 0; b < B; ++b) {
    auto& s = seqs[p.rows[b]];
    const int64_t n = s.tokens.size(0);
    if (!n) continue;
    p.tgt[b].narrow(0, 0, n).copy_(s.tokens);
    if (s.in_loss) p.tmask[b].narrow(0, 0, n).fill_(1);
  }
  return p;
}

// Every pass (gradient, reference model, old policy): each distinct prompt of the micro-batch runs once,
// left-padded, and its keys/values are shared by all its rows (rl::shared_prefix_hidden), instead of
// re-running the prompt in each of its G rows. train: activation checkpointing as configured.
TokenLogprobs Trainer::forward_logp(m::Qwen2VL& model, const std::vector<Prompt>& prompts, const Packed& p, bool train,
                                   bool entropy) {
  const int64_t U = p.uniq.size(), B = p.rows.size(), L = p.tgt.size(1);
  int64_t Tp = 1;
  for (auto u : p.uniq) Tp = std::max(Tp, prompts[u].ids.size(0));
  auto ids = torch::zeros({U, Tp}, torch::kInt64), mask = torch::zeros({U, Tp}, torch::kInt64);
  std::vector<torch::Tensor> pix;
  std::vector<m::Grid> grids;
  for (int64_t u = 0; u < U; ++u) {
    auto& pr = prompts[p.uniq[u]];
    const int64_t n = pr.ids.size(0);
    ids[u].narrow(0, Tp - n, n).copy_(pr.ids);
    mask[u].narrow(0, Tp - n, n).fill_(1);
    if (!pr.pixels.defined() || pr.pixels.numel() == 0) continue;
    pix.push_back(pr.pixels);
    grids.insert(grids.end(), pr.grids.begin(), pr.grids.end());
  }
  auto row_prompt = torch::tensor(std::vector<int64_t>(p.row_uniq.begin(), p.row_uniq.end()), torch::kInt64);  // (B)
  const auto* ck = checkpoint_runner();
  auto hid = shared_prefix_hidden(*model, ids, mask, pix.empty() ? torch::Tensor() : torch::cat(pix), grids, row_prompt, p.tgt,
                                  p.tmask.to(torch::kInt64), train && o_.ckpt_vision ? ck : nullptr,
                                  train && o_.ckpt_text ? ck : nullptr);                                            // (B, L, H)
  return token_logprobs(model, hid, torch::arange(L, torch::kInt64).expand({B, L}), p.tgt, p.tmask, entropy);   // (B, L)
}

// (B, L) float32 from the rows' old_logp (old = true) or ref_logp; zeros where a row has none.
torch::Tensor Trainer::padded(const std::vector<Sequence>& seqs, const Packed& p, bool old) const {
  auto out = torch::zeros(p.tmask.sizes(), torch::kFloat32);
  for (size_t b = 0; b < p.rows.size(); ++b) {
    auto& t = old ? seqs[p.rows[b]].old_logp : seqs[p.rows[b]].ref_logp;
    if (t.defined() && t.numel()) out[b].narrow(0, 0, t.numel()).copy_(t.to(torch::kFloat32));
  }
  return out;
}

torch::Tensor Trainer::reference_logp(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, const Packed& p) {
  bool all_given = true, any_given = false;
  for (auto i : p.rows) {
    const bool g = seqs[i].ref_logp.defined();
    all_given = all_given && g;
    any_given = any_given || g;
  }
  auto given = padded(seqs, p, false);
  if (all_given) return given;
  torch::Tensor lp;
  {
    torch::NoGradGuard ng;
    if (lora_) {
      Lora::Detached base(*lora_);  // the reference is the base model; adapters attached again on any exit
      lp = forward_logp(policy_, prompts, p, false).logp.to(torch::kCPU);
    } else if (ref_) {
      lp = forward_logp(ref_, prompts, p, false).logp.to(torch::kCPU);
    } else {
      throw_coded("ERR_NO_REFERENCE", "Expected a reference model (trainer option reference: true) or reference log-probs "
                                      "for every rollout when beta > 0 but there is neither");
    }
  }
  if (!any_given) return lp;
  for (size_t b = 0; b < p.rows.size(); ++b)
    if (seqs[p.rows[b]].ref_logp.defined()) lp[b].copy_(given[b]);
  return lp;
}

// End of a no-grad chunk starting at row b: micro_batch rows, extended to the end of the last prompt's run
// of rows. Passes without a graph (reference, old policy) then run each prompt once for all its G rows,
// even when the training micro-batch is smaller than G.
static size_t group_end(const std::vector<Sequence>& seqs, size_t b, int64_t micro_batch) {
  size_t e = std::min(seqs.size(), b + size_t(micro_batch));
  while (e < seqs.size() && seqs[e].prompt == seqs[e - 1].prompt) ++e;
  return e;
}

torch::Tensor Trainer::logprobs(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, bool reference,
                                int64_t micro_batch) {
  std::lock_guard<std::mutex> lock(mu_);
  check_inputs(prompts, seqs);
  if (micro_batch < 1) throw_range(fmt("Expected a micro-batch size >= 1 but received ", micro_batch));
  int64_t L = 1;
  for (auto& s : seqs) L = std::max(L, s.tokens.size(0));
  auto out = torch::zeros({int64_t(seqs.size()), L}, torch::kFloat32);
  torch::NoGradGuard ng;
  std::vector<Sequence> stripped(seqs.begin(), seqs.end());  // the reference model, not given log-probs
  for (auto& s : stripped) s.ref_logp = torch::Tensor();
  for (size_t b = 0, e; b < seqs.size(); b = e) {
    e = group_end(seqs, b, micro_batch);
    auto p = pack(seqs, b, e);
    torch::Tensor lp;
    if (reference) {
      lp = reference_logp(prompts, stripped, p);
    } else {
      lp = forward_logp(policy_, prompts, p, false).logp.to(torch::kCPU);
    }
    out.narrow(0, b, p.rows.size()).narrow(1, 0, lp.size(1)).copy_(lp);
  }
  return out;
}

void Trainer::finish(StepReport& r, bool nonfinite, bool update) {
  if (auto g = dist::current()) {
    // Data parallel: every rank skips together, and gradients are averaged (bucketed all-reduce) before
    // clipping, so every rank applies the same update and holds identical weights (update = false: the
    // averaged gradient stays readable, as on one rank).
    const double t = now_s();
    for (double f : g->allgather(nonfinite ? 1.0 : 0.0)) nonfinite = nonfinite || f != 0;
    if (!nonfinite) {
      std::vector<torch::Tensor> grads;
      for (auto& s : opt_->slots()) {
        if (!s.grad.defined()) s.grad = torch::zeros_like(s.master, torch::TensorOptions().dtype(torch::kFloat32));
        grads.push_back(s.grad);
      }
      g->allreduce_mean(grads);
    }
    r.t_comm = now_s() - t;
  }
  r.grad_norm = opt_->grad_norm();
  r.lr = current_lr();
  if (update) {
    ++counters_.calls;
    if (nonfinite || !std::isfinite(r.grad_norm)) {
      r.skipped = true;
      ++counters_.skipped;
    } else {
      opt_->clip(r.grad_norm, o_.max_grad_norm);
      opt_->step(r.lr);
      ++counters_.step;
    }
    opt_->zero_grad();
  }
  r.step = counters_.step;
  r.skipped_total = counters_.skipped;
}

GenerateResult Trainer::generate(const std::vector<Prompt>& prompts, const GenerateOptions& o, std::vector<Sequence>& seqs) {
  std::lock_guard<std::mutex> lock(mu_);
  if (prompts.empty()) throw_arg("Expected at least one prompt but received none");
  const int64_t P = int64_t(prompts.size());
  int64_t T = 0;
  for (auto& p : prompts) T = std::max(T, p.ids.size(0));
  auto ids = torch::zeros({P, T}, torch::kInt64), mask = torch::zeros({P, T}, torch::kInt64);  // (P, T) left-padded
  std::vector<torch::Tensor> pix;
  std::vector<model::Grid> grids;
  for (int64_t i = 0; i < P; ++i) {
    auto& p = prompts[i];
    const int64_t n = p.ids.size(0);
    ids[i].narrow(0, T - n, n).copy_(p.ids);
    mask[i].narrow(0, T - n, n).fill_(1);
    if (p.pixels.defined()) pix.push_back(p.pixels);
    grids.insert(grids.end(), p.grids.begin(), p.grids.end());
  }
  auto pixels = pix.empty() ? torch::Tensor() : pix.size() == 1 ? pix[0] : torch::cat(pix, 0);  // (N, patch_dim)
  GenerateResult r;
  {
    c10::InferenceMode im;
    r = rl::generate(*policy_, ids, mask, pixels, grids, o);
  }
  const int64_t B = r.ids.size(0), G = o.num_generations;
  auto lens = r.lengths.to(torch::kCPU);
  auto all_ids = r.ids.to(torch::kCPU), all_logp = r.logp.to(torch::kCPU);
  seqs.clear();
  seqs.reserve(B);
  for (int64_t b = 0; b < B; ++b) {
    const int64_t L = lens[b].item<int64_t>();
    Sequence s;
    s.prompt = b / G;
    s.tokens = all_ids[b].narrow(0, 0, L).clone();   // (L) int64, eos included when generated
    s.old_logp = all_logp[b].narrow(0, 0, L).clone();  // (L) float32
    seqs.push_back(std::move(s));
  }
  return r;
}

StepReport Trainer::grpo_step(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, const GrpoStepOptions& o) {
  std::lock_guard<std::mutex> lock(mu_);
  check_inputs(prompts, seqs);
  if (o.micro_batch < 1) throw_range(fmt("Expected a micro-batch size >= 1 but received ", o.micro_batch));
  if (o.loss.tis && o.loss.clipped)
    throw_arg("Expected rollout correction 'tis' with one update per rollout (numIterations 1): with more, the clipped "
              "ratio already compares against the sampler's log-probs");
  const double t0 = now_s();
  StepReport r;
  const size_t n = seqs.size();
  LossNorm norm;
  norm.completions = n;
  norm.micro_batches = int64_t((n + o.micro_batch - 1) / o.micro_batch);
  int64_t tokens = 0, Lmax = 1;
  bool all_rollout = true;  // every row carries the sampler's log-probs (agreement metric, TIS)
  for (auto& s : seqs) {
    if (s.in_loss) tokens += s.tokens.size(0);
    Lmax = std::max(Lmax, s.tokens.size(0));
    all_rollout = all_rollout && s.old_logp.defined();
    if (o.loss.clipped && !s.old_logp.defined())
      throw_arg("Expected oldLogprobs on every rollout for the clipped objective but some have none");
  }
  if (o.loss.tis && !all_rollout)
    throw_arg("Expected oldLogprobs (the sampler's log-probs) on every rollout for rollout correction 'tis' but some have none");
  norm.tokens = double(std::max<int64_t>(1, tokens));
  if (auto g = dist::current(); g && o.loss.aggregation == Aggregation::Dapo) {
    // dapo: the token count of the whole step over every rank; ranks average their gradients, so each
    // rank divides by (all tokens / ranks) and the average is Σ over all tokens / all tokens.
    auto counts = g->allgather(double(tokens));
    double all = 0;
    for (double c : counts) all += c;
    norm.tokens = std::max(1.0, all) / double(counts.size());
  }
  norm.max_len = o.max_completion_length > 0 ? o.max_completion_length : Lmax;
  if (o.details) {
    for (auto* t : {&r.logp, &r.ref_logp, &r.kl_tok, &r.per_token}) *t = torch::zeros({int64_t(n), Lmax}, torch::kFloat32);
  }
  // The reference log-probs of every row first, in prompt groups (group_end): no graph is kept, so each
  // prompt runs once per step rather than once per training micro-batch.
  torch::Tensor ref_all;  // (n, Lmax) float32 CPU
  if (o.loss.beta > 0) {  // the same predicate as needsReference (lib/defaults.ts)
    const double t = now_s();
    ref_all = torch::zeros({int64_t(n), Lmax}, torch::kFloat32);
    for (size_t b = 0, e; b < n; b = e) {
      e = group_end(seqs, b, o.micro_batch);
      auto ref = reference_logp(prompts, seqs, pack(seqs, b, e));  // (e - b, L)
      ref_all.narrow(0, b, ref.size(0)).narrow(1, 0, ref.size(1)).copy_(ref);
    }
    r.t_ref += now_s() - t;
  }
  opt_->zero_grad();
  bool nonfinite = false;
  double kl_sum = 0, clip_sum = 0, ent_sum = 0, kept_sum = 0, tis_sum = 0, diff_sum = 0, diff_max = 0;
  for (size_t b = 0; b < n && !nonfinite; b += o.micro_batch) {
    auto p = pack(seqs, b, std::min(n, b + size_t(o.micro_batch)));
    if (p.tmask.sum().item<double>() == 0) continue;  // every row left out of the loss (e.g. all truncated): adds nothing
    torch::Tensor ref, rollout;
    if (ref_all.defined()) ref = ref_all.narrow(0, b, p.rows.size()).narrow(1, 0, p.tmask.size(1));  // (B, L)
    if (all_rollout) rollout = padded(seqs, p, true);                                                  // (B, L)
    std::vector<float> adv;
    for (auto i : p.rows) adv.push_back(float(seqs[i].advantage));
    torch::AutoGradMode on(true);
      auto fw = forward_logp(policy_, prompts, p, true, /*entropy=*/true);  // (B, L) logp and entropy
    auto& logp = fw.logp;
    const auto dev = logp.device();
    auto mask = p.tmask.to(dev);
    auto on_dev = [&](const torch::Tensor& x) { return x.defined() ? x.to(dev) : x; };
    auto terms = grpo_loss(logp, o.loss.clipped ? on_dev(rollout) : torch::Tensor(), on_dev(ref), torch::tensor(adv).to(dev), mask,
                           o.loss, norm, fw.entropy, on_dev(rollout));
    const double lv = terms.loss.item<double>();
    if (!std::isfinite(lv)) {
      nonfinite = true;
    } else {
      terms.loss.backward();
      opt_->accumulate();
    }
    r.loss += lv;
    kl_sum += terms.kl.sum().item<double>();
    clip_sum += terms.clipped.sum().item<double>();
    ent_sum += (fw.entropy * mask).sum().item<double>();
    kept_sum += terms.kept.sum().item<double>();
    tis_sum += terms.tis.sum().item<double>();
    if (rollout.defined() && mask.sum().item<double>() > 0) {
      auto d = (logp.detach() - rollout.to(dev)).abs() * mask;  // (B, L)
      diff_sum += d.sum().item<double>();
      diff_max = std::max(diff_max, d.max().item<double>());
    }
    if (o.details) {
      const int64_t B = p.rows.size(), L = logp.size(1);
      auto put = [&](torch::Tensor& dst, const torch::Tensor& src) { dst.narrow(0, b, B).narrow(1, 0, L).copy_(src.detach().to(torch::kCPU)); };
      put(r.logp, logp * mask);
      if (ref.defined()) put(r.ref_logp, ref.to(dev) * mask);
      put(r.kl_tok, terms.kl);
      put(r.per_token, terms.per_token);
    }
  }
  const double ntok = double(std::max<int64_t>(1, tokens));
  r.tokens = tokens;
  r.kl = kl_sum / ntok;
  r.clip_fraction = clip_sum / ntok;
  r.entropy = ent_sum / ntok;
  r.entropy_kept = tokens ? kept_sum / ntok : 1;
  r.tis_mean = tokens ? tis_sum / ntok : 1;
  if (all_rollout) r.logp_diff_mean = diff_sum / ntok, r.logp_diff_max = diff_max;
  finish(r, nonfinite, o.update);
  r.t_update = now_s() - t0 - r.t_ref;
  return r;
}

StepReport Trainer::sft_step(const std::vector<Prompt>& prompts, const std::vector<Sequence>& seqs, int64_t micro_batch,
                             bool update) {
  std::lock_guard<std::mutex> lock(mu_);
  check_inputs(prompts, seqs);
  if (micro_batch < 1) throw_range(fmt("Expected a micro-batch size >= 1 but received ", micro_batch));
  const double t0 = now_s();
  StepReport r;
  int64_t tokens = 0;
  for (auto& s : seqs) tokens += s.tokens.size(0);
  if (tokens == 0) throw_arg("Expected at least one target token in the SFT batch but received none");
  // the mean over every target token of the step: data-parallel ranks average their gradients, so each
  // rank divides by (all ranks' tokens / ranks), as the GRPO loss does for dapo
  double norm = double(tokens);
  if (auto g = dist::current()) {
    auto counts = g->allgather(double(tokens));
    double all = 0;
    for (double c : counts) all += c;
    norm = all / double(counts.size());
  }
  opt_->zero_grad();
  bool nonfinite = false;
  for (size_t b = 0; b < seqs.size() && !nonfinite; b += micro_batch) {
    auto p = pack(seqs, b, std::min(seqs.size(), b + size_t(micro_batch)));
    torch::AutoGradMode on(true);
      auto logp = forward_logp(policy_, prompts, p, true).logp;                    // (B, L)
    auto loss = -(logp * p.tmask.to(logp.device())).sum() / norm;                // mean over all targets
    const double lv = loss.item<double>();
    if (!std::isfinite(lv)) {
      nonfinite = true;
    } else {
      loss.backward();
      opt_->accumulate();
    }
    r.loss += lv;
  }
  r.tokens = tokens;
  finish(r, nonfinite, update);
  r.t_update = now_s() - t0;
  return r;
}

void Trainer::save_model(const std::string& dir, bool merge) {
  std::lock_guard<std::mutex> lock(mu_);
  if (o_.source_dir.empty()) throw_arg("Expected the trainer's sourceDir (the model directory) to save a model but it is empty");
  if (lora_ && !merge) {
    rl::save_adapter(dir, o_.source_dir, *lora_);
    return;
  }
  rl::save_model(dir, o_.source_dir, policy_, lora_.get(), merge);  // registered weights are the base
}

void Trainer::save_adapter(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!lora_) throw_coded("ERR_NO_LORA", "Expected a LoRA trainer to save an adapter but this one trains all weights");
  rl::save_adapter(dir, o_.source_dir, *lora_);
}

double Trainer::checksum() {
  std::lock_guard<std::mutex> lock(mu_);
  torch::NoGradGuard ng;
  double sum = 0;
  for (auto& sl : opt_->slots()) sum += sl.master.to(torch::kFloat64).pow(2).sum().item<double>();
  return sum;
}

void Trainer::save_state(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  rl::save_state(dir, *opt_, counters_, gen_, o_.options_json);
}

void Trainer::load_state(const std::string& dir) {
  std::lock_guard<std::mutex> lock(mu_);
  rl::load_state(dir, *opt_, counters_, gen_);
}

}  // namespace vrft::rl
