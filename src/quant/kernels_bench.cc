// Dot products of every tensor type, in GB/s of weights read, beside the
// machine's read bandwidth measured the same way (one thread).
//
//   BM_ReadBandwidth      a SIMD max over 256 MiB of floats: the memory's read rate
//   BM_Dot/<type>/dram    a matrix-vector product over ~128 MiB of weights (> L3)
//   BM_Dot/<type>/cache   the same over 256 KiB of weights (in L2): the kernel's
//                         own rate, when memory is not the limit
//   BM_DotInt8/<type>/... the same with int8 activations (DotRowQuantized)
// bytes_per_second counts the weight bytes only (x stays in L1).
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "quant/testing/random_blocks.h"
#include "logitkit/quant.h"
#include "ops/row_ops.h"

namespace logitkit::quant {
namespace {

constexpr size_t kCols = 1024;  // a row: 1024 elements, as a d_model-sized dot

void BM_ReadBandwidth(benchmark::State& state) {
  std::vector<float> data(size_t{64} << 20, 1.0f);  // 256 MiB
  for (auto _ : state) benchmark::DoNotOptimize(ops::Max(data.data(), data.size()));
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size() * sizeof(float)));
}
BENCHMARK(BM_ReadBandwidth)->Unit(benchmark::kMillisecond)->MinTime(0.5);

// A matrix-vector product over ~weight_bytes of `type` rows (one random row
// repeated), y[r] = dot(r, x), timed as a whole; int8: x quantized once,
// outside the timing, as a forward pass quantizes it once per matrix.
void BM_Dot(benchmark::State& state, TensorType type, size_t weight_bytes, bool int8) {
  const size_t row_bytes = RowBytes(type, kCols);
  const size_t rows = std::max<size_t>(1, weight_bytes / row_bytes);
  std::mt19937_64 rng(1);
  std::vector<uint8_t> weights;
  weights.reserve(rows * row_bytes);
  const std::vector<uint8_t> row = testing::RandomRow(type, kCols, rng);
  for (size_t r = 0; r < rows; ++r) weights.insert(weights.end(), row.begin(), row.end());
  std::vector<float> x(kCols, 0.25f), y(rows);
  QuantizedRow xq;
  if (int8) QuantizeRow(x.data(), kCols, 8, &xq);
  for (auto _ : state) {
    for (size_t r = 0; r < rows; ++r) {
      const uint8_t* w = weights.data() + r * row_bytes;
      y[r] = int8 ? DotRowQuantized(type, w, xq) : DotRow(type, w, x.data(), kCols);
    }
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(rows * row_bytes));
  state.counters["weights_per_s"] =
      benchmark::Counter(double(rows * kCols), benchmark::Counter::kIsIterationInvariantRate);
  state.SetLabel(TensorKernelTarget());
}

int Register() {
  for (TensorType type : testing::kComputeTypes) {
    const std::string name = std::string("BM_Dot/") + TensorTypeName(static_cast<uint32_t>(type));
    benchmark::RegisterBenchmark((name + "/dram").c_str(), BM_Dot, type, size_t{128} << 20, false)
        ->Unit(benchmark::kMillisecond)->MinTime(0.5);
    benchmark::RegisterBenchmark((name + "/cache").c_str(), BM_Dot, type, size_t{256} << 10, false)
        ->Unit(benchmark::kMicrosecond)->MinTime(0.2);
    if (!HasIntegerDot(type)) continue;
    const std::string q8 = std::string("BM_DotInt8/") + TensorTypeName(static_cast<uint32_t>(type));
    benchmark::RegisterBenchmark((q8 + "/dram").c_str(), BM_Dot, type, size_t{128} << 20, true)
        ->Unit(benchmark::kMillisecond)->MinTime(0.5);
    benchmark::RegisterBenchmark((q8 + "/cache").c_str(), BM_Dot, type, size_t{256} << 10, true)
        ->Unit(benchmark::kMicrosecond)->MinTime(0.2);
  }
  return 0;
}
const int kRegistered = Register();

}  // namespace
}  // namespace logitkit::quant

BENCHMARK_MAIN();
