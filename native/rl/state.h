// What the trainer writes to disk, every write atomic (a temporary path renamed into place; a directory is
// built as `<dir>.tmp-<pid>` and swapped in, the previous one kept until the new one is complete):
//  - a Hugging Face model directory: config/tokenizer/preprocessor/generation files copied from the source
//    model directory, weights in safetensors with the source's key names and dtypes (sharded above 4 GB);
//  - a PEFT LoRA adapter: adapter_config.json + adapter_model.safetensors;
//  - the resumable trainer state: trainer_state.json + state.safetensors (float32 master weights, AdamW
//    moments, RNG states). The data position is kept by TypeScript.
#pragma once
#include <torch/torch.h>

#include <functional>
#include <map>
#include <string>
#include <vector>

#include "model/qwen2vl.h"

namespace vrft::rl {

class Lora;
class AdamW;

// Builds a directory atomically: fill(tmp) writes into a fresh `<dir>.tmp-<pid>`, which then replaces dir.
void write_dir_atomic(const std::string& dir, const std::function<void(const std::string& tmp)>& fill);

// Copies the non-weight files (config.json, tokenizer*, preprocessor_config.json, generation_config.json,
// chat_template*, ...) of src into dst: every regular file except weights (*.safetensors, *.bin, *.pt,
// *.pth, *.gz, the shard index).
void copy_model_files(const std::string& src, const std::string& dst);

// Saves m as a HF directory: key names and dtypes follow the checkpoint in src_dir (tensors there that the
// model does not hold, e.g. rotary inv_freq buffers, are copied as stored). With lora and merge, adapted
// weights are written merged (W + s·B·A).
void save_model(const std::string& dir, const std::string& src_dir, model::Qwen2VL& m, const Lora* lora, bool merge);

// Saves the PEFT adapter (adapter_config.json + adapter_model.safetensors, float32) for base src_dir.
// Module names follow the naming of src_dir's checkpoint ("model.language_model.*" when it uses that).
void save_adapter(const std::string& dir, const std::string& src_dir, const Lora& lora);

// Resumable state.
struct TrainerCounters {
  int64_t step = 0;     // completed optimizer updates
  int64_t skipped = 0;  // updates skipped by the non-finite guard
  int64_t calls = 0;    // step calls, skipped ones included (the schedule advances on every call)
};
void save_state(const std::string& dir, AdamW& opt, const TrainerCounters& c, const at::Generator& gen,
                const std::string& options_json);
// Restores masters (copied into the parameters), moments, counters and RNG states. Errors: ERR_STATE
// (missing files, a parameter set that differs from this trainer's, shapes).
void load_state(const std::string& dir, AdamW& opt, TrainerCounters& c, at::Generator& gen);

}  // namespace vrft::rl
