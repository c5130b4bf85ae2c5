#include "server/http.h"

#include <httplib.h>
#include <pthread.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <chrono>
#include <random>
#include <thread>
#include <set>
#include <string>

namespace logitkit::server {
namespace {

using Clock = std::chrono::system_clock;

// JSON text for a response: strings that are not UTF-8 (none should be: bodies
// are checked) are written with U+FFFD rather than throwing.
std::string Text(const Json& j) { return j.dump(-1, ' ', false, Json::error_handler_t::replace); }

void SendError(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  // The openai client retries a 408 twice by default, unless told not to: a
  // request past --request-timeout would only take as long again.
  if (e.status == 408) res.set_header("x-should-retry", "false");
  res.set_content(Text(e.ToJson()), "application/json");
}

ApiError FromStatus(const Status& s) {
  ApiError e;
  e.message = s.message();
  switch (s.code()) {
    case StatusCode::kResourceExhausted:
      e.status = 429;
      e.type = "rate_limit_error";
      break;
    case StatusCode::kFailedPrecondition:
      e.status = 503;
      e.type = "server_error";
      break;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: break;
    default:
      e.status = 500;
      e.type = "server_error";
  }
  return e;
}

// Whether the two strings are equal, in time that depends on their lengths
// only (not on where they differ): an API key cannot be guessed byte by byte.
bool SameKey(const std::string& given, const std::string& key) {
  unsigned char diff = given.size() == key.size() ? 0 : 1;
  for (size_t i = 0; i < given.size(); ++i) diff |= uint8_t(given[i] ^ key[i % key.size()]);
  return diff == 0;
}

std::string NewId(const char* prefix) {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%s-%016llx", prefix,
                (unsigned long long)(salt * 0x9E3779B97F4A7C15ull + ++counter));
  return buf;
}

// The connection threads: max_connections serve requests, kSpareThreads more
// answer the requests of connections beyond them with a 429 (or GET /health).
// A connection holds one of the max_connections slots from its start, or
// takes one at its next request once one is free (HasSlot).
class ConnectionPool : public httplib::TaskQueue {
 public:
  static constexpr int kSpareThreads = 8;

  ConnectionPool(int max_connections, std::atomic<int>* open)
      : max_(max_connections), open_(open), pool_(size_t(max_connections + kSpareThreads)) {}

  // fn reads and answers one connection's requests, then closes it.
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue([this, fn = std::move(fn)] {
      has_slot_ = TakeSlot();
      fn();
      if (has_slot_) --*open_;
    });
  }
  void shutdown() override { pool_.shutdown(); }

  // Whether the connection whose request this thread serves holds a slot
  // (taking one if it can).
  bool HasSlot() { return has_slot_ || (has_slot_ = TakeSlot()); }
  // Gives the slot back (a connection refused its request holds none).
  void ReleaseSlot() {
    if (has_slot_) --*open_;
    has_slot_ = false;
  }

 private:
  bool TakeSlot() {
    int n = open_->load();
    while (n < max_) {
      if (open_->compare_exchange_weak(n, n + 1)) return true;
    }
    return false;
  }

  static inline thread_local bool has_slot_ = false;
  const int max_;
  std::atomic<int>* open_;  // slots taken: the connections being served
  httplib::ThreadPool pool_;
};

// The pre-routing handler's refusal (429, 401) of the request this thread
// serves, answered after its body is read; empty when it was not refused.
thread_local std::optional<ApiError> t_refusal;

enum class Wait { kEvent, kGone, kTimedOut };

// Waits for the request's next event, asking `alive` (the client is still
// there) before each event and every 200 ms. kGone (the client left) and
// kTimedOut (past `deadline`) cancel the request.
template <class Alive>
Wait NextEvent(Request& r, Event* e, std::chrono::steady_clock::time_point deadline, Alive alive) {
  for (;;) {
    if (!alive()) {
      r.Cancel();
      return Wait::kGone;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      r.Cancel();
      return Wait::kTimedOut;
    }
    if (r.Next(e, std::chrono::milliseconds(200))) return Wait::kEvent;
  }
}

