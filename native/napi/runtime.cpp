// Bindings: runtime info (doctor), thread count, measured machine limits, and a busy-work probe.
#include <napi.h>

#include "common/errors.h"
#include "common/limits.h"
#include "common/runtime.h"
#include "model/layers.h"
#include "napi/common.h"

namespace vrft::napi {

static Napi::Value RuntimeInfoJs(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto r = runtime_info();
    auto env = info.Env();
    auto o = Napi::Object::New(env);
    o.Set("torchVersion", r.torch_version);
    o.Set("torchDir", r.torch_dir);
    o.Set("builtWithCuda", r.built_with_cuda);
    o.Set("cudaAvailable", r.cuda_available);
    o.Set("cudaDevices", r.cuda_devices);
    o.Set("parallelInfo", r.parallel_info);
    o.Set("blas", r.blas);
    o.Set("referenceBlas", r.reference_blas);
    o.Set("haveGloo", r.have_gloo);
    o.Set("numThreads", r.num_threads);
    o.Set("skinnyGemm", model::skinny_gemm_isa());
    o.Set("skinnyGemmBf16", model::skinny_gemm_bf16_isa());
    o.Set("skinnyGemmEnabled", model::skinny_gemm_enabled());
    o.Set("packedWeights", model::packed_weights_enabled());
    o.Set("napiVersion", NAPI_VERSION);
    return o;
  });
}

static Napi::Value SetNumThreads(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    set_num_threads(static_cast<int>(get_int(info[0], "threads", 0, 4096)));
    return Napi::Number::New(info.Env(), num_threads());
  });
}

// setSkinnyGemm(on) -> whether the decode kernel is now in use (false where the CPU has none).
static Napi::Value SetSkinnyGemm(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    model::set_skinny_gemm_enabled(get_bool(info[0], "on"));
    return Napi::Boolean::New(info.Env(), model::skinny_gemm_enabled() && model::skinny_gemm_isa() != "none");
  });
}

// setPackedWeights(on) -> whether the decode GEMMs now read packed copies of the weights (see layers.h).
static Napi::Value SetPackedWeights(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    model::set_packed_weights_enabled(get_bool(info[0], "on"));
    return Napi::Boolean::New(info.Env(), model::packed_weights_enabled());
  });
}

static Napi::Value GetNumThreads(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), num_threads());
}

static Napi::Object measured(Napi::Env env, const Measured& m) {
  auto o = Napi::Object::New(env);
  o.Set("median", m.value);
  o.Set("best", m.best);
  o.Set("repetitions", m.repetitions);
  return o;
}

// measureMatmul({ n, dtype, device, reps }) -> Promise<{median, best, repetitions}> (FLOP/s)
static Napi::Value MeasureMatmul(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    int n = static_cast<int>(opt_int(o, "n", 1024, 16, 32768));
    auto dtype = opt_string(o, "dtype", "float32");
    auto device = opt_string(o, "device", "cpu");
    int reps = static_cast<int>(opt_int(o, "reps", 5, 1, 1000));
    auto out = std::make_shared<Measured>();
    return run_async(info.Env(), [=] { *out = measure_matmul_flops(n, dtype, device, reps); },
                     [out](Napi::Env env) -> Napi::Value { return measured(env, *out); });
  });
}

// measureLinear({ m, k, n, dtype, device, reps }) -> Promise<{median, best, repetitions}> (FLOP/s of model::linear)
static Napi::Value MeasureLinear(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    int m = static_cast<int>(opt_int(o, "m", 8, 1, 1 << 20)), k = static_cast<int>(opt_int(o, "k", 1024, 1, 1 << 20)),
        n = static_cast<int>(opt_int(o, "n", 1024, 1, 1 << 24));
    auto dtype = opt_string(o, "dtype", "float32");
    auto device = opt_string(o, "device", "cpu");
    int reps = static_cast<int>(opt_int(o, "reps", 5, 1, 1000));
    auto out = std::make_shared<Measured>();
    return run_async(info.Env(), [=] { *out = measure_linear_flops(m, k, n, dtype, device, reps); },
                     [out](Napi::Env env) -> Napi::Value { return measured(env, *out); });
  });
}

// measureBandwidth({ bytes, device, reps }) -> Promise<{median, best, repetitions}> (bytes/s)
static Napi::Value MeasureBandwidth(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    long long bytes = opt_int(o, "bytes", 256ll << 20, 1 << 20, 1ll << 40);
    auto device = opt_string(o, "device", "cpu");
    int reps = static_cast<int>(opt_int(o, "reps", 5, 1, 1000));
    auto out = std::make_shared<Measured>();
    return run_async(info.Env(), [=] { *out = measure_bandwidth(bytes, device, reps); },
                     [out](Napi::Env env) -> Napi::Value { return measured(env, *out); });
  });
}

// busyWork(ms) -> Promise<number> (elapsed ms); runs libtorch work on a worker thread.
static Napi::Value BusyWork(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    int ms = static_cast<int>(get_int(info[0], "ms", 0, 600000));
    auto out = std::make_shared<double>(0);
    return run_async(info.Env(), [=] { *out = busy_work(ms); },
                     [out](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *out); });
  });
}

