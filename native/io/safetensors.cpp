// safetensors read/write. See safetensors.h for the format and the error codes.
#include "io/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/errors.h"

namespace vrft::st {
namespace fs = std::filesystem;
using nlohmann::json;

static const uint64_t kMaxHeader = 100ull << 20;  // 100 MB: larger is not a real safetensors header

c10::ScalarType to_scalar_type(const std::string& d, const std::string& where) {
  if (d == "F32") return torch::kFloat32;
  if (d == "F16") return torch::kFloat16;
  if (d == "BF16") return torch::kBFloat16;
  if (d == "F64") return torch::kFloat64;
  if (d == "I64") return torch::kInt64;
  if (d == "I32") return torch::kInt32;
  if (d == "I16") return torch::kInt16;
  if (d == "I8") return torch::kInt8;
  if (d == "U8") return torch::kUInt8;
  if (d == "BOOL") return torch::kBool;
  throw_coded("ERR_SAFETENSORS_DTYPE", fmt(where, ": expected a dtype among F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL but found '", d, "'"));
}

std::string dtype_name(c10::ScalarType t) {
  switch (t) {
    case torch::kFloat32: return "F32";
    case torch::kFloat16: return "F16";
    case torch::kBFloat16: return "BF16";
    case torch::kFloat64: return "F64";
    case torch::kInt64: return "I64";
    case torch::kInt32: return "I32";
    case torch::kInt16: return "I16";
    case torch::kInt8: return "I8";
    case torch::kUInt8: return "U8";
    case torch::kBool: return "BOOL";
    default: throw_arg(fmt("Expected a tensor dtype that safetensors can store but received ", c10::toString(t)));
  }
}

size_t dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64") return 8;
  if (d == "F32" || d == "I32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16") return 2;
  return 1;
}

