// Bindings for the Qwen2-VL / Qwen2.5-VL model: load (async), forward (async; logits, M-RoPE position ids,
// rope deltas, optional top-k / logsumexp per position and debugging traces), rope index (sync), parameter
// count (sync, meta device) and random checkpoints (async). The config arrives as the flat, validated
// object made by lib/model/config.ts. JS arrays are read/copied on the JS thread (pixels copied once into a
// tensor); workers never touch JS values.
#include <napi.h>

#include <cstring>

#include "common/errors.h"
#include "model/qwen2vl.h"
#include "napi/common.h"
#include "napi/objects.h"

namespace vrft::napi {

namespace m = vrft::model;

static m::ModelConfig read_config(const Napi::Value& v) {
  auto o = get_object(v, "config");
  auto gi = [&](const Napi::Object& obj, const char* k) { return get_int(obj.Get(k), k, INT64_MIN / 2, INT64_MAX / 2); };
  m::ModelConfig c;
  auto arch = get_string(o.Get("arch"), "arch");
  if (arch != "qwen2-vl" && arch != "qwen2.5-vl" && arch != "qwen3-vl")
    throw_arg(fmt("Expected 'qwen2-vl', 'qwen2.5-vl' or 'qwen3-vl' for arch but received '", arch, "'"));
  c.arch = arch == "qwen2-vl" ? m::Arch::Qwen2VL : arch == "qwen2.5-vl" ? m::Arch::Qwen25VL : m::Arch::Qwen3VL;
  c.vocab_size = gi(o, "vocabSize");
  c.hidden_size = gi(o, "hiddenSize");
  c.intermediate_size = gi(o, "intermediateSize");
  c.num_layers = gi(o, "numLayers");
  c.num_heads = gi(o, "numHeads");
  c.num_kv_heads = gi(o, "numKvHeads");
  c.head_dim = gi(o, "headDim");
  c.rms_norm_eps = get_number(o.Get("rmsNormEps"), "rmsNormEps");
  c.rope_theta = get_number(o.Get("ropeTheta"), "ropeTheta");
  c.mrope_section = get_int_vector(o.Get("mropeSection"), "mropeSection");
  c.tie_word_embeddings = get_bool(o.Get("tieWordEmbeddings"), "tieWordEmbeddings");
  c.image_token_id = gi(o, "imageTokenId");
  c.video_token_id = gi(o, "videoTokenId");
  c.vision_start_token_id = gi(o, "visionStartTokenId");
  c.vision_end_token_id = gi(o, "visionEndTokenId");
  auto vo = get_object(o.Get("vision"), "vision");
  auto& vc = c.vision;
  vc.depth = gi(vo, "depth");
  vc.width = gi(vo, "width");
  vc.num_heads = gi(vo, "numHeads");
  vc.intermediate = gi(vo, "intermediate");
  vc.act = get_string(vo.Get("act"), "act");
  vc.patch_size = gi(vo, "patchSize");
  vc.temporal_patch_size = gi(vo, "temporalPatchSize");
  vc.spatial_merge_size = gi(vo, "spatialMergeSize");
  vc.in_channels = gi(vo, "inChannels");
  vc.out_hidden = gi(vo, "outHidden");
  vc.window_size = gi(vo, "windowSize");
  vc.fullatt_block_indexes = get_int_vector(vo.Get("fullattBlockIndexes"), "fullattBlockIndexes");
  vc.tokens_per_second = get_number(vo.Get("tokensPerSecond"), "tokensPerSecond");
  vc.num_position_embeddings = opt_int(vo, "numPositionEmbeddings", 0, 0, INT64_MAX / 2);  // Qwen3-VL only
  auto ds = vo.Get("deepstackVisualIndexes");
  if (!ds.IsUndefined() && !ds.IsNull()) vc.deepstack_visual_indexes = get_int_vector(ds, "deepstackVisualIndexes");
  c.check();
  return c;
}

static ModelObj* holder(const Napi::Value& v) {
  auto* h = unwrap<ModelObj>(v, "model");
  if (!h->model) throw_coded("ERR_MODEL_DISPOSED", "Expected a loaded model but this one was disposed");
  return h;
}

static c10::ScalarType read_dtype(const std::string& s) {
  if (s == "float32") return torch::kFloat32;
  if (s == "bfloat16") return torch::kBFloat16;
  if (s == "float16") return torch::kFloat16;
  throw_arg(fmt("Expected 'float32', 'bfloat16' or 'float16' for dtype but received '", s, "'"));
}

static std::vector<m::Grid> read_grids(const Napi::Value& v) {
  std::vector<m::Grid> grids;
  if (v.IsUndefined() || v.IsNull()) return grids;
  auto flat = get_int_vector(v, "imageGridThw");
  if (flat.size() % 3) throw_arg(fmt("Expected imageGridThw to hold 3 integers per image but received ", flat.size(), " integers"));
  for (size_t i = 0; i < flat.size(); i += 3) grids.push_back({flat[i], flat[i + 1], flat[i + 2]});
  return grids;
}

// Copies a float tensor into a new Float32Array (JS thread).
static Napi::Float32Array to_f32(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kFloat32).contiguous();
  auto a = Napi::Float32Array::New(env, c.numel());
  if (c.numel()) std::memcpy(a.Data(), c.data_ptr<float>(), c.numel() * sizeof(float));
  return a;
}
static Napi::Int32Array to_i32(Napi::Env env, const torch::Tensor& t) {
  auto c = t.to(torch::kCPU, torch::kInt32).contiguous();
  auto a = Napi::Int32Array::New(env, c.numel());
  if (c.numel()) std::memcpy(a.Data(), c.data_ptr<int32_t>(), c.numel() * sizeof(int32_t));
  return a;
}
static Napi::Array shape_js(Napi::Env env, const torch::Tensor& t) {
  auto a = Napi::Array::New(env, t.dim());
  for (int64_t i = 0; i < t.dim(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, double(t.size(i))));
  return a;
}
static Napi::Object tensor_js(Napi::Env env, const torch::Tensor& t) {
  auto o = Napi::Object::New(env);
  o.Set("data", to_f32(env, t));
  o.Set("shape", shape_js(env, t));
  return o;
}

