// The type-tagged native objects (see objects.h): construction from C++ only, the tag check behind every
// unwrap, and the binding's pixel-transfer counter.
#include "napi/objects.h"

#include "common/errors.h"
#include "napi/common.h"

namespace vrft::napi {

// Random 128-bit tags, one per class (napi_type_tag_object).
const napi_type_tag ModelObj::kTag = {0x6a1c3f0e9b2d4c51ULL, 0x8e7f2a6d13b94c07ULL};
const napi_type_tag TrainerObj::kTag = {0x2f9b7c15e4a84d3bULL, 0xb1d05e62c7f3a918ULL};
const napi_type_tag RolloutsObj::kTag = {0x93e4d8a17c2b4f66ULL, 0x5a0c61f9e2d7b384ULL};
const napi_type_tag AbortFlagObj::kTag = {0x4d7a2e9c0b184f35ULL, 0xc6e8139f57a2d0b1ULL};

namespace {

// A pointer only this file knows: the constructors accept it as their single argument.
int construct_token;

struct Classes {
  Napi::FunctionReference ctor[4];
  Napi::FunctionReference error_factory;  // (kind, code, message) => Error, set by lib/native/binding.ts
};

template <typename T> constexpr int slot();
template <> constexpr int slot<ModelObj>() { return 0; }
template <> constexpr int slot<TrainerObj>() { return 1; }
template <> constexpr int slot<RolloutsObj>() { return 2; }
template <> constexpr int slot<AbortFlagObj>() { return 3; }

Classes& classes(Napi::Env env) {
  auto* c = env.GetInstanceData<Classes>();
  if (!c) throw_coded("ERR_NATIVE", "vrft-native's object classes are not registered in this environment");
  return *c;
}

// "a Trainer", "a Model", ... for tagged objects; describe() otherwise.
std::string what_is(const Napi::Value& v) {
  if (v.IsObject() && !v.IsArray()) {
    auto o = v.As<Napi::Object>();
    if (o.CheckTypeTag(&ModelObj::kTag)) return "a Model";
    if (o.CheckTypeTag(&TrainerObj::kTag)) return "a Trainer";
    if (o.CheckTypeTag(&RolloutsObj::kTag)) return "a Rollouts";
    if (o.CheckTypeTag(&AbortFlagObj::kTag)) return "an AbortFlag";
  }
  return describe(v);
}

std::atomic<uint64_t> pixel_arrays{0}, pixel_bytes{0};

}  // namespace

template <typename T>
Wrapped<T>::Wrapped(const Napi::CallbackInfo& info) : Napi::ObjectWrap<T>(info) {
  if (info.Length() != 1 || !info[0].IsExternal() || info[0].As<Napi::External<int>>().Data() != &construct_token) {
    auto e = Napi::TypeError::New(info.Env(), fmt(T::kName, " objects are made by ", T::kMadeBy, ", not with new"));
    e.Set("code", Napi::String::New(info.Env(), "ERR_INVALID_ARG"));
    throw e;
  }
  info.This().As<Napi::Object>().TypeTag(&T::kTag);
}

template <typename T>
Napi::Function Wrapped<T>::constructor(Napi::Env env) {
  return classes(env).ctor[slot<T>()].Value();
}

template <typename T>
T* construct(Napi::Env env, Napi::Object* js) {
  Napi::Object o = Wrapped<T>::constructor(env).New({Napi::External<int>::New(env, &construct_token)});
  if (js) *js = o;
  return T::Unwrap(o);
}

template <typename T>
T* unwrap(const Napi::Value& v, const char* name) {
  if (!v.IsObject() || v.IsArray() || !v.As<Napi::Object>().CheckTypeTag(&T::kTag))
    throw_arg(fmt("Expected ", std::string("AEIOU").find(T::kName[0]) != std::string::npos ? "an " : "a ", T::kName, " (from ",
                  T::kMadeBy, ") for ", name, " but received ", what_is(v)));
  return T::Unwrap(v.As<Napi::Object>());
}

template class Wrapped<ModelObj>;
template class Wrapped<TrainerObj>;
template class Wrapped<RolloutsObj>;
template class Wrapped<AbortFlagObj>;
template ModelObj* construct<ModelObj>(Napi::Env, Napi::Object*);
template TrainerObj* construct<TrainerObj>(Napi::Env, Napi::Object*);
template RolloutsObj* construct<RolloutsObj>(Napi::Env, Napi::Object*);
template AbortFlagObj* construct<AbortFlagObj>(Napi::Env, Napi::Object*);
template ModelObj* unwrap<ModelObj>(const Napi::Value&, const char*);
template TrainerObj* unwrap<TrainerObj>(const Napi::Value&, const char*);
template RolloutsObj* unwrap<RolloutsObj>(const Napi::Value&, const char*);
template AbortFlagObj* unwrap<AbortFlagObj>(const Napi::Value&, const char*);

static bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

Images read_images(const Napi::Value& pv, const Napi::Value& gv, int64_t pd, const std::string& where) {
  Images im;
  const std::string gname = where + "imageGridThw", pname = where + "pixelValues";
  if (!absent(gv)) {
    auto flat = get_int_vector(gv, gname.c_str());
    if (flat.size() % 3) throw_arg(fmt("Expected ", gname, " to hold 3 integers per image but received ", flat.size()));
    for (size_t i = 0; i < flat.size(); i += 3) {
      if (flat[i] < 1 || flat[i + 1] < 1 || flat[i + 2] < 1)
        throw_range(fmt("Expected positive grid sizes in ", gname, " but received ", flat[i], "x", flat[i + 1], "x", flat[i + 2]));
      im.grids.push_back({flat[i], flat[i + 1], flat[i + 2]});
    }
  }
  if (!absent(pv)) {
    if (!pv.IsTypedArray() || pv.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
      throw_arg(fmt("Expected a Float32Array for ", pname, " but received ", describe(pv)));
    auto a = pv.As<Napi::Float32Array>();
    const int64_t n = int64_t(a.ElementLength());
    if (n % pd) throw_arg(fmt("Expected ", pname, " to hold a multiple of ", pd, " floats but received ", n));
    // Rows against the grids, grids against the merge size and the image tokens: the model checks those
    // (model::Qwen2VLImpl::encode_images / embed), with the messages that name the image.
    if (n) {
      im.pixels = torch::from_blob(a.Data(), {n / pd, pd}, torch::kFloat32).clone();  // the one copy
      pixel_arrays.fetch_add(1, std::memory_order_relaxed);
      pixel_bytes.fetch_add(uint64_t(n) * sizeof(float), std::memory_order_relaxed);
    }
  }
  if (im.pixels.defined() != !im.grids.empty())
    throw_arg(fmt("Expected ", pname, " and ", gname, " together but received ", im.pixels.defined() ? "pixelValues only" : "imageGridThw only"));
  return im;
}

// transferStats(reset?) -> { pixelArrays, pixelBytes }: pixel arrays copied from JS since the last reset.
static Napi::Value TransferStats(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto o = Napi::Object::New(info.Env());
    o.Set("pixelArrays", double(pixel_arrays.load()));
    o.Set("pixelBytes", double(pixel_bytes.load()));
    if (info.Length() > 0 && !info[0].IsUndefined() && get_bool(info[0], "reset")) pixel_arrays = 0, pixel_bytes = 0;
    return o;
  });
}

