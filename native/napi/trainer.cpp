// Bindings of the native trainer (native/rl/trainer.h): create a Trainer around a Model (the policy is trained
// in place, so generation with the same Model samples from the current weights), training rollouts
// (trainerGenerate -> a Rollouts that keeps prompts, images and completions for the μ trainerStep calls), GRPO
// steps over explicit batches, SFT steps, teacher-forced log-probs, gradient / parameter read-back for tests,
// saving (HF model, PEFT adapter, resumable state) and loading state. Options arrive complete from
// lib/train/trainer-settings.ts and lib/train/native-policy.ts (every field required here); JS values are read
// on the JS thread, the work runs on a worker.
#include <napi.h>

#include <cmath>
#include <cstring>
#include <set>

#include "common/errors.h"
#include "model/qwen2vl.h"
#include "napi/common.h"
#include "napi/objects.h"
#include "rl/generate.h"
#include "rl/trainer.h"

namespace vrft::napi {

namespace m = vrft::model;

static std::shared_ptr<rl::Trainer> trainer_of(const Napi::Value& v) {
  auto* h = unwrap<TrainerObj>(v, "trainer");
  if (!h->trainer) throw_coded("ERR_TRAINER_DISPOSED", "Expected a live trainer but this one was disposed");
  return h->trainer;
}

static Napi::Float32Array to_f32(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  auto a = Napi::Float32Array::New(env, c.numel());
  if (c.numel()) std::memcpy(a.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return a;
}

static torch::Tensor f32_tensor(const Napi::Value& v, const char* name) {
  auto x = get_float_vector(v, name);
  return torch::tensor(x, torch::kFloat32);
}

static torch::Tensor i64_tensor(const Napi::Value& v, const char* name) {
  auto x = get_int_vector(v, name);
  return torch::tensor(x, torch::kInt64).view({int64_t(x.size())});
}

// { prompts: [{ inputIds, pixelValues?, imageGridThw? (flat t,h,w per image) }],
//   rollouts: [{ prompt, tokens, advantage?, oldLogprobs?, refLogprobs? }] }
struct BatchIn {
  std::vector<rl::Prompt> prompts;
  std::vector<rl::Sequence> seqs;
};

static std::vector<rl::Prompt> read_batch_prompts(const Napi::Value& v, int64_t patch_dim) {
  std::vector<rl::Prompt> out;
  auto ps = get_array(v, "prompts");
  for (uint32_t i = 0; i < ps.Length(); ++i) {
    auto po = get_object(ps.Get(i), "prompts[i]");
    rl::Prompt p;
    p.ids = i64_tensor(po.Get("inputIds"), "inputIds");
    auto im = read_images(po.Get("pixelValues"), po.Get("imageGridThw"), patch_dim, fmt("prompts[", i, "]."));
    p.pixels = im.pixels;
    p.grids = std::move(im.grids);
    out.push_back(std::move(p));
  }
  return out;
}

static BatchIn read_batch(const Napi::Value& v, int64_t patch_dim) {
  auto o = get_object(v, "batch");
  BatchIn b;
  b.prompts = read_batch_prompts(o.Get("prompts"), patch_dim);
  const uint32_t num_prompts = uint32_t(b.prompts.size());
  auto rs = get_array(o.Get("rollouts"), "rollouts");
  for (uint32_t i = 0; i < rs.Length(); ++i) {
    auto ro = get_object(rs.Get(i), "rollouts[i]");
    rl::Sequence s;
    s.prompt = get_int(ro.Get("prompt"), "prompt", 0, int64_t(num_prompts) - 1);
    s.tokens = i64_tensor(ro.Get("tokens"), "tokens");
    s.advantage = opt_number(ro, "advantage", 0, -1e30, 1e30);
    auto ov = ro.Get("oldLogprobs");
    if (!ov.IsUndefined() && !ov.IsNull()) s.old_logp = f32_tensor(ov, "oldLogprobs");
    auto rv = ro.Get("refLogprobs");
    if (!rv.IsUndefined() && !rv.IsNull()) s.ref_logp = f32_tensor(rv, "refLogprobs");
    s.in_loss = opt_bool(ro, "inLoss", true);
    b.seqs.push_back(std::move(s));
  }
  return b;
}

static Napi::Object report_js(Napi::Env env, const rl::StepReport& r) {
  auto o = Napi::Object::New(env);
  o.Set("loss", r.loss);
  o.Set("kl", r.kl);
  o.Set("clipFraction", r.clip_fraction);
  o.Set("gradNorm", r.grad_norm);
  o.Set("lr", r.lr);
  o.Set("skipped", r.skipped);
  o.Set("tokens", double(r.tokens));
  o.Set("step", double(r.step));
  o.Set("skippedTotal", double(r.skipped_total));
  o.Set("entropy", r.entropy);
  o.Set("entropyKept", r.entropy_kept);
  o.Set("tisMean", r.tis_mean);
  if (r.logp_diff_mean >= 0) {
    auto d = Napi::Object::New(env);
    d.Set("mean", r.logp_diff_mean);
    d.Set("max", r.logp_diff_max);
    o.Set("rolloutLogpDiff", d);
  }
  auto sec = Napi::Object::New(env);
  sec.Set("logprobs", r.t_ref);
  sec.Set("update", r.t_update);
  sec.Set("allreduce", r.t_comm);
  o.Set("seconds", sec);
  if (r.logp.defined()) {
    auto d = Napi::Object::New(env);
    d.Set("length", double(r.logp.size(1)));
    d.Set("logp", to_f32(env, r.logp));
    d.Set("refLogp", to_f32(env, r.ref_logp));
    d.Set("kl", to_f32(env, r.kl_tok));
    d.Set("perTokenLoss", to_f32(env, r.per_token));
    o.Set("details", d);
  }
  return o;
}

// A required number field of `o` in [lo, hi] (RangeError naming it otherwise).
static double ranged(const Napi::Object& o, const char* k, double lo, double hi) {
  double v = get_number(o.Get(k), k);
  if (v < lo || v > hi) throw_range(fmt("Expected a number between ", lo, " and ", hi, " for ", k, " but received ", v));
  return v;
}

// The GRPO step options (NativeGrpoOptions in lib/native/binding.ts), required: their defaults live in
// lib/defaults.ts only. The objective variants of issue #20 (importanceSamplingLevel, topEntropyQuantile,
// rolloutCorrection, tisCap) may be left out by low-level callers: absent means off, the paper's objective
// (which is also what GRPO_DEFAULTS says; lib/train/native-policy.ts always sends them).
rl::GrpoStepOptions read_step_options(const Napi::Object& o) {
  rl::GrpoStepOptions so;
  auto num = [&](const char* k, double lo, double hi) { return ranged(o, k, lo, hi); };
  so.loss.beta = num("beta", 0, 1e6);
  so.loss.eps_low = num("epsilonLow", 0, 1);
  so.loss.eps_high = num("epsilonHigh", 0, 1e6);
  so.loss.aggregation = rl::parse_aggregation(get_string(o.Get("aggregation"), "aggregation"));
  so.loss.clipped = get_bool(o.Get("clipped"), "clipped");
  auto lv = o.Get("importanceSamplingLevel");
  if (!lv.IsUndefined()) so.loss.level = rl::parse_importance_level(get_string(lv, "importanceSamplingLevel"));
  if (!o.Get("topEntropyQuantile").IsUndefined()) {
    so.loss.top_entropy_quantile = ranged(o, "topEntropyQuantile", 0, 1);
    if (!(so.loss.top_entropy_quantile > 0)) throw_range("Expected a number in (0, 1] for topEntropyQuantile but received 0");
  }
  auto rc = o.Get("rolloutCorrection");
  if (!rc.IsUndefined()) {
    auto v = get_string(rc, "rolloutCorrection");
    if (v != "none" && v != "tis") throw_arg(fmt("Expected 'none' or 'tis' for rolloutCorrection but received '", v, "'"));
    so.loss.tis = v == "tis";
  }
  if (!o.Get("tisCap").IsUndefined()) so.loss.tis_cap = ranged(o, "tisCap", 1, 1e6);
  so.micro_batch = get_int(o.Get("microBatchSize"), "microBatchSize", 1, 1 << 20);
  so.max_completion_length = get_int(o.Get("maxCompletionLength"), "maxCompletionLength", 0, 1 << 30);
  so.update = get_bool(o.Get("update"), "update");
  so.details = get_bool(o.Get("details"), "details");
  return so;
}

// trainerCreate(modelHandle, options) -> Promise<handle>
static Napi::Value Create(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = unwrap<ModelObj>(info[0], "model")->model;
    if (!model) throw_coded("ERR_MODEL_DISPOSED", "Expected a loaded model but this one was disposed");
    auto o = get_object(info[1], "options");
    rl::TrainerOptions t;
    // Every field is required: lib/train/trainer-settings.ts resolveTrainerSettings fills them from lib/defaults.ts.
    auto num = [&](const char* k, double lo, double hi) { return ranged(o, k, lo, hi); };
    t.adam.lr = num("lr", 0, 1e3);
    t.adam.beta1 = num("beta1", 0, 1);
    t.adam.beta2 = num("beta2", 0, 1);
    t.adam.eps = num("eps", 0, 1);
    t.adam.weight_decay = num("weightDecay", 0, 1e3);
    t.max_grad_norm = num("maxGradNorm", 0, 1e30);
    t.schedule.kind = rl::parse_schedule(get_string(o.Get("schedule"), "schedule"));
    t.schedule.warmup_steps = get_int(o.Get("warmupSteps"), "warmupSteps", 0, int64_t(1) << 40);
    t.schedule.total_steps = get_int(o.Get("totalSteps"), "totalSteps", 0, int64_t(1) << 40);
    t.ckpt_text = get_bool(o.Get("checkpointText"), "checkpointText");
    t.ckpt_vision = get_bool(o.Get("checkpointVision"), "checkpointVision");
    t.freeze_vision = get_bool(o.Get("freezeVision"), "freezeVision");
    t.freeze_merger = get_bool(o.Get("freezeMerger"), "freezeMerger");
    t.reference = get_bool(o.Get("reference"), "reference");
    t.seed = uint64_t(get_int(o.Get("seed"), "seed", 0, int64_t(1) << 53));
    t.source_dir = get_string(o.Get("sourceDir"), "sourceDir");
    t.options_json = get_string(o.Get("optionsJson"), "optionsJson");
    auto lv = o.Get("lora");
    if (!lv.IsUndefined() && !lv.IsNull()) {
      auto lo = get_object(lv, "lora");
      t.lora.rank = get_int(lo.Get("rank"), "lora.rank", 1, 1 << 16);
      t.lora.alpha = get_number(lo.Get("alpha"), "lora.alpha");
      if (t.lora.alpha <= 0) throw_range(fmt("Expected a number > 0 for lora.alpha but received ", t.lora.alpha));
      auto tv = lo.Get("targets");
      if (!tv.IsUndefined() && !tv.IsNull()) {
        auto arr = get_array(tv, "lora.targets");
        t.lora.targets.clear();
        for (uint32_t i = 0; i < arr.Length(); ++i) t.lora.targets.push_back(get_string(arr.Get(i), "lora.targets[i]"));
      }
    }
    auto out = std::make_shared<std::shared_ptr<rl::Trainer>>();
    return run_async(info.Env(), [=] { *out = std::make_shared<rl::Trainer>(model, t); },
                     [out](Napi::Env env) -> Napi::Value {
                       Napi::Object js;
                       construct<TrainerObj>(env, &js)->trainer = *out;
                       return js;
                     },
                     {info[0]});
  });
}

