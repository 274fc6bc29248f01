// Measures matmul FLOP/s and memory bandwidth (see limits.h).
#include "common/limits.h"

#include <algorithm>
#include <chrono>
#include <vector>

#include "common/errors.h"
#include "model/layers.h"

namespace vrft {

static torch::Dtype parse_dtype(const std::string& d) {
  if (d == "float32") return torch::kFloat32;
  if (d == "bfloat16") return torch::kBFloat16;
  if (d == "float16") return torch::kFloat16;
  throw_range(fmt("Expected dtype 'float32', 'bfloat16' or 'float16' but received '", d, "'"));
}

static torch::Device parse_device(const std::string& d) {
  try {
    return torch::Device(d);
  } catch (const c10::Error&) {
    throw_range(fmt("Expected a device like 'cpu' or 'cuda:0' but received '", d, "'"));
  }
}

static void sync(const torch::Device& dev) {
  if (dev.is_cuda()) torch::cuda::synchronize(dev.index() < 0 ? 0 : dev.index());
}

static Measured summarize(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return Measured{v[v.size() / 2], v.back(), static_cast<int>(v.size())};
}

// FLOP/s of `reps` timed calls of op (after one warm-up call) that each do `flops` operations.
template <class Op>
static Measured time_flops(const torch::Device& dev, double flops, int reps, Op op) {
  op();  // warm-up
  sync(dev);
  std::vector<double> rates;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    op();
    sync(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(flops / s);
  }
  return summarize(rates);
}

Measured measure_matmul_flops(int n, const std::string& dtype, const std::string& device, int reps) {
  if (n < 16 || n > 32768) throw_range(fmt("Expected a matrix size between 16 and 32768 but received ", n));
  torch::NoGradGuard ng;
  auto dev = parse_device(device);
  auto opts = torch::TensorOptions().dtype(parse_dtype(dtype)).device(dev);
  auto a = torch::randn({n, n}, opts), b = torch::randn({n, n}, opts);
  auto c = torch::mm(a, b);
  return time_flops(dev, 2.0 * n * double(n) * n, reps, [&] { torch::mm_out(c, a, b); });
}

Measured measure_linear_flops(int m, int k, int n, const std::string& dtype, const std::string& device, int reps) {
  if (m < 1 || k < 1 || n < 1 || double(m) * k > 1e9 || double(n) * k > 2e9)
    throw_range(fmt("Expected 1 <= m, k, n with m·k <= 1e9 and n·k <= 2e9 but received m ", m, ", k ", k, ", n ", n));
  torch::NoGradGuard ng;
  auto dev = parse_device(device);
  auto opts = torch::TensorOptions().dtype(parse_dtype(dtype)).device(dev);
  auto x = torch::randn({m, k}, opts), w = torch::randn({n, k}, opts);
  return time_flops(dev, 2.0 * m * double(k) * n, reps, [&] { model::linear(x, w); });
}

Measured measure_bandwidth(long long bytes, const std::string& device, int reps) {
  if (bytes < (1 << 20)) throw_range(fmt("Expected at least 1 MiB for the bandwidth test but received ", bytes));
  torch::NoGradGuard ng;
  auto dev = parse_device(device);
  auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(dev);
  long long n = bytes / 4;
  auto src = torch::ones({n}, opts), dst = torch::empty({n}, opts);
  dst.copy_(src);
  sync(dev);
  std::vector<double> rates;
  for (int r = 0; r < std::max(1, reps); ++r) {
    auto t0 = std::chrono::steady_clock::now();
    dst.copy_(src);
    sync(dev);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    rates.push_back(2.0 * double(n) * 4 / s);  // read + write
  }
  return summarize(rates);
}

double busy_work(int ms) {
  torch::NoGradGuard ng;
  auto a = torch::randn({128, 128});
  auto t0 = std::chrono::steady_clock::now();
  double acc = 0;
  while (std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() < ms) {
    acc += torch::mm(a, a).sum().item<double>() * 1e-12;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace vrft
