// c10d process group: rendezvous, bucketed gradient all-reduce, heartbeats (see process_group.h).
#include "dist/process_group.h"

#ifdef VRFT_HAVE_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#endif
#ifdef VRFT_HAVE_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif
#if !defined(VRFT_HAVE_GLOO) && TORCH_VERSION_MAJOR >= 2
#include <torch/csrc/distributed/c10d/Backend.hpp>  // complete type for pg_ in builds without Gloo
#elif !defined(VRFT_HAVE_GLOO)
#include <torch/csrc/distributed/c10d/ProcessGroup.hpp>
#endif

#include <chrono>
#include <mutex>

#include "common/errors.h"

namespace vrft::dist {

bool nccl_available() {
#ifdef VRFT_HAVE_NCCL
  return true;
#else
  return false;
#endif
}

static std::mutex g_mu;
static std::shared_ptr<Group> g_current;

std::shared_ptr<Group> current() {
  std::lock_guard<std::mutex> l(g_mu);
  return g_current;
}
void set_current(std::shared_ptr<Group> g) {
  std::lock_guard<std::mutex> l(g_mu);
  g_current = std::move(g);
}

static int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}
static int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

#ifdef VRFT_HAVE_GLOO

// TCPStoreOptions::useLibUV (libtorch >= 2.2) picks the store server's backend; from 2.4 it defaults to the
// libuv one, and a libtorch built without libuv (Debian's 2.x) throws "use_libuv was requested but PyTorch
// was build without libuv support" from the TCPStore constructor on every rank. We always ask for the classic
// backend: it is in every build, it is what 1.13 has, and libuv only pays off with thousands of ranks.
// Detected by member rather than TORCH_VERSION so any libtorch with the field gets it.
template <typename O>
static auto no_libuv(O& o, int) -> decltype(o.useLibUV = false, void()) { o.useLibUV = false; }
template <typename O>
static void no_libuv(O&, long) {}