ApiError TimeoutError(int request_timeout_s) {
  ApiError e;
  e.status = 408;
  e.type = "timeout_error";
  e.code = "request_timeout";
  e.message = "the request took longer than the limit of " + std::to_string(request_timeout_s) +
              " s (--request-timeout) and was cancelled";
  return e;
}

// POST /next_token: the prompt evaluated by the engine (between its steps,
// like any prefill), then the views of its next token (openai.h).
void NextToken(const std::string& body, httplib::Response& res, Engine& engine, const ApiContext& ctx,
               int request_timeout_s) {
  const auto deadline = request_timeout_s > 0
                            ? std::chrono::steady_clock::now() + std::chrono::seconds(request_timeout_s)
                            : std::chrono::steady_clock::time_point::max();
  GenerationSpec spec;
  if (std::optional<ApiError> e = ParseNextToken(body, ctx, &spec)) return SendError(res, *e);
  StatusOr<std::shared_ptr<Request>> job = engine.Submit(spec);
  if (!job.ok()) return SendError(res, FromStatus(job.status()));
  const std::shared_ptr<Request> r = *job;
  for (Event e;;) {
    if (NextEvent(*r, &e, deadline, [] { return true; }) == Wait::kTimedOut) {
      r->Cancel();
      return SendError(res, TimeoutError(request_timeout_s));
    }
    if (e.kind == Event::Kind::kError) return SendError(res, FromStatus(e.error));
    if (e.kind == Event::Kind::kView) return res.set_content(Text(NextTokenJson(spec, e.views, ctx)), "application/json");
  }
}

