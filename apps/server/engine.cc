#include "server/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "server/stop_filter.h"

namespace logitkit::server {
namespace {

constexpr size_t kPrefillChunk = 64;  // prompt positions per forward pass
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

// The n largest entries of row (ties: lower id first), as alternatives.
std::vector<Alternative> TopOf(const std::vector<float>& row, size_t n) {
  if (n == 0) return {};
  std::vector<int32_t> ids(row.size());
  std::iota(ids.begin(), ids.end(), 0);
  n = std::min(n, ids.size());
  auto above = [&](int32_t a, int32_t b) { return row[a] > row[b] || (row[a] == row[b] && a < b); };
  std::partial_sort(ids.begin(), ids.begin() + n, ids.end(), above);
  std::vector<Alternative> top(n);
  for (size_t i = 0; i < n; ++i) top[i] = {ids[i], row[ids[i]]};
  return top;
}

bool IsLogitsMode(LogprobsMode m) { return m == LogprobsMode::kRawLogits || m == LogprobsMode::kProcessedLogits; }
bool IsProcessed(LogprobsMode m) {
  return m == LogprobsMode::kProcessedLogprobs || m == LogprobsMode::kProcessedLogits;
}

}  // namespace

bool Request::Next(Event* event, std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  if (!cv_.wait_for(lock, timeout, [&] { return !events_.empty(); })) return false;
  *event = std::move(events_.front());
  events_.pop_front();
  return true;
}

void Request::Push(Event event) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    events_.push_back(std::move(event));
  }
  cv_.notify_all();
}

// One choice of a request: its own KV cache, history and text state.
struct Engine::Sequence {
  std::shared_ptr<Request> request;
  int choice = 0;
  std::unique_ptr<Context> context;
  std::vector<int32_t> history;  // prompt, then generated tokens
  size_t n_generated = 0;
  std::vector<float> row;        // the logits of the next draw (n_vocab floats)
  tokenizer::StreamDecoder decoder;
  StopFilter stop;
  bool done = false;

  Sequence(const tokenizer::Tokenizer& tok, std::vector<std::string> stops, bool strip_space_prefix)
      : decoder(tok, tokenizer::DecodeOptions{.strip_space_prefix = strip_space_prefix}), stop(std::move(stops)) {}
};

Engine::Engine(const Model& model, const tokenizer::Tokenizer& tok, ThreadPool* pool, EngineOptions options)
    : model_(model), tok_(tok), pool_(pool), options_(options), head_(pool) {
  thread_ = std::thread([this] { Loop(); });
}

Engine::~Engine() { Shutdown(); }

void Engine::Shutdown() {
  std::call_once(shutdown_, [&] {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    thread_.join();
    const Status s = FailedPreconditionError("the server is shutting down");
    for (auto& seq : active_) Fail(seq->request, s);
    active_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& request : queue_) Fail(request, s);
    queue_.clear();
  });
}

void Engine::Fail(const std::shared_ptr<Request>& request, Status status) {
  Event e;
  e.kind = Event::Kind::kError;
  e.error = std::move(status);
  request->Push(std::move(e));
  request->Cancel();
}

size_t Engine::context_length() const { return model_.config().context_length; }

