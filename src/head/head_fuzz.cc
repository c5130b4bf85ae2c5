// libFuzzer target over the decode head (the `fuzz` preset; docs/reliability.md):
// arbitrary SamplerParams (any float, NaN and infinities included; any ids,
// orders and output flags), arbitrary rows (NaN, +-inf, huge values) and
// RowStates, one to four rows per batch with shared or per-row parameters.
// The only acceptable outcomes are a token or a per-row error with a message;
// for a token it checks what the header promises:
//   - 0 <= token < n_vocab, and its logit in the row was not -inf;
//   - it is allowed (allowed_tokens, the bitmask), not banned (banned_tokens,
//     a -inf logit_bias);
//   - its logprob, when asked for, is a number <= 0.
//   build/fuzz/src/head/head_fuzz fuzz/head/corpus
#include <fuzzer/FuzzedDataProvider.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>
#include <vector>

#include "logitkit/head.h"

namespace {

using namespace logitkit;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "head_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Any float, with NaN, infinities and the extremes well represented.
float AnyFloat(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 7)) {
    case 0: return std::numeric_limits<float>::quiet_NaN();
    case 1: return std::numeric_limits<float>::infinity();
    case 2: return -std::numeric_limits<float>::infinity();
    case 3: return in.ConsumeFloatingPoint<float>();
    case 4: return float(in.ConsumeIntegralInRange(-4, 4));
    default: return in.ConsumeFloatingPointInRange<float>(-30.0f, 30.0f);
  }
}

// Mostly ids in range, some anywhere.
int32_t AnyId(FuzzedDataProvider& in, size_t n_vocab) {
  return in.ConsumeIntegralInRange(0, 9) != 0 ? in.ConsumeIntegralInRange<int32_t>(0, int32_t(n_vocab) - 1)
                                              : in.ConsumeIntegral<int32_t>();
}

// A value that is off with probability 1/2, else anything.
float MaybeFloat(FuzzedDataProvider& in, float off) { return in.ConsumeBool() ? off : AnyFloat(in); }

SamplerParams AnyParams(FuzzedDataProvider& in, size_t n_vocab) {
  SamplerParams p;
  p.repetition_penalty = MaybeFloat(in, 1.0f);
  p.frequency_penalty = MaybeFloat(in, 0.0f);
  p.presence_penalty = MaybeFloat(in, 0.0f);
  p.penalty_window = in.ConsumeBool() ? 0 : in.ConsumeIntegral<int32_t>();
  for (int n = in.ConsumeIntegralInRange(0, 4); n > 0; --n) p.logit_bias.push_back({AnyId(in, n_vocab), AnyFloat(in)});
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) p.allowed_tokens.push_back(AnyId(in, n_vocab));
  for (int n = in.ConsumeIntegralInRange(0, 3); n > 0; --n) p.banned_tokens.push_back(AnyId(in, n_vocab));
  p.min_tokens = in.ConsumeIntegralInRange<int32_t>(-1, 3);
  for (int n = in.ConsumeIntegralInRange(0, 2); n > 0; --n) p.eos_tokens.push_back(AnyId(in, n_vocab));
  p.temperature = MaybeFloat(in, 1.0f);
  p.top_k = in.ConsumeBool() ? 0 : in.ConsumeIntegralInRange<int32_t>(-2, int32_t(n_vocab) + 2);
  p.top_p = MaybeFloat(in, 1.0f);
  p.min_p = MaybeFloat(in, 0.0f);
  p.typical_p = MaybeFloat(in, 1.0f);
  p.top_n_sigma = MaybeFloat(in, 0.0f);
  if (in.ConsumeBool()) {
    p.order.clear();
    for (int n = in.ConsumeIntegralInRange(0, 8); n > 0; --n) {
      p.order.push_back(Stage(in.ConsumeIntegralInRange<uint8_t>(0, kStageCount)));  // one past the end too
    }
  }
  p.outputs = in.ConsumeIntegral<uint32_t>() & (kOutputAll | 1u << 7);
  p.top_logprobs = in.ConsumeIntegralInRange<int32_t>(-1, 8);
  p.alternatives_from = in.ConsumeBool() ? Alternatives::kRaw : Alternatives::kFinal;
  return p;
}

