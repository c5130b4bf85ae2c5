// `logitkit lens "PROMPT"`: the logit lens. Every layer's residual stream,
// at every position, through the final norm (from that vector's own
// statistics) and the LM head.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/format.h"
#include "commands.h"
#include "flags.h"
#include "logitkit/head.h"
#include "runtime.h"
#include "svg.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit lens "PROMPT" [options]

The logit lens: after every block, at every position, the residual stream is
put through the final norm (recomputed from that vector) and the LM head, as
if the model ended there. Shown as a grid: a row per layer (the last row is the
model's own output, which the last layer reproduces exactly), a column per
position (the input token on top), each cell the layer's top token and its
probability. --json adds, per layer and position: the top-k tokens and
probabilities, the entropy (nats), KL(final || layer) (nats), and the rank and
probability of the final top token and of the actual next token.

options:
  -k N              top tokens per cell in --json (default 5)
  --svg FILE        write the grid as an SVG heatmap: each cell the layer's top
                    token, coloured by --stat, hover for the details
  --html FILE       the same heatmap in a self-contained HTML page
  --stat S          the colour: p (the top token's probability, default),
                    next_p (the actual next token's), entropy, or kl
  --chat            wrap the prompt in the model's chat format
  --special         special tokens written in PROMPT are those tokens (default: plain text)
  --json            machine-readable output
%s  --help            this text
)";

constexpr const char* kCommand = "lens";

// One (layer, position) cell, from the layer's and the final log-probabilities.
struct Cell {
  std::vector<int32_t> top;  // k ids, most likely first
  std::vector<float> top_p;
  double entropy = 0, kl = 0;
  int64_t final_top_rank = 0, next_rank = 0;
  double final_top_p = 0, next_p = 0;
};

int64_t RankOf(const std::vector<float>& lp, int32_t id) {
  int64_t above = 0;
  for (float v : lp) above += v > lp[id];
  return above + 1;
}

Cell Summarise(const std::vector<float>& lp, const std::vector<float>& final_lp, int32_t final_top, int32_t next,
               size_t k) {
  Cell c;
  std::vector<int32_t> order(lp.size());
  std::iota(order.begin(), order.end(), 0);
  std::partial_sort(order.begin(), order.begin() + k, order.end(),
                    [&](int32_t a, int32_t b) { return lp[a] != lp[b] ? lp[a] > lp[b] : a < b; });
  for (size_t i = 0; i < k; ++i) {
    c.top.push_back(order[i]);
    c.top_p.push_back(std::exp(lp[order[i]]));
  }
  for (size_t v = 0; v < lp.size(); ++v) {
    const double p = std::exp(double(lp[v])), q = std::exp(double(final_lp[v]));
    if (p > 0) c.entropy -= p * lp[v];
    if (q > 0) c.kl += q * (double(final_lp[v]) - double(lp[v]));
  }
  c.final_top_rank = RankOf(lp, final_top);
  c.final_top_p = std::exp(lp[final_top]);
  if (next >= 0) {
    c.next_rank = RankOf(lp, next);
    c.next_p = std::exp(lp[next]);
  }
  return c;
}

// The heatmap: final layer on top, layer 0 at the bottom, a column per
// position; fill from white (0) to blue (the largest value of the statistic;
// 1 for probabilities). Each cell has a <title> with its details (hover).
template <typename PieceFn>
std::string HeatmapSvg(const std::vector<std::vector<Cell>>& cells, const std::vector<int32_t>& ids,
                       const std::string& stat, PieceFn piece) {
  const size_t rows = cells.size(), cols = ids.size();
  auto value = [&](const Cell& c) {
    if (stat == "next_p") return c.next_p;
    if (stat == "entropy") return c.entropy;
    if (stat == "kl") return c.kl;
    return double(c.top_p[0]);
  };
  double scale = (stat == "p" || stat == "next_p") ? 1.0 : 1e-9;
  if (scale != 1.0) {
    for (const auto& row : cells) for (const Cell& c : row) scale = std::max(scale, value(c));
  }
  constexpr int kCellW = 96, kCellH = 22, kLeft = 56, kTop = 44;
  const int width = kLeft + int(cols) * kCellW + 8, height = kTop + int(rows) * kCellH + 28;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"monospace\" font-size=\"11\">\n";
  o += "<text x=\"4\" y=\"14\" font-size=\"12\">logit lens: top token per layer and position, colour = " +
       Xml(stat) + " (0 .. " + base::Num(scale) + ")</text>\n";
  for (size_t t = 0; t < cols; ++t) {
    o += "<text x=\"" + std::to_string(kLeft + int(t) * kCellW + 4) + "\" y=\"" + std::to_string(kTop - 8) + "\">" +
         Xml(Visible(piece(ids[t])).substr(0, 40)) + "</text>\n";
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t layer = rows - 1 - r;  // final on top
    const int y = kTop + int(r) * kCellH;
    o += "<text x=\"4\" y=\"" + std::to_string(y + 15) + "\">" +
         (layer + 1 == rows ? std::string("final") : std::to_string(layer)) + "</text>\n";
    for (size_t t = 0; t < cols; ++t) {
      const Cell& c = cells[layer][t];
      const double v = std::clamp(value(c) / scale, 0.0, 1.0);
      char fill[16];
      std::snprintf(fill, sizeof(fill), "#%02x%02x%02x", int(255 - v * (255 - 31)), int(255 - v * (255 - 78)),
                    int(255 - v * (255 - 156)));
      const int x = kLeft + int(t) * kCellW;
      char details[256];
      std::snprintf(details, sizeof(details), "p(top) %.4f, entropy %.3f, KL(final||layer) %.3f, final top rank %lld",
                    c.top_p[0], c.entropy, c.kl, static_cast<long long>(c.final_top_rank));
      std::string title = "layer " + (layer + 1 == rows ? std::string("final") : std::to_string(layer)) +
                          ", position " + std::to_string(t) + ": " + Visible(piece(c.top[0])) + "; " + details;
      if (t + 1 < cols) {
        std::snprintf(details, sizeof(details), "; next token p %.4f, rank %lld", c.next_p,
                      static_cast<long long>(c.next_rank));
        title += details;
      }
      o += "<g><title>" + Xml(title) + "</title><rect x=\"" + std::to_string(x) + "\" y=\"" + std::to_string(y) +
           "\" width=\"" + std::to_string(kCellW - 2) + "\" height=\"" + std::to_string(kCellH - 2) + "\" fill=\"" +
           fill + "\"/><text x=\"" + std::to_string(x + 4) + "\" y=\"" + std::to_string(y + 15) + "\" fill=\"" +
           (v > 0.55 ? "#ffffff" : "#000000") + "\">" + Xml(Visible(piece(c.top[0])).substr(0, 24)) +
           "</text></g>\n";
    }
  }
  return o + "</svg>\n";
}

}  // namespace

int RunLens(const std::vector<std::string>& args) {
  std::set<std::string> with_value = {"k", "svg", "html", "stat"};
  with_value.insert(kRuntimeFlags.begin(), kRuntimeFlags.end());
  StatusOr<Flags> flags = Flags::Parse(args, with_value, {"json", "chat", "special", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::printf(kHelp, kRuntimeFlagsHelp);
    return 0;
  }
  if (flags->positional().size() != 1) return Fail(kCommand, InvalidArgumentError("expected one PROMPT argument (see --help)"));
  StatusOr<long long> k = flags->GetInt("k", 5);
  if (!k.ok()) return Fail(kCommand, k.status());
  if (*k < 1 || *k > 100) return Fail(kCommand, InvalidArgumentError("-k = " + std::to_string(*k) + " is outside [1, 100]"));
  const std::string stat = flags->Get("stat", "p");
  if (stat != "p" && stat != "next_p" && stat != "entropy" && stat != "kl") {
    return Fail(kCommand, InvalidArgumentError("--stat = '" + stat + "' is not one of p, next_p, entropy, kl"));
  }
  StatusOr<Runtime> runtime = LoadRuntime(*flags);
  if (!runtime.ok()) return Fail(kCommand, runtime.status());
  StatusOr<std::vector<int32_t>> ids = runtime->EncodePrompt(flags->positional()[0], flags->Has("chat"), flags->Has("special"));
  if (!ids.ok()) return Fail(kCommand, ids.status());
  if (ids->empty()) return Fail(kCommand, InvalidArgumentError("the prompt is empty (no tokens)"));
  const ModelConfig& config = runtime->model->config();
  if (ids->size() > config.context_length) {
    return Fail(kCommand, OutOfRangeError("the prompt has " + std::to_string(ids->size()) + " tokens; the model's context holds " +
                                std::to_string(config.context_length)));
  }
  const size_t T = ids->size(), V = config.n_vocab, L = config.n_layers;
  Context ctx(*runtime->model, T, runtime->pool.get());
  std::vector<float> final_logits, layer_logits;
  ResidualTap tap;
  if (Status s = ctx.Eval(*ids, Logits::kAll, &final_logits, &tap); !s.ok()) return Fail(kCommand, s);

  // Final log-probabilities per position: T x V (the only such table kept);
  // each layer's T x V logits are summarised and dropped before the next.
  std::vector<std::vector<float>> final_lp(T, std::vector<float>(V));
  std::vector<int32_t> final_top(T);
  for (size_t t = 0; t < T; ++t) {
    const std::span<const float> row(final_logits.data() + t * V, V);
    if (Status s = LogSoftmax(row, 1.0f, final_lp[t]); !s.ok()) return Fail(kCommand, s);
    final_top[t] = int32_t(std::max_element(row.begin(), row.end()) - row.begin());
  }
  std::vector<std::vector<Cell>> cells(L + 1, std::vector<Cell>(T));
  std::vector<float> lp(V);
  Progress progress("lens", L + 1);
  for (size_t l = 0; l <= L; ++l) {
    if (l < L) {
      if (Status s = ctx.Unembed(tap.residual[l], &layer_logits); !s.ok()) return Fail(kCommand, s);
    } else {
      layer_logits = final_logits;
    }
    for (size_t t = 0; t < T; ++t) {
      if (Status s = LogSoftmax(std::span<const float>(layer_logits.data() + t * V, V), 1.0f, lp); !s.ok()) {
        return Fail(kCommand, s);
      }
      const int32_t next = t + 1 < T ? (*ids)[t + 1] : -1;
      cells[l][t] = Summarise(lp, final_lp[t], final_top[t], next, size_t(*k));
    }
    progress.Update(l + 1);
  }
  auto piece = [&](int32_t id) {
    StatusOr<std::string> p = runtime->tokenizer->TokenToPiece(id, true);
    return p.ok() ? tokenizer::SanitizeUtf8(*p) : std::string("?");
  };
  if (flags->Has("svg") || flags->Has("html")) {
    const std::string svg = HeatmapSvg(cells, *ids, stat, piece);
    if (flags->Has("svg")) {
      if (Status s = WriteText(flags->Get("svg", ""), svg); !s.ok()) return Fail(kCommand, s);
    }
    if (flags->Has("html")) {
      const std::string html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>logit lens</title></head>"
                               "<body style=\"font-family:sans-serif\"><h3>" + Xml(flags->positional()[0]) +
                               "</h3><p>" + Xml(runtime->path) + " &mdash; hover a cell for its details</p>\n" + svg +
                               "</body></html>\n";
      if (Status s = WriteText(flags->Get("html", ""), html); !s.ok()) return Fail(kCommand, s);
    }
  }

  if (flags->Has("json")) {
    nlohmann::json tokens = nlohmann::json::array();
    for (int32_t id : *ids) tokens.push_back({{"id", id}, {"token", piece(id)}});
    nlohmann::json layers = nlohmann::json::array();
    for (size_t l = 0; l <= L; ++l) {
      nlohmann::json positions = nlohmann::json::array();
      for (size_t t = 0; t < T; ++t) {
        const Cell& c = cells[l][t];
        nlohmann::json top = nlohmann::json::array();
        for (size_t i = 0; i < c.top.size(); ++i) {
          top.push_back({{"id", c.top[i]}, {"token", piece(c.top[i])}, {"p", c.top_p[i]}});
        }
        nlohmann::json position = {{"top", std::move(top)},
                                   {"entropy", c.entropy},
                                   {"kl_final_layer", c.kl},
                                   {"final_top_rank", c.final_top_rank},
                                   {"final_top_p", c.final_top_p}};
        if (t + 1 < T) {
          position["next_rank"] = c.next_rank;
          position["next_p"] = c.next_p;
        }
        positions.push_back(std::move(position));
      }
      layers.push_back({{"layer", l < L ? nlohmann::json(l) : nlohmann::json("final")},
                        {"positions", std::move(positions)}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"prompt", flags->positional()[0]},
                              {"tokens", std::move(tokens)},
                              {"layers", std::move(layers)}};
    PrintJson(o);
    return 0;
  }
  constexpr size_t kWidth = 14;
  std::printf("%-6s", "layer");
  for (size_t t = 0; t < T; ++t) std::printf(" %s", Pad(Visible(piece((*ids)[t])).substr(0, 24), kWidth).c_str());
  std::printf("\n");
  for (size_t l = 0; l <= L; ++l) {
    std::printf("%-6s", l < L ? std::to_string(l).c_str() : "final");
    for (size_t t = 0; t < T; ++t) {
      const Cell& c = cells[l][t];
      char p[16];
      std::snprintf(p, sizeof(p), " %.2f", c.top_p[0]);
      std::string cell = Visible(piece(c.top[0]));
      size_t columns = 0, cut = 0;
      for (; cut < cell.size() && columns < kWidth - 5; ++cut) columns += (cell[cut] & 0xC0) != 0x80;
      while (cut < cell.size() && (cell[cut] & 0xC0) == 0x80) ++cut;
      std::printf(" %s", Pad(cell.substr(0, cut) + p, kWidth).c_str());
    }
    std::printf("\n");
  }
  std::printf("\neach cell: the layer's top token and its probability; KL, entropy and ranks with --json\n");
  return 0;
}

}  // namespace logitkit::cli