// trainerDispose(handle): releases the optimizer state and reference once running calls finish.
static Napi::Value Dispose(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    unwrap<TrainerObj>(info[0], "trainer")->trainer = nullptr;
    return info.Env().Undefined();
  });
}

// trainerGrpoStep(handle, batch, options) -> Promise<report>
static Napi::Value GrpoStep(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto batch = read_batch(info[1], tr->policy()->cfg.vision.patch_dim());
    auto o = get_object(info[2], "options");
    auto so = read_step_options(get_object(info[2], "options"));
    auto out = std::make_shared<rl::StepReport>();
    return run_async(info.Env(), [=] { *out = tr->grpo_step(batch.prompts, batch.seqs, so); },
                     [out](Napi::Env env) -> Napi::Value { return report_js(env, *out); }, {info[0]});
  });
}

// trainerGenerate(trainer, { prompts: [{ inputIds, pixelValues?, imageGridThw? }], ...sampling }) ->
// Promise<{ rollouts, rows, steps, ids, lengths, logp, logpTemp?, promptLength, prefillSeconds, decodeSeconds }>:
// the prompts' pixels cross into native tensors here, once; the Rollouts keeps them (and the completions) for
// the μ trainerStep calls of this step. ids/lengths/logp are (rows, steps) for JS to decode and score.
static Napi::Value Generate(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto o = get_object(info[1], "options");
    auto batch = read_batch_prompts(o.Get("prompts"), tr->policy()->cfg.vision.patch_dim());
    std::vector<Napi::Value> keep{info[0]};
    auto g = read_generate_options(info.Env(), o, keep);
    auto data = std::make_shared<RolloutData>();
    data->prompts = std::move(batch);
    data->num_generations = g.num_generations;
    auto out = std::make_shared<rl::GenerateResult>();
    auto work = [tr, data, g, out] { *out = tr->generate(data->prompts, g, data->seqs); };
    auto done = [data, out](Napi::Env env) -> Napi::Value {
      auto res = generate_result_js(env, *out);
      Napi::Object js;
      construct<RolloutsObj>(env, &js)->data = data;
      res.Set("rollouts", js);
      return res;
    };
    return run_async(info.Env(), work, done, keep);
  });
}

