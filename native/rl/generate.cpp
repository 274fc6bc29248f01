// Batched generation with a shared-prefill KV cache (see generate.h). Shapes: P prompts, G samples each,
// B = P·G rows, T padded prompt length, N = max_new_tokens, H hidden, V vocabulary.
#include "rl/generate.h"

#include <chrono>

#include "common/errors.h"

namespace vrft::rl {

namespace m = vrft::model;
using Clock = std::chrono::steady_clock;

static double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

static void check_options(const m::ModelConfig& c, const GenerateOptions& o) {
  if (o.max_new_tokens < 1) throw_range(fmt("Expected maxNewTokens >= 1 but received ", o.max_new_tokens));
  if (o.num_generations < 1) throw_range(fmt("Expected numGenerations >= 1 but received ", o.num_generations));
  const auto& s = o.sampling;
  if (!s.greedy && !(s.temperature > 0)) throw_range(fmt("Expected a temperature > 0 when sampling but received ", s.temperature));
  if (!(s.top_p > 0 && s.top_p <= 1)) throw_range(fmt("Expected topP in (0, 1] but received ", s.top_p));
  if (s.top_k < 0) throw_range(fmt("Expected topK >= 0 but received ", s.top_k));
  for (auto e : o.eos_ids)
    if (e < 0 || e >= c.vocab_size) throw_range(fmt("Expected eos ids between 0 and ", c.vocab_size - 1, " but received ", e));
  if (o.pad_id < 0 || o.pad_id >= c.vocab_size) throw_range(fmt("Expected a pad id between 0 and ", c.vocab_size - 1, " but received ", o.pad_id));
}

// Image embeddings for every one of the B = P·G rows, in row order, encoding the images once per sample
// (the per-sample-prefill baseline). ids (P, T).
static torch::Tensor per_sample_image_embeds(m::Qwen2VLImpl& model, const torch::Tensor& ids, const torch::Tensor& pixels,
                                             const std::vector<m::Grid>& grids, int64_t G) {
  auto counts = (ids == model.cfg.image_token_id).sum(1);  // (P) image tokens per prompt
  std::vector<torch::Tensor> per_g;
  for (int64_t g = 0; g < G; ++g) per_g.push_back(model.encode_images(pixels, grids));  // (N/4, H) each
  std::vector<torch::Tensor> rows;
  for (int64_t b = 0, off = 0; b < ids.size(0); ++b) {
    const int64_t n = counts[b].item<int64_t>();
    for (int64_t g = 0; g < G; ++g) rows.push_back(per_g[g].narrow(0, off, n));
    off += n;
  }
  return torch::cat(rows, 0);  // (Σ_rows n, H)
}

GenerateResult generate(m::Qwen2VLImpl& model, const torch::Tensor& ids_, const torch::Tensor& mask_,
                        const torch::Tensor& pixels, const std::vector<m::Grid>& grids, const GenerateOptions& o) {
  check_options(model.cfg, o);
  auto ids = ids_.to(torch::kCPU, torch::kInt64).contiguous();
  if (ids.dim() != 2 || ids.size(0) < 1 || ids.size(1) < 1) throw_arg(fmt("Expected prompt ids of shape (P, T) but received ", ids.sizes()));
  auto mask = mask_.defined() ? mask_.to(torch::kCPU, torch::kInt64) : torch::ones_like(ids);
  if (!mask.sizes().equals(ids.sizes())) throw_arg(fmt("Expected an attention mask of shape ", ids.sizes(), " but received ", mask.sizes()));
  if (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= model.cfg.vocab_size)
    throw_range(fmt("Expected prompt ids between 0 and ", model.cfg.vocab_size - 1));
  const int64_t P = ids.size(0), T = ids.size(1), G = o.num_generations, B = P * G, N = o.max_new_tokens;
  auto stop = [&] {
    if (o.should_stop && o.should_stop()) throw_coded("ERR_ABORTED", "generation was aborted");
  };
  stop();
  auto t0 = Clock::now();
  GenerateResult r;
  r.prompt_len = T;
  auto rope = m::get_rope_index(model.cfg, ids, mask, grids);  // (3, P, T), (P)
  const bool have_img = pixels.defined() && pixels.numel() > 0;
  const auto wdev = model.head_weight().device();
  auto deltas = rope.rope_deltas.repeat_interleave(G, 0).to(wdev);                                    // (B)
  auto mask_full = torch::cat({mask.repeat_interleave(G, 0), torch::ones({B, N}, torch::kInt64)}, 1).to(wdev);  // (B, T+N)
  m::KVCache kv;
  torch::Tensor logits;    // (B, V) float32, next-token logits
  torch::Tensor emb_rows;  // NoCache: (B, T + s, H) embeddings of everything so far
  torch::Tensor pos_rows;  // NoCache: (3, B, T) prompt positions
  if (o.mode == GenerateMode::Cache) {
    auto img = have_img ? model.encode_images(pixels, grids) : torch::Tensor();
    auto emb = model.embed(ids, img);                                                  // (P, T, H)
    kv = m::KVCache::allocate(model.cfg, P, T, emb.options());
    auto hid = model.model->forward(emb, rope.position_ids.to(wdev), mask.to(wdev), &kv, 0);  // (P, T, H)
    logits = model.head(hid.select(1, T - 1)).to(torch::kFloat32).repeat_interleave(G, 0);   // (B, V)
    kv = kv.expand(G, T + N);                                                          // (B, ., T+N, d)
  } else if (o.mode == GenerateMode::PerSamplePrefill) {
    auto ids_b = ids.repeat_interleave(G, 0);                                          // (B, T)
    auto img = have_img ? per_sample_image_embeds(model, ids, pixels, grids, G) : torch::Tensor();
    auto emb = model.embed(ids_b, img);                                                // (B, T, H)
    kv = m::KVCache::allocate(model.cfg, B, T + N, emb.options());
    auto hid = model.model->forward(emb, rope.position_ids.repeat_interleave(G, 1).to(wdev),
                                    mask_full.narrow(1, 0, T), &kv, 0);                // (B, T, H)
    logits = model.head(hid.select(1, T - 1)).to(torch::kFloat32);                    // (B, V)
  } else {  // NoCache
    auto img = have_img ? model.encode_images(pixels, grids) : torch::Tensor();
    emb_rows = model.embed(ids, img).repeat_interleave(G, 0);                          // (B, T, H)
    pos_rows = rope.position_ids.repeat_interleave(G, 1).to(wdev);                     // (3, B, T)
    auto hid = model.model->forward(emb_rows, pos_rows, mask_full.narrow(1, 0, T));    // (B, T, H)
    logits = model.head(hid.select(1, T - 1)).to(torch::kFloat32);                     // (B, V)
  }
  r.prefill_seconds = since(t0);
  auto t1 = Clock::now();

  auto gen = make_generator(logits.device(), o.seed);
  const bool want_temp = !o.sampling.greedy && o.sampling.temperature != 1.0;
  auto lopt = torch::TensorOptions().device(logits.device());
  auto out_ids = torch::full({B, N}, o.pad_id, lopt.dtype(torch::kInt64));
  auto out_lp = torch::zeros({B, N}, lopt.dtype(torch::kFloat32));
  auto out_lpt = want_temp ? torch::zeros({B, N}, lopt.dtype(torch::kFloat32)) : torch::Tensor();
  auto finished = torch::zeros({B}, lopt.dtype(torch::kBool));
  auto lengths = torch::zeros({B}, lopt.dtype(torch::kInt64));
  auto eos = torch::tensor(o.eos_ids.empty() ? std::vector<int64_t>{-1} : o.eos_ids, torch::kInt64).to(logits.device());
  int64_t steps = 0;
  for (int64_t s = 0; s < N; ++s) {
    stop();
    auto pick = pick_next(logits, o.sampling, gen);                                   // (B) each
    auto tok = pick.tok.masked_fill(finished, o.pad_id);
    out_ids.select(1, s).copy_(tok);
    if (o.on_step) {
      auto c = tok.to(torch::kCPU, torch::kInt32).contiguous();
      o.on_step(std::vector<int32_t>(c.data_ptr<int32_t>(), c.data_ptr<int32_t>() + c.numel()), s);
    }
    out_lp.select(1, s).copy_(pick.logp.masked_fill(finished, 0));
    if (want_temp) out_lpt.select(1, s).copy_(pick.logp_temp.masked_fill(finished, 0));
    lengths += finished.logical_not().to(torch::kInt64);
    finished = finished.logical_or((tok.unsqueeze(-1) == eos.unsqueeze(0)).any(-1));
    steps = s + 1;
    if (s == N - 1 || finished.all().item<bool>()) break;
    auto e = model.model->embed(tok.view({B, 1}));                                    // (B, 1, H)
    torch::Tensor hid;
    if (o.mode == GenerateMode::NoCache) {
      emb_rows = torch::cat({emb_rows, m::widen_embeds(e, emb_rows.size(2))}, 1);     // (B, T+s+1, H)
      auto pos = torch::cat({pos_rows, m::decode_positions(deltas, T, s + 1)}, 2);     // (3, B, T+s+1)
      hid = model.model->forward(emb_rows, pos, mask_full.narrow(1, 0, T + s + 1));   // (B, T+s+1, H)
      hid = hid.narrow(1, T + s, 1);                                                   // (B, 1, H)
    } else {
      hid = model.model->forward(e, m::decode_positions(deltas, T + s, 1), mask_full.narrow(1, 0, T + s + 1), &kv, T + s);
    }
    logits = model.head(hid.select(1, 0)).to(torch::kFloat32);                         // (B, V)
  }
  r.ids = out_ids.narrow(1, 0, steps).cpu();
  r.logp = out_lp.narrow(1, 0, steps).cpu();
  if (want_temp) r.logp_temp = out_lpt.narrow(1, 0, steps).cpu();
  r.lengths = lengths.cpu();
  r.decode_seconds = since(t1);
  return r;
}

}  // namespace vrft::rl