bool factory_error(Napi::Env env, const ErrorInfo& e, Napi::Error* out) {
  auto* c = env.GetInstanceData<Classes>();
  if (!c || c->error_factory.IsEmpty()) return false;
  const char* kind = e.kind == ErrorInfo::Type ? "type" : e.kind == ErrorInfo::Range ? "range" : "error";
  Napi::Value v = c->error_factory.Call({Napi::String::New(env, kind), Napi::String::New(env, e.code), Napi::String::New(env, e.message)});
  if (!v.IsObject()) return false;
  *out = Napi::Error(env, v);
  return true;
}

// setErrorFactory(fn): every error this addon raises from now on is fn(kind, code, message) — lib/native/binding.ts
// passes one that makes VrftErrors (TypeError / RangeError flavoured for argument errors).
static Napi::Value SetErrorFactory(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsFunction()) throw_arg(fmt("Expected a function for factory but received ", describe(info[0])));
    classes(info.Env()).error_factory = Napi::Persistent(info[0].As<Napi::Function>());
    return info.Env().Undefined();
  });
}

template <typename T>
static Napi::Function define(Napi::Env env, Classes& c) {
  auto f = T::DefineClass(env, T::kName, {});
  c.ctor[slot<T>()] = Napi::Persistent(f);
  return f;
}

void init_objects(Napi::Env env, Napi::Object exports) {
  auto* c = new Classes();
  env.SetInstanceData<Classes>(c);
  exports.Set("Model", define<ModelObj>(env, *c));
  exports.Set("Trainer", define<TrainerObj>(env, *c));
  exports.Set("Rollouts", define<RolloutsObj>(env, *c));
  exports.Set("AbortFlag", define<AbortFlagObj>(env, *c));
  exports.Set("setErrorFactory", Napi::Function::New(env, SetErrorFactory, "setErrorFactory"));
  exports.Set("transferStats", Napi::Function::New(env, TransferStats, "transferStats"));
}

}  // namespace vrft::napi