// Runs one completion request: JSON, or a stream of server-sent events. The
// response starts after the request's first event, so an error there (the
// decode head refusing its parameters, a prefill failure, shutdown) is a
// proper 4xx/5xx; a later error (rare: the forward pass failing) can only be
// an error object in the 200 body or stream.
// open_responses counts the responses whose body is still being written (a
// shutdown lets them write their error object before the server stops).
// A request_timeout_s of 0 is no limit.
void Complete(const std::string& body, httplib::Response& res, Endpoint endpoint, Engine& engine,
              const ApiContext& ctx, int request_timeout_s, std::atomic<int>& open_responses) {
  const auto deadline = request_timeout_s > 0
                            ? std::chrono::steady_clock::now() + std::chrono::seconds(request_timeout_s)
                            : std::chrono::steady_clock::time_point::max();
  auto request = std::make_shared<ApiRequest>();
  if (std::optional<ApiError> e = ParseRequest(body, endpoint, ctx, request.get())) return SendError(res, *e);
  StatusOr<std::shared_ptr<Request>> job = engine.Submit(request->spec);
  if (!job.ok()) return SendError(res, FromStatus(job.status()));
  const int64_t created = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  auto writer = std::make_shared<ResponseWriter>(*request, ctx,
                                                 NewId(endpoint == Endpoint::kChat ? "chatcmpl" : "cmpl"), created);
  std::shared_ptr<Request> r = *job;
  auto first = std::make_shared<Event>();
  if (NextEvent(*r, first.get(), deadline, [] { return true; }) == Wait::kTimedOut) {  // queued, then prefilled
    return SendError(res, TimeoutError(request_timeout_s));
  }
  if (first->kind == Event::Kind::kError) return SendError(res, FromStatus(first->error));
  const int n = int(request->spec.sequences());  // every choice of every prompt
  auto finished = std::make_shared<int>(0);
  if (!request->stream) {
    // The body is written when every choice is done. Meanwhile a space (JSON
    // allows whitespace before the value) goes out every second: a client that
    // left makes that write fail, and its sequences are freed.
    writer->Add(*first);
    if (first->kind == Event::Kind::kFinish) ++*finished;
    ++open_responses;
    res.set_chunked_content_provider(
        "application/json",
        [r, writer, request, finished, n, deadline, request_timeout_s](size_t, httplib::DataSink& sink) {
          // (writer reads *request)
          Event e;
          std::string body;
          auto last_write = std::chrono::steady_clock::now();
          auto alive = [&] {
            const auto now = std::chrono::steady_clock::now();
            if (now - last_write < std::chrono::seconds(1)) return sink.is_writable();
            last_write = now;
            return sink.write(" ", 1);
          };
          while (*finished < n) {
            const Wait w = NextEvent(*r, &e, deadline, alive);
            if (w == Wait::kGone) return false;
            if (w == Wait::kTimedOut) {
              body = Text(TimeoutError(request_timeout_s).ToJson());
              break;
            }
            if (e.kind == Event::Kind::kError) {
              body = Text(FromStatus(e.error).ToJson());
              break;
            }
            writer->Add(e);
            if (e.kind == Event::Kind::kFinish) ++*finished;
          }
          if (body.empty()) body = writer->Build().dump(-1, ' ', false, Json::error_handler_t::replace);
          const bool ok = sink.write(body.data(), body.size());
          sink.done();
          return ok;
        },
        [r, &open_responses](bool) {
          r->Cancel();
          --open_responses;
        });
    return;
  }
  res.set_header("Cache-Control", "no-cache");
  ++open_responses;
  res.set_chunked_content_provider(
      "text/event-stream",
      [r, writer, request, finished, first, n, deadline, request_timeout_s](size_t, httplib::DataSink& sink) {
        auto send = [&](const std::string& data) { return sink.write(data.data(), data.size()); };
        Event e;
        std::optional<ApiError> error;
        if (first->kind != Event::Kind::kError) {  // the event that started the response, once
          e = std::move(*first);
          first->kind = Event::Kind::kError;
        } else {
          const Wait w = NextEvent(*r, &e, deadline, [&] { return sink.is_writable(); });
          if (w == Wait::kGone) return false;
          if (w == Wait::kTimedOut) error = TimeoutError(request_timeout_s);
        }
        if (!error && e.kind == Event::Kind::kError) error = FromStatus(e.error);
        bool ok = true;
        if (error) {
          ok = send("data: " + Text(error->ToJson()) + "\n\n") && send("data: [DONE]\n\n");
          sink.done();
          return ok;
        }
        for (const Json& chunk : writer->Chunks(e)) {
          ok = ok && send("data: " + chunk.dump(-1, ' ', false, Json::error_handler_t::replace) + "\n\n");
        }
        if (e.kind == Event::Kind::kFinish && ++*finished == n) {
          if (request->include_usage) ok = ok && send("data: " + Text(writer->UsageChunk()) + "\n\n");
          ok = ok && send("data: [DONE]\n\n");
          sink.done();
        }
        if (!ok) r->Cancel();
        return ok;
      },
      [r, &open_responses](bool) {  // released: done, or the client went away
        r->Cancel();
        --open_responses;
      });
}

}  // namespace

