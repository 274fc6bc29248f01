// Exception guard, promise worker and argument readers for the Node-API layer.
#include "napi/common.h"

#include <c10/util/Exception.h>

#include <cmath>
#include <sstream>

#include "common/errors.h"
#include "common/runtime.h"

namespace vrft::napi {

ErrorInfo capture_exception() {
  ErrorInfo e;
  try {
    throw;
  } catch (const ArgError& x) {
    e.kind = x.range ? ErrorInfo::Range : ErrorInfo::Type;
    e.code = "ERR_INVALID_ARG";
    e.message = x.what();
  } catch (const CodedError& x) {
    e.code = x.code;
    e.message = x.what();
  } catch (const c10::OutOfMemoryError& x) {
    e.code = "ERR_TORCH_OOM";
    e.message = x.what_without_backtrace();
  } catch (const c10::Error& x) {
    e.code = "ERR_TORCH";
    e.message = x.what_without_backtrace();
  } catch (const std::bad_alloc&) {
    e.code = "ERR_TORCH_OOM";
    e.message = "out of memory (std::bad_alloc)";
  } catch (const std::exception& x) {
    e.code = "ERR_NATIVE";
    e.message = x.what();
  } catch (...) {
    e.code = "ERR_NATIVE";
    e.message = "unknown native exception";
  }
  return e;
}

bool factory_error(Napi::Env env, const ErrorInfo& e, Napi::Error* out);  // napi/objects.cpp

Napi::Error make_error(Napi::Env env, const ErrorInfo& e) {
  Napi::Error made;
  try {
    if (factory_error(env, e, &made)) return made;
  } catch (const Napi::Error&) {
    // a throwing factory: fall back to the built-in errors below
  }
  Napi::Error err = e.kind == ErrorInfo::Type    ? Napi::TypeError::New(env, e.message)
                    : e.kind == ErrorInfo::Range ? Napi::RangeError::New(env, e.message)
                                                 : Napi::Error::New(env, e.message);
  err.Set("code", Napi::String::New(env, e.code));
  return err;
}

PromiseWorker::PromiseWorker(Napi::Env env, Work work, Done done)
    : Napi::AsyncWorker(env, "vrft-native"), work_(std::move(work)), done_(std::move(done)),
      deferred_(Napi::Promise::Deferred::New(env)) {}

PromiseWorker::~PromiseWorker() = default;

void PromiseWorker::keep(Napi::Value v) { refs_.push_back(Napi::Persistent(v)); }

void PromiseWorker::Execute() {
  try {
    apply_threads_on_this_thread();
    work_();
  } catch (...) {
    err_ = capture_exception();
    SetError(err_.message);
  }
}

void PromiseWorker::OnOK() {
  Napi::HandleScope scope(Env());
  try {
    deferred_.Resolve(done_ ? done_(Env()) : Env().Undefined());
  } catch (const Napi::Error& e) {
    deferred_.Reject(e.Value());
  } catch (...) {
    deferred_.Reject(make_error(Env(), capture_exception()).Value());
  }
}

void PromiseWorker::OnError(const Napi::Error&) {
  Napi::HandleScope scope(Env());
  deferred_.Reject(make_error(Env(), err_).Value());
}

Napi::Promise run_async(Napi::Env env, PromiseWorker::Work work, PromiseWorker::Done done,
                        std::vector<Napi::Value> keep) {
  auto* w = new PromiseWorker(env, std::move(work), std::move(done));  // deleted by node-addon-api
  for (auto& v : keep) w->keep(v);
  auto p = w->promise();
  w->Queue();
  return p;
}

std::string describe(const Napi::Value& v) {
  switch (v.Type()) {
    case napi_undefined: return "undefined";
    case napi_null: return "null";
    case napi_boolean: return v.As<Napi::Boolean>().Value() ? "true" : "false";
    case napi_number: {
      std::ostringstream os;
      os << v.As<Napi::Number>().DoubleValue();
      return os.str();
    }
    case napi_string: {
      std::string s = v.As<Napi::String>().Utf8Value();
      if (s.size() > 60) s = s.substr(0, 57) + "...";
      return "'" + s + "'";
    }
    case napi_object:
      if (v.IsArray()) return fmt("an array of length ", v.As<Napi::Array>().Length());
      if (v.IsTypedArray()) return "a typed array";
      if (v.IsBuffer()) return "a Buffer";
      return "an object";
    case napi_function: return "a function";
    case napi_bigint: return "a bigint";
    default: return "a value of another type";
  }
}

std::string get_string(const Napi::Value& v, const char* name) {
  if (!v.IsString()) throw_arg(fmt("Expected a string for ", name, " but received ", describe(v)));
  return v.As<Napi::String>().Utf8Value();
}

double get_number(const Napi::Value& v, const char* name) {
  if (!v.IsNumber()) throw_arg(fmt("Expected a number for ", name, " but received ", describe(v)));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d)) throw_range(fmt("Expected a finite number for ", name, " but received ", d));
  return d;
}