// trainerStep(trainer, rollouts, { advantages, ...step options }) -> Promise<report>: one GRPO optimizer update
// over the rollout's completions (advantages: one per completion, prompt-major); called μ times per rollout.
static Napi::Value Step(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto data = unwrap<RolloutsObj>(info[1], "rollouts")->data;
    auto o = get_object(info[2], "options");
    auto so = read_step_options(o);
    auto adv = get_float_vector(o.Get("advantages"), "advantages");
    if (adv.size() != data->seqs.size())
      throw_arg(fmt("Expected ", data->seqs.size(), " advantages (one per completion) but received ", adv.size()));
    std::vector<float> in_loss;  // optional: 0 = leave the completion out of the loss (e.g. truncated)
    if (!o.Get("inLoss").IsUndefined()) {
      in_loss = get_float_vector(o.Get("inLoss"), "inLoss");
      if (in_loss.size() != adv.size())
        throw_arg(fmt("Expected ", adv.size(), " inLoss flags (one per completion) but received ", in_loss.size()));
    }
    auto seqs = std::make_shared<std::vector<rl::Sequence>>(data->seqs);  // tensors shared, advantages per call
    for (size_t i = 0; i < adv.size(); ++i) {
      if (!std::isfinite(adv[i])) throw_range(fmt("Expected finite advantages but advantages[", i, "] is ", adv[i]));
      (*seqs)[i].advantage = adv[i];
      if (!in_loss.empty()) (*seqs)[i].in_loss = in_loss[i] != 0;
    }
    auto out = std::make_shared<rl::StepReport>();
    return run_async(info.Env(), [=] { *out = tr->grpo_step(data->prompts, *seqs, so); },
                     [out](Napi::Env env) -> Napi::Value { return report_js(env, *out); }, {info[0], info[1]});
  });
}

