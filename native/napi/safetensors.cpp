// Bindings for safetensors I/O: header listing, tensor read (as bytes), write (atomic), sharded dirs.
// JS buffers are copied into tensors on the JS thread; worker threads never touch JS values.
#include <napi.h>

#include <cstring>

#include "common/errors.h"
#include "io/safetensors.h"
#include "napi/common.h"

namespace vrft::napi {

static Napi::Object tensor_info_js(Napi::Env env, const st::TensorInfo& t) {
  auto o = Napi::Object::New(env);
  o.Set("name", t.name);
  o.Set("dtype", t.dtype);
  auto shape = Napi::Array::New(env, t.shape.size());
  for (size_t i = 0; i < t.shape.size(); ++i) shape.Set(i, Napi::Number::New(env, double(t.shape[i])));
  o.Set("shape", shape);
  o.Set("begin", double(t.begin));
  o.Set("end", double(t.end));
  return o;
}

static Napi::Object metadata_js(Napi::Env env, const std::map<std::string, std::string>& m) {
  auto o = Napi::Object::New(env);
  for (auto& [k, v] : m) o.Set(k, v);
  return o;
}

// safetensorsHeader(path) -> Promise<{ tensors, metadata, fileSize }>
static Napi::Value Header(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto path = get_string(info[0], "path");
    auto f = std::make_shared<std::shared_ptr<st::File>>();
    return run_async(info.Env(), [=] { *f = st::File::open(path); },
                     [f](Napi::Env env) -> Napi::Value {
                       auto o = Napi::Object::New(env);
                       auto arr = Napi::Array::New(env, (*f)->tensors().size());
                       for (size_t i = 0; i < (*f)->tensors().size(); ++i) arr.Set(i, tensor_info_js(env, (*f)->tensors()[i]));
                       o.Set("tensors", arr);
                       o.Set("metadata", metadata_js(env, (*f)->metadata()));
                       o.Set("fileSize", double((*f)->file_size()));
                       f->reset();
                       return o;
                     });
  });
}

// safetensorsParseHeader(bytes: Uint8Array) -> { tensors, metadata } (sync; validates like a file open)
static Napi::Value ParseHeader(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
      throw_arg(fmt("Expected a Uint8Array or Buffer for bytes but received ", describe(info[0])));
    auto a = info[0].As<Napi::Uint8Array>();
    std::map<std::string, std::string> meta;
    auto ts = st::File::parse_header(a.Data(), a.ByteLength(), "<buffer>", &meta);
    auto env = info.Env();
    auto o = Napi::Object::New(env);
    auto arr = Napi::Array::New(env, ts.size());
    for (size_t i = 0; i < ts.size(); ++i) arr.Set(i, tensor_info_js(env, ts[i]));
    o.Set("tensors", arr);
    o.Set("metadata", metadata_js(env, meta));
    return o;
  });
}

// safetensorsReadTensor(path, name, dtype?) -> Promise<{ dtype, shape, data: Buffer }>
static Napi::Value ReadTensor(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto path = get_string(info[0], "path");
    auto name = get_string(info[1], "name");
    std::optional<c10::ScalarType> dtype;
    if (info.Length() > 2 && !info[2].IsUndefined()) dtype = st::to_scalar_type(get_string(info[2], "dtype"), "dtype");
    auto out = std::make_shared<torch::Tensor>();
    return run_async(info.Env(), [=] {
      auto f = st::File::open(path);
      *out = f->get(name, dtype).contiguous().clone();
    }, [out](Napi::Env env) -> Napi::Value {
      auto& t = *out;
      auto o = Napi::Object::New(env);
      o.Set("dtype", st::dtype_name(t.scalar_type()));
      auto shape = Napi::Array::New(env, t.dim());
      for (int64_t i = 0; i < t.dim(); ++i) shape.Set(uint32_t(i), Napi::Number::New(env, double(t.size(i))));
      o.Set("shape", shape);
      size_t n = size_t(t.numel()) * t.element_size();
      o.Set("data", Napi::Buffer<uint8_t>::Copy(env, static_cast<const uint8_t*>(t.data_ptr()), n));
      return o;
    });
  });
}

