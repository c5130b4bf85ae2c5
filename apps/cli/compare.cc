// `logitkit compare`: how far one model's next-token distributions are from
// another's, position by position over a corpus (or over saved .npy logits).
#include <algorithm>
#include <chrono>
#include <memory>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "corpus.h"
#include "flags.h"
#include "logitkit/divergence.h"
#include "npy.h"
#include "runtime.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

using analysis::Divergence;
using analysis::DivergenceSummary;

constexpr const char* kHelp = R"(usage: logitkit compare MODEL_A.gguf MODEL_B.gguf --corpus FILE [options]
       logitkit compare --logits-a A.npy --logits-b B.npy --targets T.npy [options]

Runs both models over the same windows of a corpus in one pass (nothing is
stored per position) and reports how far B's next-token distribution is from
A's (A is the reference, e.g. a higher-precision copy written by `logitkit
convert`; B e.g. the quantized model):

  KL(A || B)      mean ± its standard error (nats), and percentiles: max, 99.9,
                  99, 95, 90, median, 10, 5, 1, 0.1, min
  top agreement   the share of positions where both rank the same token first
  Δp              p_B - p_A of the token that came next: mean, RMS, percentiles
  perplexity      of each model, and their ratio B / A

The models must share the vocabulary (the same tokens, in the same order).
Windows, BOS and the streamed corpus are as in `logitkit calibrate --help`.
Percentiles come from fixed histograms (KL: 100 log bins per decade; Δp: bins
of 3.1e-5); the min and max are exact. A percentile below the histogram's
resolution (KL < 1e-12, |Δp| < 3.1e-5) is shown as "<1e-12" or "|Δp|<3.1e-05"
("below_resolution" in --json), not as a measured value.

What a comparison tells: B's loss against A, not against the model's original
weights. A copy that `logitkit convert` writes from a Q4_1 file in a wider type
(F32, F16, Q8_0) holds the same Q4_1 values, so KL(A || B) near 0 says the
conversion kept them; it says nothing of what Q4_1 lost. To measure a
quantization, A must be the higher-precision original (e.g. an F16 GGUF of the
same model) and B the quantized file.

options:
  --corpus FILE     UTF-8 text (scripts/fetch-corpus writes the King James Bible)
  --ctx N           tokens per window (default 512)
  --max-tokens N    read only the first N tokens of the corpus (default: all)
  --logits-a FILE, --logits-b FILE, --targets FILE
                    instead of models: N x V float32/float16 .npy logits of A and
                    B and the N next tokens (int32/int64 .npy)
  --worst N         also list the N positions with the largest KL: the text
                    before each (up to 16 tokens; runs on .npy logits have no
                    tokenizer and show token ids and no text), the token that
                    came next, and each model's top token with its probability
                    (default 0)
  --json            one JSON object
  --threads N       threads (default: one per core)
  --help            this text
)";

constexpr const char* kCommand = "compare";

// `text` as a JSON string literal (quoted, escaped, invalid UTF-8 replaced),
// for error messages.
std::string Quoted(const std::string& text) {
  return JsonText(nlohmann::json(text));
}

// The first id whose token differs, or an error naming the difference.
Status SameVocabulary(const Runtime& a, const Runtime& b) {
  const tokenizer::Tokenizer &ta = *a.tokenizer, &tb = *b.tokenizer;
  if (ta.n_vocab() != tb.n_vocab()) {
    return InvalidArgumentError("the models have different vocabularies: " + std::to_string(ta.n_vocab()) +
                                " tokens in " + a.path + ", " + std::to_string(tb.n_vocab()) + " in " + b.path);
  }
  for (size_t id = 0; id < ta.n_vocab(); ++id) {
    if (ta.token_text(int32_t(id)) != tb.token_text(int32_t(id))) {
      return InvalidArgumentError("the models have different vocabularies: token " + std::to_string(id) + " is " +
                                  Quoted(ta.token_text(int32_t(id))) + " in A and " +
                                  Quoted(tb.token_text(int32_t(id))) + " in B");
    }
  }
  return OkStatus();
}

nlohmann::json PercentilesJson(const std::vector<analysis::Percentile>& ps) {
  nlohmann::json o = nlohmann::json::array();
  for (const analysis::Percentile& p : ps) {
    o.push_back({{"percent", p.percent}, {"value", p.value}, {"below_resolution", p.below_resolution}});
  }
  return o;
}

// The --worst positions: the n largest KL seen, largest first (ties: the earlier position).
struct WorstPosition {
  uint64_t position = 0;           // row over the whole run
  int32_t next = 0;                // the token that came next
  std::vector<int32_t> context;    // up to kWorstContext tokens before it (corpus runs)
  analysis::RowDivergence row;
};
constexpr size_t kWorstContext = 16;

class WorstPositions {
 public:
  explicit WorstPositions(size_t n) : n_(n) {}
  bool Wants(double kl) const { return n_ > 0 && (list_.size() < n_ || kl > list_.back().row.kl); }
  void Add(WorstPosition w) {
    auto at = std::find_if(list_.begin(), list_.end(), [&](const WorstPosition& o) { return w.row.kl > o.row.kl; });
    list_.insert(at, std::move(w));
    if (list_.size() > n_) list_.pop_back();
  }
  const std::vector<WorstPosition>& list() const { return list_; }

 private:
  size_t n_;
  std::vector<WorstPosition> list_;
};

std::string PercentilesText(const std::vector<analysis::Percentile>& ps, const char* format,
                            const char* below_resolution) {
  std::string o;
  for (const analysis::Percentile& p : ps) {
    char name[16], value[32];
    if (p.percent == 100) {
      std::snprintf(name, sizeof(name), "max");
    } else if (p.percent == 50) {
      std::snprintf(name, sizeof(name), "median");
    } else if (p.percent == 0) {
      std::snprintf(name, sizeof(name), "min");
    } else {
      std::snprintf(name, sizeof(name), "%g%%", p.percent);
    }
    std::snprintf(value, sizeof(value), format, p.value);
    o += std::string(o.empty() ? "" : "  ") + name + " " + (p.below_resolution ? below_resolution : value);
  }
  return o;
}

// A token's text (special tokens rendered; invalid UTF-8 replaced).
std::string PieceText(const tokenizer::Tokenizer& tok, int32_t id) {
  StatusOr<std::string> piece = tok.TokenToPiece(id, /*render_special=*/true);
  return tokenizer::SanitizeUtf8(piece.ok() ? *piece : "");
}

// The --worst list as JSON: tokens as ids, and as text when tok is given.
nlohmann::json WorstJson(const std::vector<WorstPosition>& list, const tokenizer::Tokenizer* tok) {
  nlohmann::json o = nlohmann::json::array();
  for (const WorstPosition& w : list) {
    auto token = [&](int32_t id, double p) {
      nlohmann::json t = {{"id", id}};
      if (tok) t["token"] = PieceText(*tok, id);
      if (p >= 0) t["p"] = p;
      return t;
    };
    nlohmann::json e = {{"position", w.position}, {"kl", w.row.kl},     {"next", token(w.next, -1)},
                        {"nll_a", w.row.nll_a},   {"nll_b", w.row.nll_b}, {"a_top", token(w.row.top_a, w.row.p_top_a)},
                        {"b_top", token(w.row.top_b, w.row.p_top_b)}};
    if (tok) {
      StatusOr<std::string> text = tok->Decode(w.context);
      e["context_ids"] = w.context;
      e["context"] = tokenizer::SanitizeUtf8(text.ok() ? *text : "");
    }
    o.push_back(std::move(e));
  }
  return o;
}

// The --worst list as a table: the context's last 40 columns, then ⟨next⟩.
void PrintWorst(const std::vector<WorstPosition>& list, const tokenizer::Tokenizer* tok) {
  std::printf("\nthe %zu positions with the largest KL(A || B):\n", list.size());
  std::printf("%4s %10s %10s  %s  %s  %s\n", "#", "position", "KL", Pad("context ⟨next token⟩", 52).c_str(),
              Pad("A's top, p", 20).c_str(), "B's top, p");
  for (size_t i = 0; i < list.size(); ++i) {
    const WorstPosition& w = list[i];
    std::string context, next = std::to_string(w.next), top_a = std::to_string(w.row.top_a),
                         top_b = std::to_string(w.row.top_b);
    if (tok) {
      StatusOr<std::string> text = tok->Decode(w.context);
      context = Visible(tokenizer::SanitizeUtf8(text.ok() ? *text : ""));
      // Keep the last 40 code points.
      std::vector<size_t> starts;
      for (size_t b = 0; b < context.size(); ++b) {
        if ((context[b] & 0xC0) != 0x80) starts.push_back(b);
      }
      if (starts.size() > 40) context = "…" + context.substr(starts[starts.size() - 40]);
      next = Visible(PieceText(*tok, w.next));
      top_a = Visible(PieceText(*tok, w.row.top_a));
      top_b = Visible(PieceText(*tok, w.row.top_b));
    }
    char p_a[32], p_b[32];
    std::snprintf(p_a, sizeof(p_a), " %.3f", w.row.p_top_a);
    std::snprintf(p_b, sizeof(p_b), " %.3f", w.row.p_top_b);
    std::printf("%4zu %10llu %10.3g  %s  %s  %s\n", i + 1, static_cast<unsigned long long>(w.position), w.row.kl,
                Pad(context + "⟨" + next + "⟩", 52).c_str(), Pad(top_a + p_a, 20).c_str(), (top_b + p_b).c_str());
  }
}

}  // namespace

int RunCompare(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"corpus", "ctx", "max-tokens", "logits-a", "logits-b", "targets", "threads",
                                      "worst"};
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf("%s", kHelp);
    return 0;
  }
  const bool from_npy = flags->Has("logits-a") || flags->Has("logits-b") || flags->Has("targets");
  if (from_npy) {
    if (!(flags->Has("logits-a") && flags->Has("logits-b") && flags->Has("targets"))) {
      return Fail(kCommand, InvalidArgumentError("--logits-a, --logits-b and --targets go together"));
    }
    if (!flags->positional().empty() || flags->Has("corpus")) {
      return Fail(kCommand, InvalidArgumentError("give either two models and --corpus, or .npy logits (see --help)"));
    }
  } else {
    if (flags->positional().size() != 2) {
      return Fail(kCommand, InvalidArgumentError("expected two models, MODEL_A MODEL_B, not " +
                                       std::to_string(flags->positional().size()) + " (see --help)"));
    }
    if (!flags->Has("corpus")) return Fail(kCommand, InvalidArgumentError("--corpus FILE is required"));
  }
  StatusOr<long long> ctx = flags->GetInt("ctx", 512);
  StatusOr<long long> max_tokens = flags->GetInt("max-tokens", 0);
  if (!ctx.ok()) return Fail(kCommand, ctx.status());
  if (!max_tokens.ok()) return Fail(kCommand, max_tokens.status());
  if (*max_tokens < 0) return Fail(kCommand, InvalidArgumentError("--max-tokens " + std::to_string(*max_tokens) + " must be >= 0"));
  StatusOr<long long> n_worst = flags->GetInt("worst", 0);
  if (!n_worst.ok()) return Fail(kCommand, n_worst.status());
  if (*n_worst < 0 || *n_worst > 10000) {
    return Fail(kCommand, InvalidArgumentError("--worst = " + std::to_string(*n_worst) + " is outside [0, 10000]"));
  }
  WorstPositions worst{static_cast<size_t>(*n_worst)};
  std::vector<analysis::RowDivergence> rows;
  std::unique_ptr<tokenizer::Tokenizer> tok;  // corpus runs: A's, to show the context

  const auto start = std::chrono::steady_clock::now();
  std::optional<Divergence> divergence;
  std::string source, path_a, path_b;
  size_t window = 0;
  if (from_npy) {
    source = flags->Get("targets", "");
    path_a = flags->Get("logits-a", ""), path_b = flags->Get("logits-b", "");
    StatusOr<NpyReader> a = NpyReader::Open(path_a);
    if (!a.ok()) return Fail(kCommand, a.status());
    StatusOr<NpyReader> b = NpyReader::Open(path_b);
    if (!b.ok()) return Fail(kCommand, b.status());
    StatusOr<NpyReader> t = NpyReader::Open(source);
    if (!t.ok()) return Fail(kCommand, t.status());
    if (a->shape().size() != 2 || a->shape()[1] == 0 || a->shape()[0] == 0) {
      return Fail(kCommand, InvalidArgumentError("--logits-a: expected an N x V matrix with N, V > 0"));
    }
    if (b->shape() != a->shape()) {
      auto shape = [](const std::vector<uint64_t>& s) {
        std::string o = "(";
        for (size_t i = 0; i < s.size(); ++i) o += (i ? ", " : "") + std::to_string(s[i]);
        return o + ")";
      };
      return Fail(kCommand, InvalidArgumentError("--logits-b has shape " + shape(b->shape()) + ", --logits-a " +
                                       shape(a->shape()) + ": the same rows and vocabulary are needed"));
    }
    const size_t N = a->shape()[0], V = a->shape()[1];
    if (t->shape().size() != 1 || t->shape()[0] != N) {
      return Fail(kCommand, InvalidArgumentError("--targets: expected " + std::to_string(N) + " next tokens"));
    }
    StatusOr<Divergence> d = Divergence::Create(V);
    if (!d.ok()) return Fail(kCommand, d.status());
    divergence.emplace(std::move(*d));
    StatusOr<long long> threads = flags->GetInt("threads", 0);
    if (!threads.ok()) return Fail(kCommand, threads.status());
    if (*threads < 0 || *threads > 256) {
      return Fail(kCommand, InvalidArgumentError("--threads " + std::to_string(*threads) + " is outside [0, 256]"));
    }
    ThreadPool pool{static_cast<size_t>(*threads)};
    std::vector<float> la, lb;
    std::vector<int64_t> ids;
    std::vector<int32_t> ids32;
    for (size_t r = 0; r < N; r += 64) {
      const size_t n = std::min<size_t>(64, N - r);
      if (Status s = a->ReadFloats(n * V, &la); !s.ok()) return Fail(kCommand, s.WithContext("--logits-a "));
      if (Status s = b->ReadFloats(n * V, &lb); !s.ok()) return Fail(kCommand, s.WithContext("--logits-b "));
      if (Status s = t->ReadInts(n, &ids); !s.ok()) return Fail(kCommand, s.WithContext("--targets "));
      ids32.assign(ids.begin(), ids.end());
      for (size_t i = 0; i < n; ++i) {
        if (ids[i] < 0 || ids[i] >= int64_t(V)) {
          return Fail(kCommand, OutOfRangeError("--targets: row " + std::to_string(r + i) + ": token " +
                                      std::to_string(ids[i]) + " outside [0, " + std::to_string(V) + ")"));
        }
      }
      if (Status s = divergence->AddRows(la, lb, ids32, &pool, r, &rows); !s.ok()) return Fail(kCommand, s);
      for (size_t i = 0; i < n; ++i) {
        if (worst.Wants(rows[i].kl)) worst.Add({r + i, ids32[i], {}, rows[i]});
      }
    }
  } else {
    source = flags->Get("corpus", "");
    StatusOr<Runtime> a = LoadRuntimeAt(flags->positional()[0], *flags);
    if (!a.ok()) return Fail(kCommand, a.status());
    StatusOr<Runtime> b = LoadRuntimeAt(flags->positional()[1], *flags);
    if (!b.ok()) return Fail(kCommand, b.status());
    if (Status s = SameVocabulary(*a, *b); !s.ok()) return Fail(kCommand, s);
    path_a = a->path, path_b = b->path;
    const size_t context = std::min(a->model->config().context_length, b->model->config().context_length);
    if (*ctx < 2 || size_t(*ctx) > context) {
      return Fail(kCommand, OutOfRangeError("--ctx " + std::to_string(*ctx) + " must be in [2, " + std::to_string(context) +
                                  "] (the models' context)"));
    }
    window = size_t(*ctx);
    const size_t V = a->model->config().n_vocab;
    StatusOr<CorpusCount> count = CountCorpus(*a->tokenizer, source, window, uint64_t(*max_tokens));
    if (!count.ok()) return Fail(kCommand, count.status());
    StatusOr<CorpusReader> reader = CorpusReader::Open(source);
    if (!reader.ok()) return Fail(kCommand, reader.status());
    StatusOr<Divergence> d = Divergence::Create(V);
    if (!d.ok()) return Fail(kCommand, d.status());
    divergence.emplace(std::move(*d));
    TokenWindows windows(*a->tokenizer, std::move(*reader), window, uint64_t(*max_tokens));
    ThreadPool* pool = a->pool.get();  // both models run on A's threads, one after the other
    Context context_a(*a->model, window, pool), context_b(*b->model, window, pool);
    Progress progress("comparing (tokens)", count->scored);
    std::vector<int32_t> tokens;
    std::vector<float> lb;
    for (;;) {
      StatusOr<bool> more = windows.Next(&tokens);
      if (!more.ok()) return Fail(kCommand, more.status());
      if (!*more) break;
      context_a.Rewind(0), context_b.Rewind(0);
      // A's passes drive B's: each pass of A's (at most Context::kMaxBatch
      // positions) is one pass of B's, so both keep one pass of logits.
      const std::span<const int32_t> inputs(tokens.data(), tokens.size() - 1);
      Status pass_error;  // B's or the statistics', named as such
      Status s = context_a.EvalEach(inputs, [&](size_t at, std::span<const float> la) -> Status {
        const size_t n = la.size() / V;
        pass_error = context_b.Eval(inputs.subspan(at, n), Logits::kAll, &lb).WithContext("model B: ");
        const uint64_t first = uint64_t(divergence->positions());
        if (pass_error.ok()) {
          pass_error = divergence
                           ->AddRows(la, lb, std::span<const int32_t>(tokens.data() + at + 1, n), pool, first, &rows)
                           .WithContext("corpus ");
        }
        for (size_t i = 0; pass_error.ok() && i < n; ++i) {
          if (!worst.Wants(rows[i].kl)) continue;
          const size_t next = at + i + 1;  // the token row i predicts, in the window
          const size_t from = next > kWorstContext ? next - kWorstContext : 0;
          worst.Add({first + i, tokens[next], std::vector<int32_t>(tokens.begin() + from, tokens.begin() + next),
                     rows[i]});
        }
        progress.Update(size_t(divergence->positions()));
        return pass_error;
      });
      if (!pass_error.ok()) return Fail(kCommand, pass_error);
      if (!s.ok()) return Fail(kCommand, s.WithContext("model A: "));
    }
    tok = std::move(a->tokenizer);  // outlives the models, for the report
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const DivergenceSummary s = divergence->Summary();
  if (flags->Has("json")) {
    nlohmann::json o = {{"a", path_a},
                              {"b", path_b},
                              {"source", source},
                              {"ctx", window},
                              {"n_vocab", s.n_vocab},
                              {"positions", s.positions},
                              {"seconds", seconds},
                              {"kl_mean", s.kl_mean},
                              {"kl_standard_error", s.kl_standard_error},
                              {"kl_percentiles", PercentilesJson(s.kl)},
                              {"top_agreement", s.top_agreement},
                              {"dp_mean", s.dp_mean},
                              {"dp_rms", s.dp_rms},
                              {"dp_percentiles", PercentilesJson(s.dp)},
                              {"nll_a", s.nll_a},
                              {"nll_b", s.nll_b},
                              {"perplexity_a", s.perplexity_a},
                              {"perplexity_b", s.perplexity_b},
                              {"perplexity_ratio", s.perplexity_ratio},
                              {"peak_rss_mib", PeakRssMiB()}};
    if (*n_worst > 0) o["worst"] = WorstJson(worst.list(), tok.get());
    PrintJson(o);
    return 0;
  }
  auto base = [](const std::string& p) { return p.substr(p.find_last_of('/') + 1); };
  std::printf("A = %s\nB = %s\n%lld positions of %s%s\n\n", base(path_a).c_str(), base(path_b).c_str(),
              static_cast<long long>(s.positions), base(source).c_str(),
              window ? (" (windows of " + std::to_string(window) + " tokens)").c_str() : "");
  std::printf("KL(A || B)      mean %.6g ± %.2g nats\n", s.kl_mean, s.kl_standard_error);
  std::printf("                %s\n", PercentilesText(s.kl, "%.3g", "<1e-12").c_str());
  std::printf("top agreement   %.4f%% of positions\n", 100 * s.top_agreement);
  std::printf("Δp (B - A)      mean %+.3g, RMS %.3g\n", s.dp_mean, s.dp_rms);
  std::printf("                %s\n", PercentilesText(s.dp, "%+.3g", "|Δp|<3.1e-05").c_str());
  std::printf("perplexity      A %.4f, B %.4f, B / A %.6f (NLL %.5f, %.5f nats/token)\n", s.perplexity_a,
              s.perplexity_b, s.perplexity_ratio, s.nll_a, s.nll_b);
  if (*n_worst > 0) PrintWorst(worst.list(), tok.get());
  std::printf("\n%.1f s, %.1f positions/s, peak memory %.0f MiB\n", seconds,
              double(s.positions) / std::max(seconds, 1e-9), PeakRssMiB());
  return 0;
}

}  // namespace logitkit::cli
