#include "reliability_svg.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "svg.h"

namespace logitkit::cli {
namespace {

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f", v);
  return buf;
}

// A tick label: as few decimals as the value needs (0.5, 3, 3.25).
std::string TickText(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", std::round(v * 1e6) / 1e6);
  return buf;
}

std::string Text(double x, double y, const std::string& text, const std::string& extra = "") {
  return "<text x=\"" + Num(x) + "\" y=\"" + Num(y) + "\"" + extra + ">" + Xml(text) + "</text>\n";
}

std::string Line(double x1, double y1, double x2, double y2, const std::string& style) {
  return "<line x1=\"" + Num(x1) + "\" y1=\"" + Num(y1) + "\" x2=\"" + Num(x2) + "\" y2=\"" + Num(y2) + "\" " +
         style + "/>\n";
}

std::string Rect(double x, double y, double w, double h, const std::string& style, const std::string& title = "") {
  std::string r = "<rect x=\"" + Num(x) + "\" y=\"" + Num(y) + "\" width=\"" + Num(std::max(w, 0.0)) +
                  "\" height=\"" + Num(std::max(h, 0.0)) + "\" " + style;
  return title.empty() ? r + "/>\n" : r + "><title>" + Xml(title) + "</title></rect>\n";
}

// The reliability panel: [x0, x0 + size] × [y0, y0 + size], counts below.
std::string ReliabilityPanel(const analysis::CalibrationSummary& s, double x0, double y0, double size) {
  std::string o;
  auto X = [&](double v) { return x0 + v * size; };
  auto Y = [&](double v) { return y0 + (1 - v) * size; };
  o += Rect(x0, y0, size, size, "fill=\"#fafafa\" stroke=\"#888\"");
  for (int i = 0; i <= 5; ++i) {
    const double v = i / 5.0;
    o += Text(X(v), y0 + size + 78, Num(v), " text-anchor=\"middle\" font-size=\"11\"");
    o += Text(x0 - 6, Y(v) + 4, Num(v), " text-anchor=\"end\" font-size=\"11\"");
  }
  int64_t max_count = 1;
  for (const analysis::Bin& b : s.top.bins) max_count = std::max(max_count, b.count);
  for (const analysis::Bin& b : s.top.bins) {
    const double w = (b.hi - b.lo) * size;
    // Counts: a strip of height 50 under the panel.
    const double h = 50.0 * double(b.count) / double(max_count);
    o += Rect(X(b.lo) + 1, y0 + size + 58 - h, w - 2, h, "fill=\"#999\"", std::to_string(b.count) + " positions");
    if (b.count == 0) continue;
    const double acc = b.accuracy(), conf = b.confidence();
    char title[160];
    std::snprintf(title, sizeof(title), "[%.3f, %.3f): %lld positions, confidence %.4f, accuracy %.4f, gap %+.4f",
                  b.lo, b.hi, static_cast<long long>(b.count), conf, acc, acc - conf);
    o += Rect(X(b.lo) + 1, Y(acc), w - 2, Y(0) - Y(acc), "fill=\"#3b6fb6\" fill-opacity=\"0.85\"", title);
    o += Rect(X(b.lo) + 1, Y(std::max(acc, conf)), w - 2, std::abs(Y(acc) - Y(conf)),
              "fill=\"#d62728\" fill-opacity=\"0.35\" stroke=\"#d62728\" stroke-width=\"0.8\"", title);
  }
  o += Line(X(0), Y(0), X(1), Y(1), "stroke=\"#333\" stroke-dasharray=\"5,4\"");
  char ece[160];
  std::snprintf(ece, sizeof(ece), "ECE %.4f   MCE %.4f   (%d bins)", s.top.errors.ece, s.top.errors.mce, s.bins);
  o += Text(x0 + 8, y0 + 18, ece, " font-size=\"13\" font-weight=\"bold\"");
  char acc[96];
  std::snprintf(acc, sizeof(acc), "accuracy %.3f   NLL %.3f", s.top.accuracy, s.top.nll);
  o += Text(x0 + 8, y0 + 34, acc, " font-size=\"12\"");
  o += Text(x0 + size / 2, y0 + size + 96, "confidence (top-token probability)", " text-anchor=\"middle\" font-size=\"12\"");
  o += Text(x0 - 40, y0 + size / 2, "accuracy",
            " text-anchor=\"middle\" font-size=\"12\" transform=\"rotate(-90 " + Num(x0 - 40) + " " + Num(y0 + size / 2) + ")\"");
  // The count strip's scale: 0 at its base, the largest bin's count at its top.
  o += Line(x0 - 3, y0 + size + 8, x0 - 3, y0 + size + 58, "stroke=\"#888\"");
  o += Text(x0 - 6, y0 + size + 12, std::to_string(max_count), " text-anchor=\"end\" font-size=\"10\" fill=\"#666\"");
  o += Text(x0 - 6, y0 + size + 36, "positions", " text-anchor=\"end\" font-size=\"10\" fill=\"#666\"");
  o += Text(x0 - 6, y0 + size + 60, "0", " text-anchor=\"end\" font-size=\"10\" fill=\"#666\"");
  // Legend, under the summary in the upper-left corner, above the diagonal,
  // where a bar would need accuracy far above its confidence.
  const double lx = x0 + 14, ly = y0 + 56;
  o += Rect(lx - 6, ly - 12, 152, 64, "fill=\"white\" fill-opacity=\"0.9\" stroke=\"#ccc\"");
  o += Rect(lx, ly - 6, 12, 10, "fill=\"#3b6fb6\" fill-opacity=\"0.85\"");
  o += Text(lx + 18, ly + 3, "accuracy of the bin", " font-size=\"11\"");
  o += Rect(lx, ly + 12, 12, 10, "fill=\"#d62728\" fill-opacity=\"0.35\" stroke=\"#d62728\" stroke-width=\"0.8\"");
  o += Text(lx + 18, ly + 21, "gap to its confidence", " font-size=\"11\"");
  o += Line(lx, ly + 35, lx + 12, ly + 35, "stroke=\"#333\" stroke-dasharray=\"5,4\"");
  o += Text(lx + 18, ly + 39, "perfect calibration", " font-size=\"11\"");
  return o;
}

// Tick values for [lo, hi]: multiples of 1, 2 or 5 × 10^k, about `target` of them.
std::vector<double> NiceTicks(double lo, double hi, int target) {
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return {lo};
  const double raw = (hi - lo) / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  double step = magnitude;
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    step = m * magnitude;
    if (step >= raw) break;
  }
  std::vector<double> ticks;
  const double first = std::ceil(lo / step) * step;
  for (int i = 0; i <= 4 * target && first + i * step <= hi + step * 1e-9; ++i) ticks.push_back(first + i * step);
  return ticks;
}