bool Contains(const std::vector<int32_t>& v, int32_t x) { return std::find(v.begin(), v.end(), x) != v.end(); }

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static DecodeHead head;
  FuzzedDataProvider in(data, size);
  const size_t n_vocab = in.ConsumeIntegralInRange<size_t>(1, 2048);
  const size_t n_rows = in.ConsumeIntegralInRange<size_t>(1, 4);
  const bool shared_params = in.ConsumeBool();
  std::vector<SamplerParams> params;
  for (size_t r = 0; r < (shared_params ? 1 : n_rows); ++r) params.push_back(AnyParams(in, n_vocab));
  std::vector<std::vector<int32_t>> histories(n_rows);
  std::vector<std::vector<uint32_t>> masks(n_rows);
  std::vector<RowState> states(n_rows);
  for (size_t r = 0; r < n_rows; ++r) {
    for (int n = in.ConsumeIntegralInRange(0, 6); n > 0; --n) histories[r].push_back(AnyId(in, n_vocab));
    if (in.ConsumeBool()) {
      const size_t words = in.ConsumeIntegralInRange<size_t>(0, 2) == 0 ? in.ConsumeIntegralInRange<size_t>(1, 80)
                                                                       : (n_vocab + 31) / 32;
      for (size_t w = 0; w < words; ++w) masks[r].push_back(in.ConsumeIntegral<uint32_t>());
    }
    states[r] = {.history = histories[r],
                 .n_generated = in.ConsumeIntegralInRange<int64_t>(-1, 4),
                 .seed = in.ConsumeIntegral<uint64_t>(),
                 .stream = r,
                 .step = in.ConsumeIntegral<uint64_t>(),
                 .allowed_mask = masks[r]};
  }
  // The rows: a few distinct values (ties), specials, or anything.
  std::vector<float> logits(n_rows * n_vocab);
  const int style = in.ConsumeIntegralInRange(0, 2);
  std::vector<float> palette(4);
  for (float& v : palette) v = AnyFloat(in);
  for (float& z : logits) {
    if (in.remaining_bytes() == 0) break;
    z = style == 0 ? palette[in.ConsumeIntegralInRange(0, 3)]
        : style == 1 ? float(in.ConsumeIntegralInRange(-20, 20)) / 4.0f
                     : AnyFloat(in);
  }
  std::vector<DecodeResult> results;
  const Status batch = head.DecodeBatch(LogitsBatch::F32(logits, n_rows, n_vocab), params, states, results);
  if (!batch.ok()) Violated("a well-formed batch was refused", batch.ToString());
  if (results.size() != n_rows) Violated("results", std::to_string(results.size()) + " for " + std::to_string(n_rows));
  for (size_t r = 0; r < n_rows; ++r) {
    const DecodeResult& res = results[r];
    const SamplerParams& p = params[shared_params ? 0 : r];
    if (!res.status.ok()) {
      if (res.status.message().empty()) Violated("a row error without a message", std::to_string(r));
      continue;
    }
    const int32_t t = res.token;
    if (t < 0 || size_t(t) >= n_vocab) Violated("token out of range", std::to_string(t));
    if (logits[r * n_vocab + size_t(t)] == -std::numeric_limits<float>::infinity()) {
      Violated("a token whose logit is -inf", std::to_string(t));
    }
    if (!p.allowed_tokens.empty() && !Contains(p.allowed_tokens, t)) Violated("a token not allowed", std::to_string(t));
    if (Contains(p.banned_tokens, t)) Violated("a banned token", std::to_string(t));
    for (const TokenBias& b : p.logit_bias) {
      if (b.token == t && b.bias == -std::numeric_limits<float>::infinity()) Violated("a -inf bias token", "");
    }
    if (!masks[r].empty()) {
      if (masks[r].size() != (n_vocab + 31) / 32) Violated("a mask of the wrong size was accepted", "");
      if (!(masks[r][size_t(t) / 32] >> (t % 32) & 1u)) Violated("a masked-out token", std::to_string(t));
    }
    if ((p.outputs & kOutputLogprob) && !(res.logprob <= 1e-5f)) {
      Violated("logprob", std::to_string(res.logprob));
    }
  }
  return 0;
}
