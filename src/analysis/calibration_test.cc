// Calibration's contracts that need no reference numbers: thread-count
// independence, bin bookkeeping, errors. The metrics themselves are checked
// against numpy in tests/analysis/check_calibrate.py.
#include "logitkit/calibration.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace logitkit::analysis {
namespace {

struct Rows {
  std::vector<float> logits;
  std::vector<int32_t> targets;
};

Rows RandomRows(size_t n, size_t V, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> normal(0.0f, 3.0f);
  Rows r;
  r.logits.resize(n * V);
  for (float& v : r.logits) v = normal(rng);
  for (size_t i = 0; i < n; ++i) r.targets.push_back(int32_t(rng() % V));
  return r;
}

CalibrationOptions Options() {
  CalibrationOptions o;
  o.sampling = {*ParseSamplingSetting("top_p=0.9"), *ParseSamplingSetting("t=0.7,min_p=0.05,top_k=20")};
  return o;
}

TEST(Calibration, ResultsDoNotDependOnTheThreadCount) {
  const size_t V = 300, n = 64;
  const Rows rows = RandomRows(n, V, 1);
  ThreadPool pool(3);
  CalibrationSummary results[2];
  for (int use_pool = 0; use_pool < 2; ++use_pool) {
    StatusOr<Calibration> c = Calibration::Create(V, Options());
    ASSERT_TRUE(c.ok()) << c.status().message();
    const std::span<const float> logits(rows.logits);
    const std::span<const int32_t> targets(rows.targets);
    ThreadPool* p = use_pool ? &pool : nullptr;
    ASSERT_TRUE(c->AddRows(logits.first(32 * V), targets.first(32), Split::kFit, p).ok());
    ASSERT_TRUE(c->FitTemperature().ok());
    ASSERT_TRUE(c->AddRows(logits.subspan(32 * V), targets.subspan(32), Split::kEval, p).ok());
    results[use_pool] = c->Summary();
  }
  EXPECT_EQ(results[0].top.nll, results[1].top.nll);
  EXPECT_EQ(results[0].top.brier, results[1].top.brier);
  EXPECT_EQ(results[0].top.errors.ece, results[1].top.errors.ece);
  EXPECT_EQ(results[0].full_errors.ece, results[1].full_errors.ece);
  EXPECT_EQ(results[0].temperature.temperature, results[1].temperature.temperature);
  EXPECT_EQ(results[0].temperature.after.nll, results[1].temperature.after.nll);
  EXPECT_EQ(results[0].sampling[1].coverage, results[1].sampling[1].coverage);
  EXPECT_EQ(results[1].temperature.before.positions, 32);
}

TEST(Calibration, BinsCountEveryPositionAndEveryProbabilityOnce) {
  const size_t V = 50, n = 997;
  const Rows rows = RandomRows(n, V, 2);
  CalibrationOptions o = Options();
  o.bins = 7;
  StatusOr<Calibration> c = Calibration::Create(V, o);
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(c->AddRows(rows.logits, rows.targets, Split::kEval, nullptr).ok());
  const CalibrationSummary s = c->Summary();
  int64_t top = 0, mass = 0, full = 0, octaves = 0;
  double outcomes = 0;
  for (const Bin& b : s.top.bins) top += b.count;
  for (const Bin& b : s.full_bins) full += b.count, outcomes += b.outcome_sum;
  for (const Bin& b : s.full_octaves) octaves += b.count;
  ASSERT_LE(s.equal_mass.size(), 7u);
  for (size_t i = 0; i < s.equal_mass.size(); ++i) {
    mass += s.equal_mass[i].count;
    if (i) {
      EXPECT_EQ(s.equal_mass[i].lo, s.equal_mass[i - 1].hi);  // contiguous
    }
    // Equal mass to within the fine bins' resolution: these confidences are distinct.
    EXPECT_NEAR(double(s.equal_mass[i].count), double(n) / 7, 3.0) << "bin " << i;
  }
  EXPECT_EQ(top, int64_t(n));
  EXPECT_EQ(mass, int64_t(n));
  EXPECT_EQ(full, int64_t(n * V));
  EXPECT_EQ(octaves, int64_t(n * V));
  EXPECT_EQ(outcomes, double(n));
  EXPECT_EQ(s.top.positions, int64_t(n));
  EXPECT_FALSE(s.temperature.fitted);
}

TEST(Calibration, ErrorsNameTheRowAndNothingIsAdded) {
  const size_t V = 10;
  Rows rows = RandomRows(3, V, 3);
  StatusOr<Calibration> c = Calibration::Create(V, Options());
  ASSERT_TRUE(c.ok());
  rows.targets[2] = 10;
  Status s = c->AddRows(rows.logits, rows.targets, Split::kEval, nullptr);
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange);
  EXPECT_NE(s.message().find("row 2: next token 10 outside [0, 10)"), std::string::npos) << s.message();
  rows.targets[2] = 0;
  rows.logits[V + 4] = NAN;
  s = c->AddRows(rows.logits, rows.targets, Split::kEval, nullptr);
  EXPECT_NE(s.message().find("row 1: logit 4 is nan"), std::string::npos) << s.message();
  rows.logits[V + 4] = 0;
  for (size_t j = 0; j < V; ++j) rows.logits[j] = -INFINITY;
  s = c->AddRows(rows.logits, rows.targets, Split::kEval, nullptr);
  EXPECT_NE(s.message().find("row 0: every logit is -inf"), std::string::npos) << s.message();
  EXPECT_EQ(c->positions(), 0);
  EXPECT_EQ(c->FitTemperature().code(), StatusCode::kFailedPrecondition);  // no fit rows
  EXPECT_FALSE(c->AddRows(std::span<const float>(rows.logits).first(5), rows.targets, Split::kFit, nullptr).ok());
}

TEST(Calibration, OptionsAndSettingsAreValidated) {
  CalibrationOptions o;
  o.bins = 0;
  EXPECT_NE(Calibration::Create(10, o).status().message().find("bins 0"), std::string::npos);
  o.bins = -3;
  EXPECT_FALSE(Calibration::Create(10, o).ok());
  EXPECT_FALSE(Calibration::Create(0, CalibrationOptions()).ok());
  EXPECT_FALSE(ParseSamplingSetting("top_p=1.5").ok());
  EXPECT_FALSE(ParseSamplingSetting("t=0").ok());
  EXPECT_FALSE(ParseSamplingSetting("top_k=2.5").ok());
  EXPECT_FALSE(ParseSamplingSetting("typical=0.5").ok());
  EXPECT_FALSE(ParseSamplingSetting("top_p=").ok());
  EXPECT_FALSE(ParseSamplingSetting("").ok());
  StatusOr<SamplingSetting> s = ParseSamplingSetting("temperature=0.7,top_k=40,top_p=0.95,min_p=0.05");
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->Label(), "T=0.7 top_k=40 top_p=0.95 min_p=0.05");
}

}  // namespace
}  // namespace logitkit::analysis