// The fit split's NLL over T (log scale), the fitted T marked.
std::string CurvePanel(const analysis::TemperatureFit& fit, double x0, double y0, double w, double h) {
  std::string o;
  o += Rect(x0, y0, w, h, "fill=\"#fafafa\" stroke=\"#888\"");
  const std::vector<double>& T = fit.curve_temperature;
  const std::vector<double>& nll = fit.curve_nll;
  if (T.size() < 2) return o;
  const double t_lo = std::log(T.back()), t_hi = std::log(T.front());
  // The whole curve, never clipped: the axis runs from the minimum to the maximum.
  const double n_lo = *std::min_element(nll.begin(), nll.end());
  double n_hi = *std::max_element(nll.begin(), nll.end());
  if (n_hi - n_lo < 1e-9 * std::max(1.0, std::fabs(n_lo))) n_hi = n_lo + 1;  // flat: a unit range
  auto X = [&](double t) { return x0 + (std::log(t) - t_lo) / (t_hi - t_lo) * w; };
  auto Y = [&](double v) { return y0 + h - (v - n_lo) / (n_hi - n_lo) * (h - 20) - 10; };
  for (double v : NiceTicks(n_lo, n_hi, 6)) {
    o += Line(x0, Y(v), x0 + w, Y(v), "stroke=\"#e4e4e4\"");
    o += Line(x0 - 4, Y(v), x0, Y(v), "stroke=\"#888\"");
    o += Text(x0 - 6, Y(v) + 4, TickText(v), " text-anchor=\"end\" font-size=\"11\"");
  }
  std::string path;
  for (size_t i = T.size(); i-- > 0;) path += (path.empty() ? "M" : " L") + Num(X(T[i])) + " " + Num(Y(nll[i]));
  o += "<path d=\"" + path + "\" fill=\"none\" stroke=\"#3b6fb6\" stroke-width=\"2\"/>\n";
  for (double t : {0.25, 0.5, 1.0, 2.0, 4.0, 8.0}) {
    if (std::log(t) < t_lo - 1e-9 || std::log(t) > t_hi + 1e-9) continue;
    o += Line(X(t), y0 + h, X(t), y0 + h + 4, "stroke=\"#888\"");
    o += Text(X(t), y0 + h + 16, Num(t), " text-anchor=\"middle\" font-size=\"11\"");
  }
  o += Line(X(1.0), y0, X(1.0), y0 + h, "stroke=\"#888\" stroke-dasharray=\"3,3\"");
  const double tx = X(fit.temperature);
  o += Line(tx, y0, tx, y0 + h, "stroke=\"#d62728\" stroke-width=\"1.5\"");
  char label[96];
  std::snprintf(label, sizeof(label), "fitted T = %.3f%s", fit.temperature, fit.at_grid_edge ? " (grid edge)" : "");
  o += Text(x0 + w / 2, y0 - 24, label, " text-anchor=\"middle\" font-size=\"13\" font-weight=\"bold\" fill=\"#d62728\"");
  char sub[128];
  std::snprintf(sub, sizeof(sub), "eval NLL %.4f → %.4f, ECE %.4f → %.4f", fit.before.nll, fit.after.nll,
                fit.before.errors.ece, fit.after.errors.ece);
  if (fit.after.positions > 0) o += Text(x0 + w / 2, y0 + h + 54, sub, " text-anchor=\"middle\" font-size=\"12\"");
  o += Text(x0 + w / 2, y0 + h + 34, "temperature T (log scale)", " text-anchor=\"middle\" font-size=\"12\"");
  o += Text(x0 + w / 2, y0 - 8, "the fit split's mean NLL (nats/token) over T", " text-anchor=\"middle\" font-size=\"12\"");
  return o;
}

}  // namespace

std::string ReliabilitySvg(const analysis::CalibrationSummary& s, const std::string& title) {
  const bool curve = s.temperature.fitted;
  const int width = curve ? 820 : 440, height = 500;
  std::string o = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) + "\" height=\"" +
                  std::to_string(height) + "\" font-family=\"sans-serif\">\n";
  o += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  o += Text(20, 22, title, " font-size=\"14\" font-weight=\"bold\"");
  o += ReliabilityPanel(s, 70, 64, 320);
  if (curve) o += CurvePanel(s.temperature, 480, 64, 310, 320);
  return o + "</svg>\n";
}

}  // namespace logitkit::cli
