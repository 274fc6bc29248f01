// The machine's own limits, measured by libtorch on the device in use: dense matmul FLOP/s at a dtype and
// memory bandwidth (bytes moved per second by a large copy). Benchmarks report utilization against these.
#pragma once
#include <string>

namespace vrft {

struct Measured {
  double value;      // FLOP/s or bytes/s (median)
  double best;       // best repetition
  int repetitions;
};

Measured measure_matmul_flops(int n, const std::string& dtype, const std::string& device, int reps);
Measured measure_bandwidth(long long bytes, const std::string& device, int reps);
// FLOP/s of the model's linear layer y = x·Wᵀ, x (m, k), W (n, k), both in `dtype`, as the model runs it
// (model::linear: the CPU decode kernels for m <= 16, libtorch — BLAS / oneDNN — otherwise; outside autograd).
Measured measure_linear_flops(int m, int k, int n, const std::string& dtype, const std::string& device, int reps);
// Keeps a core busy with real libtorch work for about `ms` milliseconds (used to prove work is off the JS thread).
double busy_work(int ms);

}  // namespace vrft
