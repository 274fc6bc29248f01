// Atomic checkpoint writing: HF model directories, PEFT adapters, resumable trainer state (see state.h).
#include "rl/state.h"

#include <ATen/CPUGeneratorImpl.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "common/errors.h"
#include "io/safetensors.h"
#include "rl/lora.h"
#include "rl/optim.h"

namespace vrft::rl {

namespace fs = std::filesystem;
using json = nlohmann::json;

void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill) {
  fs::path target = fs::absolute(fs::path(dir)).lexically_normal();
  if (target.filename().empty() && target.has_parent_path()) target = target.parent_path();  // "a/b/" -> "a/b"
  if (target.filename().empty() || target == target.root_path()) throw_arg(fmt("Expected a directory path but received '", dir, "'"));
  const std::string pid = std::to_string(::getpid());
  const fs::path tmp = target.string() + ".tmp-" + pid, old = target.string() + ".old-" + pid;
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  fs::remove_all(tmp, ec);
  if (!fs::create_directory(tmp, ec) || ec)
    throw_coded("ERR_IO_WRITE", fmt("Expected to create the directory ", tmp.string(), " but failed: ", ec.message()));
  try {
    fill(tmp.string());
  } catch (...) {
    fs::remove_all(tmp, ec);
    throw;
  }
  const bool had = fs::exists(target);
  if (had) {
    fs::remove_all(old, ec);
    fs::rename(target, old, ec);
    if (ec) throw_coded("ERR_IO_WRITE", fmt("Expected to move the previous ", target.string(), " aside but failed: ", ec.message()));
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    std::error_code ec2;
    if (had) fs::rename(old, target, ec2);
    throw_coded("ERR_IO_WRITE", fmt("Expected to rename ", tmp.string(), " to ", target.string(), " but failed: ", ec.message()));
  }
  if (had) fs::remove_all(old, ec);
}

static bool is_weight_file(const std::string& name) {
  auto ends = [&](const std::string& s) { return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0; };
  return ends(".safetensors") || ends(".bin") || ends(".pt") || ends(".pth") || ends(".gz") || ends(".safetensors.index.json") ||
         ends(".bin.index.json");
}

void copy_model_files(const std::string& src, const std::string& dst) {
  for (auto& e : fs::directory_iterator(src)) {
    if (!e.is_regular_file()) continue;
    const auto name = e.path().filename().string();
    if (is_weight_file(name)) continue;
    std::ifstream in(e.path(), std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!in.good() && !in.eof()) throw_coded("ERR_IO_READ", fmt("Expected to read ", e.path().string(), " but failed"));
    st::write_file_atomic((fs::path(dst) / name).string(), bytes);
  }
}

void save_model(const std::string& dir, const std::string& src_dir, model::Qwen2VL& m, const Lora* lora, bool merge) {
  torch::NoGradGuard ng;
  auto ckpt = st::Checkpoint::open_dir(src_dir);
  std::map<std::string, torch::Tensor> params;
  for (auto& p : m->named_parameters(true)) params[p.key()] = p.value();
  if (lora && merge)
    for (auto& a : const_cast<Lora*>(lora)->adapters()) params[a.module + ".weight"] = lora->merged(a);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  std::set<std::string> written;
  for (auto& [key, file] : ckpt.where) {
    const auto* info = file->find(key);
    const auto dtype = st::to_scalar_type(info->dtype, file->path());
    auto it = params.find(model::canonical_key(key));
    if (it == params.end() && model::canonical_key(key) == "lm_head.weight") {  // stored although tied
      out.emplace_back(key, m->head_weight().detach().to(torch::kCPU, dtype).contiguous());
      continue;
    }
    if (it == params.end()) {
      out.emplace_back(key, file->get(key).clone());  // e.g. inv_freq buffers: as stored
      continue;
    }
    out.emplace_back(key, it->second.detach().to(torch::kCPU, dtype).contiguous());
    written.insert(it->first);
  }
  for (auto& [name, t] : params)
    if (!written.count(name))
      throw_coded("ERR_WEIGHTS_MISSING", fmt("Expected the source checkpoint in ", src_dir, " to name every model tensor but it lacks ", name));
  write_dir_atomic(dir, [&](const std::string& tmp) {
    copy_model_files(src_dir, tmp);
    st::save_sharded(tmp, out, uint64_t(4) << 30, {{"format", "pt"}});
  });
}

static bool uses_new_naming(const std::string& src_dir) {
  auto ckpt = st::Checkpoint::open_dir(src_dir);
  for (auto& [key, file] : ckpt.where)
    if (key.rfind("model.language_model.", 0) == 0 || key.rfind("model.visual.", 0) == 0) return true;
  return false;
}

static std::string peft_module(const std::string& module, bool new_naming) {
  if (!new_naming) return module;
  if (module.rfind("visual.", 0) == 0) return "model." + module;
  if (module.rfind("model.", 0) == 0) return "model.language_model." + module.substr(6);
  return module;
}

void save_adapter(const std::string& dir, const std::string& src_dir, const Lora& lora) {
  torch::NoGradGuard ng;
  const bool nn = uses_new_naming(src_dir);
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (auto& a : const_cast<Lora&>(lora).adapters()) {
    const auto mod = "base_model.model." + peft_module(a.module, nn);
    out.emplace_back(mod + ".lora_A.weight", a.A.detach().to(torch::kCPU, torch::kFloat32).contiguous());
    out.emplace_back(mod + ".lora_B.weight", a.B.detach().to(torch::kCPU, torch::kFloat32).contiguous());
  }
  const auto& o = lora.options();
  json cfg = {{"peft_type", "LORA"},          {"task_type", nullptr},        {"base_model_name_or_path", src_dir},
              {"r", o.rank},                  {"lora_alpha", o.alpha},       {"lora_dropout", 0.0},
              {"target_modules", o.targets},  {"bias", "none"},              {"fan_in_fan_out", false},
              {"inference_mode", true},       {"init_lora_weights", true},   {"modules_to_save", nullptr},
              {"use_rslora", false},          {"use_dora", false},           {"layers_to_transform", nullptr},
              {"layers_pattern", nullptr},    {"rank_pattern", json::object()}, {"alpha_pattern", json::object()},
              {"revision", nullptr}};
  write_dir_atomic(dir, [&](const std::string& tmp) {
    st::write_file_atomic((fs::path(tmp) / "adapter_config.json").string(), cfg.dump(2));
    st::save((fs::path(tmp) / "adapter_model.safetensors").string(), out, {{"format", "pt"}});
  });
}

