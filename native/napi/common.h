// Node-API conventions shared by every binding file (the only place besides native/napi/*.cpp that sees
// napi.h): the exception guard that maps C++ errors to JS errors with a `code`, the promise worker that
// runs heavy work on a libuv thread, and argument readers whose errors say expected vs. received.
#pragma once
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace vrft::napi {

struct ErrorInfo {
  enum Kind { Plain, Type, Range } kind = Plain;
  std::string code;
  std::string message;
};

// Must be called inside a catch block: classifies the in-flight exception.
ErrorInfo capture_exception();
Napi::Error make_error(Napi::Env env, const ErrorInfo& e);

// Run fn(info) and turn any C++ exception into a JS exception carrying `code`.
template <typename F>
Napi::Value guard(const Napi::CallbackInfo& info, F&& fn) {
  try {
    return fn(info);
  } catch (const Napi::Error&) {
    throw;
  } catch (...) {
    throw make_error(info.Env(), capture_exception());
  }
}

// A promise whose work runs on a libuv worker thread (with the configured intra-op threads and its own
// thread-local grad/inference guards, set inside `work`), resolved on the JS thread by `done`.
// `keep` holds JS objects (e.g. the owning model) alive until the promise settles.
class PromiseWorker : public Napi::AsyncWorker {
 public:
  using Work = std::function<void()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  PromiseWorker(Napi::Env env, Work work, Done done);
  ~PromiseWorker() override;
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& e) override;
  Napi::Promise promise() { return deferred_.Promise(); }
  void keep(Napi::Value v);

 private:
  Work work_;
  Done done_;
  Napi::Promise::Deferred deferred_;
  ErrorInfo err_;
  std::vector<Napi::Reference<Napi::Value>> refs_;
};

// Queue work; returns the promise.
Napi::Promise run_async(Napi::Env env, PromiseWorker::Work work, PromiseWorker::Done done,
                        std::vector<Napi::Value> keep = {});

// ---- argument readers (throw ArgError with "Expected … for <name> but received …") ----
std::string describe(const Napi::Value& v);
std::string get_string(const Napi::Value& v, const char* name);
double get_number(const Napi::Value& v, const char* name);
int64_t get_int(const Napi::Value& v, const char* name, int64_t min, int64_t max);
bool get_bool(const Napi::Value& v, const char* name);
Napi::Object get_object(const Napi::Value& v, const char* name);
Napi::Array get_array(const Napi::Value& v, const char* name);
// Optional fields of an options object: return `def` when absent/undefined.
double opt_number(const Napi::Object& o, const char* key, double def, double min, double max);
int64_t opt_int(const Napi::Object& o, const char* key, int64_t def, int64_t min, int64_t max);
bool opt_bool(const Napi::Object& o, const char* key, bool def);
std::string opt_string(const Napi::Object& o, const char* key, const std::string& def);
std::vector<int64_t> get_int_vector(const Napi::Value& v, const char* name);  // number[] | Int32Array | BigInt64Array
std::vector<float> get_float_vector(const Napi::Value& v, const char* name);  // number[] | Float32Array

// Per-module registration functions (each binding file defines one).
void init_runtime(Napi::Env env, Napi::Object exports);
void init_safetensors(Napi::Env env, Napi::Object exports);

}  // namespace vrft::napi