// trainerRolloutsSelect([{ rollouts, groups }]) -> Rollouts: a new rollout made of the listed prompt groups
// (each prompt with its G completions) of one or more rollouts of the same G, in the order given; tensors are
// shared, nothing is copied (dynamic sampling keeps the informative groups of several generate rounds).
static Napi::Value RolloutsSelect(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto parts = get_array(info[0], "parts");
    auto out = std::make_shared<RolloutData>();
    int64_t G = -1;
    for (uint32_t k = 0; k < parts.Length(); ++k) {
      auto po = get_object(parts.Get(k), "parts[k]");
      auto data = unwrap<RolloutsObj>(po.Get("rollouts"), "rollouts")->data;
      if (G >= 0 && data->num_generations != G)
        throw_arg(fmt("Expected rollouts of one group size (", G, ") but parts[", k, "] has ", data->num_generations));
      G = data->num_generations;
      const int64_t P = int64_t(data->prompts.size());
      for (auto g : get_int_vector(po.Get("groups"), "groups")) {
        if (g < 0 || g >= P) throw_range(fmt("Expected parts[", k, "].groups between 0 and ", P - 1, " but received ", g));
        const int64_t u = int64_t(out->prompts.size());
        out->prompts.push_back(data->prompts[g]);
        for (int64_t j = 0; j < G; ++j) {
          auto s = data->seqs[g * G + j];
          s.prompt = u;
          out->seqs.push_back(std::move(s));
        }
      }
    }
    if (out->prompts.empty()) throw_arg("Expected at least one group to select but received none");
    out->num_generations = G;
    Napi::Object js;
    construct<RolloutsObj>(info.Env(), &js)->data = out;
    return js;
  });
}

