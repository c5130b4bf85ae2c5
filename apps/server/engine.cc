#include "server/engine.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace logitkit::server {
namespace {

constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();

bool IsLogitsMode(LogprobsMode m) { return m == LogprobsMode::kRawLogits || m == LogprobsMode::kProcessedLogits; }
bool IsProcessed(LogprobsMode m) {
  return m == LogprobsMode::kProcessedLogprobs || m == LogprobsMode::kProcessedLogits;
}

// The prompt's records as the mode reports them: raw logits or raw logprobs.
std::vector<TokenInfo> PromptInfo(const std::vector<PromptToken>& records, LogprobsMode mode) {
  const bool logits = IsLogitsMode(mode);
  std::vector<TokenInfo> info;
  for (const PromptToken& r : records) {
    TokenInfo t{r.token, std::isnan(r.logprob) ? kNaN : logits ? r.logit : r.logprob, {}};
    for (const PromptToken::Alternative& a : r.top) t.top.push_back({a.token, logits ? a.logit : a.logprob});
    info.push_back(std::move(t));
  }
  return info;
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

// One choice of a request: its sequence (KV cache, tokens, text state).
struct Engine::Choice {
  std::shared_ptr<Request> request;
  int index = 0;
  Sequence seq;
};

Engine::Engine(const Model& model, const tokenizer::Tokenizer& tok, ThreadPool* pool, EngineOptions options)
    : model_(model), tok_(tok), pool_(pool), options_(options), stepper_(pool), view_head_(pool) {
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
    for (auto& choice : active_) Fail(choice->request, s);
    active_.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (auto& request : queue_) Fail(request, s);
      queue_.clear();
    }
    Deliver();
  });
}

void Engine::Fail(const std::shared_ptr<Request>& request, Status status) {
  Event e;
  e.kind = Event::Kind::kError;
  e.error = std::move(status);
  Post(request, std::move(e));
  request->Cancel();
}

void Engine::Post(const std::shared_ptr<Request>& request, Event event) {
  outbox_.emplace_back(request, std::move(event));
}

void Engine::Deliver() {
  for (auto& [request, event] : outbox_) request->Push(std::move(event));
  outbox_.clear();
}

size_t Engine::context_length() const { return model_.config().context_length; }

StatusOr<std::shared_ptr<Request>> Engine::Submit(GenerationSpec spec) {
  const ModelConfig& c = model_.config();
  if (spec.prompts.empty()) return InvalidArgumentError("no prompt");
  for (const std::vector<int32_t>& prompt : spec.prompts) {
    if (prompt.empty()) return InvalidArgumentError("the prompt is empty (no tokens)");
    for (size_t i = 0; i < prompt.size(); ++i) {
      if (prompt[i] < 0 || uint32_t(prompt[i]) >= c.n_vocab) {
        return InvalidArgumentError("prompt token " + std::to_string(i) + " = " + std::to_string(prompt[i]) +
                                    " is outside [0, " + std::to_string(c.n_vocab) + ")");
      }
    }
    if (prompt.size() + spec.generate.max_tokens > c.context_length) {
      return OutOfRangeError("the prompt's " + std::to_string(prompt.size()) + " tokens + max_tokens " +
                             std::to_string(spec.generate.max_tokens) + " exceed the model's context of " +
                             std::to_string(c.context_length) + " tokens");
    }
  }
  if (!spec.view_temperatures.empty() &&
      (spec.prompts.size() != 1 || spec.n != 1 || spec.generate.max_tokens != 0 || spec.view_rows < 1 ||
       spec.view_rows > c.n_vocab)) {
    return InvalidArgumentError("a next-token view takes one prompt, n = 1, max_tokens = 0 and 1 to " +
                                std::to_string(c.n_vocab) + " rows, not " + std::to_string(spec.view_rows));
  }
  if (spec.n < 1 || spec.sequences() > options_.max_sequences) {
    return InvalidArgumentError(std::to_string(spec.prompts.size()) + " prompts x n = " + std::to_string(spec.n) +
                                " choices need " + std::to_string(spec.sequences()) +
                                " sequences; the server runs at most " + std::to_string(options_.max_sequences) +
                                " (--parallel)");
  }
  auto request = std::make_shared<Request>(std::move(spec));
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return FailedPreconditionError("the server is shutting down");
    // Requests beyond the free sequences wait; at most max_queue of them.
    // Those cancelled while waiting (their clients left or timed out) go first.
    std::erase_if(queue_, [](const std::shared_ptr<Request>& r) { return r->cancelled(); });
    const size_t free = options_.max_sequences - std::min(options_.max_sequences, stats_.active_sequences);
    if (queue_.size() >= options_.max_queue + free) {
      return Status(StatusCode::kResourceExhausted, "the server is busy: " + std::to_string(queue_.size()) +
                                                        " requests are waiting (--queue)");
    }
    queue_.push_back(request);
    stats_.queued_requests = queue_.size();
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
      while (!queue_.empty() && in_use + queue_.front()->spec().sequences() <= options_.max_sequences) {
        in_use += queue_.front()->spec().sequences();
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
        std::erase_if(active_, [&](const std::unique_ptr<Choice>& c) { return c->request == request; });
        Fail(request, Status(StatusCode::kResourceExhausted,
                             std::string("the request cannot be run: ") + e.what() +
                                 " (a KV cache of prompt + max_tokens positions; lower max_tokens)"));
      }
    }
    try {
      Step();
    } catch (const std::exception& e) {
      for (auto& choice : active_) Fail(choice->request, InternalError(std::string("the step failed: ") + e.what()));
      active_.clear();
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.active_sequences = active_.size();
    }
    // The counts first, then the events: a client that sees its request end
    // and sends the next one finds its sequences free again.
    Deliver();
  }
}

