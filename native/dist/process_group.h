// Data-parallel communication over PyTorch's c10d (what PyTorch's own DDP uses): a TCPStore rendezvous
// (hosted by rank 0) and a Gloo process group on CPU (NCCL on CUDA when libtorch has it). Gradients are
// averaged with bucketed all-reduce; a heartbeat in the store lets a failed collective name the rank that
// died. One process-wide group (`current()`) is what the trainer uses when it is set.
#pragma once
#include <torch/types.h>
#include <torch/version.h>

#include <atomic>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace c10d {
class Store;
#if TORCH_VERSION_MAJOR >= 2
class Backend;  // ProcessGroupGloo and ProcessGroupNCCL derive from it
#else
class ProcessGroup;
#endif
}  // namespace c10d

namespace vrft::dist {

struct Options {
  int rank = 0;
  int world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  int timeout_ms = 60000;      // collectives and rendezvous
  std::string backend = "gloo";  // "gloo" (CPU tensors, and CUDA tensors staged by c10d) or "nccl" (CUDA)
  int device_index = 0;          // nccl: this rank's CUDA device (LOCAL_RANK)
};

// Whether this build has the NCCL process group (a CUDA libtorch and nccl.h at build time).
bool nccl_available();

class Group {
 public:
  static std::shared_ptr<Group> init(const Options& o);
  ~Group();
  int rank() const { return opt_.rank; }
  int world_size() const { return opt_.world_size; }
  // Average `tensors` across ranks in place, packing them into flat buckets of at most bucket_bytes.
  // Returns the seconds spent in communication.
  double allreduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes = 25ll << 20);
  // Sum of one double per rank, and every rank's value (rank order).
  std::vector<double> allgather(double v);
  void broadcast(const std::vector<torch::Tensor>& tensors, int root);
  void barrier();
  // Ranks whose heartbeat does not advance within window_ms (or is missing): names a dead rank in errors.
  std::vector<int> stale_ranks(int window_ms);
  void shutdown();

 private:
  Group() = default;
  [[noreturn]] void fail(const std::string& what, const std::exception& e);
  Options opt_;
  c10::intrusive_ptr<c10d::Store> store_;
#if TORCH_VERSION_MAJOR >= 2
  c10::intrusive_ptr<c10d::Backend> pg_;
#else
  c10::intrusive_ptr<c10d::ProcessGroup> pg_;
#endif
  torch::Device comm_device_{torch::kCPU};  // where collectives run: CPU (gloo) or the rank's GPU (nccl)
  std::thread heartbeat_;
  std::atomic<bool> stop_{false};
};

// The process-wide group (nullptr when training on one process).
std::shared_ptr<Group> current();
void set_current(std::shared_ptr<Group> g);

}  // namespace vrft::dist
