// Encode throughput, and the check that it is not quadratic: a text without
// spaces is one pre-token (byte-level BPE) or one symbol chain (SentencePiece)
// as long as the input, so a quadratic merge loop would take 16x longer at
// 1 MiB than at 256 KiB; ours takes about 4x (O(n log n)).
//
//   build/.../tokenizer_bench --benchmark_filter=NoSpaces
// Reports bytes/s of input. Needs ../shared/data/tokenizer-vectors.
#include <benchmark/benchmark.h>

#include <random>
#include <string>

#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {
namespace {

const Tokenizer* Vocab(const char* name) {
  static const StatusOr<Tokenizer> gpt2 = Tokenizer::Open(
      std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/ggml-vocab-gpt-2.gguf");
  static const StatusOr<Tokenizer> spm = Tokenizer::Open(
      std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/ggml-vocab-llama-spm.gguf");
  const StatusOr<Tokenizer>& t = std::string(name) == "gpt2" ? gpt2 : spm;
  return t.ok() ? &*t : nullptr;
}

// Random lowercase letters: realistic merges, no pre-tokenizer split.
std::string NoSpaces(size_t bytes) {
  std::mt19937 rng(42);
  std::string s(bytes, 'a');
  for (char& c : s) c = static_cast<char>('a' + rng() % 26);
  return s;
}

// Words of 1..10 letters, spaces, some punctuation and digits, newlines.
std::string Prose(size_t bytes) {
  std::mt19937 rng(43);
  std::string s;
  while (s.size() < bytes) {
    const int len = 1 + rng() % 10;
    for (int k = 0; k < len; ++k) s += static_cast<char>('a' + rng() % 26);
    const int r = rng() % 20;
    s += r == 0 ? ". " : r == 1 ? ", " : r == 2 ? "\n" : r == 3 ? " 1984 " : " ";
  }
  s.resize(bytes);
  return s;
}

void Encode(benchmark::State& state, const char* vocab, std::string (*make)(size_t)) {
  const Tokenizer* tok = Vocab(vocab);
  if (tok == nullptr) {
    state.SkipWithError("shared vocabulary not found");
    return;
  }
  const std::string text = make(static_cast<size_t>(state.range(0)));
  EncodeOptions no_bos;
  no_bos.add_bos = false;
  size_t n_tokens = 0;
  for (auto _ : state) {
    StatusOr<std::vector<TokenId>> ids = tok->Encode(text, no_bos);
    n_tokens = ids.ok() ? ids->size() : 0;
    benchmark::DoNotOptimize(n_tokens);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(text.size()));
  state.counters["tokens"] = static_cast<double>(n_tokens);
}

void BM_Gpt2NoSpaces(benchmark::State& s) { Encode(s, "gpt2", NoSpaces); }
void BM_SpmNoSpaces(benchmark::State& s) { Encode(s, "spm", NoSpaces); }
void BM_Gpt2Prose(benchmark::State& s) { Encode(s, "gpt2", Prose); }
void BM_SpmProse(benchmark::State& s) { Encode(s, "spm", Prose); }

BENCHMARK(BM_Gpt2NoSpaces)->Arg(256 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpmNoSpaces)->Arg(256 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Gpt2Prose)->Arg(256 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_SpmProse)->Arg(256 << 10)->Arg(1 << 20)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace logitkit::tokenizer

BENCHMARK_MAIN();
