// Matrix products of a model's weights (any compute tensor type) with float32
// activations, spread over the thread pool by blocks of rows.
#ifndef LOGITKIT_MODEL_MATMUL_H_
#define LOGITKIT_MODEL_MATMUL_H_

#include <cstddef>

#include "logitkit/model.h"
#include "logitkit/thread_pool.h"
#include "model/weights.h"

namespace logitkit {

// y[t * w.rows + r] = Σ_c w[r][c] · x[t * w.cols + c] for t < n_tokens:
// n_tokens activation rows of w.cols floats in, n_tokens rows of w.rows out.
//
// kFloat32: each weight row is read in place and each of its blocks decoded
// once for up to 8 tokens (quant::DotRows); a token's result is the same bit
// for bit in a batch or alone.
// kInt8 (block-quantized weights only; float weights stay kFloat32), as
// llama.cpp: each x is quantized to int8 per 32 elements (quant::QuantizeRow)
// and each weight row decoded once per 8 tokens (quant::DotRowsQuantized); a
// token's result is the same bit for bit in a batch or alone. On SmolLM2-135M
// the logits move by up to ~4% of their largest magnitude.
void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool,
            Activations activations);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_MATMUL_H_
