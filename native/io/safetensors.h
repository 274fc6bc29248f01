// safetensors reader (memory-mapped, zero-copy where the stored dtype is the one wanted) and atomic writer,
// plus sharded checkpoint directories (model.safetensors.index.json). Format: u64 LE header length, JSON
// header {name: {dtype, shape, data_offsets}} (offsets relative to the data section), optional
// "__metadata__", then raw little-endian data.
// Errors are vrft::CodedError with codes ERR_SAFETENSORS_TRUNCATED | _HEADER | _OFFSETS | _SHAPE | _DTYPE,
// ERR_IO_READ / ERR_IO_WRITE, each naming the file and what was expected vs. found.
#pragma once
#include <torch/types.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace vrft::st {

struct TensorInfo {
  std::string name;
  std::string dtype;  // "F32", "BF16", ...
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // offsets into the data section
};

// Maps safetensors dtype names <-> torch scalar types.
c10::ScalarType to_scalar_type(const std::string& dtype, const std::string& where);
std::string dtype_name(c10::ScalarType t);
size_t dtype_size(const std::string& dtype);

class File {
 public:
  // Opens and validates the whole header (every tensor's dtype, shape, byte count and offsets).
  static std::shared_ptr<File> open(const std::string& path);
  // Parses a header from bytes without a file (used by fuzz tests): validates like open().
  static std::vector<TensorInfo> parse_header(const uint8_t* data, size_t size, const std::string& where,
                                              std::map<std::string, std::string>* metadata = nullptr);
  ~File();
  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const TensorInfo* find(const std::string& name) const;
  // The tensor as stored (zero-copy view of the mapping, copy-on-write) when `dtype` is absent or equal
  // to the stored type and the data is aligned; otherwise a converted copy.
  torch::Tensor get(const std::string& name, std::optional<c10::ScalarType> dtype = std::nullopt) const;
  uint64_t file_size() const { return size_; }

 private:
  File() = default;
  std::string path_;
  uint8_t* map_ = nullptr;
  uint64_t size_ = 0;
  uint64_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, size_t> index_;
  std::map<std::string, std::string> metadata_;
  std::weak_ptr<File> self_;
};

// Writes tensors (any device/dtype; written as stored, contiguous, CPU) to `path` atomically:
// a temporary file in the same folder, fsync, rename over the target, fsync of the folder.
void save(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata = {});

// A checkpoint directory: model.safetensors, or shards listed in model.safetensors.index.json
// (weight_map), or any *.safetensors files. Tensor name -> the file that holds it.
struct Checkpoint {
  std::vector<std::shared_ptr<File>> files;
  std::map<std::string, std::shared_ptr<File>> where;
  uint64_t total_bytes = 0;
  static Checkpoint open_dir(const std::string& dir);
};

// Writes a sharded checkpoint (shards of at most max_shard_bytes, plus the index) atomically per file.
void save_sharded(const std::string& dir, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata = {});

// Atomic write of a small text file (config.json and friends).
void write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace vrft::st