StatusOr<std::shared_ptr<Request>> Engine::Submit(GenerationSpec spec) {
  const ModelConfig& c = model_.config();
  if (spec.prompt.empty()) return InvalidArgumentError("the prompt is empty (no tokens)");
  for (size_t i = 0; i < spec.prompt.size(); ++i) {
    if (spec.prompt[i] < 0 || uint32_t(spec.prompt[i]) >= c.n_vocab) {
      return InvalidArgumentError("prompt token " + std::to_string(i) + " = " + std::to_string(spec.prompt[i]) +
                                  " is outside [0, " + std::to_string(c.n_vocab) + ")");
    }
  }
  if (spec.prompt.size() + spec.max_tokens > c.context_length) {
    return OutOfRangeError("the prompt's " + std::to_string(spec.prompt.size()) + " tokens + max_tokens " +
                           std::to_string(spec.max_tokens) + " exceed the model's context of " +
                           std::to_string(c.context_length) + " tokens");
  }
  if (spec.n < 1 || size_t(spec.n) > options_.max_sequences) {
    return InvalidArgumentError("n = " + std::to_string(spec.n) + " is outside [1, " +
                                std::to_string(options_.max_sequences) + "]");
  }
  auto request = std::make_shared<Request>(std::move(spec));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return FailedPreconditionError("the server is shutting down");
    // Requests beyond the free sequences wait; at most max_queue of them.
    const size_t free = options_.max_sequences - std::min(options_.max_sequences, stats_.active_sequences);
    if (queue_.size() >= options_.max_queue + free) {
      return Status(StatusCode::kResourceExhausted, "the server is busy: " + std::to_string(queue_.size()) +
                                                        " requests are waiting (--queue)");
    }
    queue_.push_back(request);
  }
  cv_.notify_all();
  return request;
}

EngineStats Engine::Stats() {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

void Engine::Loop() {
  for (;;) {
    std::vector<std::shared_ptr<Request>> admitted;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty() || !active_.empty(); });
      if (stopping_) return;
      size_t in_use = active_.size();
      while (!queue_.empty() && in_use + size_t(queue_.front()->spec().n) <= options_.max_sequences) {
        in_use += size_t(queue_.front()->spec().n);
        admitted.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
      stats_.queued_requests = queue_.size();
      stats_.active_sequences = in_use;
    }
    // An exception here (std::bad_alloc for a KV cache) ends the requests
    // involved with an error instead of the process.
    for (const auto& request : admitted) {
      try {
        Prefill(request);
      } catch (const std::exception& e) {
        std::erase_if(active_, [&](const std::unique_ptr<Sequence>& s) { return s->request == request; });
        Fail(request, Status(StatusCode::kResourceExhausted,
                             std::string("the request cannot be run: ") + e.what() +
                                 " (a KV cache of prompt + max_tokens positions; lower max_tokens)"));
      }
    }
    try {
      Step();
    } catch (const std::exception& e) {
      for (auto& seq : active_) Fail(seq->request, InternalError(std::string("the step failed: ") + e.what()));
      active_.clear();
    }
    std::lock_guard<std::mutex> lock(mu_);
    stats_.active_sequences = active_.size();
  }
}

void Engine::Prefill(const std::shared_ptr<Request>& request) {
  const GenerationSpec& spec = request->spec();
  if (request->cancelled()) return;
  const size_t n_vocab = model_.config().n_vocab;
  const size_t capacity = spec.prompt.size() + spec.max_tokens;
  std::vector<std::unique_ptr<Sequence>> seqs;
  std::vector<TokenInfo> prompt_info;
  for (int choice = 0; choice < spec.n; ++choice) {
    auto seq = std::make_unique<Sequence>(tok_, spec.stop, spec.strip_space_prefix);
    seq->request = request;
    seq->choice = choice;
    seq->context = std::make_unique<Context>(model_, capacity, pool_, options_.activations);
    seq->history = spec.prompt;
    // Every choice runs its prompt the same way (chunks of 64), so its first
    // logits are the same whatever n is.
    const bool with_values = spec.prompt_logprobs && choice == 0;
    if (with_values) prompt_info.push_back({spec.prompt[0], kNaN, {}});
    std::vector<float> logits, logprobs(n_vocab);
    for (size_t i = 0; i < spec.prompt.size(); i += kPrefillChunk) {
      const size_t n = std::min(kPrefillChunk, spec.prompt.size() - i);
      Status s = seq->context->Eval(std::span<const int32_t>(spec.prompt.data() + i, n),
                                    with_values ? Logits::kAll : Logits::kLast, &logits);
      if (!s.ok()) {
        Event e;
        e.kind = Event::Kind::kError;
        e.error = s;
        request->Push(std::move(e));
        return;
      }
      if (!with_values) continue;
      // Row t predicts prompt[i + t + 1].
      for (size_t t = 0; t < n && i + t + 1 < spec.prompt.size(); ++t) {
        std::vector<float> row(logits.begin() + t * n_vocab, logits.begin() + (t + 1) * n_vocab);
        if (!IsLogitsMode(spec.logprobs_mode)) {
          (void)LogSoftmax(row, 1.0f, std::span<float>(logprobs));
          row.swap(logprobs);
        }
        const int32_t next = spec.prompt[i + t + 1];
        prompt_info.push_back({next, row[next], TopOf(row, size_t(std::max(spec.top_logprobs, 0)))});
      }
    }
    seq->row.assign(logits.end() - n_vocab, logits.end());
    seqs.push_back(std::move(seq));
  }
  if (spec.prompt_logprobs) {
    Event e;
    e.kind = Event::Kind::kPrompt;
    e.prompt = std::move(prompt_info);
    request->Push(std::move(e));
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.prompt_tokens += spec.prompt.size();
  }
  for (auto& seq : seqs) {
    if (spec.max_tokens == 0) {  // the prompt's logprobs only
      Finish(*seq, "length");
    } else {
      active_.push_back(std::move(seq));
    }
  }
}

