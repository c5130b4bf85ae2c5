// One sequence's life (include/logitkit/generate.h).
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "generate/stop_strings.h"
#include "logitkit/generate.h"
#include "logitkit/sampler_table.h"

namespace logitkit {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The n largest logits of a row (ties: lower id first), with their logprobs.
std::vector<PromptToken::Alternative> TopOf(std::span<const float> logits, std::span<const float> logprobs,
                                            size_t n) {
  if (n == 0) return {};
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  n = std::min(n, ids.size());
  auto above = [&](int32_t a, int32_t b) { return logits[a] > logits[b] || (logits[a] == logits[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + ptrdiff_t(n), ids.end(), above);
  std::vector<PromptToken::Alternative> top(n);
  for (size_t i = 0; i < n; ++i) top[i] = {ids[i], logprobs[ids[i]], logits[ids[i]]};
  return top;
}

}  // namespace

std::vector<int32_t> EndOfGenerationTokens(const tokenizer::Tokenizer& tok) {
  std::vector<int32_t> ends;
  for (int32_t id : {tok.eos(), tok.eot(), tok.eom()}) {
    if (id != tokenizer::kNoToken && std::find(ends.begin(), ends.end(), id) == ends.end()) ends.push_back(id);
  }
  return ends;
}

RowState DrawState(std::span<const int32_t> tokens, size_t n_prompt, uint64_t seed, uint64_t stream) {
  RowState state;
  state.history = tokens;
  state.n_generated = int64_t(tokens.size() - std::min(n_prompt, tokens.size()));
  state.seed = seed;
  state.stream = stream;
  state.step = tokens.size();
  return state;
}

const char* FinishReasonName(FinishReason reason) {
  switch (reason) {
    case FinishReason::kNone: return "";
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
  }
  return "";
}

Sequence::Sequence(const tokenizer::Tokenizer& tok, std::vector<int32_t> prompt, GenerateOptions options)
    : tok_(&tok), options_(std::move(options)), tokens_(std::move(prompt)) {
  n_prompt_ = tokens_.size();
}

Sequence::~Sequence() = default;
Sequence::Sequence(Sequence&&) noexcept = default;
Sequence& Sequence::operator=(Sequence&&) noexcept = default;

Status Sequence::Start(const Model& model, ThreadPool* pool, Activations activations,
                       const Context::Progress& progress) {
  const ModelConfig& c = model.config();
  const size_t n_vocab = c.n_vocab, context_length = c.context_length;
  if (started() || done_) return FailedPreconditionError("the sequence was started already");
  Status s = [&]() -> Status {
    if (n_prompt_ == 0) return InvalidArgumentError("the prompt is empty (no tokens)");
    for (size_t i = 0; i < n_prompt_; ++i) {
      if (tokens_[i] < 0 || size_t(tokens_[i]) >= n_vocab) {
        return InvalidArgumentError("prompt token " + std::to_string(i) + " = " + std::to_string(tokens_[i]) +
                                    " is outside [0, " + std::to_string(n_vocab) + ")");
      }
    }
    // At least one token can be generated (or, with max_tokens 0, the prompt fits).
    if (n_prompt_ + (options_.max_tokens > 0 ? 1 : 0) > context_length) {
      return OutOfRangeError("the prompt has " + std::to_string(n_prompt_) + " tokens; the model's context holds " +
                             std::to_string(context_length));
    }
    for (size_t i = 0; i < options_.stop.size(); ++i) {
      if (options_.stop[i].empty()) return InvalidArgumentError("stop[" + std::to_string(i) + "] is empty");
    }
    if (options_.prompt_logprobs > 0 && size_t(options_.prompt_logprobs) > n_vocab) {
      return InvalidArgumentError("prompt_logprobs = " + std::to_string(options_.prompt_logprobs) +
                                  " exceeds n_vocab = " + std::to_string(n_vocab));
    }
    SamplerParams& p = options_.sampler;
    p.eos_tokens = EndOfGenerationTokens(*tok_);
    p.outputs |= kOutputRawLogprob | kOutputLogprob;
    LOGITKIT_RETURN_IF_ERROR(CheckSamplerParams(p, n_vocab));
    if (p.top_logprobs < 0) return InvalidArgumentError("top_logprobs = " + std::to_string(p.top_logprobs) + " must be >= 0");
    decoder_ = std::make_unique<tokenizer::StreamDecoder>(
        *tok_, tokenizer::DecodeOptions{.strip_space_prefix = options_.strip_space_prefix});
    stops_ = std::make_unique<generate::StopStrings>(options_.stop);
    if (options_.constraint) {
      matcher_ = std::make_unique<ConstraintMatcher>(options_.constraint);
      if (matcher_->n_vocab() != n_vocab) {
        return InvalidArgumentError("the constraint was compiled for n_vocab = " +
                                    std::to_string(matcher_->n_vocab()) + ", the model has " +
                                    std::to_string(n_vocab));
      }
      mask_.resize(matcher_->mask_words());
    }
    // A KV cache for the prompt and every token that may be evaluated (the
    // last one drawn never is), at most the context.
    const size_t capacity = options_.max_tokens >= context_length - n_prompt_ ? context_length
                                                                               : n_prompt_ + options_.max_tokens;
    context_ = std::make_unique<Context>(model, capacity, pool, activations);
    const std::span<const int32_t> prompt = std::span(tokens_).first(n_prompt_);
    std::vector<float>& row = rows_[current_];
    if (options_.prompt_logprobs < 0) return context_->Eval(prompt, Logits::kLast, &row, nullptr, progress);
    // Row t predicts prompt[t + 1]; the last row predicts the first new token.
    prompt_records_.push_back({prompt[0], kNaN, kNaN, {}});
    std::vector<float> logprobs(n_vocab);
    return context_->EvalEach(prompt, [&](size_t first, std::span<const float> logits) -> Status {
      const size_t n = logits.size() / n_vocab;
      for (size_t t = 0; t < n && first + t + 1 < n_prompt_; ++t) {
        const std::span<const float> z = logits.subspan(t * n_vocab, n_vocab);
        LOGITKIT_RETURN_IF_ERROR(LogSoftmax(z, 1.0f, logprobs).WithContext("prompt position " +
                                                                            std::to_string(first + t) + ": "));
        const int32_t next = prompt[first + t + 1];
        prompt_records_.push_back(
            {next, logprobs[next], z[next], TopOf(z, logprobs, size_t(options_.prompt_logprobs))});
      }
      if (first + n == n_prompt_) row.assign(logits.end() - ptrdiff_t(n_vocab), logits.end());
      if (progress && !progress(first + n) && first + n < n_prompt_) {
        return Status(StatusCode::kCancelled, "stopped after " + std::to_string(first + n) + " of " +
                                                  std::to_string(n_prompt_) + " prompt tokens (asked by the progress callback)");
      }
      return OkStatus();
    });
  }();
  if (!s.ok()) {
    Fail(s);
    return s;
  }
  if (options_.max_tokens == 0) {
    StepOutput ignored;
    Finish(FinishReason::kLength, &ignored);
  }
  return OkStatus();
}

RowState Sequence::StateOf(size_t i) const {
  return DrawState(std::span(tokens_).first(n_prompt_ + i), n_prompt_, options_.seed, options_.stream);
}

void Sequence::Fail(Status status) {
  if (done_) return;
  status_ = std::move(status);
  done_ = true;
}

void Sequence::Finish(FinishReason reason, StepOutput* out) {
  if (!stops_->stopped()) {
    // The decoder's and the stop strings' held-back text ends the text (a
    // stop string may still appear in it).
    const std::string rest = stops_->Push(decoder_->Flush()) + stops_->Flush();
    text_ += rest;
    out->text += rest;
  }
  if (stops_->stopped()) {
    stop_string_ = stops_->matched();
    reason = FinishReason::kStop;
  }
  finish_ = reason;
  out->finish = reason;
  done_ = true;
}

StepOutput Sequence::Accept(DecodeResult r) {
  StepOutput out;
  out.stepped = true;
  current_ = 1 - current_;  // the row just drawn from becomes last_row()
  if (!r.status.ok()) {
    Fail(r.status);
    out.status = status_;
    return out;
  }
  if (matcher_) {  // the mask allowed it, so the matcher accepts it
    if (Status s = matcher_->Accept(r.token); !s.ok()) {
      Fail(InternalError(s.message()));
      out.status = status_;
      return out;
    }
  }
  if ((!options_.ignore_eos || matcher_) && tok_->IsEndOfGeneration(r.token)) {
    Finish(FinishReason::kStop, &out);
    return out;
  }
  const int32_t token = r.token;
  tokens_.push_back(token);
  records_.push_back(std::move(r));
  out.has_token = true;
  StatusOr<std::string> piece = decoder_->Push(token);
  if (!piece.ok()) {
    Fail(piece.status());
    out.status = status_;
    return out;
  }
  out.text = stops_->Push(*piece);
  text_ += out.text;
  if (stops_->stopped()) {
    Finish(FinishReason::kStop, &out);
  } else if (records_.size() >= options_.max_tokens || context_->n_past() >= context_->max_tokens()) {
    Finish(FinishReason::kLength, &out);
  }
  return out;
}

Stepper::Stepper(ThreadPool* pool) : head_(pool) {}

void Stepper::Step(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs) {
  Draw(seqs, outputs);
  Advance(seqs, outputs);
}

void Stepper::Draw(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs) {
  outputs->assign(seqs.size(), StepOutput{});
  std::vector<size_t> live;
  for (size_t i = 0; i < seqs.size(); ++i) {
    if (seqs[i]->started() && !seqs[i]->done() && !seqs[i]->pending_eval_) live.push_back(i);
  }
  if (live.empty()) return;
  const size_t n_vocab = seqs[live[0]]->rows_[seqs[live[0]]->current_].size();
  std::erase_if(live, [&](size_t i) {  // another model's sequence cannot share the batch
    Sequence& seq = *seqs[i];
    if (seq.rows_[seq.current_].size() == n_vocab) return false;
    seq.Fail(InvalidArgumentError("the sequence's rows have " + std::to_string(seq.rows_[seq.current_].size()) +
                                  " logits, the batch's " + std::to_string(n_vocab) + ": step it with its own model"));
    (*outputs)[i].stepped = true;
    (*outputs)[i].status = seq.status();
    return true;
  });
  std::erase_if(live, [&](size_t i) {  // the constraint's mask for the draw (structured output)
    Sequence& seq = *seqs[i];
    if (!seq.matcher_) return false;
    const Status s = seq.matcher_->FillMask(seq.mask_);
    if (s.ok()) return false;
    seq.Fail(s);
    (*outputs)[i].stepped = true;
    (*outputs)[i].status = seq.status();
    return true;
  });
  if (live.empty()) return;
  std::vector<const float*> rows;
  std::vector<SamplerParams> params;
  std::vector<RowState> states;
  for (size_t i : live) {
    Sequence& seq = *seqs[i];
    rows.push_back(seq.rows_[seq.current_].data());
    params.push_back(seq.options_.sampler);
    states.push_back(seq.StateOf(seq.records_.size()));
    if (seq.matcher_) states.back().allowed_mask = seq.mask_;
  }
  std::vector<DecodeResult> results;
  const Status shape = head_.DecodeBatch(LogitsBatch::F32Rows(rows, n_vocab), params, states, results);
  for (size_t j = 0; j < live.size(); ++j) {
    Sequence& seq = *seqs[live[j]];
    StepOutput& out = (*outputs)[live[j]];
    if (!shape.ok()) {
      seq.Fail(shape);
      out.stepped = true;
      out.status = shape;
      continue;
    }
    DecodeResult& r = results[j];
    if (!r.status.ok()) {  // the batch's "row j: " means nothing to the sequence
      const std::string prefix = "row " + std::to_string(j) + ": ";
      if (r.status.message().starts_with(prefix)) {
        r.status = Status(r.status.code(), r.status.message().substr(prefix.size()));
      }
    }
    out = seq.Accept(std::move(r));
    seq.pending_eval_ = !seq.done();
  }
}

void Stepper::Advance(std::span<Sequence* const> seqs, std::vector<StepOutput>* outputs) {
  std::vector<Context*> contexts;
  std::vector<int32_t> tokens;
  std::vector<size_t> going;
  for (size_t i = 0; i < seqs.size(); ++i) {
    Sequence& seq = *seqs[i];
    if (!seq.pending_eval_) continue;
    seq.pending_eval_ = false;
    if (seq.done()) continue;  // failed or cancelled since its draw
    contexts.push_back(seq.context_.get());
    tokens.push_back(seq.tokens_.back());
    going.push_back(i);
  }
  if (going.empty()) return;
  const Status s = Context::EvalBatch(contexts, tokens, &logits_);
  const size_t n_vocab = s.ok() ? logits_.size() / going.size() : 0;
  for (size_t k = 0; k < going.size(); ++k) {
    Sequence& seq = *seqs[going[k]];
    if (!s.ok()) {
      seq.Fail(s);
      if (outputs && going[k] < outputs->size()) (*outputs)[going[k]].status = s;
      continue;
    }
    seq.rows_[seq.current_].assign(logits_.begin() + ptrdiff_t(k * n_vocab),
                                   logits_.begin() + ptrdiff_t((k + 1) * n_vocab));
  }
}

Status RunToEnd(Sequence& seq, ThreadPool* pool, const std::function<void(const StepOutput&)>& on_step) {
  Stepper stepper(pool);
  std::vector<StepOutput> outputs;
  Sequence* one = &seq;
  while (seq.started() && !seq.done()) {
    stepper.Step(std::span(&one, 1), &outputs);
    if (on_step) on_step(outputs[0]);
  }
  return seq.status();
}

}  // namespace logitkit
