// MatMul on the default model's matrix shapes (576 x 576, 1536 x 576,
// 576 x 1536, 49152 x 576) and types (Q4_1, Q8_0), one token and a batch of
// 64, at 1 and 2 threads: the forward pass's building block, in GB/s of weights.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "quant/testing/random_blocks.h"
#include "logitkit/quant.h"
#include "model/matmul.h"

namespace logitkit {
namespace {

void BM_MatMul(benchmark::State& state) {
  const size_t rows = state.range(0), cols = state.range(1), tokens = state.range(2), threads = state.range(3);
  const auto type = static_cast<quant::TensorType>(state.range(4));
  std::mt19937_64 rng(1);
  std::vector<uint8_t> data;
  for (size_t r = 0; r < rows; ++r) {
    const std::vector<uint8_t> row = quant::testing::RandomRow(type, cols, rng);
    data.insert(data.end(), row.begin(), row.end());
  }
  Matrix w;
  w.type = type;
  w.rows = rows;
  w.cols = cols;
  w.row_bytes = quant::RowBytes(type, cols);
  w.data = data.data();
  std::vector<float> x(tokens * cols, 0.5f), y(tokens * rows);
  ThreadPool pool(threads);
  for (auto _ : state) {
    MatMul(w, x.data(), tokens, y.data(), pool, Activations::kFloat32);
    benchmark::DoNotOptimize(y.data());
  }
  state.SetBytesProcessed(int64_t(state.iterations()) * int64_t(data.size()));
}

void Shapes(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (int tokens : {1, 64}) {
      b->Args({576, 576, tokens, threads, int(quant::TensorType::kQ4_1)});
      b->Args({1536, 576, tokens, threads, int(quant::TensorType::kQ4_1)});
      b->Args({576, 1536, tokens, threads, int(quant::TensorType::kQ4_1)});
      if (tokens == 1) b->Args({49152, 576, tokens, threads, int(quant::TensorType::kQ8_0)});
    }
  }
  b->ArgNames({"rows", "cols", "tokens", "threads", "type"})->UseRealTime();
}
BENCHMARK(BM_MatMul)->Apply(Shapes);

}  // namespace
}  // namespace logitkit

BENCHMARK_MAIN();
