// Bindings for generation and teacher-forced log-probs (native/rl/generate.h, logprobs.h):
//   generate(model, options) -> Promise<{ ids, lengths, logp, logpTemp?, rows, steps, ... }>
//   logprobs(model, options) -> Promise<{ logp, entropy?, rows, length, peakChunkBytes }>
//   generateAbortFlag() -> flag; generateAbortSet(flag): cancel a running generate that was given `flag`
//   logitsChunkPeak(reset?) -> largest float32 logits chunk (bytes) built by logprobs since the last reset
//   logprobsGradCheck(options) -> self-test of the chunked log-prob backward against plain autograd
// Arguments are read and copied on the JS thread into plain structs; workers never touch JS values. The
// model is the Model object made by modelLoad (native/napi/objects.h). See lib/native/binding.ts.
#include <napi.h>

#include <array>
#include <atomic>
#include <cstring>
#include <limits>

#include "common/errors.h"
#include "model/qwen2vl.h"
#include "napi/common.h"
#include "napi/objects.h"
#include "rl/generate.h"
#include "rl/logprobs.h"
#include "rl/sampling.h"

namespace vrft::napi {

namespace m = vrft::model;

static m::Qwen2VL model_of(const Napi::Value& v) {
  auto* h = unwrap<ModelObj>(v, "model");
  if (!h->model) throw_coded("ERR_MODEL_DISPOSED", "Expected a loaded model but this one was disposed");
  return h->model;
}

static bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

// The prompt part of both calls: ids, mask, pixels, grids.
struct PromptInputs {
  torch::Tensor ids, mask, pixels;  // (P, T) int64, (P, T) int64, (N, patch_dim) float32 or undefined
  std::vector<m::Grid> grids;
};

static torch::Tensor read_matrix(const Napi::Value& v, const char* name, int64_t rows) {
  auto flat = get_int_vector(v, name);
  if (flat.empty() || flat.size() % rows)
    throw_arg(fmt("Expected ", name, " to hold ", rows, " rows of equal, non-zero length but received ", flat.size(), " values"));
  return torch::tensor(flat, torch::kInt64).view({rows, int64_t(flat.size()) / rows});
}

static PromptInputs read_prompt(const Napi::Object& o, const m::ModelConfig& cfg) {
  PromptInputs p;
  const int64_t P = get_int(o.Get("batch"), "batch", 1, 1 << 16);
  p.ids = read_matrix(o.Get("inputIds"), "inputIds", P);
  if (absent(o.Get("attentionMask"))) {
    p.mask = torch::ones_like(p.ids);
  } else {
    p.mask = read_matrix(o.Get("attentionMask"), "attentionMask", P);
    if (!p.mask.sizes().equals(p.ids.sizes())) throw_arg(fmt("Expected attentionMask of shape ", p.ids.sizes(), " but received ", p.mask.sizes()));
  }
  auto im = read_images(o.Get("pixelValues"), o.Get("imageGridThw"), cfg.vision.patch_dim());
  p.pixels = im.pixels;
  p.grids = std::move(im.grids);
  return p;
}

// The sampling and stopping fields of a generate call (GenerateNativeOptions in lib/native/binding.ts), all
// required: the defaults live in lib/defaults.ts, never here. JS objects the
// call needs alive (abort flag) are added to `keep`.
rl::GenerateOptions read_generate_options(Napi::Env env, const Napi::Object& o, std::vector<Napi::Value>& keep) {
  rl::GenerateOptions g;
  g.max_new_tokens = get_int(o.Get("maxNewTokens"), "maxNewTokens", 1, 1 << 20);
  g.num_generations = get_int(o.Get("numGenerations"), "numGenerations", 1, 1 << 16);
  g.sampling.temperature = get_number(o.Get("temperature"), "temperature");
  if (g.sampling.temperature < 0) throw_range(fmt("Expected a number >= 0 for temperature but received ", g.sampling.temperature));
  g.sampling.greedy = get_bool(o.Get("greedy"), "greedy") || g.sampling.temperature == 0;
  g.sampling.top_p = get_number(o.Get("topP"), "topP");
  if (!(g.sampling.top_p > 0 && g.sampling.top_p <= 1)) throw_range(fmt("Expected a number in (0, 1] for topP but received ", g.sampling.top_p));
  g.sampling.top_k = get_int(o.Get("topK"), "topK", 0, 1 << 30);
  g.eos_ids = get_int_vector(o.Get("eosIds"), "eosIds");
  g.pad_id = get_int(o.Get("padId"), "padId", 0, int64_t(1) << 40);
  if (!absent(o.Get("seed"))) g.seed = uint64_t(get_int(o.Get("seed"), "seed", 0, (int64_t(1) << 53)));
  auto mode = get_string(o.Get("mode"), "mode");
  if (mode == "cache") g.mode = rl::GenerateMode::Cache;
  else if (mode == "nocache") g.mode = rl::GenerateMode::NoCache;
  else if (mode == "per_sample_prefill") g.mode = rl::GenerateMode::PerSamplePrefill;
  else throw_arg(fmt("Expected 'cache', 'nocache' or 'per_sample_prefill' for mode but received '", mode, "'"));
  if (!absent(o.Get("abortFlag"))) {
    auto flag = unwrap<AbortFlagObj>(o.Get("abortFlag"), "abortFlag")->flag;
    g.should_stop = [flag] { return flag->load(std::memory_order_relaxed); };
    keep.push_back(o.Get("abortFlag"));
  }
  if (!absent(o.Get("onTokens"))) {
    if (!o.Get("onTokens").IsFunction()) throw_arg(fmt("Expected a function for onTokens but received ", describe(o.Get("onTokens"))));
    // Streaming: each step's tokens go to JS through a thread-safe function (queued, never blocking the
    // generating thread). The holder releases it when the last copy of `g` goes, after the work ends.
    struct Stream {
      Napi::ThreadSafeFunction fn;
      ~Stream() { fn.Release(); }
    };
    auto st = std::make_shared<Stream>();
    st->fn = Napi::ThreadSafeFunction::New(env, o.Get("onTokens").As<Napi::Function>(), "vrft-generate-tokens", 0, 1);
    g.on_step = [st](std::vector<int32_t> tokens, int64_t step) {
      auto* data = new std::pair<std::vector<int32_t>, int64_t>(std::move(tokens), step);
      auto status = st->fn.NonBlockingCall(data, [](Napi::Env env, Napi::Function cb, std::pair<std::vector<int32_t>, int64_t>* d) {
        auto a = Napi::Int32Array::New(env, d->first.size());
        if (!d->first.empty()) std::memcpy(a.Data(), d->first.data(), d->first.size() * sizeof(int32_t));
        const double step = double(d->second);
        delete d;
        try {
          cb.Call({a, Napi::Number::New(env, step)});
        } catch (const Napi::Error& e) {
          e.ThrowAsJavaScriptException();  // a throwing listener is an uncaught JS exception, never a C++ crash
        }
      });
      if (status != napi_ok) delete data;
    };
  }
  return g;
}

template <typename T, typename A>
static A to_typed(Napi::Env env, const torch::Tensor& t, c10::ScalarType st) {
  auto c = t.to(torch::kCPU, st).contiguous();
  auto a = A::New(env, c.numel());
  if (c.numel()) std::memcpy(a.Data(), c.data_ptr<T>(), c.numel() * sizeof(T));
  return a;
}
static Napi::Int32Array i32(Napi::Env env, const torch::Tensor& t) { return to_typed<int32_t, Napi::Int32Array>(env, t, torch::kInt32); }
static Napi::Float32Array f32(Napi::Env env, const torch::Tensor& t) { return to_typed<float, Napi::Float32Array>(env, t, torch::kFloat32); }

Napi::Object generate_result_js(Napi::Env env, rl::GenerateResult& r) {
  auto res = Napi::Object::New(env);
  res.Set("rows", double(r.ids.size(0)));
  res.Set("steps", double(r.ids.size(1)));
  res.Set("ids", i32(env, r.ids));
  res.Set("lengths", i32(env, r.lengths));
  res.Set("logp", f32(env, r.logp));
  if (r.logp_temp.defined()) res.Set("logpTemp", f32(env, r.logp_temp));
  res.Set("promptLength", double(r.prompt_len));
  res.Set("prefillSeconds", r.prefill_seconds);
  res.Set("decodeSeconds", r.decode_seconds);
  r = rl::GenerateResult{};
  return res;
}

// generate(model, options) — see GenerateNativeOptions in lib/native/generate.ts.
static Napi::Value Generate(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = model_of(info[0]);
    auto o = get_object(info[1], "options");
    auto in = read_prompt(o, model->cfg);
    std::vector<Napi::Value> keep{info[0]};
    auto g = read_generate_options(info.Env(), o, keep);
    auto out = std::make_shared<rl::GenerateResult>();
    auto work = [mp = model.ptr(), in, g, out] {
      c10::InferenceMode im;
      *out = rl::generate(*mp, in.ids, in.mask, in.pixels, in.grids, g);
    };
    auto done = [out](Napi::Env env) -> Napi::Value { return generate_result_js(env, *out); };
    return run_async(info.Env(), work, done, keep);
  });
}