struct TokenBatch {
  torch::Tensor ids, mask;  // (B, T) int64
};
static TokenBatch read_tokens(const Napi::Object& o) {
  auto ids = get_int_vector(o.Get("inputIds"), "inputIds");
  const int64_t B = get_int(o.Get("batch"), "batch", 1, 1 << 20);
  if (ids.empty() || ids.size() % B)
    throw_arg(fmt("Expected inputIds to hold batch (", B, ") rows of equal length but received ", ids.size(), " ids"));
  const int64_t T = ids.size() / B;
  TokenBatch tb;
  tb.ids = torch::tensor(ids, torch::kInt64).view({B, T});
  auto mv = o.Get("attentionMask");
  if (mv.IsUndefined() || mv.IsNull()) {
    tb.mask = torch::ones({B, T}, torch::kInt64);
  } else {
    auto mk = get_int_vector(mv, "attentionMask");
    if ((int64_t)mk.size() != B * T) throw_arg(fmt("Expected attentionMask to hold ", B * T, " values but received ", mk.size()));
    tb.mask = torch::tensor(mk, torch::kInt64).view({B, T});
  }
  return tb;
}

// modelLoad(dir, config, { dtype, device }) -> Promise<handle>
static Napi::Value Load(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto dir = get_string(info[0], "dir");
    auto cfg = read_config(info[1]);
    auto o = info.Length() > 2 && !info[2].IsUndefined() ? get_object(info[2], "options") : Napi::Object::New(info.Env());
    auto dtype = read_dtype(opt_string(o, "dtype", "float32"));
    auto dev_s = opt_string(o, "device", "cpu");
    c10::Device dev(torch::kCPU);
    try { dev = c10::Device(dev_s); } catch (...) { throw_arg(fmt("Expected a device such as 'cpu' or 'cuda:0' for device but received '", dev_s, "'")); }
    if (dev.is_cuda() && !torch::cuda::is_available()) throw_coded("ERR_NO_CUDA", fmt("Expected a CUDA device for '", dev_s, "' but none is available"));
    auto out = std::make_shared<m::Qwen2VL>(nullptr);
    return run_async(info.Env(), [=] { *out = m::load_model(dir, cfg, dtype, dev); },
                     [out](Napi::Env env) -> Napi::Value {
                       Napi::Object js;
                       construct<ModelObj>(env, &js)->model = *out;
                       return js;
                     });
  });
}

