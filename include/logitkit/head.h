// The decode head: rows of logits in, one token per row out, with logprobs.
//
// It knows nothing of models. A row is n_vocab raw scores z[0..V) (float32,
// bfloat16 or float16); the head turns it into a token in five stages:
//
//   1. processors   z -> z'   allowed-token bitmask (e.g. a grammar's), penalties,
//                             logit bias, allowed/banned lists, min_tokens
//   2. temperature  z' / T    (T = 0: greedy, see below)
//   3. softmax      p = softmax(z' / T)
//   4. filters      top-k, top-p, min-p, typical-p, top-nσ, each keeping a set of
//                   tokens; each filter sees the distribution renormalised over
//                   the tokens the stages before it kept
//   5. draw         one token from p renormalised over the kept set
//
// The semantics below are the contract; docs/decode-head.md explains them with
// examples, and src/head/*_test.cc tests each statement.
//
// ORDER. Processors always come first, in this order: the allowed-token
// bitmask (RowState::allowed_mask, applied as the row is loaded), repetition
// penalty, frequency and presence penalties, logit bias, allowed/banned lists,
// min_tokens. A token removed by any of the masks is -inf whatever the
// penalties and biases would do to it, so their order among themselves does
// not change the result. Then the stages of SamplerParams::order run in sequence; the
// default is temperature, top-k, top-p, min-p, typical-p, top-nσ (the seed's
// pipeline, with the two newer filters last). Temperature may be moved (e.g. to
// the end, as llama.cpp's default chain does); it matters for top-p, min-p
// and typical-p (top-k and top-nσ keep the same set at any temperature). A
// stage that is off (top_k = 0, top_p = 1, ...) is skipped wherever it stands.
//
// TIES. Tokens are ranked by value, then by token id, lowest first: wherever a
// filter's boundary falls inside a group of equal values, the lower ids are
// kept. Greedy picks the lowest id among equal maxima.
//
// FILTERS, on the current values x (processed logits, divided by T if the
// temperature stage ran already) and q = softmax over the current kept set:
//   top-k (k > 0):      the k highest x. k >= kept set: no-op.
//   top-p (p < 1):      the smallest prefix of the kept set, in rank order,
//                       whose mass Σ q reaches p; the token that crosses p is
//                       kept. Masses are summed in double precision.
//   min-p (m > 0):      tokens with q >= m · max q, i.e. x >= max x + ln m,
//                       the right side summed in double, the comparison exact.
//   typical-p (p < 1):  with H the entropy of q, the smallest set of tokens in
//                       increasing order of |-ln q - H| (ties: lower id) whose
//                       mass reaches p (Meister et al., 2022).
//   top-nσ (n > 0):     tokens with x >= max x - n·σ (in double), σ the standard
//                       deviation (population) of x over the kept set (Tang et al., 2024).
//   min-p and top-nσ are thresholds: tokens equal to the threshold all stay.
//
// GREEDY. temperature = 0 returns the argmax of the processed logits (lowest id
// on ties); the filters are not applied, the final distribution is one-hot
// (logprob 0, entropy 0, kept 1) and no random number is used.
//
// RANDOMNESS. The draw uses Philox4x32-10 keyed by (seed, stream, step): one
// uniform u in [0, 1) per row, and the token is the first in token-id order at
// which the running sum of kept probabilities exceeds u. The token therefore
// depends only on the row's logits, its parameters and (seed, stream, step):
// never on the batch size, the row's place in the batch or the thread count.
// Every sum behind the draw is taken in a fixed order (16 virtual lanes in
// double, whatever the vector width), and the exp kernel uses fused
// multiply-adds, so SIMD targets with FMA (AVX2, AVX-512) give bitwise the
// same results. Targets without FMA (SSE4, SSSE3, the portable fallback) round
// the exp polynomial differently in the last bit, so their token can differ,
// with probability about 1e-7 per draw.
//
// OUTPUTS, each computed only when asked for (see Outputs):
//   raw_logprob  log softmax(z)[token]: the model's own distribution, T = 1,
//                no processors, no filters.
//   logprob      log of the token's probability in the final distribution:
//                after processors, temperature and filters, renormalised over
//                the kept set (what the draw used).
//   rank         1 + the number of tokens ranked above the token in the raw
//                logits (by value, ties by id): 1 = the model's top token.
//   raw_entropy, entropy   in nats, of the raw and of the final distribution.
//   n_kept       the size of the final kept set.
//   top          the n most probable tokens, in rank order, each with both
//                logprobs. alternatives_from = kRaw: of the raw distribution
//                (a token outside the final kept set has logprob -inf);
//                kFinal: of the final distribution, from the kept set only,
//                so at most n_kept of them and never a logprob of -inf
//                (greedy: the chosen token alone, logprob 0).
//
// ALLOWED-TOKEN BITMASK (structured output: a grammar's next-token mask).
// RowState::allowed_mask, when not empty, holds (n_vocab + 31) / 32 words;
// token t is allowed iff bit t % 32 of word t / 32 is set (XGrammar's layout).
//   - every masked token is -inf in the processed logits, so it is never drawn;
//   - raw_logprob, raw_entropy, rank and the raw alternatives are untouched:
//     they describe the model's own distribution;
//   - logprob, entropy and the final alternatives are those of the final
//     distribution, renormalised over the allowed tokens (at T = 1 with no
//     filter, logprob = the log-softmax restricted to the allowed set);
//   - a mask of the wrong length, or one that allows no token, is an error
//     naming the row; so is a row whose allowed tokens the other processors
//     remove (e.g. min_tokens banning the only end token the grammar allows):
//     the head never draws a token the mask forbids.
//
// ERRORS. A row with NaN or +inf logits, bad parameters (the ranges of
// SamplerParamTable(), logitkit/sampler_table.h), a logit that leaves float
// after a processor or the temperature (a penalty or bias pushing a finite
// logit past ±FLT_MAX is an error, not a silent -inf; a token the masks
// remove anyway is exempt, as the temperature checks only kept tokens), a
// negative n_generated, or no token left after the processors gets a non-OK
// status in its result naming the parameter, the value and the row; the other rows of the batch are unaffected. Nothing
// throws and nothing aborts on bad input. n_vocab is at most kMaxVocab (2^30).
#ifndef LOGITKIT_HEAD_H_
#define LOGITKIT_HEAD_H_