static std::vector<std::pair<std::string, torch::Tensor>> tensors_from_js(const Napi::Value& v) {
  auto arr = get_array(v, "tensors");
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    auto o = get_object(arr.Get(i), fmt("tensors[", i, "]").c_str());
    auto name = get_string(o.Get("name"), "name");
    auto dtype = get_string(o.Get("dtype"), "dtype");
    auto st_type = st::to_scalar_type(dtype, fmt("tensors[", i, "].dtype"));
    auto shape = get_int_vector(o.Get("shape"), "shape");
    Napi::Value d = o.Get("data");
    if (!d.IsTypedArray()) throw_arg(fmt("Expected a Buffer or typed array for tensors[", i, "].data but received ", describe(d)));
    auto ta = d.As<Napi::TypedArray>();
    int64_t numel = 1;
    for (auto s : shape) {
      if (s < 0) throw_range(fmt("Expected non-negative dimensions for tensors[", i, "].shape"));
      numel *= s;
    }
    size_t need = size_t(numel) * st::dtype_size(dtype);
    if (ta.ByteLength() != need)
      throw_range(fmt("Expected ", need, " bytes for tensor '", name, "' (", dtype, ") but received ", ta.ByteLength()));
    auto t = torch::empty(shape, torch::TensorOptions().dtype(st_type));
    if (need) std::memcpy(t.data_ptr(), static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset(), need);
    out.emplace_back(name, t);
  }
  return out;
}

static std::map<std::string, std::string> metadata_from_js(const Napi::Value& v) {
  std::map<std::string, std::string> m;
  if (v.IsUndefined() || v.IsNull()) return m;
  auto o = get_object(v, "metadata");
  auto keys = o.GetPropertyNames();
  for (uint32_t i = 0; i < keys.Length(); ++i) {
    auto k = keys.Get(i).As<Napi::String>().Utf8Value();
    m[k] = get_string(o.Get(k), k.c_str());
  }
  return m;
}

// safetensorsWrite(path, tensors: {name, dtype, shape, data}[], metadata?) -> Promise<void>
static Napi::Value Write(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto path = get_string(info[0], "path");
    auto tensors = tensors_from_js(info[1]);
    auto meta = metadata_from_js(info.Length() > 2 ? info[2] : info.Env().Undefined());
    return run_async(info.Env(), [=] { st::save(path, tensors, meta); }, nullptr);
  });
}

// safetensorsWriteSharded(dir, tensors, maxShardBytes) -> Promise<void>
static Napi::Value WriteSharded(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto dir = get_string(info[0], "dir");
    auto tensors = tensors_from_js(info[1]);
    auto max = get_int(info[2], "maxShardBytes", 1, int64_t(1) << 50);
    return run_async(info.Env(), [=] { st::save_sharded(dir, tensors, uint64_t(max)); }, nullptr);
  });
}

// checkpointInfo(dir) -> Promise<{ files: string[], tensors: (info & {file})[], totalBytes }>
static Napi::Value CheckpointInfo(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto dir = get_string(info[0], "dir");
    auto ck = std::make_shared<st::Checkpoint>();
    return run_async(info.Env(), [=] { *ck = st::Checkpoint::open_dir(dir); },
                     [ck](Napi::Env env) -> Napi::Value {
                       auto o = Napi::Object::New(env);
                       auto files = Napi::Array::New(env, ck->files.size());
                       for (size_t i = 0; i < ck->files.size(); ++i) files.Set(i, ck->files[i]->path());
                       o.Set("files", files);
                       auto arr = Napi::Array::New(env, ck->where.size());
                       uint32_t i = 0;
                       for (auto& [name, f] : ck->where) {
                         auto t = tensor_info_js(env, *f->find(name));
                         t.Set("file", f->path());
                         arr.Set(i++, t);
                       }
                       o.Set("tensors", arr);
                       o.Set("totalBytes", double(ck->total_bytes));
                       *ck = st::Checkpoint();
                       return o;
                     });
  });
}

void init_safetensors(Napi::Env env, Napi::Object exports) {
  exports.Set("safetensorsHeader", Napi::Function::New(env, Header));
  exports.Set("safetensorsParseHeader", Napi::Function::New(env, ParseHeader));
  exports.Set("safetensorsReadTensor", Napi::Function::New(env, ReadTensor));
  exports.Set("safetensorsWrite", Napi::Function::New(env, Write));
  exports.Set("safetensorsWriteSharded", Napi::Function::New(env, WriteSharded));
  exports.Set("checkpointInfo", Napi::Function::New(env, CheckpointInfo));
}

}  // namespace vrft::napi