// modelDispose(handle): frees the weights once running calls finish.
static Napi::Value Dispose(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    unwrap<ModelObj>(info[0], "model")->model = nullptr;
    return info.Env().Undefined();
  });
}

// modelInfo(handle) -> { parameters, dtype, device }
static Napi::Value Info(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto* h = holder(info[0]);
    auto o = Napi::Object::New(info.Env());
    int64_t n = 0;
    for (auto& p : h->model->parameters()) n += p.numel();
    auto w = h->model->model->embed_tokens;
    o.Set("parameters", double(n));
    o.Set("dtype", w.scalar_type() == torch::kFloat32 ? "float32" : w.scalar_type() == torch::kBFloat16 ? "bfloat16" : "float16");
    o.Set("device", w.device().str());
    return o;
  });
}

static Napi::Object rope_js(Napi::Env env, const m::RopeIndex& r) {
  auto o = Napi::Object::New(env);
  o.Set("positionIds", to_i32(env, r.position_ids));
  auto d = Napi::Array::New(env, r.rope_deltas.numel());
  for (int64_t i = 0; i < r.rope_deltas.numel(); ++i) d.Set(uint32_t(i), double(r.rope_deltas[i].item<int64_t>()));
  o.Set("ropeDeltas", d);
  return o;
}

// modelRopeIndex(config, { inputIds, batch, attentionMask?, imageGridThw? }) -> { positionIds (3·B·T), ropeDeltas }
static Napi::Value RopeIndexJs(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto cfg = read_config(info[0]);
    auto o = get_object(info[1], "options");
    auto tb = read_tokens(o);
    return rope_js(info.Env(), m::get_rope_index(cfg, tb.ids, tb.mask, read_grids(o.Get("imageGridThw"))));
  });
}

struct ForwardOut {
  m::RopeIndex rope;
  torch::Tensor logits, topk_vals, topk_ids, lse, image_embeds;
  std::vector<torch::Tensor> vision_trace, hidden_trace;
};