static std::string shape_str(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

std::vector<TensorInfo> File::parse_header(const uint8_t* data, size_t size, const std::string& where,
                                           std::map<std::string, std::string>* metadata) {
  if (size < 8)
    throw_coded("ERR_SAFETENSORS_TRUNCATED", fmt(where, ": expected at least 8 bytes (the header length) but the file has ", size));
  uint64_t n = 0;
  std::memcpy(&n, data, 8);  // little-endian hosts only (x86-64, aarch64)
  if (n > kMaxHeader)
    throw_coded("ERR_SAFETENSORS_HEADER", fmt(where, ": expected a header length below ", kMaxHeader, " bytes but found ", n, " (not a safetensors file?)"));
  if (8 + n > size)
    throw_coded("ERR_SAFETENSORS_TRUNCATED", fmt(where, ": the header says it is ", n, " bytes but only ", size - 8, " bytes follow (file truncated)"));
  json h;
  try {
    h = json::parse(data + 8, data + 8 + n);
  } catch (const json::exception& e) {
    throw_coded("ERR_SAFETENSORS_HEADER", fmt(where, ": expected a JSON object header but it does not parse: ", e.what()));
  }
  if (!h.is_object()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(where, ": expected the header to be a JSON object but found ", h.type_name()));
  const uint64_t data_len = size - 8 - n;
  std::vector<TensorInfo> out;
  uint64_t total = 0, max_end = 0;
  for (auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(where, ": expected __metadata__ to be an object of strings but found ", v.type_name()));
      for (auto& [k, s] : v.items()) {
        if (!s.is_string()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(where, ": expected __metadata__.", k, " to be a string but found ", s.type_name()));
        if (metadata) (*metadata)[k] = s.get<std::string>();
      }
      continue;
    }
    const std::string w = fmt(where, ": tensor '", name, "'");
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      throw_coded("ERR_SAFETENSORS_HEADER", fmt(w, ": expected an object with dtype, shape and data_offsets"));
    TensorInfo t;
    t.name = name;
    if (!v["dtype"].is_string()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(w, ": expected dtype to be a string"));
    t.dtype = v["dtype"].get<std::string>();
    (void)to_scalar_type(t.dtype, w);
    if (!v["shape"].is_array()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(w, ": expected shape to be an array"));
    uint64_t numel = 1;
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(w, ": expected shape entries to be non-negative integers but found ", d.dump()));
      uint64_t x = d.get<uint64_t>();
      if (x > (1ull << 40) || (x && numel > (1ull << 42) / x))
        throw_coded("ERR_SAFETENSORS_SHAPE", fmt(w, ": shape entry ", x, " makes the tensor impossibly large"));
      numel *= x;
      t.shape.push_back(static_cast<int64_t>(x));
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      throw_coded("ERR_SAFETENSORS_HEADER", fmt(w, ": expected data_offsets to be [begin, end] (non-negative integers) but found ", off.dump()));
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.end < t.begin)
      throw_coded("ERR_SAFETENSORS_OFFSETS", fmt(w, ": expected data_offsets begin <= end but found [", t.begin, ", ", t.end, "]"));
    uint64_t bytes = numel * dtype_size(t.dtype);
    if (t.end - t.begin != bytes)
      throw_coded("ERR_SAFETENSORS_SHAPE", fmt(w, ": shape ", shape_str(t.shape), " of ", t.dtype, " needs ", bytes, " bytes but data_offsets [", t.begin, ", ", t.end, "] hold ", t.end - t.begin));
    total += bytes;
    max_end = std::max(max_end, t.end);
    out.push_back(std::move(t));
  }
  if (max_end > data_len) {
    if (data_len < total)
      throw_coded("ERR_SAFETENSORS_TRUNCATED", fmt(where, ": the tensors need ", total, " bytes of data but the file holds ", data_len, " after the header (file truncated)"));
    for (auto& t : out)
      if (t.end > data_len)
        throw_coded("ERR_SAFETENSORS_OFFSETS", fmt(where, ": tensor '", t.name, "' has data_offsets [", t.begin, ", ", t.end, "] outside the ", data_len, "-byte data section"));
  }
  // Overlapping tensors are a lying header too.
  std::vector<const TensorInfo*> sorted;
  for (auto& t : out) sorted.push_back(&t);
  std::sort(sorted.begin(), sorted.end(), [](auto* a, auto* b) { return a->begin < b->begin; });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (sorted[i]->begin < sorted[i - 1]->end && sorted[i]->end > sorted[i]->begin)
      throw_coded("ERR_SAFETENSORS_OFFSETS", fmt(where, ": tensors '", sorted[i - 1]->name, "' and '", sorted[i]->name, "' overlap in the data section"));
  return out;
}

std::shared_ptr<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw_coded("ERR_IO_READ", fmt("cannot open ", path, ": ", std::strerror(errno)));
  struct stat st{};
  if (fstat(fd, &st) != 0) {
    ::close(fd);
    throw_coded("ERR_IO_READ", fmt("cannot stat ", path, ": ", std::strerror(errno)));
  }
  std::shared_ptr<File> f(new File());
  f->path_ = path;
  f->size_ = static_cast<uint64_t>(st.st_size);
  if (f->size_ > 0) {
    // Private writable mapping: zero-copy tensors may be modified in place (copy-on-write), never the file.
    void* p = mmap(nullptr, f->size_, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw_coded("ERR_IO_READ", fmt("cannot map ", path, ": ", std::strerror(errno)));
    }
    f->map_ = static_cast<uint8_t*>(p);
  }
  ::close(fd);
  static const uint8_t empty[1] = {0};
  f->tensors_ = parse_header(f->map_ ? f->map_ : empty, f->size_, path, &f->metadata_);
  uint64_t n = 0;
  std::memcpy(&n, f->map_, 8);
  f->data_start_ = 8 + n;
  for (size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  f->self_ = f;
  return f;
}

File::~File() {
  if (map_) munmap(map_, size_);
}

