// Google Benchmark for the row kernels: the physical yardsticks of the decode
// head (one exp pass, one max pass, one copy) at the real vocabulary sizes.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "ops/row_ops.h"

namespace logitkit::ops {
namespace {

std::vector<float> Row(size_t n) {
  std::mt19937 rng(1);
  std::normal_distribution<float> normal(0.0f, 5.0f);
  std::vector<float> x(n);
  for (float& v : x) v = normal(rng);
  return x;
}

void Args(benchmark::internal::Benchmark* b) {
  for (int v : {32000, 49152, 50257, 128256, 151936, 262144}) b->Arg(v);
}

void BM_Exp(benchmark::State& state) {
  const size_t n = state.range(0);
  std::vector<float> x = Row(n), out(n);
  const float max = Max(x.data(), n);
  for (float& v : x) v -= max;  // Exp's domain: x <= 0
  for (auto _ : state) {
    Exp(x.data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * 8);
}
BENCHMARK(BM_Exp)->Apply(Args);

void BM_ExpShifted(benchmark::State& state) {
  const size_t n = state.range(0);
  std::vector<float> x = Row(n), out(n);
  const float max = Max(x.data(), n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(ExpShifted(x.data(), n, max, out.data(), false));
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * 8);
}
BENCHMARK(BM_ExpShifted)->Apply(Args);

void BM_Max(benchmark::State& state) {
  const size_t n = state.range(0);
  std::vector<float> x = Row(n);
  for (auto _ : state) benchmark::DoNotOptimize(Max(x.data(), n));
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * 4);
}
BENCHMARK(BM_Max)->Apply(Args);

void BM_LoadRow(benchmark::State& state) {
  const size_t n = state.range(0);
  std::vector<float> x = Row(n), out(n);
  for (auto _ : state) {
    benchmark::DoNotOptimize(LoadRow(x.data(), FloatType::kF32, n, 0.8f, out.data()));
  }
  state.SetItemsProcessed(state.iterations() * n);
  state.SetBytesProcessed(state.iterations() * n * 8);
}
BENCHMARK(BM_LoadRow)->Apply(Args);

}  // namespace
}  // namespace logitkit::ops

BENCHMARK_MAIN();
