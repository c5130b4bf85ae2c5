// Generation: one sequence's life, from its prompt to its finish, and a
// driver that steps many sequences together.
//
// A Sequence holds everything one continuation needs besides the model's
// weights: the prompt and generated tokens, its KV cache, the logits of its
// next draw, the RowState of each draw (seeds keyed by (seed, stream,
// position)), the streaming UTF-8 decoder, the stop strings (text held back
// until it cannot start one), the logprob records and the finish reason.
// A Stepper advances any set of started sequences by one token each: one
// DecodeHead::DecodeBatch over their rows, then one Context::EvalBatch over
// those that go on. The CLI steps one sequence, Python one or many, the
// server every request in flight, all through this code, so the same seed and
// settings give the same tokens and bitwise the same logprobs everywhere.
//
// Semantics (docs/generate.md; src/generate/generate_test.cc tests each):
//   - draw i (0-based) of a sequence uses RowState{history = prompt + the i
//     tokens before it, n_generated = i, seed, stream, step = prompt.size() + i};
//     a sequence's tokens depend on nothing else (not on what shares a step).
//   - an end-of-generation token (unless ignore_eos) ends the sequence with
//     finish "stop"; it is not appended, recorded or decoded.
//   - the text is the decoded tokens, cut before the first occurrence of any
//     stop string ("stop", with stop_string() saying which); the token that
//     completed a stop string is appended and recorded.
//   - max_tokens tokens, or a full context, end it with "length".
//   - with a constraint (structured.h), each draw is masked to the tokens that
//     keep the text a prefix of a match (RowState::allowed_mask), and end
//     tokens are allowed only once the text is complete, so "stop" comes with
//     a matching text; an end token always ends a constrained sequence
//     (ignore_eos applies to free text only).
#ifndef LOGITKIT_GENERATE_H_
#define LOGITKIT_GENERATE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "logitkit/head.h"
#include "logitkit/model.h"
#include "logitkit/status.h"
#include "logitkit/structured.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace logitkit {

namespace generate {
class StopStrings;  // generate/stop_strings.h
}

// The state of a draw, by the one convention every front end uses: `tokens`
// is the sequence so far (prompt, then the generated tokens), n_prompt the
// prompt's length; the penalties count all of it, min_tokens counts the
// generated ones, and the draw is keyed by (seed, stream, step = position).
// The history points into tokens.
RowState DrawState(std::span<const int32_t> tokens, size_t n_prompt, uint64_t seed, uint64_t stream);

// The tokens that end a generation (EOS, EOT, EOM, as the vocabulary has
// them): what min_tokens holds back.
std::vector<int32_t> EndOfGenerationTokens(const tokenizer::Tokenizer& tok);

// Why a sequence ended, in OpenAI's words: "stop" (an end-of-generation token
// or a stop string), "length" (max_tokens or the context is full).
enum class FinishReason : uint8_t { kNone, kStop, kLength };
const char* FinishReasonName(FinishReason reason);  // "", "stop", "length"

struct GenerateOptions {
  // The sampling parameters (SamplerParamTable()); outputs, top_logprobs and
  // alternatives_from say what each record holds (raw_logprob and logprob are
  // always computed). eos_tokens is set from the tokenizer, for min_tokens.
  SamplerParams sampler;
  uint64_t seed = 0;
  uint64_t stream = 0;    // e.g. a choice's index: draws keyed by (seed, stream, position)
  size_t max_tokens = 16;  // new tokens; 0: the prompt alone (for prompt_logprobs)
  std::vector<std::string> stop;  // stop strings, each non-empty
  bool ignore_eos = false;         // go on past end-of-generation tokens
  bool strip_space_prefix = false;  // drop a SentencePiece vocabulary's leading space (chat replies)
  // >= 0: record each prompt token's logprob (raw, T = 1) with this many
  // alternatives; -1: none.
  int32_t prompt_logprobs = -1;
  // Structured output: what the text must match (null: free text). Compiled
  // for the model's vocabulary (LoadedModel::constraints).
  std::shared_ptr<const CompiledConstraint> constraint;
};

// A prompt token's record (prompt_logprobs): under the raw model distribution.
struct PromptToken {
  int32_t token = -1;
  float logprob = 0;  // log softmax(z)[token] of the row before it; NaN for the first token
  float logit = 0;    // z[token]; NaN for the first token
  struct Alternative {
    int32_t token;
    float logprob, logit;
  };
  std::vector<Alternative> top;  // the most likely tokens there, by logit (ties: lower id)
};

// What one Stepper::Step did to one sequence.
struct StepOutput {
  bool stepped = false;   // the sequence took part (it was started and not done)
  Status status;          // not OK: the sequence failed in this step (and is done)
  bool has_token = false;  // a token was appended: the sequence's last record
  std::string text;       // the text this step released (held-back text included at the finish)
  FinishReason finish = FinishReason::kNone;  // set when this step ended the sequence
};

class Sequence {
 public:
  // Checks nothing and runs nothing yet. tok must outlive the sequence.
  Sequence(const tokenizer::Tokenizer& tok, std::vector<int32_t> prompt, GenerateOptions options);
  ~Sequence();
  Sequence(Sequence&&) noexcept;
  Sequence& operator=(Sequence&&) noexcept;

