// logitkit.calibrate: analysis::Calibration over numpy rows of logits (the
// model's own, T = 1) and the tokens that came next. Knows no model.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <vector>

#include "arrays.h"
#include "bindings.h"
#include "errors.h"
#include "logitkit/calibration.h"

namespace py = pybind11;

namespace logitkit::python {
namespace {

using analysis::Bin;
using analysis::CalibrationErrors;

py::list Bins(const std::vector<Bin>& bins) {
  py::list out;
  for (const Bin& b : bins) {
    py::dict d;
    d["lo"] = b.lo;
    d["hi"] = b.hi;
    d["count"] = b.count;
    d["confidence"] = b.confidence();
    d["accuracy"] = b.accuracy();
    out.append(d);
  }
  return out;
}

void PutErrors(py::dict& d, const CalibrationErrors& e) {
  d["ece"] = e.ece;
  d["rms"] = e.rms;
  d["mce"] = e.mce;
}

py::dict TopLabel(const analysis::TopLabelSummary& s) {
  py::dict d;
  d["positions"] = s.positions;
  d["nll"] = s.nll;
  d["accuracy"] = s.accuracy;
  d["brier"] = s.brier;
  PutErrors(d, s.errors);
  d["bins"] = Bins(s.bins);
  return d;
}

analysis::SamplingSetting Setting(py::handle h) {
  if (py::isinstance<py::str>(h)) return ValueOrThrow(analysis::ParseSamplingSetting(h.cast<std::string>()));
  if (!py::isinstance<py::dict>(h)) {
    ThrowTypeError("sampling: each setting is a str ('t=0.7,top_p=0.9') or a dict with temperature, top_k, "
                   "top_p, min_p");
  }
  analysis::SamplingSetting s;
  for (auto [key, value] : py::reinterpret_borrow<py::dict>(h)) {
    const std::string k = py::str(key).cast<std::string>();
    if (k == "temperature" || k == "t") {
      s.temperature = value.cast<float>();
    } else if (k == "top_k") {
      s.top_k = value.cast<int32_t>();
    } else if (k == "top_p") {
      s.top_p = value.cast<float>();
    } else if (k == "min_p") {
      s.min_p = value.cast<float>();
    } else {
      ThrowValueError("sampling: unknown key '" + k + "' (expected temperature, top_k, top_p, min_p)");
    }
  }
  return s;
}

py::dict Calibrate(const py::object& logits, const py::object& targets, int bins, const py::object& sampling, const py::object& fit,
                   size_t threads) {
  const LogitsArg a = GetLogits(logits, "logits", /*allow_f16=*/false);
  if (!a.batched) ThrowValueError("logits must be 2-D [n_rows, n_vocab]");
  const std::vector<int32_t> y = GetTokenIds(targets, "targets");
  if (y.size() != a.n_rows) {
    ThrowValueError("targets has " + std::to_string(y.size()) + " tokens for " + std::to_string(a.n_rows) +
                    " rows of logits");
  }
  analysis::CalibrationOptions options;
  options.bins = bins;
  if (!sampling.is_none()) {
    for (py::handle h : py::reinterpret_borrow<py::iterable>(sampling)) options.sampling.push_back(Setting(h));
  }
  std::vector<bool> is_fit;
  if (!fit.is_none()) {
    for (py::handle h : py::reinterpret_borrow<py::iterable>(fit)) is_fit.push_back(h.cast<bool>());
    if (is_fit.size() != a.n_rows) {
      ThrowValueError("fit has " + std::to_string(is_fit.size()) + " values for " + std::to_string(a.n_rows) +
                      " rows (one bool per row: True = the temperature-fit split)");
    }
  }
  analysis::CalibrationSummary s;
  {
    py::gil_scoped_release release;
    analysis::Calibration c = ValueOrThrow(analysis::Calibration::Create(a.n_vocab, options));
    std::unique_ptr<ThreadPool> pool;
    if (threads != 1) pool = std::make_unique<ThreadPool>(threads);
    // Adds the runs of consecutive rows of one split, in place (no copy).
    auto add = [&](bool want_fit, analysis::Split split) {
      for (size_t r = 0; r < a.n_rows;) {
        const bool in = is_fit.empty() ? !want_fit : is_fit[r] == want_fit;
        size_t end = r + 1;
        while (end < a.n_rows && (is_fit.empty() ? !want_fit : is_fit[end] == want_fit) == in) ++end;
        if (in) {
          const std::span<const float> rows(a.Row(r).data(), (end - r) * a.n_vocab);
          ThrowIfError(c.AddRows(rows, std::span<const int32_t>(y.data() + r, end - r), split, pool.get(), r));
        }
        r = end;
      }
    };
    if (!is_fit.empty()) {
      add(true, analysis::Split::kFit);
      ThrowIfError(c.FitTemperature());
    }
    add(false, analysis::Split::kEval);
    s = c.Summary();
  }
  py::dict d = TopLabel(s.top);
  d["n_vocab"] = s.n_vocab;
  d["n_bins"] = s.bins;
  py::dict equal_mass;
  PutErrors(equal_mass, s.equal_mass_errors);
  equal_mass["bins"] = Bins(s.equal_mass);
  d["equal_mass"] = equal_mass;
  py::dict full;
  PutErrors(full, s.full_errors);
  full["bins"] = Bins(s.full_bins);
  full["octaves"] = Bins(s.full_octaves);
  d["full"] = full;
  py::list sets;
  for (const analysis::SamplingSetSummary& set : s.sampling) {
    py::dict e;
    e["label"] = set.setting.Label();
    e["positions"] = set.positions;
    e["mean_mass"] = set.mean_mass;
    e["coverage"] = set.coverage;
    e["mean_kept"] = set.mean_kept;
    PutErrors(e, set.errors);
    e["bins"] = Bins(set.bins);
    sets.append(e);
  }
  d["sampling"] = sets;
  if (s.temperature.fitted) {
    const analysis::TemperatureFit& f = s.temperature;
    py::dict t;
    t["temperature"] = f.temperature;
    t["at_grid_edge"] = f.at_grid_edge;
    t["fit_positions"] = f.fit_positions;
    t["fit_nll_at_1"] = f.fit_nll_at_1;
    t["fit_nll_at_fit"] = f.fit_nll_at_fit;
    t["curve_temperature"] = f.curve_temperature;
    t["curve_nll"] = f.curve_nll;
    t["before"] = TopLabel(f.before);
    t["after"] = TopLabel(f.after);
    d["temperature"] = t;
  }
  return d;
}

}  // namespace

void BindAnalysis(py::module_& m) {
  m.def("calibrate", &Calibrate, py::arg("logits"), py::arg("targets"), py::kw_only(), py::arg("bins") = 15,
        py::arg("sampling") = py::none(), py::arg("fit") = py::none(), py::arg("threads") = 1,
        "Calibration of rows of logits (float32 [n_rows, n_vocab], the model's own, T = 1, read in\n"
        "place) against the tokens that came next (targets [n_rows]). Returns a dict: positions,\n"
        "nll, accuracy, brier, ece, rms, mce, bins (equal-width reliability bins: lo, hi, count,\n"
        "confidence, accuracy), equal_mass, full (every probability), sampling (per setting: a\n"
        "str 't=0.7,top_p=0.9' or a dict; mean_mass, coverage, mean_kept, ...), and, when fit\n"
        "(one bool per row) marks a split, temperature (the fitted T, before/after on the rest).\n"
        "See include/logitkit/calibration.h for the definitions.");
}

}  // namespace logitkit::python