int64_t get_int(const Napi::Value& v, const char* name, int64_t min, int64_t max) {
  if (!v.IsNumber()) throw_arg(fmt("Expected an integer between ", min, " and ", max, " for ", name, " but received ", describe(v)));
  double d = v.As<Napi::Number>().DoubleValue();
  if (!std::isfinite(d) || std::floor(d) != d || d < static_cast<double>(min) || d > static_cast<double>(max))
    throw_range(fmt("Expected an integer between ", min, " and ", max, " for ", name, " but received ", describe(v)));
  return static_cast<int64_t>(d);
}

bool get_bool(const Napi::Value& v, const char* name) {
  if (!v.IsBoolean()) throw_arg(fmt("Expected a boolean for ", name, " but received ", describe(v)));
  return v.As<Napi::Boolean>().Value();
}

Napi::Object get_object(const Napi::Value& v, const char* name) {
  if (!v.IsObject() || v.IsArray()) throw_arg(fmt("Expected an object for ", name, " but received ", describe(v)));
  return v.As<Napi::Object>();
}

Napi::Array get_array(const Napi::Value& v, const char* name) {
  if (!v.IsArray()) throw_arg(fmt("Expected an array for ", name, " but received ", describe(v)));
  return v.As<Napi::Array>();
}

static bool absent(const Napi::Value& v) { return v.IsUndefined() || v.IsNull(); }

double opt_number(const Napi::Object& o, const char* key, double def, double min, double max) {
  Napi::Value v = o.Get(key);
  if (absent(v)) return def;
  double d = get_number(v, key);
  if (d < min || d > max) throw_range(fmt("Expected a number between ", min, " and ", max, " for ", key, " but received ", d));
  return d;
}

int64_t opt_int(const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max) {
  Napi::Value v = o.Get(key);
  return absent(v) ? def : get_int(v, key, min, max);
}

bool opt_bool(const Napi::Object& o, const char* key, bool def) {
  Napi::Value v = o.Get(key);
  return absent(v) ? def : get_bool(v, key);
}

std::string opt_string(const Napi::Object& o, const char* key, const std::string& def) {
  Napi::Value v = o.Get(key);
  return absent(v) ? def : get_string(v, key);
}

std::vector<int64_t> get_int_vector(const Napi::Value& v, const char* name) {
  std::vector<int64_t> out;
  if (v.IsTypedArray()) {
    auto ta = v.As<Napi::TypedArray>();
    switch (ta.TypedArrayType()) {
      case napi_int32_array: {
        auto a = v.As<Napi::Int32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      case napi_uint32_array: {
        auto a = v.As<Napi::Uint32Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      case napi_bigint64_array: {
        auto a = v.As<Napi::BigInt64Array>();
        out.assign(a.Data(), a.Data() + a.ElementLength());
        return out;
      }
      default: break;
    }
    throw_arg(fmt("Expected an integer array (number[], Int32Array, Uint32Array or BigInt64Array) for ", name, " but received another typed array"));
  }
  if (!v.IsArray()) throw_arg(fmt("Expected an integer array for ", name, " but received ", describe(v)));
  auto arr = v.As<Napi::Array>();
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    std::string n = fmt(name, "[", i, "]");
    out.push_back(get_int(arr.Get(i), n.c_str(), INT64_MIN / 2, INT64_MAX / 2));
  }
  return out;
}

std::vector<float> get_float_vector(const Napi::Value& v, const char* name) {
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float32_array) {
    auto a = v.As<Napi::Float32Array>();
    return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
  }
  if (v.IsTypedArray() && v.As<Napi::TypedArray>().TypedArrayType() == napi_float64_array) {
    auto a = v.As<Napi::Float64Array>();
    return std::vector<float>(a.Data(), a.Data() + a.ElementLength());
  }
  if (!v.IsArray()) throw_arg(fmt("Expected a number array, Float32Array or Float64Array for ", name, " but received ", describe(v)));
  auto arr = v.As<Napi::Array>();
  std::vector<float> out;
  out.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value e = arr.Get(i);
    if (!e.IsNumber()) throw_arg(fmt("Expected a number for ", name, "[", i, "] but received ", describe(e)));
    out.push_back(e.As<Napi::Number>().FloatValue());
  }
  return out;
}

}  // namespace vrft::napi
