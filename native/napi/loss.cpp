// grpoLossCheck: the GRPO loss (rl::grpo_loss, native/rl/grpo.h) on log-probs given directly, with its gradient
// with respect to them — the hook the objective tests compare against an independent float64 formula
// (test/grpo-variants.test.ts). No model is involved.
#include <napi.h>

#include <cstring>

#include "common/errors.h"
#include "napi/common.h"
#include "rl/grpo.h"
#include "rl/trainer.h"

namespace vrft::napi {

rl::GrpoStepOptions read_step_options(const Napi::Object& o);  // napi/trainer.cpp

// A Float64Array field of `o` with `n` values as a (rows, n / rows) tensor of `dtype`, or undefined when absent.
static torch::Tensor f64_field(const Napi::Object& o, const char* k, int64_t rows, int64_t n, torch::ScalarType dtype) {
  auto v = o.Get(k);
  if (v.IsUndefined() || v.IsNull()) return {};
  if (!v.IsTypedArray() || v.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    throw_arg(fmt("Expected a Float64Array for ", k));
  auto a = v.As<Napi::Float64Array>();
  if (int64_t(a.ElementLength()) != n) throw_arg(fmt("Expected ", n, " values for ", k, " but received ", a.ElementLength()));
  auto t = torch::empty({n}, torch::kFloat64);
  if (n) std::memcpy(t.data_ptr<double>(), a.Data(), n * sizeof(double));
  return t.view({rows, n / rows}).to(dtype);
}

static Napi::Float64Array to_f64(Napi::Env env, const torch::Tensor& t) {
  auto c = t.detach().to(torch::kCPU, torch::kFloat64).contiguous();
  auto a = Napi::Float64Array::New(env, c.numel());
  if (c.numel()) std::memcpy(a.Data(), c.data_ptr<double>(), c.numel() * sizeof(double));
  return a;
}

// grpoLossCheck({ rows, length, dtype: 'float64' | 'float32', logp, mask, advantages, old?, ref?, entropy?,
//   rollout?, options (NativeGrpoOptions), norm: { completions, tokens, microBatches, maxLen } })
//   -> { loss, grad, perToken, kept, tis, clipped }
static Napi::Value LossCheck(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "input");
    const int64_t B = get_int(o.Get("rows"), "rows", 1, 1 << 20), L = get_int(o.Get("length"), "length", 1, 1 << 20);
    auto ds = get_string(o.Get("dtype"), "dtype");
    if (ds != "float64" && ds != "float32") throw_arg(fmt("Expected 'float64' or 'float32' for dtype but received '", ds, "'"));
    const auto dt = ds == "float64" ? torch::kFloat64 : torch::kFloat32;
    auto so = read_step_options(get_object(o.Get("options"), "options"));
    auto no = get_object(o.Get("norm"), "norm");
    rl::LossNorm n;
    n.completions = get_int(no.Get("completions"), "norm.completions", 1, int64_t(1) << 40);
    n.tokens = get_number(no.Get("tokens"), "norm.tokens");
    n.micro_batches = get_int(no.Get("microBatches"), "norm.microBatches", 1, int64_t(1) << 40);
    n.max_len = get_int(no.Get("maxLen"), "norm.maxLen", 1, int64_t(1) << 40);
    auto logp = f64_field(o, "logp", B, B * L, dt);
    auto mask = f64_field(o, "mask", B, B * L, dt);
    auto adv = f64_field(o, "advantages", B, B, dt);
    if (!logp.defined() || !mask.defined() || !adv.defined()) throw_arg("Expected logp, mask and advantages");
    logp = logp.detach().clone().requires_grad_(true);
    torch::AutoGradMode on(true);
    auto terms = rl::grpo_loss(logp, f64_field(o, "old", B, B * L, dt), f64_field(o, "ref", B, B * L, dt), adv.view({B}), mask, so.loss, n,
                               f64_field(o, "entropy", B, B * L, dt), f64_field(o, "rollout", B, B * L, dt));
    terms.loss.backward();
    auto r = Napi::Object::New(info.Env());
    r.Set("loss", terms.loss.item<double>());
    r.Set("grad", to_f64(info.Env(), logp.grad()));
    r.Set("perToken", to_f64(info.Env(), terms.per_token));
    r.Set("kept", to_f64(info.Env(), terms.kept));
    r.Set("tis", to_f64(info.Env(), terms.tis));
    r.Set("clipped", terms.clipped.sum().item<double>());
    return r;
  });
}

void init_loss_check(Napi::Env env, Napi::Object exports) {
  exports.Set("grpoLossCheck", Napi::Function::New(env, LossCheck, "grpoLossCheck"));
}

}  // namespace vrft::napi
