// Google Benchmark for structured output's per-token cost, at the default
// model's vocabulary (SmolLM2, V = 49,152) and Llama 3's (V = 128,256, from
// $LOGITKIT_LLAMA3_TOKENIZER):
//   BM_Fill/V/kind   ConstraintMatcher::FillMask + Accept per token, walking
//                    seeded random allowed tokens through each schema of
//                    tests/structured/schemas (and a regex and a choice);
//   BM_MaskApply/V   the pass that loads a row (LoadRow, what every draw pays),
//                    the same pass with the mask applied in it (LoadRowMasked)
//                    and one bare SIMD exp pass (the yardstick), interleaved.
// bench/structured.py runs it and reports the ratios against the targets.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "logitkit/gguf_convert.h"
#include "logitkit/loaded_model.h"
#include "logitkit/structured.h"
#include "ops/row_ops.h"

namespace logitkit {
namespace {

std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

struct Vocab {
  std::vector<uint8_t> storage;
  std::unique_ptr<tokenizer::Tokenizer> tok;
  std::unique_ptr<ConstraintCompiler> compiler;
};

// 0: the default model's vocabulary; 1: Llama 3's (null if not available).
Vocab* VocabAt(int which) {
  static Vocab* vocabs[2] = {nullptr, nullptr};
  static bool loaded = false;
  if (!loaded) {
    loaded = true;
    if (auto tok = tokenizer::Tokenizer::Open(DefaultModelPath()); tok.ok()) {
      vocabs[0] = new Vocab{{}, std::make_unique<tokenizer::Tokenizer>(*std::move(tok)), nullptr};
    }
    if (const char* path = std::getenv("LOGITKIT_LLAMA3_TOKENIZER")) {
      if (auto w = tokenizer::TiktokenToGguf(ReadFile(path)); w.ok()) {
        auto* v = new Vocab;
        v->storage = w->Finish();
        if (auto f = gguf::File::FromBytes(v->storage); f.ok()) {
          if (auto tok = tokenizer::Tokenizer::FromGguf(*f); tok.ok()) {
            v->tok = std::make_unique<tokenizer::Tokenizer>(*std::move(tok));
            vocabs[1] = v;
          }
        }
      }
    }
    for (Vocab* v : vocabs) {
      if (v == nullptr) continue;
      std::vector<int32_t> ends;
      for (int32_t id : {v->tok->eos(), v->tok->eot(), v->tok->eom()}) {
        if (id != tokenizer::kNoToken) ends.push_back(id);
      }
      v->compiler = std::make_unique<ConstraintCompiler>(*v->tok, v->tok->n_vocab(), ends, 64);
    }
  }
  return vocabs[which];
}

// The constraints: every schema of tests/structured/schemas, a regex, a choice.
std::vector<Constraint> Constraints() {
  std::vector<Constraint> out;
  std::vector<std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(LOGITKIT_SCHEMA_DIR)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const std::string& f : files) {
    Constraint c;
    c.kind = Constraint::Kind::kJsonSchema;
    c.source = nlohmann::json::parse(ReadFile(f))["schema"].dump();
    out.push_back(c);
  }
  Constraint regex;
  regex.kind = Constraint::Kind::kRegex;
  regex.source = "[A-Z][a-z]{2,8}( [A-Z][a-z]{2,8}){0,3}, [0-9]{4}";
  out.push_back(regex);
  Constraint choice;
  choice.kind = Constraint::Kind::kChoice;
  choice.choices = {"positive", "negative", "neutral", "mixed feelings"};
  out.push_back(choice);
  return out;
}

void BM_Fill(benchmark::State& state) {
  Vocab* v = VocabAt(int(state.range(0)));
  if (v == nullptr) return state.SkipWithError("vocabulary not available");
  std::vector<std::shared_ptr<const CompiledConstraint>> compiled;
  for (const Constraint& c : Constraints()) {
    auto r = v->compiler->Compile(c);
    if (!r.ok()) return state.SkipWithError(r.status().message().c_str());
    compiled.push_back(*r);
  }
  std::vector<uint32_t> mask((v->tok->n_vocab() + 31) / 32);
  std::vector<int32_t> allowed;
  std::mt19937 rng(1);
  int64_t tokens = 0;
  for (auto _ : state) {
    for (const auto& c : compiled) {
      ConstraintMatcher m(c);
      for (int step = 0; step < 48 && !m.terminated(); ++step) {
        if (!m.FillMask(mask).ok()) return state.SkipWithError("FillMask failed");
        ++tokens;
        state.PauseTiming();  // choosing the next token is not the matcher's cost
        allowed.clear();
        for (size_t w = 0; w < mask.size(); ++w) {
          for (uint32_t bits = mask[w]; bits != 0; bits &= bits - 1) {
            allowed.push_back(int32_t(w * 32 + size_t(__builtin_ctz(bits))));
          }
        }
        const int32_t token = allowed[rng() % allowed.size()];
        state.ResumeTiming();
        if (!m.Accept(token).ok()) return state.SkipWithError("the matcher refused an allowed token");
      }
    }
  }
  state.counters["per_token_us"] =
      benchmark::Counter(double(tokens) * 1e-6, benchmark::Counter::kIsRate | benchmark::Counter::kInvert);
  state.counters["V"] = double(v->tok->n_vocab());
}

std::vector<float> Row(size_t n) {
  std::vector<float> row(n);
  std::mt19937 rng(2);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  for (float& x : row) x = normal(rng);
  return row;
}

std::vector<uint32_t> Mask(size_t n) {
  std::vector<uint32_t> mask((n + 31) / 32);
  std::mt19937 rng(3);
  for (uint32_t& w : mask) w = rng();
  return mask;
}

// The three passes over one row, interleaved in each iteration (this machine
// is shared: back-to-back benchmarks drift by more than the mask costs), each
// timed over 16 calls; counters are ns per call, and the apply's share of an
// exp pass.
void BM_MaskApply(benchmark::State& state) {
  using Clock = std::chrono::steady_clock;
  const size_t n = size_t(state.range(0));
  const std::vector<float> row = Row(n);
  std::vector<float> negative = row;
  for (float& x : negative) x = -std::abs(x);
  const std::vector<uint32_t> mask = Mask(n);
  std::vector<float> out(n);
  std::vector<double> load, masked, exp;
  auto time16 = [](auto&& pass) {
    const auto t0 = Clock::now();
    for (int i = 0; i < 16; ++i) {
      pass();
      benchmark::ClobberMemory();
    }
    return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / 16;
  };
  auto load_pass = [&] {
    benchmark::DoNotOptimize(ops::LoadRow(row.data(), FloatType::kF32, n, 1.0f, out.data()));
  };
  auto masked_pass = [&] {
    benchmark::DoNotOptimize(ops::LoadRowMasked(row.data(), FloatType::kF32, n, 1.0f, mask.data(), out.data()));
  };
  bool masked_first = false;
  for (auto _ : state) {
    // Alternate which load goes first, so neither always follows the exp pass.
    if (masked_first) {
      masked.push_back(time16(masked_pass));
      load.push_back(time16(load_pass));
    } else {
      load.push_back(time16(load_pass));
      masked.push_back(time16(masked_pass));
    }
    masked_first = !masked_first;
    exp.push_back(time16([&] { ops::Exp(negative.data(), n, out.data()); }));
  }
  auto median = [](std::vector<double> v) {
    std::nth_element(v.begin(), v.begin() + ptrdiff_t(v.size() / 2), v.end());
    return v[v.size() / 2];
  };
  const double l = median(load), m = median(masked), e = median(exp);
  state.counters["load_ns"] = l;
  state.counters["masked_ns"] = m;
  state.counters["exp_ns"] = e;
  state.counters["apply_over_exp"] = (m - l) / e;
}

BENCHMARK(BM_Fill)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond)->MinTime(1.0);
BENCHMARK(BM_MaskApply)->Arg(49152)->Arg(128256)->MinTime(1.0);

}  // namespace
}  // namespace logitkit

BENCHMARK_MAIN();
