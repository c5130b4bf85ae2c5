// Matrix products of a model's weights (any compute tensor type) with float32
// activations, spread over the thread pool by blocks of rows.
#ifndef LOGITKIT_MODEL_MATMUL_H_
#define LOGITKIT_MODEL_MATMUL_H_

#include <cstddef>

#include "logitkit/thread_pool.h"
#include "model/weights.h"

namespace logitkit {

// y[t * w.rows + r] = Σ_c w[r][c] · x[t * w.cols + c] for t < n_tokens:
// n_tokens activation rows of w.cols floats in, n_tokens rows of w.rows out.
// One token: gguf::DotRow on the stored rows. Several: each weight row is
// dequantized once into per-thread scratch and dotted with every token, so a
// prompt reads the weights once.
void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_MATMUL_H_