// logprobs(model, options) — see LogprobsNativeOptions in lib/native/generate.ts.
static Napi::Value Logprobs(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = model_of(info[0]);
    auto o = get_object(info[1], "options");
    auto in = read_prompt(o, model->cfg);
    const int64_t P = in.ids.size(0);
    const int64_t B = opt_int(o, "completionRows", P, 1, 1 << 20);
    if (B % P) throw_range(fmt("Expected completionRows to be a multiple of batch (", P, ") but received ", B));
    auto comp = read_matrix(o.Get("completionIds"), "completionIds", B);
    torch::Tensor cmask;
    if (!absent(o.Get("completionMask"))) {
      cmask = read_matrix(o.Get("completionMask"), "completionMask", B);
      if (!cmask.sizes().equals(comp.sizes())) throw_arg(fmt("Expected completionMask of shape ", comp.sizes(), " but received ", cmask.sizes()));
    }
    rl::LogprobsOptions lo;
    lo.chunk = get_int(o.Get("chunk"), "chunk", 1, 1 << 24);
    lo.entropy = get_bool(o.Get("entropy"), "entropy");
    lo.temperature = get_number(o.Get("temperature"), "temperature");
    if (lo.temperature < 1e-6) throw_range(fmt("Expected a number > 0 for temperature but received ", lo.temperature));
    lo.share_prefix = get_bool(o.Get("sharePrefix"), "sharePrefix");
    auto out = std::make_shared<rl::LogprobsResult>();
    auto work = [mp = model.ptr(), in, comp, cmask, lo, out] {
      c10::InferenceMode im;
      *out = rl::completion_logprobs(*mp, in.ids, in.mask, in.pixels, in.grids, comp, cmask, lo);
    };
    auto done = [out](Napi::Env env) -> Napi::Value {
      auto& r = *out;
      auto res = Napi::Object::New(env);
      res.Set("rows", double(r.logp.size(0)));
      res.Set("length", double(r.logp.size(1)));
      res.Set("logp", f32(env, r.logp));
      if (r.entropy.defined()) res.Set("entropy", f32(env, r.entropy));
      res.Set("peakChunkBytes", double(rl::logits_chunk_peak_bytes()));
      r = rl::LogprobsResult{};
      return res;
    };
    return run_async(info.Env(), work, done, {info[0]});
  });
}

