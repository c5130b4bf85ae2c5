// `logitkit score`: how likely a text is under the model, token by token.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/head.h"
#include "runtime.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit score ["TEXT"] [options]

Runs the model over TEXT (the argument, --file, or standard input) and shows,
for every token after the first, its logprob given the tokens before it (natural
log, under the model's own distribution, T = 1), its rank among all tokens (1 =
the model's top choice; ties counted in its favour), and the entropy of the
model's distribution at that position (nats). Totals: the mean negative
log-likelihood (NLL, nats per token), the perplexity exp(NLL), and bits per
byte (Σ −logprob / ln 2 over the UTF-8 bytes of the scored tokens). The first
token is context only, unless the vocabulary adds a BOS token first.

options:
  --file PATH       read the text from PATH
  --special         special tokens written in the text (<|im_start|>) are those tokens, as
                    `logitkit serve` reads completion prompts (default: plain text)
  --json            one JSON object: tokens with id, text, logprob, rank, entropy; totals
  --csv             one CSV row, and one line, per token: position, id, token,
                    logprob, rank, entropy; the token is quoted, with a
                    backslash, quote, newline, carriage return or tab written
                    as \\, "", \n, \r, \t and other control bytes as \xHH
%s  --help            this text
)";

constexpr const char* kCommand = "score";

struct Scored {
  int32_t id;
  std::string piece;
  double logprob, entropy;
  int64_t rank;
};

// A token as one quoted CSV field on one line: quotes doubled (RFC 4180),
// backslashes and control bytes escaped so that a newline token does not end
// the row.
std::string CsvField(const std::string& s) {
  std::string out = "\"";
  for (const char c : s) {
    switch (c) {
      case '"': out += "\"\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
          char hex[8];
          std::snprintf(hex, sizeof(hex), "\\x%02x", static_cast<unsigned char>(c));
          out += hex;
        } else {
          out += c;
        }
    }
  }
  return out + "\"";
}

}  // namespace

int RunScore(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"file"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "csv", "special", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp);
    return 0;
  }
  if (flags->positional().size() > 1 || (flags->positional().size() == 1 && flags->Has("file"))) {
    return Fail(kCommand, InvalidArgumentError("expected one TEXT, as an argument, --file or standard input (see --help)"));
  }
  std::string text;
  if (!flags->positional().empty()) {
    text = flags->positional()[0];
  } else if (flags->Has("file")) {
    std::ifstream in(flags->Get("file", ""), std::ios::binary);
    if (!in) return Fail(kCommand, Status(StatusCode::kNotFound, "--file: cannot read '" + flags->Get("file", "") + "'"));
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  } else {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (text.empty()) return Fail(kCommand, InvalidArgumentError("the text is empty"));
  if (text.find('\0') != std::string::npos) {
    return Fail(kCommand, InvalidArgumentError("the text holds a NUL byte at offset " + std::to_string(text.find('\0')) +
                                     ": binary input is not scored"));
  }
  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  StatusOr<std::vector<int32_t>> ids = runtime->EncodePrompt(text, /*chat=*/false, flags->Has("special"));
  if (!ids.ok()) return Fail(kCommand, ids.status());
  if (ids->size() < 2) return Fail(kCommand, InvalidArgumentError("the text has fewer than 2 tokens: nothing to score"));
  const size_t context = runtime->model->config().context_length;
  if (ids->size() > context) {
    return Fail(kCommand, OutOfRangeError("the text has " + std::to_string(ids->size()) + " tokens; the model's context holds " +
                                std::to_string(context)));
  }
  const size_t V = runtime->model->config().n_vocab;
  Context ctx(*runtime->model, ids->size(), runtime->pool.get());
  std::vector<Scored> scored;
  std::vector<float> logprobs(V);
  Progress progress("scoring", ids->size());
  // Position t predicts token t + 1: the last token predicts nothing.
  const std::span<const int32_t> inputs(ids->data(), ids->size() - 1);
  Status scoring = ctx.EvalEach(inputs, [&](size_t start, std::span<const float> logits) -> Status {
    const size_t n = logits.size() / V;
    for (size_t t = 0; t < n; ++t) {
      const std::span<const float> row = logits.subspan(t * V, V);
      LOGITKIT_RETURN_IF_ERROR(LogSoftmax(row, 1.0f, logprobs));
      const int32_t next = (*ids)[start + t + 1];
      double entropy = 0;
      int64_t above = 0;
      for (size_t v = 0; v < V; ++v) {
        if (logprobs[v] > -INFINITY) entropy -= std::exp(double(logprobs[v])) * logprobs[v];
        above += row[v] > row[next];
      }
      StatusOr<std::string> piece = runtime->tokenizer->TokenToPiece(next, true);
      scored.push_back({next, piece.ok() ? *piece : "", logprobs[next], entropy, above + 1});
    }
    progress.Update(start + n + 1);
    return OkStatus();
  });
  if (!scoring.ok()) return Fail(kCommand, scoring);
  double nll = 0;
  size_t bytes = 0;
  for (const Scored& s : scored) {
    nll -= s.logprob;
    bytes += s.piece.size();
  }
  const double mean_nll = nll / double(scored.size());
  const double bits_per_byte = bytes ? nll / std::log(2.0) / double(bytes) : 0.0;

  if (flags->Has("json")) {
    nlohmann::json tokens = nlohmann::json::array();
    for (const Scored& s : scored) {
      tokens.push_back({{"id", s.id},
                        {"token", tokenizer::SanitizeUtf8(s.piece)},
                        {"logprob", s.logprob},
                        {"rank", s.rank},
                        {"entropy", s.entropy}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"tokens_in_text", ids->size()},
                              {"first_id", (*ids)[0]},
                              {"tokens", std::move(tokens)},
                              {"scored", scored.size()},
                              {"nll", mean_nll},
                              {"perplexity", std::exp(mean_nll)},
                              {"bits_per_byte", bits_per_byte},
                              {"bytes", bytes}};
    PrintJson(o);
    return 0;
  }
  if (flags->Has("csv")) {
    std::printf("position,id,token,logprob,rank,entropy\n");
    for (size_t i = 0; i < scored.size(); ++i) {
      const Scored& s = scored[i];
      std::printf("%zu,%d,%s,%.6f,%lld,%.6f\n", i + 1, s.id, CsvField(tokenizer::SanitizeUtf8(s.piece)).c_str(),
                  s.logprob, static_cast<long long>(s.rank), s.entropy);
    }
    return 0;
  }
  std::printf("%4s  %s %9s %7s %8s\n", "pos", Pad("token", 16).c_str(), "logprob", "rank", "entropy");
  for (size_t i = 0; i < scored.size(); ++i) {
    const Scored& s = scored[i];
    std::printf("%4zu  %s %9.4f %7lld %8.4f\n", i + 1, Pad(Visible(s.piece), 16).c_str(), s.logprob,
                static_cast<long long>(s.rank), s.entropy);
  }
  std::printf("\n%zu tokens scored (%zu bytes): NLL %.4f nats/token, perplexity %.3f, %.4f bits/byte\n",
              scored.size(), bytes, mean_nll, std::exp(mean_nll), bits_per_byte);
  return 0;
}

}  // namespace logitkit::cli
