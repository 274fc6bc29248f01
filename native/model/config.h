// The flat, trusted model config the native model is built from. TypeScript (lib/model/config.ts) parses
// and validates every config.json layout (top level or text_config, rope_scaling or rope_parameters) and
// hands this one plain object over; native code only range-checks it (ModelConfig::check).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace vrft::model {

enum class Arch { Qwen2VL, Qwen25VL, Qwen3VL };

struct VisionConfig {
  int64_t depth = 0;
  int64_t width = 0;            // Qwen2-VL embed_dim, Qwen2.5-VL hidden_size
  int64_t num_heads = 0;
  int64_t intermediate = 0;     // MLP hidden: Qwen2-VL embed_dim*mlp_ratio, Qwen2.5-VL intermediate_size
  std::string act = "quick_gelu";  // quick_gelu | silu | gelu | gelu_pytorch_tanh
  int64_t patch_size = 14;
  int64_t temporal_patch_size = 2;
  int64_t spatial_merge_size = 2;
  int64_t in_channels = 3;
  int64_t out_hidden = 0;       // merger output = LLM hidden size
  int64_t window_size = 112;    // Qwen2.5-VL only
  std::vector<int64_t> fullatt_block_indexes;  // Qwen2.5-VL only
  double tokens_per_second = 2;
  int64_t num_position_embeddings = 0;          // Qwen3-VL only: learned absolute positions (a square grid)
  std::vector<int64_t> deepstack_visual_indexes;  // Qwen3-VL only: blocks whose outputs feed DeepStack
  int64_t head_dim() const { return width / num_heads; }
  int64_t patch_dim() const { return in_channels * temporal_patch_size * patch_size * patch_size; }  // 1176
};

struct ModelConfig {
  Arch arch = Arch::Qwen2VL;
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_layers = 0;
  int64_t num_heads = 0;
  int64_t num_kv_heads = 0;
  int64_t head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 1e6;
  std::vector<int64_t> mrope_section;  // 3 entries summing to head_dim / 2
  bool tie_word_embeddings = true;
  int64_t image_token_id = -1;
  int64_t video_token_id = -1;
  int64_t vision_start_token_id = -1;
  int64_t vision_end_token_id = -1;
  VisionConfig vision;
  // Qwen3-VL: Qwen3 decoder (q_norm/k_norm, no qkv bias), interleaved M-RoPE, DeepStack.
  bool qwen3() const { return arch == Arch::Qwen3VL; }
  // Throws vrft::CodedError(ERR_CONFIG) naming the field when a value is out of range or inconsistent.
  void check() const;
};

}  // namespace vrft::model