static Napi::Value AbortFlagNew(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    Napi::Object js;
    construct<AbortFlagObj>(info.Env(), &js);
    return js;
  });
}

static Napi::Value AbortFlagSet(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    unwrap<AbortFlagObj>(info[0], "flag")->flag->store(true);
    return info.Env().Undefined();
  });
}

static Napi::Value ChunkPeak(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    const double v = double(rl::logits_chunk_peak_bytes());
    if (info.Length() > 0 && !absent(info[0]) && get_bool(info[0], "reset")) rl::reset_logits_chunk_peak();
    return Napi::Number::New(info.Env(), v);
  });
}

// sampleCounts({ probs, draws, seed }) -> Promise<number[]>: how often each entry of probs (one distribution,
// number[] | Float32Array) was drawn in `draws` draws of rl::draw_rows (one row per draw; a self-test).
static Napi::Value SampleCounts(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    auto probs = get_float_vector(o.Get("probs"), "probs");
    if (probs.empty()) throw_arg("Expected a non-empty probs array but received an empty one");
    const int64_t draws = opt_int(o, "draws", 1000, 1, 10'000'000);
    const auto seed = static_cast<uint64_t>(opt_int(o, "seed", 0, 0, 1 << 30));
    auto counts = std::make_shared<std::vector<int64_t>>(probs.size(), 0);
    return run_async(info.Env(), [=] {
      torch::NoGradGuard ng;
      const int64_t V = static_cast<int64_t>(probs.size());
      auto p = torch::from_blob(const_cast<float*>(probs.data()), {1, V}, torch::kFloat32).expand({draws, V});
      auto gen = rl::make_generator(torch::kCPU, seed);
      auto tok = rl::draw_rows(p, gen);
      const int64_t* tp = tok.data_ptr<int64_t>();
      for (int64_t i = 0; i < draws; ++i) (*counts)[tp[i]]++;
    }, [counts](Napi::Env env) -> Napi::Value {
      auto a = Napi::Array::New(env, counts->size());
      for (size_t i = 0; i < counts->size(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, double((*counts)[i])));
      return a;
    });
  });
}

