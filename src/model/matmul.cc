#include "model/matmul.h"

#include <algorithm>
#include <vector>

#include "logitkit/tensor_types.h"

namespace logitkit {

void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  // Tasks of 16 rows: enough tasks to balance 2..16 threads on a 576-row matrix.
  constexpr size_t kRowsPerTask = 16;
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  if (n_tokens == 1) {
    pool.Run(n_tasks, [&](size_t task, size_t) {
      const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
      for (size_t r = task * kRowsPerTask; r < end; ++r) y[r] = gguf::DotRow(w.type, w.Row(r), x, w.cols);
    });
    return;
  }
  std::vector<std::vector<float>> scratch(pool.num_threads());
  pool.Run(n_tasks, [&](size_t task, size_t thread) {
    std::vector<float>& row = scratch[thread];
    row.resize(w.cols);
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      gguf::DequantizeRow(w.type, w.Row(r), w.cols, row.data());
      for (size_t t = 0; t < n_tokens; ++t) {
        y[t * w.rows + r] = gguf::DotRow(gguf::TensorType::kF32, row.data(), x + t * w.cols, w.cols);
      }
    }
  });
}

}  // namespace logitkit