TokenInfo Engine::Describe(const Sequence& seq, std::span<const float> row, const DecodeResult& r,
                           const RowState& state) {
  const GenerationSpec& spec = seq.request->spec();
  TokenInfo info;
  info.token = r.token;
  if (spec.top_logprobs < 0) return info;
  switch (spec.logprobs_mode) {
    case LogprobsMode::kRawLogprobs:
      info.value = r.raw_logprob;
      for (const TokenLogprob& t : r.top) info.top.push_back({t.token, t.raw_logprob});
      break;
    case LogprobsMode::kProcessedLogprobs:
      info.value = r.logprob;
      for (const TokenLogprob& t : r.top) info.top.push_back({t.token, t.logprob});
      break;
    case LogprobsMode::kRawLogits:
      info.value = row[r.token];
      for (const TokenLogprob& t : r.top) info.top.push_back({t.token, row[t.token]});
      break;
    case LogprobsMode::kProcessedLogits: {
      std::vector<float> processed(row.begin(), row.end());
      (void)ApplyProcessors(processed, spec.sampler, state);
      const float t = spec.sampler.temperature;
      const auto value = [&](int32_t token, float logprob) {
        if (std::isinf(logprob) && logprob < 0) return -std::numeric_limits<float>::infinity();
        return t > 0 ? processed[token] / t : processed[token];
      };
      info.value = value(r.token, r.logprob);
      for (const TokenLogprob& a : r.top) info.top.push_back({a.token, value(a.token, a.logprob)});
      break;
    }
  }
  return info;
}

void Engine::Finish(Sequence& seq, const char* reason) {
  Event e;
  e.kind = Event::Kind::kFinish;
  e.choice = seq.choice;
  if (!seq.stop.stopped()) e.text = seq.stop.Push(seq.decoder.Flush()) + seq.stop.Flush();
  e.finish_reason = reason;
  seq.request->Push(std::move(e));
  seq.done = true;
}

