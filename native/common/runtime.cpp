// Thread configuration and runtime/build information (vrft-native doctor).
#include "common/runtime.h"

#include <torch/version.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <thread>

#ifndef VRFT_TORCH_DIR
#define VRFT_TORCH_DIR "(not recorded by this build)"
#endif

namespace vrft {

static int default_threads() {
  if (const char* env = std::getenv("VRFT_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hc = std::thread::hardware_concurrency();
  return hc > 0 ? static_cast<int>(hc) : 1;
}

static std::atomic<int> g_threads{0};

int num_threads() {
  int n = g_threads.load();
  if (n <= 0) {
    n = default_threads();
    g_threads.store(n);
  }
  return n;
}

void set_num_threads(int n) { g_threads.store(n > 0 ? n : default_threads()); }

void apply_threads_on_this_thread() {
  int n = num_threads();
  if (at::get_num_threads() != n) at::set_num_threads(n);
}

static void detect_blas(RuntimeInfo& info) {
  std::ifstream maps("/proc/self/maps");
  std::string line;
  info.blas = "unknown";
  info.reference_blas = false;
  while (std::getline(maps, line)) {
    auto pos = line.find('/');
    if (pos == std::string::npos) continue;
    std::string path = line.substr(pos);
    if (path.find("openblas") != std::string::npos || path.find("libmkl") != std::string::npos ||
        path.find("blis") != std::string::npos) {
      info.blas = path;
      info.reference_blas = false;
      return;
    }
    if (path.find("/blas/libblas.so") != std::string::npos) {
      info.blas = path;
      info.reference_blas = true;  // Debian's netlib reference BLAS: ~15x slower matmul
    }
  }
}

RuntimeInfo runtime_info() {
  RuntimeInfo info;
  info.torch_version = TORCH_VERSION;
  info.torch_dir = VRFT_TORCH_DIR;
  info.built_with_cuda = VRFT_CUDA != 0;
  info.cuda_available = torch::cuda::is_available();
  info.cuda_devices = info.cuda_available ? static_cast<int>(torch::cuda::device_count()) : 0;
  info.parallel_info = at::get_parallel_info();
  // Touch BLAS once so a lazily loaded backend shows in the maps.
  auto a = torch::ones({8, 8});
  (void)torch::mm(a, a);
  detect_blas(info);
#ifdef VRFT_HAVE_GLOO
  info.have_gloo = true;
#else
  info.have_gloo = false;
#endif
  info.num_threads = num_threads();
  return info;
}

}  // namespace vrft
