// What Calibration and Divergence share: measuring rows in parallel.
#ifndef LOGITKIT_SRC_ANALYSIS_ROWS_H_
#define LOGITKIT_SRC_ANALYSIS_ROWS_H_

#include <cstddef>
#include <functional>
#include <vector>

#include "logitkit/status.h"
#include "logitkit/thread_pool.h"

namespace logitkit::analysis {

// Calls measure(row, thread) for every row in [0, n), on pool (null: this
// thread, as thread 0), and returns the first error in row order, or OK.
// measure must only write what belongs to its row or to its thread.
inline Status MeasureRows(ThreadPool* pool, size_t n, const std::function<Status(size_t, size_t)>& measure) {
  std::vector<Status> status(n);
  auto run = [&](size_t row, size_t thread) { status[row] = measure(row, thread); };
  if (pool) {
    pool->Run(n, run);
  } else {
    for (size_t row = 0; row < n; ++row) run(row, 0);
  }
  for (const Status& s : status) {
    if (!s.ok()) return s;
  }
  return OkStatus();
}

}  // namespace logitkit::analysis

#endif  // LOGITKIT_SRC_ANALYSIS_ROWS_H_