void Engine::Step() {
  // Cancelled requests leave at once.
  std::erase_if(active_, [](const std::unique_ptr<Sequence>& s) { return s->request->cancelled(); });
  if (active_.empty()) return;
  const size_t n_vocab = model_.config().n_vocab, n = active_.size();
  std::vector<float> batch(n * n_vocab);
  std::vector<SamplerParams> params(n);
  std::vector<RowState> states(n);
  for (size_t i = 0; i < n; ++i) {
    Sequence& seq = *active_[i];
    const GenerationSpec& spec = seq.request->spec();
    std::copy(seq.row.begin(), seq.row.end(), batch.begin() + i * n_vocab);
    params[i] = spec.sampler;
    params[i].outputs = kOutputRawLogprob | kOutputLogprob;
    params[i].top_logprobs = std::max(spec.top_logprobs, 0);
    params[i].alternatives_from = IsProcessed(spec.logprobs_mode) ? Alternatives::kFinal : Alternatives::kRaw;
    states[i].history = seq.history;
    states[i].n_generated = int64_t(seq.n_generated);
    states[i].seed = spec.seed;
    states[i].stream = uint64_t(seq.choice);
    states[i].step = seq.history.size();
  }
  std::vector<DecodeResult> results;
  Status shape = head_.DecodeBatch(LogitsBatch::F32(batch, n, n_vocab), params, states, results);
  std::vector<Context*> next_contexts;
  std::vector<int32_t> next_tokens;
  std::vector<Sequence*> continuing;
  uint64_t generated = 0;
  for (size_t i = 0; i < n; ++i) {
    Sequence& seq = *active_[i];
    const GenerationSpec& spec = seq.request->spec();
    if (seq.done || seq.request->cancelled()) continue;  // a sibling's error ended the request
    if (!shape.ok() || !results[i].status.ok()) {
      Event e;
      e.kind = Event::Kind::kError;
      e.error = shape.ok() ? results[i].status : shape;
      seq.request->Push(std::move(e));
      seq.request->Cancel();
      continue;
    }
    const DecodeResult& r = results[i];
    if (!spec.ignore_eos && tok_.IsEndOfGeneration(r.token)) {
      Finish(seq, "stop");
      continue;
    }
    Event e;
    e.kind = Event::Kind::kToken;
    e.choice = seq.choice;
    e.token = Describe(seq, std::span<const float>(batch).subspan(i * n_vocab, n_vocab), r, states[i]);
    StatusOr<std::string> piece = seq.decoder.Push(r.token);
    e.text = seq.stop.Push(piece.ok() ? *piece : std::string());
    seq.request->Push(std::move(e));
    seq.history.push_back(r.token);
    ++seq.n_generated;
    ++generated;
    if (seq.stop.stopped()) {
      Finish(seq, "stop");
    } else if (seq.n_generated >= spec.max_tokens || seq.context->n_past() >= seq.context->max_tokens()) {
      Finish(seq, "length");
    } else {
      continuing.push_back(&seq);
      next_contexts.push_back(seq.context.get());
      next_tokens.push_back(r.token);
    }
  }
  if (!continuing.empty()) {
    std::vector<float> logits;
    Status s = Context::EvalBatch(next_contexts, next_tokens, &logits);
    for (size_t i = 0; i < continuing.size(); ++i) {
      if (!s.ok()) {
        Event e;
        e.kind = Event::Kind::kError;
        e.error = s;
        continuing[i]->request->Push(std::move(e));
        continuing[i]->done = true;
        continue;
      }
      continuing[i]->row.assign(logits.begin() + i * n_vocab, logits.begin() + (i + 1) * n_vocab);
    }
  }
  // A request is done when its last sequence is.
  std::vector<std::shared_ptr<Request>> finished;
  for (const auto& seq : active_) {
    if (seq->done || seq->request->cancelled()) finished.push_back(seq->request);
  }
  std::erase_if(active_, [](const std::unique_ptr<Sequence>& s) { return s->done || s->request->cancelled(); });
  std::lock_guard<std::mutex> lock(mu_);
  stats_.tokens_generated += generated;
  ++stats_.steps;
  std::sort(finished.begin(), finished.end());
  finished.erase(std::unique(finished.begin(), finished.end()), finished.end());
  for (const auto& request : finished) {
    const bool still_running = std::any_of(active_.begin(), active_.end(),
                                           [&](const std::unique_ptr<Sequence>& s) { return s->request == request; });
    if (!still_running) ++stats_.requests_done;
  }
}

}  // namespace logitkit::server
