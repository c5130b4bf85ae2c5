#include "model/matmul.h"

#include <algorithm>
#include <vector>

#include "logitkit/quant.h"

namespace logitkit {
namespace {

// Tasks of 16 rows: enough tasks to balance 2..16 threads on a 576-row matrix.
constexpr size_t kRowsPerTask = 16;

// Block types with integer activations: each token's x quantized once, each
// weight row decoded once for up to kMaxDotBatch tokens.
void MatMulQuantized(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool, int bits) {
  std::vector<quant::QuantizedRow> xq(n_tokens);
  for (size_t t = 0; t < n_tokens; ++t) quant::QuantizeRow(x + t * w.cols, w.cols, bits, &xq[t]);
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.Run(n_tasks, [&](size_t task, size_t) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    float out[quant::kMaxDotBatch];
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      for (size_t t = 0; t < n_tokens; t += quant::kMaxDotBatch) {
        const size_t count = std::min(quant::kMaxDotBatch, n_tokens - t);
        quant::DotRowsQuantized(w.type, w.Row(r), xq.data() + t, count, out);
        for (size_t k = 0; k < count; ++k) y[(t + k) * w.rows + r] = out[k];
      }
    }
  });
}

// float32 activations: each weight row read in place, each of its blocks
// decoded once for up to 8 tokens (quant::DotRows), so every token's result is
// bitwise what it would be alone.
void MatMulFloat(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool) {
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.Run(n_tasks, [&](size_t task, size_t) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    float out[quant::kMaxDotBatch];
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      if (n_tokens == 1) {  // the decode step: ~200,000 rows a token, no call to spare
        y[r] = quant::DotRow(w.type, w.Row(r), x, w.cols);
        continue;
      }
      for (size_t t = 0; t < n_tokens; t += quant::kMaxDotBatch) {
        const size_t count = std::min(quant::kMaxDotBatch, n_tokens - t);
        quant::DotRows(w.type, w.Row(r), x + t * w.cols, w.cols, count, out);
        for (size_t k = 0; k < count; ++k) y[(t + k) * w.rows + r] = out[k];
      }
    }
  });
}

}  // namespace

void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool,
            Activations activations) {
  if (activations != Activations::kFloat32 && quant::HasIntegerDot(w.type)) {
    MatMulQuantized(w, x, n_tokens, y, pool, 8);
  } else {
    MatMulFloat(w, x, n_tokens, y, pool);
  }
}

}  // namespace logitkit