#include <cstddef>
#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <vector>

#include "logitkit/float_type.h"
#include "logitkit/status.h"
#include "logitkit/thread_pool.h"

namespace logitkit {

// The stages that SamplerParams::order arranges.
enum class Stage : uint8_t { kTemperature, kTopK, kTopP, kMinP, kTypicalP, kTopNSigma };
inline constexpr size_t kStageCount = 6;  // the Stage values are 0 .. kStageCount - 1
const char* StageName(Stage stage);

struct TokenBias {
  int32_t token;
  float bias;  // added to the logit; -inf bans the token
};

// Which values the decode head computes besides the token (bit flags).
enum Outputs : uint32_t {
  kOutputNone = 0,
  kOutputRawLogprob = 1u << 0,
  kOutputLogprob = 1u << 1,
  kOutputRank = 1u << 2,
  kOutputRawEntropy = 1u << 3,
  kOutputEntropy = 1u << 4,
  kOutputKept = 1u << 5,
  kOutputAll = (1u << 6) - 1,
};

enum class Alternatives : uint8_t { kRaw, kFinal };

// Per-row sampling parameters. Defaults sample from the model's own
// distribution (T = 1, every filter off).
struct SamplerParams {
  // 1. Processors, over the token history (RowState::history), last
  // penalty_window tokens (0 = all of it).
  float repetition_penalty = 1.0f;  // > 0; z > 0 ? z / r : z * r for tokens seen
  float frequency_penalty = 0.0f;   // z -= frequency_penalty * count
  float presence_penalty = 0.0f;    // z -= presence_penalty if count > 0
  int32_t penalty_window = 0;
  std::vector<TokenBias> logit_bias;     // applied after the penalties
  std::vector<int32_t> allowed_tokens;   // non-empty: every other token is banned
  std::vector<int32_t> banned_tokens;
  int32_t min_tokens = 0;                // ban eos_tokens while n_generated < min_tokens
  std::vector<int32_t> eos_tokens;

  // 2. Temperature: >= 0; 0 means greedy.
  float temperature = 1.0f;

  // 4. Filters; the values shown switch each one off.
  int32_t top_k = 0;         // >= 0; 0 = off
  float top_p = 1.0f;        // (0, 1]; 1 = off
  float min_p = 0.0f;        // [0, 1]; 0 = off
  float typical_p = 1.0f;    // (0, 1]; 1 = off
  float top_n_sigma = 0.0f;  // >= 0; 0 = off

  std::vector<Stage> order = DefaultOrder();

  // Outputs.
  uint32_t outputs = kOutputNone;  // Outputs flags
  int32_t top_logprobs = 0;        // >= 0: how many alternatives to return
  Alternatives alternatives_from = Alternatives::kRaw;