// logprobsGradCheck({ rows, hidden, vocab, chunk, temperature, seed }) -> max |Δ| between the chunked
// autograd function and plain log_softmax autograd, for logp and for the gradients w.r.t. hidden and
// weight (float64 on the CPU; a self-test of the GRPO path's backward).
static Napi::Value GradCheck(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    const int64_t M = opt_int(o, "rows", 37, 1, 1 << 16), H = opt_int(o, "hidden", 16, 1, 4096), V = opt_int(o, "vocab", 1000, 2, 1 << 20);
    rl::LogprobsOptions lo;
    lo.chunk = opt_int(o, "chunk", 8, 1, 1 << 20);
    lo.temperature = opt_number(o, "temperature", 1.0, 1e-3, 1e3);
    lo.entropy = true;
    const int64_t seed = opt_int(o, "seed", 0, 0, int64_t(1) << 40);
    auto out = std::make_shared<std::array<double, 4>>();
    auto work = [=] {
      torch::manual_seed(uint64_t(seed));
      auto opt = torch::TensorOptions().dtype(torch::kFloat64);
      auto h = torch::randn({M, H}, opt).requires_grad_(true), w = (torch::randn({V, H}, opt) * 0.5).requires_grad_(true);
      auto tgt = torch::randint(V, {M}, torch::kInt64), g = torch::randn({M}, opt);
      auto r = rl::chunked_token_logprobs(h, w, tgt, lo);
      auto cg = torch::autograd::grad({r.logp}, {h, w}, {g.to(r.logp.scalar_type())});
      auto gh = cg[0], gw = cg[1];
      {  // a frozen head (weight without grad): only d/dhidden flows, and it is the same
        auto wf = w.detach();
        auto rf = rl::chunked_token_logprobs(h, wf, tgt, lo);
        auto ghf = torch::autograd::grad({rf.logp}, {h}, {g.to(rf.logp.scalar_type())})[0];
        if (!torch::equal(ghf, gh)) throw CodedError("ERR_NATIVE", "gradient w.r.t. hidden differs when the head is frozen");
      }
      auto z = torch::linear(h, w) / lo.temperature;
      auto ls = z.log_softmax(-1);
      auto ref = ls.gather(-1, tgt.unsqueeze(-1)).squeeze(-1);
      auto ent = -(ls.exp() * ls).sum(-1);
      auto rg = torch::autograd::grad({ref}, {h, w}, {g});
      (*out)[0] = (r.logp.to(torch::kFloat64) - ref).abs().max().item<double>();
      (*out)[1] = (gh.to(torch::kFloat64) - rg[0]).abs().max().item<double>();
      (*out)[2] = (gw.to(torch::kFloat64) - rg[1]).abs().max().item<double>();
      (*out)[3] = (r.entropy.to(torch::kFloat64) - ent).abs().max().item<double>();
    };
    auto done = [out](Napi::Env env) -> Napi::Value {
      auto res = Napi::Object::New(env);
      res.Set("logp", (*out)[0]);
      res.Set("gradHidden", (*out)[1]);
      res.Set("gradWeight", (*out)[2]);
      res.Set("entropy", (*out)[3]);
      return res;
    };
    return run_async(info.Env(), work, done);
  });
}

void init_generate(Napi::Env env, Napi::Object exports) {
  exports.Set("generate", Napi::Function::New(env, Generate, "generate"));
  exports.Set("logprobs", Napi::Function::New(env, Logprobs, "logprobs"));
  exports.Set("generateAbortFlag", Napi::Function::New(env, AbortFlagNew, "generateAbortFlag"));
  exports.Set("generateAbortSet", Napi::Function::New(env, AbortFlagSet, "generateAbortSet"));
  exports.Set("sampleCounts", Napi::Function::New(env, SampleCounts, "sampleCounts"));
  exports.Set("logitsChunkPeak", Napi::Function::New(env, ChunkPeak, "logitsChunkPeak"));
  exports.Set("logprobsGradCheck", Napi::Function::New(env, GradCheck, "logprobsGradCheck"));
}

}  // namespace vrft::napi