// modelForward(handle, options) -> Promise<result>; see lib/native/model.ts for the contract.
static Napi::Value Forward(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto model = holder(info[0])->model;
    auto o = get_object(info[1], "options");
    auto tb = read_tokens(o);
    auto images = read_images(o.Get("pixelValues"), o.Get("imageGridThw"), model->cfg.vision.patch_dim());
    auto& pixels = images.pixels;
    auto& grids = images.grids;
    auto mode = opt_string(o, "logits", "last");
    if (mode != "all" && mode != "last" && mode != "none" && mode != "positions")
      throw_arg(fmt("Expected 'all', 'last', 'positions' or 'none' for logits but received '", mode, "'"));
    std::vector<int64_t> positions;
    const int64_t T = tb.ids.size(1);
    if (mode == "positions") {
      positions = get_int_vector(o.Get("positions"), "positions");
      for (auto p : positions) if (p < 0 || p >= T) throw_range(fmt("Expected positions between 0 and ", T - 1, " but received ", p));
    }
    const int64_t topk = opt_int(o, "topk", 0, 0, 1000);
    const bool want_lse = opt_bool(o, "logsumexp", false), trace = opt_bool(o, "trace", false);
    auto out = std::make_shared<ForwardOut>();
    auto work = [=]() mutable {
      torch::NoGradGuard ng;
      auto& r = *out;
      r.rope = m::get_rope_index(model->cfg, tb.ids, tb.mask, grids);
      torch::Tensor img;
      if (pixels.defined()) img = model->encode_images(pixels, grids, trace ? &r.vision_trace : nullptr);
      auto emb = model->embed(tb.ids, img);  // (B, T, H)
      auto dev = emb.device();
      auto hid = model->model->forward(emb, r.rope.position_ids.to(dev), tb.mask.to(dev), nullptr, 0,
                                       trace ? &r.hidden_trace : nullptr);  // (B, T, H)
      if (trace) r.hidden_trace.push_back(hid), r.image_embeds = img;
      if (mode == "all") r.logits = model->head(hid).to(torch::kFloat32);
      else if (mode == "last") r.logits = model->head(hid.select(1, T - 1)).to(torch::kFloat32);  // (B, V)
      else if (mode == "positions")
        r.logits = model->head(hid.index_select(1, torch::tensor(positions, torch::kInt64).to(dev))).to(torch::kFloat32);
      if (topk > 0 || want_lse) {  // per position, in chunks (never B×T×V at once)
        std::vector<torch::Tensor> vals, ids, lses;
        for (int64_t s = 0; s < T; s += 64) {
          auto lg = model->head(hid.narrow(1, s, std::min<int64_t>(64, T - s))).to(torch::kFloat32);  // (B, c, V)
          if (topk > 0) {
            auto tk = lg.topk(topk, -1);
            vals.push_back(std::get<0>(tk)), ids.push_back(std::get<1>(tk));
          }
          if (want_lse) lses.push_back(lg.logsumexp(-1));
        }
        if (topk > 0) r.topk_vals = torch::cat(vals, 1), r.topk_ids = torch::cat(ids, 1);  // (B, T, k)
        if (want_lse) r.lse = torch::cat(lses, 1);                                          // (B, T)
      }
    };
    auto done = [out, mode](Napi::Env env) -> Napi::Value {
      auto& r = *out;
      auto res = rope_js(env, r.rope);
      if (r.logits.defined()) {
        res.Set("logits", to_f32(env, r.logits));
        res.Set("logitsShape", shape_js(env, r.logits));
      }
      if (r.topk_vals.defined()) {
        res.Set("topkValues", to_f32(env, r.topk_vals));
        res.Set("topkIds", to_i32(env, r.topk_ids));
      }
      if (r.lse.defined()) res.Set("logsumexp", to_f32(env, r.lse));
      if (!r.hidden_trace.empty()) {
        auto tr = Napi::Object::New(env);
        auto vis = Napi::Array::New(env, r.vision_trace.size());
        for (size_t i = 0; i < r.vision_trace.size(); ++i) vis.Set(uint32_t(i), tensor_js(env, r.vision_trace[i]));
        auto hid = Napi::Array::New(env, r.hidden_trace.size());
        for (size_t i = 0; i < r.hidden_trace.size(); ++i) hid.Set(uint32_t(i), tensor_js(env, r.hidden_trace[i]));
        tr.Set("vision", vis);
        tr.Set("hidden", hid);
        if (r.image_embeds.defined()) tr.Set("imageEmbeds", tensor_js(env, r.image_embeds));
        res.Set("trace", tr);
      }
      r = ForwardOut{};
      return res;
    };
    return run_async(info.Env(), work, done, {info[0]});
  });
}

// modelParameterCount(config) -> number (meta device: no memory)
static Napi::Value ParameterCount(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    return Napi::Number::New(info.Env(), double(m::parameter_count(read_config(info[0]))));
  });
}

// modelWriteRandom(dir, config, { seed, dtype, maxShardBytes }) -> Promise<void>
static Napi::Value WriteRandom(const Napi::CallbackInfo& info) {
  return guard(info, [](const Napi::CallbackInfo& info) -> Napi::Value {
    auto dir = get_string(info[0], "dir");
    auto cfg = read_config(info[1]);
    auto o = get_object(info[2], "options");
    auto seed = uint64_t(opt_int(o, "seed", 0, 0, (int64_t(1) << 53)));
    auto dtype = read_dtype(opt_string(o, "dtype", "float32"));
    auto shard = uint64_t(opt_number(o, "maxShardBytes", 4e9, 1, 1e15));
    return run_async(info.Env(), [=] { m::write_random_checkpoint(dir, cfg, seed, dtype, shard); },
                     [](Napi::Env env) -> Napi::Value { return env.Undefined(); });
  });
}

void init_model(Napi::Env env, Napi::Object exports) {
  exports.Set("modelLoad", Napi::Function::New(env, Load, "modelLoad"));
  exports.Set("modelDispose", Napi::Function::New(env, Dispose, "modelDispose"));
  exports.Set("modelInfo", Napi::Function::New(env, Info, "modelInfo"));
  exports.Set("modelForward", Napi::Function::New(env, Forward, "modelForward"));
  exports.Set("modelRopeIndex", Napi::Function::New(env, RopeIndexJs, "modelRopeIndex"));
  exports.Set("modelParameterCount", Napi::Function::New(env, ParameterCount, "modelParameterCount"));
  exports.Set("modelWriteRandom", Napi::Function::New(env, WriteRandom, "modelWriteRandom"));
}

}  // namespace vrft::napi