void Engine::Prefill(const std::shared_ptr<Request>& request) {
  const GenerationSpec& spec = request->spec();
  if (request->cancelled()) return;
  std::vector<std::unique_ptr<Choice>> choices;
  size_t prompt_tokens = 0;
  for (size_t p = 0; p < spec.prompts.size(); ++p) {
    for (int c = 0; c < spec.n; ++c) {
      GenerateOptions options = spec.generate;
      options.stream = uint64_t(c);
      options.sampler.top_logprobs = std::max(spec.top_logprobs, 0);
      options.sampler.alternatives_from =
          IsProcessed(spec.logprobs_mode) ? Alternatives::kFinal : Alternatives::kRaw;
      options.prompt_logprobs = spec.prompt_logprobs && c == 0 ? std::max(spec.top_logprobs, 0) : -1;
      const int index = int(p) * spec.n + c;
      auto choice =
          std::make_unique<Choice>(Choice{request, index, Sequence(tok_, spec.prompts[p], std::move(options))});
      // A request cancelled meanwhile (its client left or timed out) stops
      // between passes of its prompt.
      const auto go_on = [&request](size_t) { return !request->cancelled(); };
      if (Status s = choice->seq.Start(model_, pool_, options_.activations, go_on); !s.ok()) {
        Event e;
        e.kind = Event::Kind::kError;
        e.error = spec.prompts.size() > 1 ? s.WithContext("prompt " + std::to_string(p) + ": ") : s;
        Post(request, std::move(e));
        return;
      }
      if (!spec.view_temperatures.empty()) {
        Event e;
        e.kind = Event::Kind::kView;
        SamplerParams filters = spec.generate.sampler;
        filters.eos_tokens = EndOfGenerationTokens(tok_);  // for min_tokens, as a draw would have them
        for (double t : spec.view_temperatures) {
          StatusOr<analysis::NextTokenView> view =
              analysis::ViewNextToken(view_head_, choice->seq.next_row(), filters, choice->seq.StateOf(0), t,
                                      spec.view_rows);
          if (!view.ok()) {
            e.kind = Event::Kind::kError;
            e.error = view.status();
            break;
          }
          e.views.push_back(*std::move(view));
        }
        const bool failed = e.kind == Event::Kind::kError;
        Post(request, std::move(e));
        if (failed) return;
      }
      if (c == 0 && spec.prompt_logprobs) {
        Event e;
        e.kind = Event::Kind::kPrompt;
        e.choice = int(p);
        e.prompt = PromptInfo(choice->seq.prompt_records(), spec.logprobs_mode);
        Post(request, std::move(e));
      }
      choices.push_back(std::move(choice));
    }
    prompt_tokens += spec.prompts[p].size();
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.prompt_tokens += prompt_tokens;
  }
  for (auto& choice : choices) {
    if (choice->seq.done()) {  // max_tokens 0: the prompt's logprobs only
      Event e;
      e.kind = Event::Kind::kFinish;
      e.choice = choice->index;
      e.finish_reason = FinishReasonName(choice->seq.finish_reason());
      Post(request, std::move(e));
    } else {
      active_.push_back(std::move(choice));
    }
  }
}

