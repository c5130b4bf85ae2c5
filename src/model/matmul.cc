#include "model/matmul.h"

#include <algorithm>
#include <vector>

#include "logitkit/tensor_types.h"

namespace logitkit {
namespace {

// Tasks of 16 rows: enough tasks to balance 2..16 threads on a 576-row matrix.
constexpr size_t kRowsPerTask = 16;

// Block types with integer activations: each token's x quantized once, each
// weight row decoded once for up to kMaxDotBatch tokens.
void MatMulQuantized(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool, int bits) {
  std::vector<gguf::QuantizedRow> xq(n_tokens);
  for (size_t t = 0; t < n_tokens; ++t) gguf::QuantizeRow(x + t * w.cols, w.cols, bits, &xq[t]);
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  pool.Run(n_tasks, [&](size_t task, size_t) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    float out[gguf::kMaxDotBatch];
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      for (size_t t = 0; t < n_tokens; t += gguf::kMaxDotBatch) {
        const size_t count = std::min(gguf::kMaxDotBatch, n_tokens - t);
        gguf::DotRowsQuantized(w.type, w.Row(r), xq.data() + t, count, out);
        for (size_t k = 0; k < count; ++k) y[(t + k) * w.rows + r] = out[k];
      }
    }
  });
}

// float32 activations: one token reads the row in place (gguf::DotRow);
// several convert it once into per-thread scratch.
void MatMulFloat(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool, MatMulRows mode) {
  const size_t n_tasks = (w.rows + kRowsPerTask - 1) / kRowsPerTask;
  // Per-thread rows for several tokens; a single token needs none (the decode
  // step calls this ~250 times a token).
  const bool in_place = n_tokens == 1 || mode == MatMulRows::kInPlace;
  std::vector<std::vector<float>> scratch(in_place ? 0 : pool.num_threads());
  pool.Run(n_tasks, [&](size_t task, size_t thread) {
    const size_t end = std::min(w.rows, (task + 1) * kRowsPerTask);
    for (size_t r = task * kRowsPerTask; r < end; ++r) {
      if (in_place) {
        for (size_t t = 0; t < n_tokens; ++t) y[t * w.rows + r] = gguf::DotRow(w.type, w.Row(r), x + t * w.cols, w.cols);
        continue;
      }
      std::vector<float>& row = scratch[thread];
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
            Activations activations, MatMulRows mode) {
  if (activations != Activations::kFloat32 && gguf::HasIntegerDot(w.type)) {
    MatMulQuantized(w, x, n_tokens, y, pool, 8);
  } else {
    MatMulFloat(w, x, n_tokens, y, pool, mode);
  }
}

}  // namespace logitkit
