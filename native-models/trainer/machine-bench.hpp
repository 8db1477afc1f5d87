// Machine limits for the benchmarks (ilf-trainer --bench-memory / --bench-matmul ... --type q8_0):
// the memory bandwidth a decode of one sequence is bound by, and the matmul peak of the weight type a
// batched decode is bound by, both measured on this machine with the given threads.
#pragma once

#include "ggml-backend.h"
#include "ggml.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <stdexcept>
#include <thread>
#include <vector>

namespace ilf {

/** Best read bandwidth (bytes/s) of `threads` threads summing disjoint parts of a `mib` MiB buffer. */
inline double bench_memory(int mib, int threads, int reps) {
  const size_t n = (size_t) mib * 1024 * 1024 / sizeof(uint64_t);
  std::vector<uint64_t> buf(n);
  for (size_t i = 0; i < n; ++i) buf[i] = i * 2654435761u;  // touch every page
  double best = 0;
  std::vector<uint64_t> sums((size_t) threads * 8, 0);  // one cache line apart
  for (int r = 0; r < reps; ++r) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
      pool.emplace_back([&, t]() {
        const size_t a = n * (size_t) t / (size_t) threads, b = n * (size_t) (t + 1) / (size_t) threads;
        uint64_t s0 = 0, s1 = 0, s2 = 0, s3 = 0;
        size_t i = a;
        for (; i + 4 <= b; i += 4) { s0 += buf[i]; s1 += buf[i + 1]; s2 += buf[i + 2]; s3 += buf[i + 3]; }
        for (; i < b; ++i) s0 += buf[i];
        sums[(size_t) t * 8] = s0 + s1 + s2 + s3;
      });
    }
    for (auto & th : pool) th.join();
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, (double) (n * sizeof(uint64_t)) / s);
  }
  volatile uint64_t keep = 0;
  for (uint64_t v : sums) keep = keep + v;  // the sums must not be optimised away
  (void) keep;
  return best;
}

/**
 * Best FLOP/s of an n×n matrix of `type` (F32 or Q8_0) times an n×cols F32 matrix on the CPU
 * backend: with cols = the sequences of a batched decode, that is the decode's compute bound.
 */
inline double bench_matmul_typed(int n, int cols, ggml_type type, int threads, int reps) {
  ggml_backend_t cpu = ggml_backend_init_by_type(GGML_BACKEND_DEVICE_TYPE_CPU, nullptr);
  if (!cpu) throw std::runtime_error("no CPU backend");
  ggml_backend_reg_t reg = ggml_backend_dev_backend_reg(ggml_backend_get_device(cpu));
  auto set_threads = (void (*)(ggml_backend_t, int)) ggml_backend_reg_get_proc_address(reg, "ggml_backend_set_n_threads");
  if (set_threads) set_threads(cpu, threads);
  ggml_init_params ip = {ggml_tensor_overhead() * 8 + ggml_graph_overhead(), nullptr, true};
  ggml_context * gctx = ggml_init(ip);
  ggml_tensor * w = ggml_new_tensor_2d(gctx, type, n, n);
  ggml_tensor * x = ggml_new_tensor_2d(gctx, GGML_TYPE_F32, n, cols);
  ggml_tensor * y = ggml_mul_mat(gctx, w, x);
  ggml_cgraph * gf = ggml_new_graph(gctx);
  ggml_build_forward_expand(gf, y);
  ggml_backend_buffer_t buf = ggml_backend_alloc_ctx_tensors(gctx, cpu);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> u(-1, 1);
  std::vector<float> values((size_t) n * n);
  for (auto & v : values) v = u(rng);
  std::vector<uint8_t> bytes(ggml_nbytes(w));
  if (type == GGML_TYPE_F32) std::memcpy(bytes.data(), values.data(), bytes.size());
  else ggml_quantize_chunk(type, values.data(), bytes.data(), 0, n, n, nullptr);
  ggml_backend_tensor_set(w, bytes.data(), 0, bytes.size());
  ggml_backend_tensor_set(x, values.data(), 0, (size_t) n * cols * sizeof(float));
  ggml_backend_graph_compute(cpu, gf);  // warm-up
  double best = 0;
  for (int i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    ggml_backend_graph_compute(cpu, gf);
    const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    best = std::max(best, 2.0 * n * (double) n * cols / s);
  }
  ggml_backend_buffer_free(buf);
  ggml_free(gctx);
  ggml_backend_free(cpu);
  return best;
}

}  // namespace ilf
