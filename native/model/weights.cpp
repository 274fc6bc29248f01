// Loading a HF checkpoint directory into Qwen2VL (tensor by tensor from the memory map: mapped as is when
// the stored dtype is the CPU target's, else converted to the target dtype/device), parameter counting on the meta device, and random checkpoints for tests/tools.
#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <map>
#include <set>

#include "common/errors.h"
#include "io/safetensors.h"
#include "model/qwen2vl.h"

namespace vrft::model {

namespace fs = std::filesystem;

std::string canonical_key(const std::string& key) {
  static const std::string vis = "model.visual.", lang = "model.language_model.";
  if (key.rfind(vis, 0) == 0) return "visual." + key.substr(vis.size());
  if (key.rfind(lang, 0) == 0) return "model." + key.substr(lang.size());
  return key;
}

// The inverse of canonical_key for writing: Qwen3-VL checkpoints use the hub's nested names ("visual.x" ->
// "model.visual.x", "model.x" -> "model.language_model.x"); Qwen2-VL / Qwen2.5-VL names are written as the
// model's.
static std::string hub_key(const ModelConfig& c, const std::string& name) {
  if (!c.qwen3()) return name;
  if (name.rfind("visual.", 0) == 0) return "model." + name;
  if (name.rfind("model.", 0) == 0) return "model.language_model." + name.substr(6);
  return name;
}

static std::string list_names(const std::vector<std::string>& names) {
  std::string s;
  for (size_t i = 0; i < names.size() && i < 5; ++i) s += (i ? ", " : "") + names[i];
  if (names.size() > 5) s += fmt(" and ", names.size() - 5, " more");
  return s;
}

static std::string shape_str(c10::IntArrayRef s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

Qwen2VL load_model(const std::string& dir, const ModelConfig& c, c10::ScalarType dtype, c10::Device device) {
  torch::NoGradGuard ng;
  auto ckpt = st::Checkpoint::open_dir(dir);
  std::map<std::string, std::pair<std::string, std::shared_ptr<st::File>>> by_name;  // model name -> (key, file)
  for (auto& [key, file] : ckpt.where) by_name[canonical_key(key)] = {key, file};
  Qwen2VL m(c, torch::TensorOptions().dtype(dtype).device(device));
  auto params = m->named_parameters(true);
  std::vector<std::string> missing, unexpected;
  std::set<std::string> used;
  for (auto& p : params) {
    auto it = by_name.find(p.key());
    if (it == by_name.end()) missing.push_back(p.key());
    else used.insert(p.key());
  }
  for (auto& [name, src] : by_name) {
    if (used.count(name)) continue;
    if (name == "lm_head.weight" && c.tie_word_embeddings) continue;       // tied: the head is embed_tokens
    if (name.size() >= 9 && name.compare(name.size() - 9, 9, ".inv_freq") == 0) continue;  // rotary buffers
    unexpected.push_back(src.first);
  }
  if (!missing.empty())
    throw_coded("ERR_WEIGHTS_MISSING", fmt("Expected the checkpoint in ", dir, " to hold every model tensor but ", missing.size(),
                                           " are missing: ", list_names(missing)));
  if (!unexpected.empty())
    throw_coded("ERR_WEIGHTS_UNEXPECTED", fmt("Expected only tensors of this model in ", dir, " but found ", unexpected.size(),
                                              " unexpected: ", list_names(unexpected)));
  for (auto& p : params) {
    auto& [key, file] = by_name[p.key()];
    const auto* info = file->find(key);
    if (info->shape != p.value().sizes().vec())
      throw_coded("ERR_WEIGHTS_SHAPE", fmt("Expected shape ", shape_str(p.value().sizes()), " for tensor ", key, " in ",
                                           file->path(), " but found ", shape_str(info->shape)));
    if (info->dtype != "F32" && info->dtype != "BF16" && info->dtype != "F16" && info->dtype != "F64")
      throw_coded("ERR_WEIGHTS_DTYPE", fmt("Expected a floating-point dtype (F32, BF16, F16 or F64) for tensor ", key, " in ",
                                           file->path(), " but found ", info->dtype));
  }
  // One tensor at a time. Stored in the target dtype on the CPU: the parameter takes the mapping itself
  // (File::get's zero-copy view of the private, copy-on-write map), so loading makes no second copy and
  // the peak RSS is the file's pages; an in-place update (an optimizer step of full training) privatizes
  // only the pages it writes and never reaches the file. Otherwise: mmap view -> converted copy.
  const bool map_in_place = device.is_cpu();
  for (auto& p : params) {
    auto& [key, file] = by_name[p.key()];
    auto src = file->get(key);
    if (map_in_place && src.scalar_type() == dtype) p.value().set_(src);
    else p.value().copy_(src);
  }
  return m;
}

int64_t parameter_count(const ModelConfig& c) {
  Qwen2VL m(c, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kMeta));
  int64_t n = 0;
  for (auto& p : m->parameters(true)) n += p.numel();
  return n;
}

// Init rule by name (see the header): biases 0.1·z, norm scales 1 + 0.1·z, matrices z/√fan_in.
static torch::Tensor random_tensor(const std::string& name, c10::IntArrayRef shape, at::Generator& gen, int64_t hidden) {
  auto z = torch::randn(shape, gen, torch::kFloat32);
  const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
  if (is_bias) return z * 0.1;
  if (shape.size() == 1) return z * 0.1 + 1.0;  // every 1-D weight is a norm scale
  if (name == "model.embed_tokens.weight" || name == "lm_head.weight") return z / std::sqrt(double(hidden));
  const int64_t fan_in = z.numel() / shape[0];
  return z / std::sqrt(double(fan_in));
}

void write_random_checkpoint(const std::string& dir, const ModelConfig& c, uint64_t seed, c10::ScalarType dtype,
                             uint64_t max_shard_bytes) {
  torch::NoGradGuard ng;
  Qwen2VL meta(c, torch::TensorOptions().dtype(torch::kFloat32).device(torch::kMeta));
  auto params = meta->named_parameters(true);
  const uint64_t esz = c10::elementSize(dtype);
  // plan shards
  std::vector<std::vector<size_t>> shards(1);
  uint64_t cur = 0, total = 0;
  for (size_t i = 0; i < params.size(); ++i) {
    const uint64_t bytes = uint64_t(params[i].value().numel()) * esz;
    if (cur > 0 && cur + bytes > max_shard_bytes) shards.emplace_back(), cur = 0;
    shards.back().push_back(i);
    cur += bytes, total += bytes;
  }
  fs::create_directories(dir);
  auto gen = at::detail::createCPUGenerator(seed);
  nlohmann::json weight_map = nlohmann::json::object();
  const std::map<std::string, std::string> meta_kv{{"format", "pt"}};
  for (size_t s = 0; s < shards.size(); ++s) {
    char fname[64];
    std::snprintf(fname, sizeof fname, "model-%05zu-of-%05zu.safetensors", s + 1, shards.size());
    const std::string file = shards.size() == 1 ? "model.safetensors" : fname;
    std::vector<std::pair<std::string, torch::Tensor>> ts;
    for (auto i : shards[s]) {
      auto& p = params[i];
      const auto key = hub_key(c, p.key());
      ts.emplace_back(key, random_tensor(p.key(), p.value().sizes(), gen, c.hidden_size).to(dtype));
      weight_map[key] = file;
    }
    st::save((fs::path(dir) / file).string(), ts, meta_kv);
  }
  if (shards.size() > 1) {
    nlohmann::json index = {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    st::write_file_atomic((fs::path(dir) / "model.safetensors.index.json").string(), index.dump(2));
  }
}

}  // namespace vrft::model
