// Native-only tests of the core library (no Node): safetensors round trip and corrupt headers, a tiny
// random Qwen2-VL forward + backward. Built as `vrft_core_test` when VRFT_CORE_TESTS=ON and run under
// valgrind by `npm run test:memcheck` (native/tools/memcheck.mjs), so leaks and invalid accesses in the
// core show up without V8's noise. Prints "N passed, N failed".
#include <torch/torch.h>

#include <cstdio>
#include <filesystem>
#include <random>

#include "common/errors.h"
#include "io/safetensors.h"
#include "model/qwen2vl.h"

static int passed = 0, failed = 0;
#define CHECK(cond)                                                          \
  do {                                                                       \
    if (cond) {                                                              \
      ++passed;                                                              \
    } else {                                                                 \
      ++failed;                                                              \
      std::fprintf(stderr, "FAILED %s:%d: %s\n", __FILE__, __LINE__, #cond); \
    }                                                                        \
  } while (0)

namespace fs = std::filesystem;

static void test_safetensors(const fs::path& dir) {
  auto a = torch::randn({3, 4});
  auto b = torch::randn({5}).to(torch::kBFloat16);
  auto p = (dir / "t.safetensors").string();
  vrft::st::save(p, {{"a", a}, {"b", b}}, {{"k", "v"}});
  auto f = vrft::st::File::open(p);
  CHECK(f->tensors().size() == 2);
  CHECK(torch::equal(f->get("a"), a));
  CHECK(torch::equal(f->get("b"), b));
  CHECK(f->metadata().at("k") == "v");
  // mutated headers: either parse or throw a CodedError, never crash
  std::vector<uint8_t> bytes(fs::file_size(p));
  FILE* fp = std::fopen(p.c_str(), "rb");
  CHECK(std::fread(bytes.data(), 1, bytes.size(), fp) == bytes.size());
  std::fclose(fp);
  std::mt19937 rng(1);
  int coded = 0;
  for (int i = 0; i < 2000; ++i) {
    auto m = bytes;
    for (int j = 0; j < 3; ++j) m[rng() % std::min<size_t>(m.size(), 120)] = uint8_t(rng());
    size_t cut = rng() % (m.size() + 1);
    try {
      vrft::st::File::parse_header(m.data(), cut, "fuzz");
    } catch (const vrft::CodedError&) {
      ++coded;
    }
  }
  CHECK(coded > 0);
}

static vrft::model::ModelConfig tiny_config() {
  vrft::model::ModelConfig c;
  c.arch = vrft::model::Arch::Qwen2VL;
  c.vocab_size = 1000;
  c.hidden_size = 64;
  c.intermediate_size = 128;
  c.num_layers = 2;
  c.num_heads = 4;
  c.num_kv_heads = 2;
  c.head_dim = 16;
  c.mrope_section = {2, 3, 3};
  c.image_token_id = 999;
  c.video_token_id = 998;
  c.vision_start_token_id = 997;
  c.vision_end_token_id = 996;
  c.vision.depth = 2;
  c.vision.width = 32;
  c.vision.num_heads = 4;
  c.vision.intermediate = 64;
  c.vision.out_hidden = 64;
  return c;
}

static void test_model(const fs::path& dir) {
  auto c = tiny_config();
  auto mdir = dir / "tiny";
  fs::create_directories(mdir);
  vrft::model::write_random_checkpoint(mdir.string(), c, 7, torch::kFloat32, 1ull << 30);
  auto m = vrft::model::load_model(mdir.string(), c, torch::kFloat32, torch::kCPU);
  // one image 4x4 patches -> 4 image tokens
  std::vector<vrft::model::Grid> grids{{1, 4, 4}};
  auto ids = torch::tensor({1, 2, 997, 999, 999, 999, 999, 996, 5, 6}, torch::kInt64).unsqueeze(0);
  auto mask = torch::ones_like(ids);
  auto pixels = torch::randn({16, 1176});
  auto img = m->encode_images(pixels, grids);
  CHECK(img.size(0) == 4 && img.size(1) == 64);
  auto emb = m->embed(ids, img);
  auto rp = vrft::model::get_rope_index(c, ids, mask, grids);
  auto hid = m->model->forward(emb, rp.position_ids, mask);
  auto logits = m->head(hid);
  CHECK(logits.size(2) == 1000);
  CHECK(torch::isfinite(logits).all().item<bool>());
  auto loss = torch::log_softmax(logits, -1).select(2, 3).mean();
  loss.backward();
  CHECK(m->model->embed_tokens.grad().defined());
  // wrong image token count is a coded error, not a crash
  bool threw = false;
  try {
    m->embed(ids, img.narrow(0, 0, 3));
  } catch (const std::exception&) {
    threw = true;
  }
  CHECK(threw);
}

int main() {
  auto dir = fs::temp_directory_path() / ("vrft-core-test-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  try {
    test_safetensors(dir);
    test_model(dir);
  } catch (const std::exception& e) {
    ++failed;
    std::fprintf(stderr, "FAILED with exception: %s\n", e.what());
  }
  fs::remove_all(dir);
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
