// The decode head's chain and batch driver; semantics in include/logitkit/head.h.
#include "logitkit/head.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <new>
#include <string>

#include "base/philox.h"
#include "base/format.h"
#include "head/candidates.h"
#include "head/filters.h"
#include "head/processors.h"
#include "head/select.h"
#include "ops/row_ops.h"

namespace logitkit {

using head::Candidates;
using head::kNegInf;
using head::RowScratch;

const char* StageName(Stage stage) {
  switch (stage) {
    case Stage::kTemperature: return "temperature";
    case Stage::kTopK: return "top_k";
    case Stage::kTopP: return "top_p";
    case Stage::kMinP: return "min_p";
    case Stage::kTypicalP: return "typical_p";
    case Stage::kTopNSigma: return "top_n_sigma";
  }
  return "unknown";
}

const char* SimdTargetName() { return ops::ChosenTargetName(); }

namespace {

using base::Num;

struct Row {
  const void* data;
  FloatType type;
  size_t n_vocab;
};

float ElementToFloat(const Row& row, size_t i) {
  if (row.type == FloatType::kF32) return static_cast<const float*>(row.data)[i];
  float f;
  ops::LoadRow(static_cast<const uint16_t*>(row.data) + i, row.type, 1, 1.0f, &f);
  return f;
}

bool Allowed(std::span<const uint32_t> mask, size_t token) {
  return mask.empty() || ((mask[token / 32] >> (token % 32)) & 1u) != 0;
}

// The error for a row whose LoadRow saw NaN or +inf, or a division that
// overflows on an allowed token: names the first one.
Status InvalidLogitError(const Row& row, float divisor, std::span<const uint32_t> mask) {
  for (size_t i = 0; i < row.n_vocab; ++i) {
    const float raw = ElementToFloat(row, i);
    if (std::isnan(raw) || raw == INFINITY) {
      return InvalidArgumentError("logits[" + std::to_string(i) + "] = " + Num(raw) +
                                  ": logits must be finite or -inf");
    }
    const float v = raw / divisor;
    if (!Allowed(mask, i) || (v != INFINITY && !(v == -INFINITY && raw != -INFINITY))) continue;
    return InvalidArgumentError("logits[" + std::to_string(i) + "] / temperature = " + Num(raw) +
                                " / " + Num(divisor) + " overflows float");
  }
  return InternalError("LoadRow reported an invalid value that is not there");
}

// How many tokens of [0, n_vocab) the mask allows.
size_t CountAllowed(std::span<const uint32_t> mask, size_t n_vocab) {
  size_t count = 0;
  for (size_t w = 0; w < mask.size(); ++w) {
    uint32_t bits = mask[w];
    const size_t first = w * 32;
    if (first + 32 > n_vocab) bits &= (n_vocab - first >= 32) ? ~0u : ((1u << (n_vocab - first)) - 1u);
    count += static_cast<size_t>(std::popcount(bits));
  }
  return count;
}

// The error for a row with no token left, saying which stage removed the last.
Status NothingLeftError(const SamplerParams& p, const RowState& state, size_t n_vocab,
                        bool after_processors) {
  if (state.allowed_mask.empty()) {
    return FailedPreconditionError(
        "no token left to choose: every logit is -inf or masked by the processors");
  }
  const size_t allowed = CountAllowed(state.allowed_mask, n_vocab);
  if (allowed == 0) return FailedPreconditionError("allowed_mask allows no token");
  if (!after_processors) {
    return FailedPreconditionError("every one of the " + std::to_string(allowed) +
                                   " tokens allowed_mask allows has logit -inf");
  }
  std::string why = "the processors removed every one of the " + std::to_string(allowed) +
                    " tokens allowed_mask allows";
  if (state.n_generated < p.min_tokens) {
    for (int32_t eos : p.eos_tokens) {
      if (Allowed(state.allowed_mask, static_cast<size_t>(eos))) {
        why += " (min_tokens = " + std::to_string(p.min_tokens) + " bans end token " +
               std::to_string(eos) + " at n_generated = " + std::to_string(state.n_generated) +
               ")";
        break;
      }
    }
  }
  return FailedPreconditionError("no token left to choose: " + why);
}

// Temperature is folded into the load when no active stage precedes it.
bool TemperatureFirst(const SamplerParams& p) {
  for (Stage stage : p.order) {
    if (stage == Stage::kTemperature) return true;
    if (head::StageActive(stage, p)) return false;
  }
  return false;
}

// The raw model distribution: log-normaliser and entropy of softmax(raw).
struct RawStats {
  float max;
  double log_sum;
  double entropy;
};

RawStats ComputeRawStats(const float* raw, size_t n, bool entropy) {
  RawStats r;
  r.max = ops::Max(raw, n);
  const ops::ExpSums sums = ops::ExpShifted(raw, n, r.max, nullptr, entropy);
  r.log_sum = std::log(sums.sum);
  r.entropy = entropy ? r.log_sum - sums.weighted / sums.sum : NAN;
  return r;
}

float RawLogprob(const float* raw, const RawStats& stats, int32_t token) {
  return static_cast<float>(static_cast<double>(raw[token]) - stats.max - stats.log_sum);
}

DecodeResult DecodeRow(const Row& row, const SamplerParams& p, const RowState& state,
                       RowScratch& s) {
  DecodeResult result;
  const size_t n_vocab = row.n_vocab;
  if (n_vocab == 0) {
    result.status = InvalidArgumentError("n_vocab = 0: a row needs at least one logit");
    return result;
  }
  if (n_vocab > kMaxVocab) {
    result.status = InvalidArgumentError("n_vocab = " + std::to_string(n_vocab) +
                                         " exceeds the supported maximum " +
                                         std::to_string(kMaxVocab));
    return result;
  }
  result.status = head::ValidateParams(p, state, n_vocab);
  if (!result.status.ok()) return result;

  const bool greedy = p.temperature == 0.0f;
  const bool processors = head::HasProcessors(p, state);
  // The temperature is folded into the load when it is the first stage to act
  // and no processor runs before it (processors see the logits themselves).
  const bool temperature_in_load = !greedy && !processors && TemperatureFirst(p);
  const float divisor = temperature_in_load ? p.temperature : 1.0f;
  // Without processors or a temperature folded into the load, the caller's
  // float32 row is read in place (borrowed): the stages that write copy it
  // first (MakeWritable), and the ones that do not (greedy, top-k, the draw)
  // never pay for the copy.
  // The allowed-token mask is applied in the pass that loads the row.
  const std::span<const uint32_t> mask = state.allowed_mask;
  const bool in_place = row.type == FloatType::kF32 && !processors &&
                        !temperature_in_load && mask.empty();
  float* work = in_place ? nullptr : s.work.Get(n_vocab);
  const ops::LoadStats load =
      mask.empty() ? ops::LoadRow(row.data, row.type, n_vocab, divisor, work)
                   : ops::LoadRowMasked(row.data, row.type, n_vocab, divisor, mask.data(), work);
  if (load.has_invalid) {
    result.status = InvalidLogitError(row, divisor, mask);
    return result;
  }
  if (load.max == kNegInf && !mask.empty()) {
    result.status = NothingLeftError(p, state, n_vocab, /*after_processors=*/false);
    return result;
  }
  float* vals = in_place ? const_cast<float*>(static_cast<const float*>(row.data)) : work;

  // The unmodified row as float, for the raw outputs (loaded only if asked for).
  const float* raw = nullptr;
  auto raw_row = [&]() -> const float* {
    if (raw == nullptr) {
      if (row.type == FloatType::kF32) {
        raw = static_cast<const float*>(row.data);
      } else {
        float* buf = s.raw.Get(n_vocab);
        ops::LoadRow(row.data, row.type, n_vocab, 1.0f, buf);
        raw = buf;
      }
    }
    return raw;
  };

  float max = load.max;
  if (processors) {
    result.status = head::ApplyProcessorsToRow(work, n_vocab, p, state, s);
    if (!result.status.ok()) return result;
    max = ops::Max(work, n_vocab);
  }
  if (max == kNegInf) {
    result.status = NothingLeftError(p, state, n_vocab, /*after_processors=*/true);
    return result;
  }

  Candidates c;
  c.vals = vals;
  c.vals_borrowed = in_place;
  c.n = n_vocab;
  c.max = max;
  if (greedy) {
    // The max is known (from the load, or after the processors): one early-exiting pass.
    result.token = static_cast<int32_t>(ops::FindFirst(vals, n_vocab, max));
  } else {
    c.exps = s.exps.Get(n_vocab);
    for (Stage stage : p.order) {
      switch (stage) {
        case Stage::kTemperature:
          if (temperature_in_load) break;
          if (!std::isfinite(c.max / p.temperature)) {
            result.status = InvalidArgumentError(
                "the largest kept logit / temperature = " + Num(c.max) + " / " +
                Num(p.temperature) + " overflows float");
            return result;
          }
          if (!head::ApplyTemperature(c, p.temperature, s)) {
            result.status = InvalidArgumentError(
                "a kept logit / temperature " + Num(p.temperature) +
                " overflows float to -inf (a logit near -3.4e38)");
            return result;
          }
          break;
        case Stage::kTopK:
          if (p.top_k > 0) head::FilterTopK(c, static_cast<size_t>(p.top_k), s);
          break;
        case Stage::kTopP:
          if (p.top_p < 1.0f) head::FilterTopP(c, p.top_p, s);
          break;
        case Stage::kMinP:
          if (p.min_p > 0.0f) head::FilterMinP(c, p.min_p, s);
          break;
        case Stage::kTypicalP:
          if (p.typical_p < 1.0f) head::FilterTypicalP(c, p.typical_p, s);
          break;
        case Stage::kTopNSigma:
          if (p.top_n_sigma > 0.0f) head::FilterTopNSigma(c, p.top_n_sigma, s);
          break;
      }
    }
    const double u = base::UniformDouble(state.seed, state.stream, state.step);
    const size_t pos = head::Draw(c, u, s);
    result.token = c.Id(pos);
  }

  // ---- Outputs, each only when asked for.
  const uint32_t out = p.outputs;
  const double final_log_sum = greedy ? 0.0 : std::log(c.exp_sum);
  // Final logprob of any token: -inf outside the kept set.
  auto final_logprob = [&](int32_t token) -> float {
    if (greedy) return token == result.token ? 0.0f : kNegInf;
    size_t pos = static_cast<size_t>(token);
    if (c.ids != nullptr) {
      const int32_t* it = std::lower_bound(c.ids, c.ids + c.n, token);
      if (it == c.ids + c.n || *it != token) return kNegInf;
      pos = static_cast<size_t>(it - c.ids);
    }
    if (c.vals[pos] == kNegInf) return kNegInf;
    return static_cast<float>(static_cast<double>(c.vals[pos]) - c.shift - final_log_sum);
  };
  if (out & kOutputLogprob) result.logprob = final_logprob(result.token);
  if (out & kOutputEntropy) {
    if (greedy) {
      result.entropy = 0.0f;
    } else {
      const ops::ExpSums sums = ops::ExpShifted(c.vals, c.n, c.shift, nullptr, true);
      result.entropy = static_cast<float>(std::log(sums.sum) - sums.weighted / sums.sum);
    }
  }
  if (out & kOutputKept) result.n_kept = greedy ? 1 : static_cast<int32_t>(head::CountKept(c));

  const bool want_raw_stats =
      (out & (kOutputRawLogprob | kOutputRawEntropy)) || p.top_logprobs > 0;
  RawStats raw_stats{};
  if (want_raw_stats) raw_stats = ComputeRawStats(raw_row(), n_vocab, out & kOutputRawEntropy);
  if (out & kOutputRawLogprob) result.raw_logprob = RawLogprob(raw, raw_stats, result.token);
  if (out & kOutputRawEntropy) result.raw_entropy = static_cast<float>(raw_stats.entropy);
  if (out & kOutputRank) {
    const float* z = raw_row();
    const float v = z[result.token];
    result.rank = static_cast<int32_t>(1 + ops::CountGreater(z, n_vocab, v) +
                                       ops::CountEqual(z, static_cast<size_t>(result.token), v));
  }
  if (p.top_logprobs > 0) {
    const size_t n_top = static_cast<size_t>(p.top_logprobs);
    // Rank by the raw logits, or by the final values: the kept set alone
    // (greedy keeps only its token), so no final alternative is -inf.
    const bool from_raw = p.alternatives_from == Alternatives::kRaw;
    if (!from_raw && greedy) {
      result.top.push_back({result.token, RawLogprob(raw, raw_stats, result.token), 0.0f});
    } else {
      const float* key = from_raw ? raw : c.vals;
      const size_t n_key = from_raw ? n_vocab : c.n;
      std::vector<int32_t> positions;
      head::TopKPositions(key, n_key, n_top, s, positions);
      std::stable_sort(positions.begin(), positions.end(),
                       [key](int32_t a, int32_t b) { return key[a] > key[b]; });
      result.top.reserve(positions.size());
      for (int32_t pos : positions) {
        if (!from_raw && key[pos] == kNegInf) continue;
        const int32_t token = from_raw ? pos : c.Id(static_cast<size_t>(pos));
        result.top.push_back({token, RawLogprob(raw, raw_stats, token), final_logprob(token)});
      }
    }
  }
  return result;
}

// The only exception the row code can meet is std::bad_alloc (its scratch and
// maps grow with the vocabulary and the history): it becomes the row's status,
// so it never crosses the API or escapes a pool thread.
// Errors of a row in a batch are prefixed with "row R: " (row_index not null).
DecodeResult DecodeRowNoThrow(const Row& row, const SamplerParams& p, const RowState& state,
                              RowScratch& s, const size_t* row_index = nullptr) {
  DecodeResult result;
  try {
    result = DecodeRow(row, p, state, s);
    if (!result.status.ok() && row_index != nullptr) {
      result.status = result.status.WithContext("row " + std::to_string(*row_index) + ": ");
    }
  } catch (const std::bad_alloc&) {
    result = DecodeResult();
    result.status = Status(StatusCode::kResourceExhausted, "out of memory decoding a row");
  }
  return result;
}


}  // namespace

struct DecodeHead::Scratch {
  RowScratch row;
};

DecodeHead::DecodeHead(ThreadPool* pool) : pool_(pool) {
  const size_t n = pool != nullptr ? pool->num_threads() : 1;
  for (size_t i = 0; i < n; ++i) scratch_.push_back(std::make_unique<Scratch>());
}

DecodeHead::~DecodeHead() = default;

DecodeResult DecodeHead::Decode(std::span<const float> logits, const SamplerParams& params,
                                const RowState& state) {
  return DecodeRowNoThrow(Row{logits.data(), FloatType::kF32, logits.size()}, params,
                          state, scratch_[0]->row);
}

LogitsBatch LogitsBatch::F32(std::span<const float> logits, size_t n_rows, size_t n_vocab) {
  return LogitsBatch{logits.data(), logits.size(), FloatType::kF32, n_rows, n_vocab, n_vocab};
}
LogitsBatch LogitsBatch::BF16(std::span<const uint16_t> bits, size_t n_rows, size_t n_vocab) {
  return LogitsBatch{bits.data(), bits.size(), FloatType::kBF16, n_rows, n_vocab, n_vocab};
}
LogitsBatch LogitsBatch::F16(std::span<const uint16_t> bits, size_t n_rows, size_t n_vocab) {
  return LogitsBatch{bits.data(), bits.size(), FloatType::kF16, n_rows, n_vocab, n_vocab};
}

LogitsBatch LogitsBatch::F32Rows(std::span<const float* const> rows, size_t n_vocab) {
  LogitsBatch batch;
  batch.type = FloatType::kF32;
  batch.n_rows = rows.size();
  batch.n_vocab = n_vocab;
  batch.rows = rows.data();
  return batch;
}

namespace {

// The shape of a batch: sizes, strides and pointers, before any row is read.
Status CheckBatchShape(const LogitsBatch& logits) {
  const size_t stride = logits.row_stride == 0 ? logits.n_vocab : logits.row_stride;
  if (logits.n_vocab == 0) return InvalidArgumentError("n_vocab = 0: rows need at least one logit");
  if (logits.n_vocab > kMaxVocab) {
    return InvalidArgumentError("n_vocab = " + std::to_string(logits.n_vocab) +
                                " exceeds the supported maximum " + std::to_string(kMaxVocab));
  }
  if (logits.rows != nullptr) {
    if (logits.type != FloatType::kF32) {
      return InvalidArgumentError("logits.rows is set for a batch that is not float32");
    }
    for (size_t r = 0; r < logits.n_rows; ++r) {
      if (logits.rows[r] == nullptr) {
        return InvalidArgumentError("logits.rows[" + std::to_string(r) + "] is null");
      }
    }
    return OkStatus();
  }
  if (stride < logits.n_vocab) {
    return InvalidArgumentError("row_stride = " + std::to_string(stride) + " is less than n_vocab = " +
                                std::to_string(logits.n_vocab));
  }
  if (logits.data == nullptr && logits.n_rows > 0) {
    return InvalidArgumentError("logits.data is null for n_rows = " + std::to_string(logits.n_rows));
  }
  // The last row must end inside the buffer: (n_rows - 1) * stride + n_vocab <= size,
  // checked without overflow.
  if (logits.n_rows > 0 &&
      (logits.size < logits.n_vocab ||
       (logits.n_rows - 1) > (logits.size - logits.n_vocab) / stride)) {
    return InvalidArgumentError("logits hold " + std::to_string(logits.size) + " elements; " +
                                std::to_string(logits.n_rows) + " rows of n_vocab = " +
                                std::to_string(logits.n_vocab) + " at row_stride = " +
                                std::to_string(stride) + " need more");
  }
  return OkStatus();
}

}  // namespace

Status DecodeHead::DecodeBatch(const LogitsBatch& logits, std::span<const SamplerParams> params,
                               std::span<const RowState> states,
                               std::vector<DecodeResult>& results) {
  LOGITKIT_RETURN_IF_ERROR(CheckBatchShape(logits));
  if (params.size() != 1 && params.size() != logits.n_rows) {
    return InvalidArgumentError("params has " + std::to_string(params.size()) +
                                " entries; expected 1 or n_rows = " + std::to_string(logits.n_rows));
  }
  if (states.size() != logits.n_rows) {
    return InvalidArgumentError("states has " + std::to_string(states.size()) +
                                " entries; expected n_rows = " + std::to_string(logits.n_rows));
  }
  results.resize(logits.n_rows);
  const FloatType type = logits.type;
  const size_t stride = logits.row_stride == 0 ? logits.n_vocab : logits.row_stride;
  const size_t row_bytes = stride * FloatBytes(logits.type);
  auto run = [&](size_t r, size_t thread) {
    const void* data = logits.rows != nullptr ? static_cast<const void*>(logits.rows[r])
                                              : static_cast<const char*>(logits.data) + r * row_bytes;
    const Row row{data, type, logits.n_vocab};
    results[r] = DecodeRowNoThrow(row, params[params.size() == 1 ? 0 : r], states[r],
                                  scratch_[thread]->row, &r);
  };
  if (pool_ != nullptr) {
    pool_->Run(logits.n_rows, run);
  } else {
    for (size_t r = 0; r < logits.n_rows; ++r) run(r, 0);
  }
  return OkStatus();
}

}  // namespace logitkit