// trainerSftStep(handle, batch, { microBatchSize, update }) -> Promise<report>
static Napi::Value SftStep(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto batch = read_batch(info[1], tr->policy()->cfg.vision.patch_dim());
    auto o = get_object(info[2], "options");
    const int64_t mb = get_int(o.Get("microBatchSize"), "microBatchSize", 1, 1 << 20);
    const bool update = get_bool(o.Get("update"), "update");
    auto out = std::make_shared<rl::StepReport>();
    return run_async(info.Env(), [=] { *out = tr->sft_step(batch.prompts, batch.seqs, mb, update); },
                     [out](Napi::Env env) -> Napi::Value { return report_js(env, *out); }, {info[0]});
  });
}

// trainerLogprobs(handle, batch, { reference, microBatchSize }) -> Promise<{ rows, length, logp }>
static Napi::Value Logprobs(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto batch = read_batch(info[1], tr->policy()->cfg.vision.patch_dim());
    auto o = get_object(info[2], "options");
    const bool ref = get_bool(o.Get("reference"), "reference");
    const int64_t mb = get_int(o.Get("microBatchSize"), "microBatchSize", 1, 1 << 20);
    auto out = std::make_shared<torch::Tensor>();
    return run_async(info.Env(), [=] { *out = tr->logprobs(batch.prompts, batch.seqs, ref, mb); },
                     [out](Napi::Env env) -> Napi::Value {
                       auto r = Napi::Object::New(env);
                       r.Set("rows", double(out->size(0)));
                       r.Set("length", double(out->size(1)));
                       r.Set("logp", to_f32(env, *out));
                       return r;
                     },
                     {info[0]});
  });
}

// trainerGrad(handle, name, rows?) -> { data, shape }: float32 accumulated gradient (rows: select dim-0 rows)
static Napi::Value Grad(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto g = tr->grad(get_string(info[1], "name"));
    if (info.Length() > 2 && !info[2].IsUndefined()) {
      auto rows = get_int_vector(info[2], "rows");
      for (auto r : rows)
        if (r < 0 || r >= g.size(0)) throw_range(fmt("Expected rows between 0 and ", g.size(0) - 1, " but received ", r));
      g = g.index_select(0, torch::tensor(rows, torch::kInt64));
    }
    auto o = Napi::Object::New(info.Env());
    o.Set("data", to_f32(info.Env(), g));
    auto sh = Napi::Array::New(info.Env(), g.dim());
    for (int64_t i = 0; i < g.dim(); ++i) sh.Set(uint32_t(i), double(g.size(i)));
    o.Set("shape", sh);
    return o;
  });
}

// trainerParameters(handle) -> [{ name, trainable }] over the model's parameters (+ LoRA tensors)
static Napi::Value Parameters(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto names = tr->trainable_names();
    std::set<std::string> tn(names.begin(), names.end());
    auto arr = Napi::Array::New(info.Env());
    uint32_t k = 0;
    auto add = [&](const std::string& n) {
      auto e = Napi::Object::New(info.Env());
      e.Set("name", n);
      e.Set("trainable", tn.count(n) > 0);
      arr.Set(k++, e);
    };
    for (auto& p : tr->policy()->named_parameters(true)) add(p.key());
    if (tr->has_lora())
      for (auto& n : names) add(n);
    return arr;
  });
}

