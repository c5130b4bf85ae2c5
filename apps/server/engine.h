// The server's engine: one thread that owns the model and runs every request
// in flight together. Each choice of a request is a logitkit::Sequence (the
// library's generator, logitkit/generate.h); each step advances all of them
// with one Stepper::Step (one DecodeBatch, one EvalBatch), so the weights are
// read once per step for all. New requests are prefilled (their prompts
// evaluated) between steps.
//
// Determinism: the generator's: a choice's draws are keyed by (seed, choice
// index, position) and its logits do not depend on what shares its steps, so
// a seeded request gives the same tokens whatever else is running, and the
// same as `logitkit generate --seed` and Python's Model.generate.
#ifndef LOGITKIT_APPS_SERVER_ENGINE_H_
#define LOGITKIT_APPS_SERVER_ENGINE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "logitkit/generate.h"
#include "logitkit/head.h"
#include "logitkit/model.h"
#include "logitkit/next_token.h"
#include "logitkit/status.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace logitkit::server {

// What the logprobs of a request report (the extension `logprobs_mode`):
//   raw_logprobs        log softmax of the model's logits (T = 1, nothing applied)
//   processed_logprobs  log of the final sampling distribution (after penalties,
//                       bias, temperature, filters; -inf outside the kept set)
//   raw_logits          the model's logits
//   processed_logits    the logits after penalties, bias and temperature
//                       (-inf outside the kept set)
// Prompt tokens (echo) always get the raw value of the mode's kind.
enum class LogprobsMode { kRawLogprobs, kProcessedLogprobs, kRawLogits, kProcessedLogits };

struct Alternative {
  int32_t token;
  float value;
};

// One token of a choice (or of the prompt, with echo), with the value that
// logprobs_mode selects.
struct TokenInfo {
  int32_t token = -1;
  float value = 0;                // NaN: none (the first prompt token)
  std::vector<Alternative> top;  // top_logprobs alternatives, in rank order
};

struct GenerationSpec {
  // One or more prompts (a completions batch), each non-empty. Prompt p's
  // choice c is choice index p * n + c of the request, drawn with stream c,
  // so it equals choice c of a request for prompt p alone.
  std::vector<std::vector<int32_t>> prompts;
  int n = 1;                    // choices per prompt, each its own sequence
  // Sampling parameters, seed, max_tokens (0: prefill only, for prompt
  // logprobs; prompt + max_tokens <= context), stop strings, ignore_eos,
  // strip_space_prefix. The engine sets the stream, the logprob outputs and
  // prompt_logprobs from the fields below.
  GenerateOptions generate;
  int top_logprobs = -1;          // -1: no logprobs; else 0..20 alternatives
  LogprobsMode logprobs_mode = LogprobsMode::kRawLogprobs;
  bool prompt_logprobs = false;   // also the prompt tokens' values (echo)
  // A view of the next token instead of a generation (POST /next_token): with
  // max_tokens 0, one prompt and n = 1, the prompt is evaluated and one kView
  // event carries analysis::ViewNextToken of its last position at each of
  // these temperatures, with the sampler's processors and filters.
  std::vector<double> view_temperatures;  // empty: no view
  size_t view_rows = 0;                   // tokens per view, 1 .. n_vocab

  size_t sequences() const { return prompts.size() * size_t(n); }
};

struct Event {
  enum class Kind { kPrompt, kToken, kFinish, kError, kView };
  Kind kind = Kind::kToken;
  int choice = 0;                  // kToken, kFinish: the choice's index; kPrompt: the prompt's
  TokenInfo token;                 // kToken
  std::string text;                // kToken, kFinish: text released to the client
  std::vector<TokenInfo> prompt;   // kPrompt: one per prompt token
  std::vector<analysis::NextTokenView> views;  // kView: one per view temperature
  std::string finish_reason;       // kFinish: "stop" or "length"
  std::string stop_string;         // kFinish: the stop string that ended the text, if one did
  Status error;                    // kError: the request is over
};

// A request in flight, shared by the HTTP handler (reads events) and the
// engine (writes them).
class Request {
 public:
  explicit Request(GenerationSpec spec) : spec_(std::move(spec)) {}
  const GenerationSpec& spec() const { return spec_; }

  // The next event, waiting at most `timeout`; false on timeout.
  bool Next(Event* event, std::chrono::milliseconds timeout);
  // The client is gone: the engine drops the request's sequences at its next step.
  void Cancel() { cancelled_ = true; }
  bool cancelled() const { return cancelled_; }

  void Push(Event event);

 private:
  GenerationSpec spec_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Event> events_;
  std::atomic<bool> cancelled_{false};
};

struct EngineOptions {
  size_t max_sequences = 16;  // sequences decoded together (a request of n choices takes n)
  size_t max_queue = 256;     // requests waiting beyond those: more are refused
  Activations activations = Activations::kFloat32;
};

struct EngineStats {
  size_t active_sequences = 0, queued_requests = 0;
  uint64_t requests_done = 0, tokens_generated = 0, prompt_tokens = 0, steps = 0;
};

class Engine {
 public:
  // model, tokenizer and pool must outlive the engine.
  Engine(const Model& model, const tokenizer::Tokenizer& tok, ThreadPool* pool, EngineOptions options);
  ~Engine();  // Shutdown()

  // Finishes the step in progress, ends every request in flight or waiting
  // with a kFailedPrecondition error ("shutting down"), and refuses new ones.
  void Shutdown();

  // Queues a request. Errors: kResourceExhausted when max_queue requests
  // wait already; kInvalidArgument / kOutOfRange for a spec the model cannot
  // run (checked again here: an empty prompt, a token outside the vocabulary,
  // prompt + max_tokens beyond the context, n beyond max_sequences).
  StatusOr<std::shared_ptr<Request>> Submit(GenerationSpec spec);
  EngineStats Stats();
  size_t context_length() const;

 private:
  struct Choice;
  void Loop();
  void Prefill(const std::shared_ptr<Request>& request);
  void Step();
  // Queues an error event and cancels the request.
  void Fail(const std::shared_ptr<Request>& request, Status status);
  // Events wait in outbox_ until the step's counts are updated (Deliver).
  void Post(const std::shared_ptr<Request>& request, Event event);
  void Deliver();
  // The last token's value and alternatives as the request's logprobs_mode
  // asks (nothing without logprobs).
  TokenInfo Describe(const Choice& choice) const;

  const Model& model_;
  const tokenizer::Tokenizer& tok_;
  ThreadPool* pool_;
  EngineOptions options_;
  Stepper stepper_;
  DecodeHead view_head_;  // the next-token views (GenerationSpec::view_temperatures)

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Request>> queue_;
  bool stopping_ = false;
  std::once_flag shutdown_;
  EngineStats stats_;

  std::vector<std::unique_ptr<Choice>> active_;  // engine thread only
  std::vector<std::pair<std::shared_ptr<Request>, Event>> outbox_;  // engine thread only
  std::thread thread_;
};

}  // namespace logitkit::server

#endif  // LOGITKIT_APPS_SERVER_ENGINE_H_