  // Checks the prompt (non-empty, ids in [0, n_vocab), shorter than the
  // context), the stop strings and the sampling parameters (the table's
  // ranges), makes a KV cache of prompt + max_tokens positions (at most the
  // model's context) and evaluates the prompt, with its records if asked.
  // progress(n) follows the prompt's evaluation; if it returns false, the
  // evaluation stops with a kCancelled error. Errors name the field and
  // the value; after one, done() is true and status() holds it. With
  // max_tokens = 0 the sequence is done (finish "length") once started.
  // model and pool must outlive the sequence. A second Start is a
  // kFailedPrecondition error and changes nothing.
  Status Start(const Model& model, ThreadPool* pool, Activations activations = Activations::kFloat32,
               const Context::Progress& progress = {});

  bool started() const { return context_ != nullptr; }
  bool done() const { return done_; }
  const Status& status() const { return status_; }  // the error that ended it, if any
  FinishReason finish_reason() const { return finish_; }
  // The stop string that ended the text ("" if none did).
  const std::string& stop_string() const { return stop_string_; }

  const GenerateOptions& options() const { return options_; }
  std::span<const int32_t> prompt() const { return std::span(tokens_).first(n_prompt_); }
  std::span<const int32_t> generated() const { return std::span(tokens_).subspan(n_prompt_); }
  // One per generated token: the head's result for its draw (the token, its
  // logprobs, the alternatives and whatever outputs were asked for).
  const std::vector<DecodeResult>& records() const { return records_; }
  const std::vector<PromptToken>& prompt_records() const { return prompt_records_; }
  // The text released so far (cut before a stop string; held-back text comes at the finish).
  const std::string& text() const { return text_; }

  // The state of draw i (0 <= i <= generated().size()): what the head saw.
  // Its history points into this sequence (valid until the next step).
  RowState StateOf(size_t i) const;
  // The logits the last recorded token was drawn from (valid until the next step).
  std::span<const float> last_row() const { return rows_[1 - current_]; }
  // The logits of the next draw: after Start (also with max_tokens 0, where
  // they predict the token after the prompt), until the next step.
  std::span<const float> next_row() const { return rows_[current_]; }

  // Ends the sequence with an error (e.g. its request was cancelled).
  void Fail(Status status);

 private:
  friend class Stepper;
  // The head's result for the next draw: appends, decodes, checks stops and limits.
  StepOutput Accept(DecodeResult result);
  void Finish(FinishReason reason, StepOutput* out);

  const tokenizer::Tokenizer* tok_;
  GenerateOptions options_;
  std::vector<int32_t> tokens_;  // prompt, then generated tokens (StateOf's history points here)
  size_t n_prompt_ = 0;
  std::unique_ptr<Context> context_;
  std::vector<float> rows_[2];  // [n_vocab]: the next draw's logits, and the last draw's
  int current_ = 0;             // rows_[current_] is the next draw's
  std::unique_ptr<tokenizer::StreamDecoder> decoder_;
  std::unique_ptr<generate::StopStrings> stops_;
  std::unique_ptr<ConstraintMatcher> matcher_;  // with options_.constraint
  std::vector<uint32_t> mask_;                  // the next draw's allowed tokens
  std::vector<DecodeResult> records_;
  std::vector<PromptToken> prompt_records_;
  std::string text_, stop_string_;
  bool done_ = false;
  bool pending_eval_ = false;  // drawn, its token not yet evaluated (Stepper::Advance)
  Status status_;
  FinishReason finish_ = FinishReason::kNone;
};

// Advances sequences together. Not thread-safe: one per driving thread.
class Stepper {
 public:
  // pool runs the decode head's rows (null: one thread); it must outlive the stepper.
  explicit Stepper(ThreadPool* pool);

  // One token for every sequence of seqs that is started and not done: one
  // DecodeBatch over their rows, then one EvalBatch over those that go on.
  // (*outputs)[i] says what happened to seqs[i]. A row's error (a parameter
  // the head refuses) or the forward pass failing ends only the sequences it
  // concerns. REQUIRES: the sequences are distinct and were started with one
  // model, pool and activations (a sequence whose rows are not the batch's
  // size fails rather than being read out of bounds; one of another model
  // of the same vocabulary fails the step's EvalBatch).
  void Step(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs);

  // Step in its two halves, for a driver that acts on the draws before the
  // forward pass (the server sends each token before computing the next
  // logits). Draw: one DecodeBatch over the live sequences that have their
  // next logits, each Accepting its token. Advance: one EvalBatch over the
  // sequences Draw left going (null outputs: errors go to the sequences
  // only). Step is Draw then Advance; a sequence drawn and not yet advanced
  // is not drawn again.
  void Draw(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs);
  void Advance(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs);

 private:
  DecodeHead head_;
  std::vector<float> logits_;  // EvalBatch's output, [n, n_vocab]
};

// Runs one sequence to its end, calling on_step after each step (e.g. to
// print its text). Returns the sequence's status. REQUIRES: seq is started.
Status RunToEnd(Sequence& seq, ThreadPool* pool,
                const std::function<void(const StepOutput&)>& on_step = {});

}  // namespace logitkit

#endif  // LOGITKIT_GENERATE_H_