// skinnyGemmBf16Check({ m, k, n, bias, strided, seed }) -> Promise<{ maxAbsDiff, torchAbsDiff, maxAbsRef, used, outBf16 }>
// (tests)
static Napi::Value SkinnyGemmBf16Check(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    const int64_t m = opt_int(o, "m", 8, 1, 4096), k = opt_int(o, "k", 64, 1, 1 << 16), n = opt_int(o, "n", 64, 1, 1 << 20);
    const bool bias = opt_bool(o, "bias", false), strided = opt_bool(o, "strided", false);
    const auto seed = static_cast<uint64_t>(opt_int(o, "seed", 0, 0, 1 << 30));
    auto out = std::make_shared<model::SkinnyBf16Check>();
    return run_async(info.Env(), [=] { *out = model::skinny_gemm_bf16_check(m, k, n, bias, strided, seed); },
                     [out](Napi::Env env) -> Napi::Value {
                       auto r = Napi::Object::New(env);
                       r.Set("maxAbsDiff", out->max_abs_diff);
                       r.Set("torchAbsDiff", out->torch_abs_diff);
                       r.Set("maxAbsRef", out->max_abs_ref);
                       r.Set("used", out->used);
                       r.Set("outBf16", out->out_bf16);
                       return r;
                     });
  });
}

// skinnyGemmCheck({ m, k, n, bias, strided, packed, seed }) -> Promise<{ maxAbsDiff, maxAbsRef, used, tasks, packed }>
// (tests)
static Napi::Value SkinnyGemmCheck(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    const int64_t m = opt_int(o, "m", 8, 1, 4096), k = opt_int(o, "k", 64, 1, 1 << 16), n = opt_int(o, "n", 64, 1, 1 << 20);
    const bool bias = opt_bool(o, "bias", false), strided = opt_bool(o, "strided", false), packed = opt_bool(o, "packed", false);
    const auto seed = static_cast<uint64_t>(opt_int(o, "seed", 0, 0, 1 << 30));
    auto out = std::make_shared<model::SkinnyCheck>();
    return run_async(info.Env(), [=] { *out = model::skinny_gemm_check(m, k, n, bias, strided, packed, seed); },
                     [out](Napi::Env env) -> Napi::Value {
                       auto r = Napi::Object::New(env);
                       r.Set("maxAbsDiff", out->max_abs_diff);
                       r.Set("maxAbsRef", out->max_abs_ref);
                       r.Set("used", out->used);
                       r.Set("tasks", out->tasks);
                       r.Set("packed", out->packed);
                       return r;
                     });
  });
}

// decodeAttentionCheck({ b, h, r, l, d, mask, seed }) -> Promise<{ maxAbsDiff, maxAbsRef, used }> (tests)
static Napi::Value DecodeAttentionCheck(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    const int64_t b = opt_int(o, "b", 2, 1, 64), h = opt_int(o, "h", 2, 1, 64), r = opt_int(o, "r", 1, 1, 64);
    const int64_t l = opt_int(o, "l", 16, 1, 1 << 16), d = opt_int(o, "d", 64, 1, 1024);
    const int mask = static_cast<int>(opt_int(o, "mask", 0, 0, 2));
    if (mask == 2 && r > l) throw_range(fmt("Expected r <= l for a causal mask but received r = ", r, ", l = ", l));
    const auto seed = static_cast<uint64_t>(opt_int(o, "seed", 0, 0, 1 << 30));
    auto out = std::make_shared<model::AttentionCheck>();
    return run_async(info.Env(), [=] { *out = model::decode_attention_check(b, h, r, l, d, mask, seed); },
                     [out](Napi::Env env) -> Napi::Value {
                       auto res = Napi::Object::New(env);
                       res.Set("maxAbsDiff", out->max_abs_diff);
                       res.Set("maxAbsRef", out->max_abs_ref);
                       res.Set("used", out->used);
                       return res;
                     });
  });
}

// throwTest(kind) -> throws/rejects each mapped error kind (tests of the guard).
static Napi::Value ThrowTest(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto kind = get_string(info[0], "kind");
    bool async = info.Length() > 1 && info[1].IsBoolean() && info[1].As<Napi::Boolean>().Value();
    auto fn = [kind] {
      if (kind == "torch") {
        auto a = torch::ones({2, 3}), b = torch::ones({4, 5});
        (void)torch::mm(a, b);  // c10::Error from a shape check
      } else if (kind == "oom") {
        throw c10::OutOfMemoryError(c10::SourceLocation{__func__, __FILE__, __LINE__}, "simulated out of memory");
      } else if (kind == "std") {
        throw std::runtime_error("simulated native failure");
      } else if (kind == "range") {
        throw_range("Expected a value between 1 and 10 for x but received 0");
      }
      throw_arg(fmt("Expected kind 'torch', 'oom', 'std' or 'range' but received '", kind, "'"));
    };
    if (!async) {
      fn();
      return info.Env().Undefined();
    }
    return run_async(info.Env(), fn, nullptr);
  });
}

void init_runtime(Napi::Env env, Napi::Object exports) {
  exports.Set("runtimeInfo", Napi::Function::New(env, RuntimeInfoJs));
  exports.Set("setNumThreads", Napi::Function::New(env, SetNumThreads));
  exports.Set("getNumThreads", Napi::Function::New(env, GetNumThreads));
  exports.Set("setSkinnyGemm", Napi::Function::New(env, SetSkinnyGemm));
  exports.Set("measureMatmul", Napi::Function::New(env, MeasureMatmul));
  exports.Set("measureBandwidth", Napi::Function::New(env, MeasureBandwidth));
  exports.Set("busyWork", Napi::Function::New(env, BusyWork));
  exports.Set("throwTest", Napi::Function::New(env, ThrowTest));
  exports.Set("skinnyGemmCheck", Napi::Function::New(env, SkinnyGemmCheck));
  exports.Set("measureLinear", Napi::Function::New(env, MeasureLinear));
  exports.Set("skinnyGemmBf16Check", Napi::Function::New(env, SkinnyGemmBf16Check));
  exports.Set("setPackedWeights", Napi::Function::New(env, SetPackedWeights));
  exports.Set("decodeAttentionCheck", Napi::Function::New(env, DecodeAttentionCheck));
}

}  // namespace vrft::napi
