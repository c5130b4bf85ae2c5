// The HTTP side of `logitkit serve`: OpenAI's routes over the engine.
//   POST /v1/completions, POST /v1/chat/completions (JSON, or server-sent
//   events with "stream": true, ending with "data: [DONE]"), GET /v1/models,
//   GET /health (the engine's counters).
// Each connection is served by a thread of its own pool; the handlers only
// wait for the engine's events. A client that disconnects mid-stream cancels
// its request at the engine's next step. Errors are OpenAI error objects:
// 400 invalid request, 404 unknown route or model, 408 past the request time
// limit, 413 body too large, 429 queue full or too many connections, 503
// shutting down.
#ifndef LOGITKIT_APPS_SERVER_HTTP_H_
#define LOGITKIT_APPS_SERVER_HTTP_H_

#include <cstddef>
#include <functional>
#include <string>

#include "logitkit/status.h"
#include "server/engine.h"
#include "server/openai.h"

namespace logitkit::server {

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                  // 0: any free port (printed)
  size_t max_body_bytes = 1 << 20;  // larger bodies get 413
  // Connections served at once. The requests of up to 8 connections beyond
  // them get 429, except GET /health, which is answered; beyond those,
  // connections wait to be read.
  int max_connections = 64;
  // Seconds a connection may be silent, in a request or between requests,
  // before it is closed (a request cut short gets 400).
  int idle_timeout_s = 5;
  // Seconds a completion may take from its arrival to its last token; 0: no
  // limit. Past it the request is cancelled: 408 if its response has not
  // begun (still queued or reading its prompt), else an error object with
  // status 408 ends the body or stream.
  int request_timeout_s = 0;
  // Not empty: every route but /health needs "Authorization: Bearer <api_key>"
  // (compared in constant time); a wrong or missing key gets a 401.
  std::string api_key;
};

// Serves until SIGINT or SIGTERM. on_listening gets the bound port.
// REQUIRES: SIGINT and SIGTERM blocked in every thread of the process
// (block them before starting any thread), so that Serve's sigwait gets them.
Status Serve(const HttpOptions& options, Engine& engine, const ApiContext& ctx,
             const std::function<void(int port)>& on_listening);

}  // namespace logitkit::server

#endif  // LOGITKIT_APPS_SERVER_HTTP_H_