Status Serve(const HttpOptions& options, Engine& engine, const ApiContext& ctx,
             const std::function<void(int port)>& on_listening) {
  // SIGINT / SIGTERM stop the server from a thread of their own.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  httplib::Server server;
  std::atomic<int> open_connections{0};  // ConnectionPool's slots taken
  ConnectionPool* pool = nullptr;        // owned by the server while it listens
  server.new_task_queue = [&] { return pool = new ConnectionPool(options.max_connections, &open_connections); };
  server.set_payload_max_length(options.max_body_bytes);
  server.set_read_timeout(options.idle_timeout_s, 0);
  server.set_keep_alive_timeout(options.idle_timeout_s);
  server.set_keep_alive_max_count(1000);
  server.set_error_handler([&](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;  // a handler's own error object
    ApiError e;
    e.status = res.status;
    if (res.status == 404) {
      e.message = "no route " + req.method + " " + req.path +
                  " (see /v1/models, /v1/completions, /v1/chat/completions, /tokenize, /detokenize, /health)";
      e.code = "not_found";
    } else if (res.status == 413) {
      e.message = "the body is larger than the limit of " + std::to_string(options.max_body_bytes) + " bytes (--max-body)";
    } else if (res.status == 400) {
      e.message = "the request could not be read: malformed HTTP, or the client was silent for more than " +
                  std::to_string(options.idle_timeout_s) + " s (--idle-timeout)";
    } else {
      e.message = "HTTP " + std::to_string(res.status);
    }
    res.set_content(Text(e.ToJson()), "application/json");
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    ApiError e;
    e.status = 500;
    e.type = "server_error";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& ex) {
      e.message = std::string("internal error: ") + ex.what();
    } catch (...) {
      e.message = "internal error";
    }
    res.status = 500;
    res.set_content(Text(e.ToJson()), "application/json");
  });

  std::atomic<int> open_responses{0};  // see Complete
  // Before anything is read: GET /health is always answered; other requests
  // need the key (--api-key), then a connection slot (--max-connections).
  // A refused POST to one of our routes is answered once its body is read
  // (at most --max-body), so the connection can serve its next request;
  // anything else refused is answered at once, with "Connection: close".
  std::set<std::string> post_paths;  // filled by `post` below, before the server listens
  const auto too_many_connections = [&] {
    ApiError e = FromStatus(Status(StatusCode::kResourceExhausted,
                                   "the server has " + std::to_string(options.max_connections) +
                                       " connections open already (--max-connections); retry later"));
    e.code = "too_many_connections";
    return e;
  };
  server.set_pre_routing_handler([&](const httplib::Request& req, httplib::Response& res) {
    t_refusal.reset();
    if (req.path == "/health") return httplib::Server::HandlerResponse::Unhandled;
    const auto refuse = [&](const ApiError& e) {
      if (req.method == "POST" && post_paths.count(req.path)) {
        t_refusal = e;
        return httplib::Server::HandlerResponse::Unhandled;
      }
      SendError(res, e);
      res.set_header("Connection", "close");
      return httplib::Server::HandlerResponse::Handled;
    };
    if (!options.api_key.empty()) {
      const std::string auth = req.get_header_value("Authorization");
      const std::string kBearer = "Bearer ";
      if (auth.compare(0, kBearer.size(), kBearer) == 0 && SameKey(auth.substr(kBearer.size()), options.api_key)) {
        return pool->HasSlot() ? httplib::Server::HandlerResponse::Unhandled : refuse(too_many_connections());
      }
      pool->ReleaseSlot();  // a client without the key holds no slot
      ApiError e;
      e.status = 401;
      e.message = auth.empty() ? "no API key: send the header 'Authorization: Bearer KEY' (--api-key)"
                               : "incorrect API key provided";
      e.code = "invalid_api_key";
      return refuse(e);
    }
    if (!pool->HasSlot()) return refuse(too_many_connections());
    return httplib::Server::HandlerResponse::Unhandled;
  });
  // The bodies are read raw, whatever the Content-Type says: clients send
  // JSON as text/plain or form-encoded too, and httplib's own form parsing
  // would refuse those above 8 KB. --max-body still applies (413).
  const auto post = [&](const char* path, std::function<void(const std::string& body, httplib::Response&)> handle) {
    post_paths.insert(path);
    server.Post(path, [handle](const httplib::Request&, httplib::Response& res, const httplib::ContentReader& read) {
      std::string body;
      if (!read([&](const char* data, size_t n) {
            body.append(data, n);
            return true;
          })) {
        return;  // over --max-body (413) or a read that failed (400): the error handler writes the object
      }
      if (t_refusal) return SendError(res, *t_refusal);  // see the pre-routing handler
      handle(body, res);
    });
  };
  for (const auto& [path, endpoint] : {std::pair{"/v1/completions", Endpoint::kCompletions},
                                       std::pair{"/v1/chat/completions", Endpoint::kChat}}) {
    post(path, [&, endpoint = endpoint](const std::string& body, httplib::Response& res) {  // (clang 14)
      Complete(body, res, endpoint, engine, ctx, options.request_timeout_s, open_responses);
    });
  }
  post("/next_token", [&](const std::string& body, httplib::Response& res) {
    NextToken(body, res, engine, ctx, options.request_timeout_s);
  });
  // The tokenizer (vLLM's and llama.cpp's shapes; see openai.h).
  for (const auto& [path, run] : {std::pair{"/tokenize", &Tokenize}, std::pair{"/detokenize", &Detokenize}}) {
    post(path, [&, run = run](const std::string& body, httplib::Response& res) {
      Json out;
      if (std::optional<ApiError> e = run(body, ctx, &out)) return SendError(res, *e);
      res.set_content(Text(out), "application/json");
    });
  }
  server.Get("/tokenizer_info", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(Text(TokenizerInfo(ctx)), "application/json");
  });
  const int64_t started = std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
  const Json model = {{"id", ctx.model_id}, {"object", "model"}, {"created", started}, {"owned_by", "logitkit"},
                      {"max_model_len", ctx.context_length}};
  server.Get("/v1/models", [&](const httplib::Request&, httplib::Response& res) {
    res.set_content(Text(Json{{"object", "list"}, {"data", Json::array({model})}}), "application/json");
  });
  server.Get(R"(/v1/models/(.+))", [&](const httplib::Request& req, httplib::Response& res) {
    if (req.matches[1] == ctx.model_id) return res.set_content(Text(model), "application/json");
    ApiError e;
    e.status = 404;
    e.message = "the model '" + std::string(req.matches[1]) + "' does not exist; this server serves '" +
                ctx.model_id + "'";
    e.code = "model_not_found";
    SendError(res, e);
  });
  server.Get("/health", [&](const httplib::Request&, httplib::Response& res) {
    const EngineStats s = engine.Stats();
    res.set_content(Json{{"status", "ok"},
                         {"model", ctx.model_id},
                         {"active_sequences", s.active_sequences},
                         {"queued_requests", s.queued_requests},
                         {"open_connections", open_connections.load()},
                         {"requests_done", s.requests_done},
                         {"prompt_tokens", s.prompt_tokens},
                         {"tokens_generated", s.tokens_generated},
                         {"steps", s.steps}}
                        .dump(-1, ' ', false, Json::error_handler_t::replace),
                    "application/json");
  });

  int port = options.port;
  if (port == 0) {
    port = server.bind_to_any_port(options.host);
    if (port < 0) return InvalidArgumentError("--host " + options.host + ": cannot bind to any port");
  } else if (!server.bind_to_port(options.host, port)) {
    return InvalidArgumentError("--host " + options.host + " --port " + std::to_string(port) +
                                ": cannot bind (in use, or not an address of this machine)");
  }
  // The first signal ends every request (503, or an error event in a
  // stream) and stops the server; a second one exits at once. A signal that
  // came while the model loaded is pending here, and acts once listening.
  std::atomic<bool> signalled{false}, listen_returned{false};
  std::thread stopper([&] {
    int sig = 0;
    sigwait(&signals, &sig);
    signalled = true;
    if (listen_returned) return;
    std::fprintf(stderr, "logitkit serve: stopping (a second signal exits at once)\n");
    std::thread([signals] {
      int again = 0;
      sigwait(&signals, &again);
      std::_Exit(128 + again);
    }).detach();
    engine.Shutdown();
    // Every request in flight now has its error event: give the responses
    // that began a moment to write it before the connections close.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(3);
    while (open_responses > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    while (!server.is_running() && !listen_returned) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    server.stop();
  });
  on_listening(port);
  const bool ok = server.listen_after_bind();
  listen_returned = true;
  if (!signalled) pthread_kill(stopper.native_handle(), SIGTERM);  // wakes sigwait: the server stopped by itself
  stopper.join();
  return ok ? OkStatus() : InternalError("the server stopped listening");
}

}  // namespace logitkit::server
