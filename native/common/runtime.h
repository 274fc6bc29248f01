// Process-wide runtime settings of the native core: intra-op threads (libtorch's OpenMP pool starts at 1
// thread on Node's worker threads, and the setting is per calling thread), build and device info.
#pragma once
#include <string>

namespace vrft {

// Number of intra-op threads every native operation uses (default: available cores, or VRFT_NUM_THREADS).
int num_threads();
void set_num_threads(int n);
// Apply the configured thread count on the calling thread (each worker calls this before torch work).
void apply_threads_on_this_thread();

struct RuntimeInfo {
  std::string torch_version;
  std::string torch_dir;
  bool built_with_cuda;
  bool cuda_available;
  int cuda_devices;
  std::string parallel_info;  // at::get_parallel_info()
  std::string blas;           // BLAS library libtorch resolved at run time (from /proc/self/maps)
  bool reference_blas;        // true when the slow reference BLAS is in use
  bool have_gloo;
  int num_threads;
};
RuntimeInfo runtime_info();

}  // namespace vrft