const TensorInfo* File::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

torch::Tensor File::get(const std::string& name, std::optional<c10::ScalarType> dtype) const {
  const TensorInfo* t = find(name);
  if (!t) throw_coded("ERR_WEIGHTS_MISSING", fmt(path_, ": expected a tensor named '", name, "' but the file has none"));
  auto stored = to_scalar_type(t->dtype, path_);
  uint8_t* ptr = map_ + data_start_ + t->begin;
  auto esz = dtype_size(t->dtype);
  auto keep = self_.lock();
  torch::Tensor view;
  if (reinterpret_cast<uintptr_t>(ptr) % esz == 0) {
    view = torch::from_blob(ptr, t->shape, [keep](void*) {}, torch::TensorOptions().dtype(stored));
  } else {
    view = torch::empty(t->shape, torch::TensorOptions().dtype(stored));
    if (t->end > t->begin) std::memcpy(view.data_ptr(), ptr, t->end - t->begin);
  }
  if (dtype && *dtype != stored) return view.to(*dtype);
  return view;
}

static void write_all(int fd, const void* data, size_t n, const std::string& path) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw_coded("ERR_IO_WRITE", fmt("cannot write ", path, ": ", std::strerror(errno)));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

static void fsync_dir(const fs::path& dir) {
  int dfd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

// Writes chunks produced by `emit` to a temporary file beside `path`, then renames it into place.
template <typename Emit>
static void atomic_write(const std::string& path, Emit emit) {
  fs::path target(path);
  fs::path tmp = target;
  tmp += fmt(".tmp-", ::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw_coded("ERR_IO_WRITE", fmt("cannot create ", tmp.string(), ": ", std::strerror(errno)));
  try {
    emit([&](const void* d, size_t n) { write_all(fd, d, n, path); });
    if (::fsync(fd) != 0) throw_coded("ERR_IO_WRITE", fmt("cannot flush ", path, ": ", std::strerror(errno)));
    if (::close(fd) != 0) {
      fd = -1;
      throw_coded("ERR_IO_WRITE", fmt("cannot close ", path, ": ", std::strerror(errno)));
    }
    fd = -1;
    if (::rename(tmp.c_str(), target.c_str()) != 0)
      throw_coded("ERR_IO_WRITE", fmt("cannot rename ", tmp.string(), " to ", path, ": ", std::strerror(errno)));
  } catch (...) {
    if (fd >= 0) ::close(fd);
    ::unlink(tmp.c_str());
    throw;
  }
  fsync_dir(target.parent_path());
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  atomic_write(path, [&](auto put) { put(contents.data(), contents.size()); });
}

void save(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
          const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::vector<torch::Tensor> cpu;
  uint64_t off = 0;
  for (auto& [name, t] : tensors) {
    if (h.contains(name)) throw_arg(fmt("Expected unique tensor names but '", name, "' appears twice"));
    auto c = t.detach().to(torch::kCPU).contiguous();
    auto bytes = static_cast<uint64_t>(c.numel()) * c.element_size();
    h[name] = {{"dtype", dtype_name(c.scalar_type())}, {"shape", c.sizes().vec()}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
    cpu.push_back(c);
  }
  std::string header = h.dump();
  while ((8 + header.size()) % 8) header.push_back(' ');  // align the data section to 8 bytes
  uint64_t n = header.size();
  atomic_write(path, [&](auto put) {
    put(&n, 8);
    put(header.data(), header.size());
    for (auto& c : cpu) put(c.data_ptr(), static_cast<size_t>(c.numel()) * c.element_size());
  });
}

Checkpoint Checkpoint::open_dir(const std::string& dir) {
  Checkpoint ck;
  fs::path d(dir);
  if (!fs::is_directory(d)) throw_coded("ERR_IO_READ", fmt("expected a checkpoint directory but ", dir, " is not a directory"));
  std::vector<std::string> names;
  fs::path index = d / "model.safetensors.index.json";
  if (fs::exists(index)) {
    std::ifstream in(index);
    json j;
    try {
      in >> j;
    } catch (const json::exception& e) {
      throw_coded("ERR_SAFETENSORS_HEADER", fmt(index.string(), ": expected JSON with a weight_map but it does not parse: ", e.what()));
    }
    if (!j.contains("weight_map") || !j["weight_map"].is_object())
      throw_coded("ERR_SAFETENSORS_HEADER", fmt(index.string(), ": expected an object field weight_map"));
    std::map<std::string, std::shared_ptr<File>> opened;
    for (auto& [tensor, file] : j["weight_map"].items()) {
      if (!file.is_string()) throw_coded("ERR_SAFETENSORS_HEADER", fmt(index.string(), ": weight_map['", tensor, "'] should be a file name"));
      auto fname = file.get<std::string>();
      if (fname.find('/') != std::string::npos || fname.find("..") != std::string::npos)
        throw_coded("ERR_SAFETENSORS_HEADER", fmt(index.string(), ": expected a file name in the same folder but found '", fname, "'"));
      auto it = opened.find(fname);
      if (it == opened.end()) {
        auto f = File::open((d / fname).string());
        ck.files.push_back(f);
        ck.total_bytes += f->file_size();
        it = opened.emplace(fname, f).first;
      }
      if (!it->second->find(tensor))
        throw_coded("ERR_WEIGHTS_MISSING", fmt(index.string(), " says '", tensor, "' is in ", fname, " but that file has no such tensor"));
      ck.where[tensor] = it->second;
    }
    return ck;
  }
  if (fs::exists(d / "model.safetensors")) {
    names.push_back((d / "model.safetensors").string());
  } else {
    for (auto& e : fs::directory_iterator(d))
      if (e.path().extension() == ".safetensors") names.push_back(e.path().string());
    std::sort(names.begin(), names.end());
  }
  if (names.empty())
    throw_coded("ERR_WEIGHTS_MISSING", fmt("expected model.safetensors, model.safetensors.index.json or *.safetensors in ", dir, " but found none"));
  for (auto& n : names) {
    auto f = File::open(n);
    ck.files.push_back(f);
    ck.total_bytes += f->file_size();
    for (auto& t : f->tensors()) {
      if (ck.where.count(t.name)) throw_coded("ERR_SAFETENSORS_HEADER", fmt("tensor '", t.name, "' appears in two files of ", dir));
      ck.where[t.name] = f;
    }
  }
  return ck;
}

void save_sharded(const std::string& dir, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                  uint64_t max_shard_bytes, const std::map<std::string, std::string>& metadata) {
  fs::create_directories(dir);
  std::vector<std::vector<std::pair<std::string, torch::Tensor>>> shards(1);
  uint64_t cur = 0, total = 0;
  for (auto& nt : tensors) {
    uint64_t b = static_cast<uint64_t>(nt.second.numel()) * nt.second.element_size();
    if (cur > 0 && cur + b > max_shard_bytes) {
      shards.emplace_back();
      cur = 0;
    }
    shards.back().push_back(nt);
    cur += b;
    total += b;
  }
  if (shards.size() == 1) {
    save((fs::path(dir) / "model.safetensors").string(), shards[0], metadata);
    return;
  }
  json wm = json::object();
  for (size_t i = 0; i < shards.size(); ++i) {
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05zu-of-%05zu.safetensors", i + 1, shards.size());
    save((fs::path(dir) / buf).string(), shards[i], metadata);
    for (auto& nt : shards[i]) wm[nt.first] = buf;
  }
  json idx = {{"metadata", {{"total_size", total}}}, {"weight_map", wm}};
  write_file_atomic((fs::path(dir) / "model.safetensors.index.json").string(), idx.dump(2));
}

}  // namespace vrft::st