// trainerParameter(handle, name) -> Float32Array copy of a model parameter or LoRA tensor (tests)
static Napi::Value Parameter(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto name = get_string(info[1], "name");
    torch::NoGradGuard ng;
    auto params = tr->policy()->named_parameters(true);
    if (auto* p = params.find(name)) return to_f32(info.Env(), p->detach());
    for (auto& n : tr->trainable_names())
      if (n == name) return to_f32(info.Env(), tr->master(name));
    throw_arg(fmt("Expected the name of a model parameter or LoRA tensor but received '", name, "'"));
  });
}

// trainerChecksum(handle) -> Promise<number>: Σ x² over trainable parameters (rank comparison).
static Napi::Value Checksum(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto out = std::make_shared<double>(0);
    return run_async(info.Env(), [tr, out] { *out = tr->checksum(); },
                     [out](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *out); }, {info[0]});
  });
}

// trainerInfo(handle) -> { step, skipped, calls, lr, trainable, lora }
static Napi::Value Info(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto o = Napi::Object::New(info.Env());
    auto& c = tr->counters();
    o.Set("step", double(c.step));
    o.Set("skipped", double(c.skipped));
    o.Set("calls", double(c.calls));
    o.Set("lr", tr->current_lr());
    o.Set("trainable", double(tr->trainable_names().size()));
    o.Set("lora", tr->has_lora());
    return o;
  });
}

// trainerSaveModel(handle, dir, { merge }) / trainerSaveState(handle, dir) / trainerLoadState(handle, dir)
static Napi::Value SaveModel(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto dir = get_string(info[1], "dir");
    bool merge = false;
    if (info.Length() > 2 && !info[2].IsUndefined()) merge = opt_bool(get_object(info[2], "options"), "merge", false);
    return run_async(info.Env(), [=] { tr->save_model(dir, merge); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); },
                     {info[0]});
  });
}
static Napi::Value SaveState(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto dir = get_string(info[1], "dir");
    return run_async(info.Env(), [=] { tr->save_state(dir); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); },
                     {info[0]});
  });
}
static Napi::Value LoadState(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto tr = trainer_of(info[0]);
    auto dir = get_string(info[1], "dir");
    return run_async(info.Env(), [=] { tr->load_state(dir); }, [](Napi::Env env) -> Napi::Value { return env.Undefined(); },
                     {info[0]});
  });
}

void init_trainer(Napi::Env env, Napi::Object exports) {
  exports.Set("trainerCreate", Napi::Function::New(env, Create, "trainerCreate"));
  exports.Set("trainerDispose", Napi::Function::New(env, Dispose, "trainerDispose"));
  exports.Set("trainerGrpoStep", Napi::Function::New(env, GrpoStep, "trainerGrpoStep"));
  exports.Set("trainerGenerate", Napi::Function::New(env, Generate, "trainerGenerate"));
  exports.Set("trainerStep", Napi::Function::New(env, Step, "trainerStep"));
  exports.Set("trainerRolloutsSelect", Napi::Function::New(env, RolloutsSelect, "trainerRolloutsSelect"));
  exports.Set("trainerSftStep", Napi::Function::New(env, SftStep, "trainerSftStep"));
  exports.Set("trainerLogprobs", Napi::Function::New(env, Logprobs, "trainerLogprobs"));
  exports.Set("trainerGrad", Napi::Function::New(env, Grad, "trainerGrad"));
  exports.Set("trainerParameters", Napi::Function::New(env, Parameters, "trainerParameters"));
  exports.Set("trainerParameter", Napi::Function::New(env, Parameter, "trainerParameter"));
  exports.Set("trainerInfo", Napi::Function::New(env, Info, "trainerInfo"));
  exports.Set("trainerChecksum", Napi::Function::New(env, Checksum, "trainerChecksum"));
  exports.Set("trainerSaveModel", Napi::Function::New(env, SaveModel, "trainerSaveModel"));
  exports.Set("trainerSaveState", Napi::Function::New(env, SaveState, "trainerSaveState"));
  exports.Set("trainerLoadState", Napi::Function::New(env, LoadState, "trainerLoadState"));
}

}  // namespace vrft::napi