// ---- resumable state ----

static std::vector<std::pair<std::string, at::Generator>> global_generators() {
  std::vector<std::pair<std::string, at::Generator>> g{{"rng.cpu", at::detail::getDefaultCPUGenerator()}};
  if (torch::cuda::is_available())
    for (int64_t i = 0; i < (int64_t)torch::cuda::device_count(); ++i)
      g.emplace_back(fmt("rng.cuda.", i), at::globalContext().defaultGenerator(c10::Device(c10::kCUDA, c10::DeviceIndex(i))));
  return g;
}

void save_state(const std::string& dir, AdamW& opt, const TrainerCounters& c, const at::Generator& gen,
                const std::string& options_json) {
  torch::NoGradGuard ng;
  std::vector<std::pair<std::string, torch::Tensor>> out;
  json names = json::array();
  for (auto& s : opt.slots()) {
    names.push_back(s.name);
    out.emplace_back("master." + s.name, s.master.detach().to(torch::kCPU).contiguous());
    out.emplace_back("exp_avg." + s.name, s.m.to(torch::kCPU).contiguous());
    out.emplace_back("exp_avg_sq." + s.name, s.v.to(torch::kCPU).contiguous());
  }
  for (auto& [name, g] : global_generators()) {
    std::lock_guard<std::mutex> lock(g.mutex());
    out.emplace_back(name, g.get_state());
  }
  {
    std::lock_guard<std::mutex> lock(const_cast<at::Generator&>(gen).mutex());
    out.emplace_back("rng.trainer", gen.get_state());
  }
  json j = {{"format", "vrft-trainer-state"}, {"version", 1},      {"step", c.step},
            {"skipped", c.skipped},            {"calls", c.calls},  {"adam_step", opt.steps()},
            {"parameters", names},             {"options", json::parse(options_json.empty() ? "{}" : options_json)}};
  write_dir_atomic(dir, [&](const std::string& tmp) {
    st::save((fs::path(tmp) / "state.safetensors").string(), out);
    st::write_file_atomic((fs::path(tmp) / "trainer_state.json").string(), j.dump(2));
  });
}

void load_state(const std::string& dir, AdamW& opt, TrainerCounters& c, at::Generator& gen) {
  torch::NoGradGuard ng;
  const auto jpath = fs::path(dir) / "trainer_state.json", spath = fs::path(dir) / "state.safetensors";
  if (!fs::exists(jpath) || !fs::exists(spath))
    throw_coded("ERR_STATE", fmt("Expected a trainer state directory with trainer_state.json and state.safetensors but ", dir, " lacks them"));
  std::ifstream in(jpath);
  json j;
  try {
    in >> j;
  } catch (const std::exception& e) {
    throw_coded("ERR_STATE", fmt("Expected valid JSON in ", jpath.string(), " but parsing failed: ", e.what()));
  }
  if (j.value("format", "") != "vrft-trainer-state")
    throw_coded("ERR_STATE", fmt("Expected format 'vrft-trainer-state' in ", jpath.string(), " but found ", j.value("format", "none")));
  auto names = j.at("parameters").get<std::vector<std::string>>();
  auto& slots = opt.slots();
  if (names.size() != slots.size())
    throw_coded("ERR_STATE", fmt("Expected state for ", slots.size(), " trainable tensors but ", dir, " holds ", names.size()));
  auto f = st::File::open(spath.string());
  for (size_t i = 0; i < slots.size(); ++i) {
    auto& s = slots[i];
    if (names[i] != s.name)
      throw_coded("ERR_STATE", fmt("Expected trainable tensor ", s.name, " at index ", i, " of the state but found ", names[i]));
    for (auto* which : {"master.", "exp_avg.", "exp_avg_sq."}) {
      const auto key = which + s.name;
      if (!f->find(key)) throw_coded("ERR_STATE", fmt("Expected tensor ", key, " in ", spath.string(), " but it is missing"));
      auto t = f->get(key, torch::kFloat32);
      if (t.sizes() != s.master.sizes())
        throw_coded("ERR_STATE", fmt("Expected shape ", s.master.sizes(), " for ", key, " but found ", t.sizes()));
      auto& dst = std::string(which) == "master." ? s.master : std::string(which) == "exp_avg." ? s.m : s.v;
      dst.copy_(t);
    }
    if (!s.master.is_same(s.param)) s.param.copy_(s.master);
    s.grad = torch::Tensor();
  }
  for (auto& [name, g] : global_generators())
    if (f->find(name)) {
      std::lock_guard<std::mutex> lock(g.mutex());
      g.set_state(f->get(name).clone());
    }
  if (f->find("rng.trainer")) {
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(f->get("rng.trainer").clone());
  }
  c.step = j.at("step").get<int64_t>();
  c.skipped = j.at("skipped").get<int64_t>();
  c.calls = j.value("calls", c.step + c.skipped);
  opt.set_steps(j.at("adam_step").get<int64_t>());
}

}  // namespace vrft::rl
