// The native objects JS holds: one type-tagged Napi::ObjectWrap per concept.
//   Model     a loaded Qwen2-VL / Qwen2.5-VL (made by modelLoad)
//   Trainer   the GRPO / SFT trainer around a Model (made by trainerCreate)
//   Rollouts  one step's rollout: the prompts with their encoded images, G, the completion tokens and their
//             sampling log-probs (made by trainerGenerate, consumed by trainerStep μ times)
//   AbortFlag a cancellation flag for generate (made by generateAbortFlag)
// Each instance carries its class's Node-API type tag, so `unwrap<T>(value, "model")` tells a Model from a
// Trainer, a Rollouts, a look-alike object or a primitive, and a wrong one is a TypeError with
// ERR_INVALID_ARG naming what was expected and what was received — never a reinterpretation of memory.
// Objects are made only by the binding functions (`construct<T>()`); `new Model()` from JS is a TypeError.
#pragma once
#include <napi.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "model/qwen2vl.h"
#include "rl/trainer.h"

namespace vrft::napi {

template <typename T>
class Wrapped : public Napi::ObjectWrap<T> {
 public:
  explicit Wrapped(const Napi::CallbackInfo& info);
  // The constructor of T in this environment (set by define<T>).
  static Napi::Function constructor(Napi::Env env);
};

struct ModelObj : Wrapped<ModelObj> {
  static constexpr const char* kName = "Model";
  static constexpr const char* kMadeBy = "modelLoad";
  static const napi_type_tag kTag;
  using Wrapped::Wrapped;
  vrft::model::Qwen2VL model{nullptr};
};

struct TrainerObj : Wrapped<TrainerObj> {
  static constexpr const char* kName = "Trainer";
  static constexpr const char* kMadeBy = "trainerCreate";
  static const napi_type_tag kTag;
  using Wrapped::Wrapped;
  std::shared_ptr<rl::Trainer> trainer;
};

// What a rollout holds natively between generation and the μ updates (shared with the workers).
struct RolloutData {
  std::vector<rl::Prompt> prompts;  // P prompts, images encoded into tensors once
  std::vector<rl::Sequence> seqs;   // P·G completions, row r after prompt r / G; old_logp = sampling log-probs
  int64_t num_generations = 1;      // G
};

struct RolloutsObj : Wrapped<RolloutsObj> {
  static constexpr const char* kName = "Rollouts";
  static constexpr const char* kMadeBy = "trainerGenerate";
  static const napi_type_tag kTag;
  using Wrapped::Wrapped;
  std::shared_ptr<RolloutData> data;
};

struct AbortFlagObj : Wrapped<AbortFlagObj> {
  static constexpr const char* kName = "AbortFlag";
  static constexpr const char* kMadeBy = "generateAbortFlag";
  static const napi_type_tag kTag;
  using Wrapped::Wrapped;
  std::shared_ptr<std::atomic<bool>> flag = std::make_shared<std::atomic<bool>>(false);
};

// A new, empty instance of T (JS thread).
template <typename T>
T* construct(Napi::Env env, Napi::Object* js);

// The T behind `v`; TypeError (ERR_INVALID_ARG) when `v` is anything else, named `name` in the message.
template <typename T>
T* unwrap(const Napi::Value& v, const char* name);

// The sampling and stopping fields of a generate call, all required (native/napi/generate.cpp).
rl::GenerateOptions read_generate_options(Napi::Env env, const Napi::Object& o, std::vector<Napi::Value>& keep);

// The JS result of a generation (GenerateNativeResult in lib/native/binding.ts): rows, steps, ids, lengths, logp,
// logpTemp?, timings. Copies the tensors out and releases them (native/napi/generate.cpp).
Napi::Object generate_result_js(Napi::Env env, rl::GenerateResult& r);

// Register the four classes on `exports` (their constructors are exported only as types: they throw).
void init_objects(Napi::Env env, Napi::Object exports);

// A prompt's images as JS hands them over: `pixelValues` (Float32Array, N × patch_dim patch rows, copied once
// into a tensor here — every such copy is counted by the binding's transferStats()) and `imageGridThw` (flat
// t, h, w per image, N = Σ t·h·w). Both absent: no images. `where` prefixes the field names in errors.
struct Images {
  torch::Tensor pixels;  // (N, patch_dim) float32, or undefined
  std::vector<vrft::model::Grid> grids;
};
Images read_images(const Napi::Value& pixel_values, const Napi::Value& grid_thw, int64_t patch_dim, const std::string& where = "");

}  // namespace vrft::napi
