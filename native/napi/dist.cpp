// Bindings for data-parallel training: join/leave the process-wide c10d group, all-gather scalars
// (metrics, parameter checksums), barrier. Gradient all-reduce happens natively inside the trainer step.
#include <napi.h>

#include <cstring>

#include "common/errors.h"
#include "dist/process_group.h"
#include "napi/common.h"

namespace vrft::napi {

// distInit({ rank, worldSize, masterAddr, masterPort, timeoutMs, backend: 'gloo'|'nccl', deviceIndex }) -> Promise<void>
static Napi::Value DistInit(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = get_object(info[0], "options");
    dist::Options d;
    d.world_size = static_cast<int>(opt_int(o, "worldSize", 1, 1, 65536));
    d.rank = static_cast<int>(opt_int(o, "rank", 0, 0, 65535));
    d.master_addr = opt_string(o, "masterAddr", "127.0.0.1");
    d.master_port = static_cast<int>(opt_int(o, "masterPort", 29500, 1, 65535));
    d.timeout_ms = static_cast<int>(opt_int(o, "timeoutMs", 60000, 100, 86400000));
    d.backend = opt_string(o, "backend", "gloo");
    d.device_index = static_cast<int>(opt_int(o, "deviceIndex", 0, 0, 1024));
    if (d.rank >= d.world_size) throw_range(fmt("Expected rank < worldSize (", d.world_size, ") but received ", d.rank));
    if (dist::current()) throw_coded("ERR_DIST_STATE", "this process already joined a process group; call distShutdown() first");
    return run_async(info.Env(), [d] { dist::set_current(dist::Group::init(d)); }, nullptr);
  });
}

static std::shared_ptr<dist::Group> need_group() {
  auto g = dist::current();
  if (!g) throw_coded("ERR_DIST_STATE", "no process group: call distInit() first");
  return g;
}

// distAllgather(value) -> Promise<number[]> (every rank's value, rank order)
static Napi::Value DistAllgather(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    double v = get_number(info[0], "value");
    auto g = need_group();
    auto out = std::make_shared<std::vector<double>>();
    return run_async(info.Env(), [=] { *out = g->allgather(v); }, [out](Napi::Env env) -> Napi::Value {
      auto a = Napi::Array::New(env, out->size());
      for (size_t i = 0; i < out->size(); ++i) a.Set(i, Napi::Number::New(env, (*out)[i]));
      return a;
    });
  });
}

// distAllreduceMean(values: Float64Array) -> Promise<Float64Array> (mean across ranks, elementwise)
static Napi::Value DistAllreduceMean(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
      throw_arg(fmt("Expected a Float64Array for values but received ", describe(info[0])));
    auto a = info[0].As<Napi::Float64Array>();
    auto t = torch::from_blob(a.Data(), {int64_t(a.ElementLength())}, torch::kFloat64).clone();
    auto g = need_group();
    return run_async(info.Env(), [=] { g->allreduce_mean({t}); }, [t](Napi::Env env) -> Napi::Value {
      auto out = Napi::Float64Array::New(env, t.numel());
      std::memcpy(out.Data(), t.data_ptr<double>(), t.numel() * sizeof(double));
      return out;
    });
  });
}

static Napi::Value DistBarrier(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto g = need_group();
    return run_async(info.Env(), [g] { g->barrier(); }, nullptr);
  });
}

static Napi::Value DistShutdown(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto g = dist::current();
    dist::set_current(nullptr);
    if (g) g->shutdown();
    return info.Env().Undefined();
  });
}

static Napi::Value DistInfo(const Napi::CallbackInfo& info) {
  auto env = info.Env();
  auto g = dist::current();
  auto o = Napi::Object::New(env);
  o.Set("initialized", g != nullptr);
  o.Set("rank", g ? g->rank() : 0);
  o.Set("worldSize", g ? g->world_size() : 1);
  o.Set("ncclAvailable", dist::nccl_available());
  return o;
}

void init_dist(Napi::Env env, Napi::Object exports) {
  exports.Set("distInit", Napi::Function::New(env, DistInit));
  exports.Set("distAllgather", Napi::Function::New(env, DistAllgather));
  exports.Set("distAllreduceMean", Napi::Function::New(env, DistAllreduceMean));
  exports.Set("distBarrier", Napi::Function::New(env, DistBarrier));
  exports.Set("distShutdown", Napi::Function::New(env, DistShutdown));
  exports.Set("distInfo", Napi::Function::New(env, DistInfo));
}

}  // namespace vrft::napi
