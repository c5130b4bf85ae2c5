// Google Benchmark for the decode head: softmax and the chain's settings at
// every vocabulary size, batch 1 and 64, on the three row distributions.
// `logitkit bench head` runs the same matrix and adds the target ratios.
#include <benchmark/benchmark.h>

#include <random>
#include <vector>

#include "head/synthetic.h"
#include "logitkit/head.h"
#include "logitkit/thread_pool.h"

namespace logitkit {
namespace {

constexpr int kVocabs[] = {32000, 49152, 50257, 128256, 151936, 262144};

SamplerParams Setting(int id) {
  SamplerParams p;
  switch (id) {
    case 0: p.temperature = 0; break;       // greedy
    case 1: break;                          // T = 1
    case 2: p.top_k = 50; break;
    case 3: p.top_p = 0.9f; break;
    case 4:                                 // llama.cpp's default chain
      p.top_k = 40, p.top_p = 0.95f, p.min_p = 0.05f, p.temperature = 0.8f;
      p.order = {Stage::kTopK, Stage::kTopP, Stage::kMinP, Stage::kTemperature};
      break;
    case 5: p.min_p = 0.1f; break;
    case 6: p.top_p = 0.99f; break;
    case 7: p.top_logprobs = 20, p.outputs = kOutputRawLogprob | kOutputLogprob; break;
  }
  return p;
}
const char* kSettingNames[] = {"greedy",         "T=1",       "top-k 50",   "top-p 0.9",
                               "llama.cpp chain", "min-p 0.1", "top-p 0.99", "top-20 logprobs"};

// Args: vocab, batch, distribution (RowKind), setting, threads.
void BM_Decode(benchmark::State& state) {
  const size_t vocab = state.range(0), batch = state.range(1), threads = state.range(4);
  const auto kind = static_cast<head::RowKind>(state.range(2));
  const SamplerParams params = Setting(static_cast<int>(state.range(3)));
  std::mt19937_64 rng(7);
  std::vector<float> logits;
  for (size_t r = 0; r < batch; ++r) {
    const std::vector<float> z = head::RandomRow(rng, vocab, kind);
    logits.insert(logits.end(), z.begin(), z.end());
  }
  std::vector<RowState> states(batch);
  ThreadPool pool(threads);
  DecodeHead head(&pool);
  std::vector<DecodeResult> results;
  uint64_t step = 0;
  for (auto _ : state) {
    for (RowState& s : states) s.step = step;
    ++step;
    (void)head.DecodeBatch(LogitsBatch::F32(logits, batch, vocab), std::span(&params, 1), states,
                           results);
    benchmark::DoNotOptimize(results.data());
  }
  state.SetItemsProcessed(state.iterations() * batch);  // rows per second
  state.SetLabel(kSettingNames[state.range(3)]);
}
BENCHMARK(BM_Decode)
    ->ArgNames({"vocab", "batch", "dist", "setting", "threads"})
    ->Apply([](benchmark::internal::Benchmark* b) {
      for (int vocab : kVocabs) {
        for (int batch : {1, 16, 64}) {
          for (int dist : {static_cast<int>(head::RowKind::kPeaked),
                           static_cast<int>(head::RowKind::kNormal1),
                           static_cast<int>(head::RowKind::kNormal5)}) {
            for (int setting = 0; setting < 8; ++setting) b->Args({vocab, batch, dist, setting, 1});
          }
        }
      }
      for (int setting : {1, 4}) b->Args({128256, 64, static_cast<int>(head::RowKind::kPeaked), setting, 2});
    })
    ->Unit(benchmark::kMicrosecond);

void BM_Softmax(benchmark::State& state) {
  const size_t vocab = state.range(0);
  std::mt19937_64 rng(8);
  const std::vector<float> z = head::RandomRow(rng, vocab, head::RowKind::kNormal1);
  std::vector<float> probs(vocab);
  for (auto _ : state) {
    (void)Softmax(z, 1.0f, probs);
    benchmark::DoNotOptimize(probs.data());
  }
  state.SetItemsProcessed(state.iterations() * vocab);
}
BENCHMARK(BM_Softmax)->Apply([](benchmark::internal::Benchmark* b) {
  for (int v : kVocabs) b->Arg(v);
})->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace logitkit

BENCHMARK_MAIN();
