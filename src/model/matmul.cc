#include "model/matmul.h"

#include <algorithm>
#include <vector>

#include "logitkit/tensor_types.h"

namespace logitkit {
namespace {

// Tasks of 16 rows: enough tasks to balance 2..16 threads on a 576-row matrix.
constexpr size_t kRowsPerTask = 16;

// Block types with int8 activations: each token's x quantized once, each
// weight row decoded once for up to kMaxQ8Batch tokens.
void MatMulQ8(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  std::vector<gguf::Q8Row> xq(n_tokens);
  for (size_t t = 0; t < n_tokens; ++t) gguf::QuantizeRowQ8(x + t * w.cols, w.cols, &xq[t]);
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.Run(n_tasks, [&](size_t task, size_t) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    float out[gguf::kMaxQ8Batch];
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      for (size_t t = 0; t < n_tokens; t += gguf::kMaxQ8Batch) {
        const size_t count = std::min(gguf::kMaxQ8Batch, n_tokens - t);
        gguf::DotRowsQ8(w.type, w.Row(r), xq.data() + t, count, out);
        for (size_t k = 0; k < count; ++k) y[(t + k) * w.rows + r] = out[k];
      }
    }
  });
}

// float32 activations: one token reads the row in place (gguf::DotRow);
// several convert it once into per-thread scratch.
void MatMulFloat(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  std::vector<std::vector<float>> scratch(pool.num_threads());
  pool.Run(n_tasks, [&](size_t task, size_t thread) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    std::vector<float>& row = scratch[thread];
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      if (n_tokens == 1) {
        y[r] = gguf::DotRow(w.type, w.Row(r), x, w.cols);
        continue;
      }
      const float* dense = reinterpret_cast<const float*>(w.Row(r));
      if (w.type != gguf::TensorType::kF32) {
        row.resize(w.cols);
        gguf::DequantizeRow(w.type, w.Row(r), w.cols, row.data());
        dense = row.data();
      }
      for (size_t t = 0; t < n_tokens; ++t) {
        y[t * w.rows + r] = gguf::DotRow(gguf::TensorType::kF32, dense, x + t * w.cols, w.cols);
      }
    }
  });
}

}  // namespace

void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool,
            Activations activations) {
  if (activations == Activations::kInt8 && gguf::HasQ8Dot(w.type)) {
    MatMulQ8(w, x, n_tokens, y, pool);
  } else {
    MatMulFloat(w, x, n_tokens, y, pool);
  }
}

}  // namespace logitkit
