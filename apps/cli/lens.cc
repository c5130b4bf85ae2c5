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
if the model ended there. Shown as a grid, in text and SVG alike: a column per
position (its input token on top), a row per layer: "final" on top (the
model's own output, which the last block reproduces exactly), then the
residual after each block, down to "embed" (the token embeddings) at the
bottom. Each cell is that layer's top prediction of the NEXT token and its
probability. --json lists the layers bottom-up ("embedding", 0, 1, ...,
"final") with, per position: the top-k tokens and probabilities, the entropy
(nats), KL(final || layer) (nats), and the rank and probability of the final
top token and of the actual next token.

options:
  -k N              top tokens per cell in --json (default 5)
  --svg FILE        write the grid as an SVG heatmap, coloured by --stat, with a
                    colour bar; hover a cell for its details and top-k
  --html FILE       a self-contained HTML page with the heatmap of each
                    statistic and a menu to switch between them
  --stat S          the colour: p (the top token's probability, default),
                    next_p (the actual next token's), entropy (0 .. the
                    largest), or kl (log scale, 0.001 .. the largest)
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

// Row r of the grid: 0 the embeddings, 1 .. L the residual after block
// r - 1, L + 1 the model's output.
std::string RowLabel(size_t r, size_t n_rows) {
  if (r == 0) return "embed";
  if (r + 1 == n_rows) return "final";
  return std::to_string(r - 1);
}

// What a cell's colour shows, in [0, 1]: probabilities and entropy on a linear
// scale from 0 to `hi`; KL on a log scale from kKlFloor to `hi` (KL at or below
// the floor is white).
constexpr double kKlFloor = 1e-3;
struct ColourScale {
  std::string stat;
  double hi = 1;
  double Fraction(double v) const {
    if (stat == "kl") {
      if (!(v > kKlFloor) || hi <= kKlFloor) return 0;
      return std::clamp(std::log(v / kKlFloor) / std::log(hi / kKlFloor), 0.0, 1.0);
    }
    return std::clamp(v / hi, 0.0, 1.0);
  }
  // A tick value at fraction f of the bar.
  double At(double f) const { return stat == "kl" ? kKlFloor * std::pow(hi / kKlFloor, f) : f * hi; }
};

std::string Fill(double f) {  // white (0) to dark blue (1)
  char fill[16];
  std::snprintf(fill, sizeof(fill), "#%02x%02x%02x", int(255 - f * (255 - 31)), int(255 - f * (255 - 78)),
                int(255 - f * (255 - 156)));
  return fill;
}

std::string Px(double v) { return std::to_string(int(std::lround(v))); }

// One number with a printf format ("%.4f").
std::string Fixed(double v, const char* format) {
  char text[48];
  std::snprintf(text, sizeof(text), format, v);
  return text;
}

// A visible token in at most `columns` code points: cut with "…" when longer.
std::string Cut(const std::string& text, size_t columns) {
  std::vector<size_t> starts;  // byte offset of each code point
  for (size_t b = 0; b < text.size(); ++b) {
    if ((text[b] & 0xC0) != 0x80) starts.push_back(b);
  }
  if (starts.size() <= columns) return text;
  return text.substr(0, starts[columns - 1]) + "…";
}

// The heatmap: final layer on top, the embeddings at the bottom, a column per
// position (its input token on top); each cell shows the layer's top
// next-token prediction and its probability, coloured by `stat`, with a
// colour bar under the grid and a <title> per cell (hover: the details and
// the top-k).
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
  ColourScale scale{stat, 1.0};
  if (stat == "entropy" || stat == "kl") {
    scale.hi = stat == "kl" ? kKlFloor * 10 : 1e-9;
    for (const auto& row : cells) for (const Cell& c : row) scale.hi = std::max(scale.hi, value(c));
  }
  constexpr int kCellW = 104, kCellH = 22, kLeft = 56, kTop = 64, kBarW = 240;
  const int width = std::max(kLeft + int(cols) * kCellW + 8, 640);
  const int grid_bottom = kTop + int(rows) * kCellH;
  const int height = grid_bottom + 64;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"monospace\" font-size=\"11\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += "<text x=\"4\" y=\"16\" font-size=\"13\" font-weight=\"bold\">logit lens: each layer's prediction of the next token</text>\n";
  o += "<text x=\"4\" y=\"32\" fill=\"#555\">column: the input token at that position; cell: the layer's top next token and its p</text>\n";
  for (size_t t = 0; t < cols; ++t) {
    o += "<text x=\"" + std::to_string(kLeft + int(t) * kCellW + 4) + "\" y=\"" + std::to_string(kTop - 8) +
         "\" font-weight=\"bold\">" + Xml(Cut(Visible(piece(ids[t])), 14)) + "</text>\n";
  }
  for (size_t r = 0; r < rows; ++r) {
    const size_t row = rows - 1 - r;  // final on top
    const int y = kTop + int(r) * kCellH;
    const std::string label = RowLabel(row, rows);
    o += "<text x=\"4\" y=\"" + std::to_string(y + 15) + "\">" + label + "</text>\n";
    for (size_t t = 0; t < cols; ++t) {
      const Cell& c = cells[row][t];
      const double f = scale.Fraction(value(c));
      const int x = kLeft + int(t) * kCellW;
      // The tooltip, with the tokens' texts joined as strings (any length).
      std::string title = "layer " + label + ", position " + std::to_string(t) + " (after " +
                          Visible(piece(ids[t])) + "): entropy " + Fixed(c.entropy, "%.3f") +
                          " nats, KL(final||layer) " + Fixed(c.kl, "%.4g") + " nats, final top rank " +
                          std::to_string(c.final_top_rank);
      if (t + 1 < cols) {
        title += "; actual next token " + Visible(piece(ids[t + 1])) + ": p " + Fixed(c.next_p, "%.4f") + ", rank " +
                 std::to_string(c.next_rank);
      }
      title += "\ntop:";
      for (size_t i = 0; i < c.top.size(); ++i) {
        title += " " + Visible(piece(c.top[i])) + " " + Fixed(c.top_p[i], "%.4f") + (i + 1 < c.top.size() ? "," : "");
      }
      const std::string p = Fixed(c.top_p[0], "%.2f");
      const std::string ink = f > 0.55 ? "#ffffff" : "#000000";
      // The last position has no next token: its next_p cell is grey, not a white 0.
      const bool not_applicable = stat == "next_p" && t + 1 == cols;
      o += "<g><title>" + Xml(title) + "</title><rect class=\"cell\" x=\"" + std::to_string(x) + "\" y=\"" +
           std::to_string(y) + "\" width=\"" + std::to_string(kCellW - 2) + "\" height=\"" +
           std::to_string(kCellH - 2) + "\" fill=\"" + (not_applicable ? std::string("#d9d9d9") : Fill(f)) +
           "\"/><text x=\"" + std::to_string(x + 4) +
           "\" y=\"" + std::to_string(y + 15) + "\" fill=\"" + ink + "\">" + Xml(Cut(Visible(piece(c.top[0])), 9)) +
           "</text><text x=\"" + std::to_string(x + kCellW - 6) + "\" y=\"" + std::to_string(y + 15) +
           "\" text-anchor=\"end\" fill=\"" + ink + "\">" + p + "</text></g>\n";
    }
  }
  // The colour bar: 24 steps from white to blue, with the statistic's values.
  const std::string what = stat == "p"        ? "colour: p of the layer's top token"
                           : stat == "next_p" ? "colour: p of the actual next token (grey: none, the last position)"
                           : stat == "entropy" ? "colour: entropy (nats)"
                                               : "colour: KL(final || layer), nats, log scale";
  const int bar_y = grid_bottom + 14;
  o += "<text x=\"" + Px(kLeft) + "\" y=\"" + Px(bar_y + 10) + "\">" + Xml(what) + "</text>\n";
  const int bar_x = kLeft;
  for (int i = 0; i < 24; ++i) {
    o += "<rect x=\"" + Px(bar_x + i * kBarW / 24.0) + "\" y=\"" + Px(bar_y + 16) + "\" width=\"" +
         Px(kBarW / 24.0 + 1) + "\" height=\"10\" fill=\"" + Fill((i + 0.5) / 24) + "\"/>\n";
  }
  o += "<rect x=\"" + Px(bar_x) + "\" y=\"" + Px(bar_y + 16) + "\" width=\"" + Px(kBarW) +
       "\" height=\"10\" fill=\"none\" stroke=\"#888\"/>\n";
  for (int i = 0; i <= 4; ++i) {
    const double f = i / 4.0;
    const double v = scale.At(f);
    char tick[32];
    std::snprintf(tick, sizeof(tick), stat == "kl" ? "%.2g" : "%.2f", v);
    const std::string text = (stat == "kl" && i == 0 ? "≤ " : "") + std::string(tick);
    o += "<text x=\"" + Px(bar_x + f * kBarW) + "\" y=\"" + Px(bar_y + 40) +
         "\" text-anchor=\"middle\" font-size=\"10\">" + Xml(text) + "</text>\n";
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
  // Rows (RowLabel): the embeddings, the residual after each block, the output.
  const size_t n_rows = L + 2;
  std::vector<std::vector<Cell>> cells(n_rows, std::vector<Cell>(T));
  std::vector<float> lp(V);
  Progress progress("lens", n_rows);
  for (size_t r = 0; r < n_rows; ++r) {
    if (r + 1 < n_rows) {
      const std::vector<float>& residual = r == 0 ? tap.embedding : tap.residual[r - 1];
      if (Status s = ctx.Unembed(residual, &layer_logits); !s.ok()) return Fail(kCommand, s);
    } else {
      layer_logits = final_logits;
    }
    for (size_t t = 0; t < T; ++t) {
      if (Status s = LogSoftmax(std::span<const float>(layer_logits.data() + t * V, V), 1.0f, lp); !s.ok()) {
        return Fail(kCommand, s);
      }
      const int32_t next = t + 1 < T ? (*ids)[t + 1] : -1;
      cells[r][t] = Summarise(lp, final_lp[t], final_top[t], next, size_t(*k));
    }
    progress.Update(r + 1);
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
      // One heatmap per statistic, one shown at a time: a menu switches them.
      std::string html = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><title>logit lens</title></head>"
                         "<body style=\"font-family:sans-serif\"><h3>" + Xml(flags->positional()[0]) + "</h3><p>" +
                         Xml(runtime->path) + "</p>\n<p><label>colour: <select id=\"stat\" onchange=\"show(this.value)\">";
      const std::pair<const char*, const char*> stats[] = {{"p", "p of the layer's top token"},
                                                           {"next_p", "p of the actual next token"},
                                                           {"entropy", "entropy"},
                                                           {"kl", "KL(final || layer), log scale"}};
      for (const auto& [name, label] : stats) {
        html += std::string("<option value=\"") + name + "\"" + (stat == name ? " selected" : "") + ">" + Xml(label) +
                "</option>";
      }
      html += "</select></label> &mdash; hover a cell for its entropy, KL, ranks and top-k</p>\n";
      for (const auto& [name, label] : stats) {
        html += std::string("<div class=\"heatmap\" id=\"stat-") + name + "\"" +
                (stat == name ? "" : " style=\"display:none\"") + ">\n" +
                (stat == name ? svg : HeatmapSvg(cells, *ids, name, piece)) + "</div>\n";
      }
      html += "<script>function show(s){for(const d of document.querySelectorAll('.heatmap'))"
              "d.style.display=d.id==='stat-'+s?'':'none';}</script>\n</body></html>\n";
      if (Status s = WriteText(flags->Get("html", ""), html); !s.ok()) return Fail(kCommand, s);
    }
  }

  if (flags->Has("json")) {
    nlohmann::json tokens = nlohmann::json::array();
    for (int32_t id : *ids) tokens.push_back({{"id", id}, {"token", piece(id)}});
    nlohmann::json layers = nlohmann::json::array();
    for (size_t r = 0; r < n_rows; ++r) {
      nlohmann::json positions = nlohmann::json::array();
      for (size_t t = 0; t < T; ++t) {
        const Cell& c = cells[r][t];
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
      const nlohmann::json layer = r == 0 ? nlohmann::json("embedding") : r + 1 == n_rows ? nlohmann::json("final")
                                                                                        : nlohmann::json(r - 1);
      layers.push_back({{"layer", layer}, {"positions", std::move(positions)}});
    }
    const nlohmann::json o = {{"model", runtime->path},
                              {"prompt", flags->positional()[0]},
                              {"tokens", std::move(tokens)},
                              {"layers", std::move(layers)}};
    PrintJson(o);
    return 0;
  }
  // Text: the same grid as the SVG, final on top.
  constexpr size_t kWidth = 14;
  std::printf("%-6s", "input");
  for (size_t t = 0; t < T; ++t) std::printf(" %s", Pad(Cut(Visible(piece((*ids)[t])), kWidth - 1), kWidth).c_str());
  std::printf("\n");
  for (size_t row = n_rows; row-- > 0;) {
    std::printf("%-6s", RowLabel(row, n_rows).c_str());
    for (size_t t = 0; t < T; ++t) {
      const Cell& c = cells[row][t];
      char p[16];
      std::snprintf(p, sizeof(p), " %.2f", c.top_p[0]);
      std::printf(" %s", Pad(Cut(Visible(piece(c.top[0])), kWidth - 5) + p, kWidth).c_str());
    }
    std::printf("\n");
  }
  std::printf("\ncolumn: the input token at that position; cell: the layer's top prediction of the NEXT token\n"
              "and its probability (rows: final = the model's output, then each block's residual, embed = the\n"
              "token embeddings); KL, entropy, ranks and the top-k with --json\n");
  return 0;
}

}  // namespace logitkit::cli