TokenInfo Engine::Describe(const Choice& choice) const {
  const GenerationSpec& spec = choice.request->spec();
  const Sequence& seq = choice.seq;
  const DecodeResult& r = seq.records().back();
  TokenInfo info;
  info.token = r.token;
  if (spec.top_logprobs < 0) return info;
  const std::span<const float> row = seq.last_row();
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
      // The processors again on a copy of the row the token was drawn from,
      // with the state of that draw, then / T: what the head's stages saw.
      std::vector<float> processed(row.begin(), row.end());
      (void)ApplyProcessors(processed, seq.options().sampler, seq.StateOf(seq.records().size() - 1));
      const float t = seq.options().sampler.temperature;
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

void Engine::Step() {
  // Cancelled requests leave at once.
  std::erase_if(active_, [](const std::unique_ptr<Choice>& c) { return c->request->cancelled(); });
  if (active_.empty()) return;
  std::vector<Sequence*> seqs;
  for (auto& choice : active_) seqs.push_back(&choice->seq);
  std::vector<StepOutput> outputs;
  stepper_.Draw(seqs, &outputs);  // the tokens go out before the next forward pass
  uint64_t generated = 0;
  for (size_t i = 0; i < active_.size(); ++i) {
    Choice& choice = *active_[i];
    const StepOutput& out = outputs[i];
    if (choice.request->cancelled()) continue;  // a sibling's error ended the request
    if (!out.status.ok()) {
      Fail(choice.request, out.status);
      continue;
    }
    if (out.has_token) {
      Event e;
      e.kind = Event::Kind::kToken;
      e.choice = choice.index;
      e.token = Describe(choice);
      e.text = out.text;  // with the held-back text when this token ended the choice
      Post(choice.request, std::move(e));
      ++generated;
    }
    if (out.finish != FinishReason::kNone) {
      Event e;
      e.kind = Event::Kind::kFinish;
      e.choice = choice.index;
      if (!out.has_token) e.text = out.text;  // the held-back text, at an end token
      e.finish_reason = FinishReasonName(out.finish);
      e.stop_string = choice.seq.stop_string();
      Post(choice.request, std::move(e));
    }
  }
  // A request is done when its last choice is.
  std::vector<std::shared_ptr<Request>> finished;
  for (const auto& choice : active_) {
    if (choice->seq.done() || choice->request->cancelled()) finished.push_back(choice->request);
  }
  std::erase_if(active_, [](const std::unique_ptr<Choice>& c) { return c->seq.done() || c->request->cancelled(); });
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.tokens_generated += generated;
    stats_.active_sequences = active_.size();
    ++stats_.steps;
    std::sort(finished.begin(), finished.end());
    finished.erase(std::unique(finished.begin(), finished.end()), finished.end());
    for (const auto& request : finished) {
      const bool still_running = std::any_of(
          active_.begin(), active_.end(), [&](const std::unique_ptr<Choice>& c) { return c->request == request; });
      if (!still_running) ++stats_.requests_done;
    }
  }
  Deliver();  // the tokens, after the counts
  std::vector<Sequence*> going;
  for (auto& choice : active_) going.push_back(&choice->seq);
  stepper_.Advance(going, nullptr);
  for (auto& choice : active_) {  // a failed forward pass ends its requests
    if (!choice->seq.status().ok()) Fail(choice->request, choice->seq.status());
  }
  std::erase_if(active_, [](const std::unique_ptr<Choice>& c) { return !c->seq.status().ok(); });
}

}  // namespace logitkit::server