  static std::vector<Stage> DefaultOrder() {
    return {Stage::kTemperature, Stage::kTopK,     Stage::kTopP,
            Stage::kMinP,        Stage::kTypicalP, Stage::kTopNSigma};
  }
};

// The per-row state that changes from step to step.
struct RowState {
  std::span<const int32_t> history;  // tokens the penalties count (prompt and/or output)
  int64_t n_generated = 0;           // tokens generated so far (for min_tokens)
  uint64_t seed = 0;
  uint64_t stream = 0;  // e.g. the request or sequence id
  uint64_t step = 0;    // e.g. the position
  // Empty, or (n_vocab + 31) / 32 words: bit t % 32 of word t / 32 set = token
  // t allowed (see ALLOWED-TOKEN BITMASK above).
  std::span<const uint32_t> allowed_mask;
};

struct TokenLogprob {
  int32_t token;
  float raw_logprob;  // under the raw model distribution
  float logprob;      // under the final sampling distribution (-inf if filtered out)
};

struct DecodeResult {
  Status status;  // per row: one bad row does not spoil the others
  int32_t token = -1;
  float raw_logprob = std::numeric_limits<float>::quiet_NaN();
  float logprob = std::numeric_limits<float>::quiet_NaN();
  int32_t rank = 0;
  float raw_entropy = std::numeric_limits<float>::quiet_NaN();
  float entropy = std::numeric_limits<float>::quiet_NaN();
  int32_t n_kept = 0;
  std::vector<TokenLogprob> top;
};

// The largest n_vocab a row may have (token ids are int32_t; 2^30 leaves room).
inline constexpr size_t kMaxVocab = size_t{1} << 30;

// A batch of n_rows rows of n_vocab logits, row r starting at element
// r * row_stride. 16-bit types are passed as their raw bits.
struct LogitsBatch {
  const void* data = nullptr;
  size_t size = 0;  // elements in data: at least (n_rows - 1) * row_stride + n_vocab
  FloatType type = FloatType::kF32;
  size_t n_rows = 0;
  size_t n_vocab = 0;
  size_t row_stride = 0;  // elements; 0 means n_vocab
  // float32 rows anywhere in memory (e.g. one buffer per sequence): when not
  // null, row r is rows[r], n_rows pointers to n_vocab floats each; type is
  // kF32 and data, size and row_stride are not used.
  const float* const* rows = nullptr;

  static LogitsBatch F32(std::span<const float> logits, size_t n_rows, size_t n_vocab);
  static LogitsBatch F32Rows(std::span<const float* const> rows, size_t n_vocab);
  static LogitsBatch BF16(std::span<const uint16_t> bits, size_t n_rows, size_t n_vocab);
  static LogitsBatch F16(std::span<const uint16_t> bits, size_t n_rows, size_t n_vocab);
};

// Runs the whole chain. Reuses per-thread scratch buffers between calls, so a
// DecodeHead should live as long as the decoding loop. Not thread-safe: use one
// per thread that calls it (the pool parallelises inside one call).
class DecodeHead {
 public:
  // pool may be null (one thread); it must outlive the DecodeHead.
  explicit DecodeHead(ThreadPool* pool = nullptr);
  ~DecodeHead();
  DecodeHead(const DecodeHead&) = delete;
  DecodeHead& operator=(const DecodeHead&) = delete;

  // One row of float32 logits.
  DecodeResult Decode(std::span<const float> logits, const SamplerParams& params,
                      const RowState& state);

  // A batch: params and states hold one entry per row, or params one entry for
  // every row. results is resized to n_rows. The returned Status covers the
  // batch's shape (sizes, strides); each row's own errors go to its result.
  Status DecodeBatch(const LogitsBatch& logits, std::span<const SamplerParams> params,
                     std::span<const RowState> states, std::vector<DecodeResult>& results);

 private:
  struct Scratch;
  ThreadPool* pool_;
  std::vector<std::unique_ptr<Scratch>> scratch_;  // one per pool thread
};

// ---- Stages on their own. Each acts on one float32 row, marks removed tokens
// with -inf, and validates its inputs like the chain does.

// probs = softmax(logits / temperature), written in full.
// Accuracy: relative error <= 1e-6 against a long double reference for every
// probability >= 1e-30 (of the softmax of the float-rounded logits / T).
// REQUIRES: logits.size() == probs.size() (else kInvalidArgument).
Status Softmax(std::span<const float> logits, float temperature, std::span<float> probs);
// logprobs = log_softmax(logits / temperature); -inf where the logit is -inf.
Status LogSoftmax(std::span<const float> logits, float temperature, std::span<float> logprobs);

// Applies the processors of `params` (not temperature or filters) in place.
Status ApplyProcessors(std::span<float> logits, const SamplerParams& params,
                       const RowState& state);

// The filters, in place on (temperature-scaled) logits. Each returns the
// number of tokens kept.
StatusOr<size_t> TopK(std::span<float> logits, int32_t k);
StatusOr<size_t> TopP(std::span<float> logits, float p);
StatusOr<size_t> MinP(std::span<float> logits, float min_p);
StatusOr<size_t> TypicalP(std::span<float> logits, float p);
StatusOr<size_t> TopNSigma(std::span<float> logits, float n);

// Draws a token from softmax(logits) with the generator keyed by
// (seed, stream, step), as the chain's last stage does.
StatusOr<int32_t> Sample(std::span<const float> logits, uint64_t seed, uint64_t stream,
                         uint64_t step);

// The dispatched SIMD target, e.g. "AVX2".
const char* SimdTargetName();

}  // namespace logitkit

#endif  // LOGITKIT_HEAD_H_