std::shared_ptr<Group> Group::init(const Options& o) {
  if (o.world_size < 1) throw_range(fmt("Expected world_size >= 1 but received ", o.world_size));
  if (o.rank < 0 || o.rank >= o.world_size)
    throw_range(fmt("Expected rank between 0 and ", o.world_size - 1, " (world_size ", o.world_size, ") but received ", o.rank));
  if (o.master_port < 1 || o.master_port > 65535) throw_range(fmt("Expected MASTER_PORT between 1 and 65535 but received ", o.master_port));
  if (o.backend != "gloo" && o.backend != "nccl") throw_range(fmt("Expected backend 'gloo' or 'nccl' but received '", o.backend, "'"));
  if (o.backend == "nccl" && !nccl_available())
    throw_coded("ERR_DIST_UNAVAILABLE", "Expected a build with the NCCL process group for backend 'nccl' but this one has none "
                                        "(it needs a CUDA libtorch and nccl.h at build time); use backend 'gloo'");
  std::shared_ptr<Group> g(new Group());
  g->opt_ = o;
  c10d::TCPStoreOptions so;
  so.port = static_cast<uint16_t>(o.master_port);
  so.isServer = o.rank == 0;
  so.numWorkers = o.world_size;
  so.waitWorkers = true;
  so.timeout = std::chrono::milliseconds(o.timeout_ms);
  no_libuv(so, 0);
  try {
    g->store_ = c10::make_intrusive<c10d::TCPStore>(o.master_addr, so);
  } catch (const std::exception& e) {
    std::string m = e.what();
    if (o.rank == 0 && (m.find("in use") != std::string::npos || m.find("EADDRINUSE") != std::string::npos || m.find("bind") != std::string::npos))
      throw_coded("ERR_DIST_PORT", fmt("rank 0 could not listen on ", o.master_addr, ":", o.master_port, " (port in use? set MASTER_PORT): ", m.substr(0, 300)));
    throw_coded("ERR_DIST_RENDEZVOUS", fmt("rank ", o.rank, " could not reach the rendezvous at ", o.master_addr, ":", o.master_port,
                                           " within ", o.timeout_ms, " ms (is rank 0 running? WORLD_SIZE=", o.world_size, "): ", m.substr(0, 300)));
  }
  if (o.backend == "nccl") {
#ifdef VRFT_HAVE_NCCL
    g->comm_device_ = torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(o.device_index));
    auto nopts = c10d::ProcessGroupNCCL::Options::create();
    nopts->timeout = std::chrono::milliseconds(o.timeout_ms);
    try {
      g->pg_ = c10::make_intrusive<c10d::ProcessGroupNCCL>(g->store_, o.rank, o.world_size, nopts);
    } catch (const std::exception& e) {
      throw_coded("ERR_DIST_RENDEZVOUS", fmt("rank ", o.rank, ": NCCL process group setup failed: ", std::string(e.what()).substr(0, 300)));
    }
#endif
  } else {
    auto popts = c10d::ProcessGroupGloo::Options::create(std::chrono::milliseconds(o.timeout_ms));
    bool loopback = o.master_addr == "127.0.0.1" || o.master_addr == "localhost";
    if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME")) {
      popts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
    } else if (loopback) {
      popts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
    } else {
      popts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    }
    popts->threads = 2;
    try {
      g->pg_ = c10::make_intrusive<c10d::ProcessGroupGloo>(g->store_, o.rank, o.world_size, popts);
    } catch (const std::exception& e) {
      throw_coded("ERR_DIST_RENDEZVOUS", fmt("rank ", o.rank, ": Gloo process group setup failed: ", std::string(e.what()).substr(0, 300)));
    }
  }
  // Heartbeat: wall-clock ms in the store, once a second.
  g->heartbeat_ = std::thread([raw = g.get()] {
    while (!raw->stop_.load()) {
      try {
        auto s = std::to_string(wall_ms());
        raw->store_->set(fmt("vrft/hb/", raw->opt_.rank), std::vector<uint8_t>(s.begin(), s.end()));
      } catch (...) {
        // store gone (rank 0 died): collectives will report it
      }
      for (int i = 0; i < 10 && !raw->stop_.load(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  return g;
}

// A rank is dead when its heartbeat does not advance within `window_ms` (heartbeats tick every second).
std::vector<int> Group::stale_ranks(int window_ms) {
  auto read = [&](int r) -> int64_t {
    auto key = fmt("vrft/hb/", r);
    if (!store_->check({key})) return -1;
    auto v = store_->get(key);
    return std::stoll(std::string(v.begin(), v.end()));
  };
  std::vector<int> out;
  std::vector<int64_t> before(opt_.world_size, -1);
  try {
    for (int r = 0; r < opt_.world_size; ++r)
      if (r != opt_.rank) before[r] = read(r);
    std::this_thread::sleep_for(std::chrono::milliseconds(window_ms));
    for (int r = 0; r < opt_.world_size; ++r)
      if (r != opt_.rank && (before[r] < 0 || read(r) == before[r])) out.push_back(r);
  } catch (...) {
    out.assign(1, 0);  // the store itself (hosted by rank 0) is unreachable: rank 0 is gone
  }
  return out;
}

void Group::fail(const std::string& what, const std::exception& e) {
  auto dead = stale_ranks(2500);
  std::string who;
  for (size_t i = 0; i < dead.size(); ++i) who += (i ? ", " : "") + std::to_string(dead[i]);
  if (dead.empty())
    throw_coded("ERR_DIST_COLLECTIVE", fmt("rank ", opt_.rank, ": ", what, " failed: ", std::string(e.what()).substr(0, 300)));
  throw_coded("ERR_DIST_RANK_DIED", fmt("rank ", opt_.rank, ": ", what, " failed because rank(s) ", who,
                                        " stopped responding (process died or hung): ", std::string(e.what()).substr(0, 200)));
}

double Group::allreduce_mean(const std::vector<torch::Tensor>& tensors, int64_t bucket_bytes) {
  auto t0 = now_ms();
  torch::NoGradGuard ng;
  size_t i = 0;
  while (i < tensors.size()) {
    // one bucket: consecutive tensors of one dtype up to bucket_bytes
    std::vector<torch::Tensor> bucket;
    int64_t bytes = 0;
    auto dtype = tensors[i].scalar_type();
    while (i < tensors.size() && tensors[i].scalar_type() == dtype &&
           (bucket.empty() || bytes + tensors[i].numel() * tensors[i].element_size() <= bucket_bytes)) {
      bytes += tensors[i].numel() * tensors[i].element_size();
      bucket.push_back(tensors[i++]);
    }
    std::vector<torch::Tensor> flat_views;
    for (auto& t : bucket) flat_views.push_back(t.reshape({-1}));
    std::vector<torch::Tensor> flat{torch::cat(flat_views).to(comm_device_)};  // copy_ below brings it back
    try {
      pg_->allreduce(flat)->wait();
    } catch (const std::exception& e) {
      fail("gradient all-reduce", e);
    }
    flat[0].div_(opt_.world_size);
    int64_t off = 0;
    for (auto& t : bucket) {
      t.copy_(flat[0].narrow(0, off, t.numel()).view_as(t));
      off += t.numel();
    }
  }
  return (now_ms() - t0) / 1000.0;
}

std::vector<double> Group::allgather(double v) {
  auto mine = torch::zeros({opt_.world_size}, torch::TensorOptions().dtype(torch::kFloat64).device(comm_device_));
  mine[opt_.rank] = v;
  std::vector<torch::Tensor> ts{mine};
  try {
    pg_->allreduce(ts)->wait();
  } catch (const std::exception& e) {
    fail("all-gather", e);
  }
  auto a = ts[0].cpu().contiguous();
  return std::vector<double>(a.data_ptr<double>(), a.data_ptr<double>() + opt_.world_size);
}

void Group::broadcast(const std::vector<torch::Tensor>& tensors, int root) {
  torch::NoGradGuard ng;
  for (auto& t : tensors) {
    std::vector<torch::Tensor> ts{t.device() == comm_device_ ? t : t.to(comm_device_)};
    c10d::BroadcastOptions bo;
    bo.rootRank = root;
    try {
      pg_->broadcast(ts, bo)->wait();
    } catch (const std::exception& e) {
      fail("broadcast", e);
    }
    if (!ts[0].is_same(t)) t.copy_(ts[0]);
  }
}

void Group::barrier() {
  try {
    pg_->barrier()->wait();
  } catch (const std::exception& e) {
    fail("barrier", e);
  }
}

void Group::shutdown() {
  stop_.store(true);
  if (heartbeat_.joinable()) heartbeat_.join();
}

Group::~Group() { shutdown(); }

#else  // no c10d Gloo in this libtorch

std::shared_ptr<Group> Group::init(const Options&) {
  throw_coded("ERR_DIST_UNAVAILABLE", "this build of vrft-native has no c10d Gloo (install libgloo-dev with Debian's libtorch, or use an official libtorch) and rebuild");
}
double Group::allreduce_mean(const std::vector<torch::Tensor>&, int64_t) { return 0; }
std::vector<double> Group::allgather(double v) { return {v}; }
void Group::broadcast(const std::vector<torch::Tensor>&, int) {}
void Group::barrier() {}
std::vector<int> Group::stale_ranks(int) { return {}; }
void Group::shutdown() {}
void Group::fail(const std::string& what, const std::exception& e) { throw_coded("ERR_DIST_COLLECTIVE", what + ": " + e.what()); }
Group::~Group() = default;

#endif

}  // namespace vrft::dist
