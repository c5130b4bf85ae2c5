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
// kFloat32: one token dots the stored rows (gguf::DotRow); several dequantize
// each row once into per-thread scratch and dot it with every token. A
// token's result may differ in the last bits between the two.
// kInt8 (block-quantized weights only; float weights stay kFloat32), as
// llama.cpp: each x is quantized to int8 per 32 elements (gguf::QuantizeRow)
// and each weight row decoded once per 8 tokens (gguf::DotRowsQuantized); a
// token's result is the same bit for bit in a batch or alone. On SmolLM2-135M
// the logits move by up to ~4% of their largest magnitude.
//
// mode (float32 activations, several tokens): kDecodeOnce as above;
// kInPlace dots the stored row with each token, as for one token, so every
// token's result is bitwise what it would be alone (Context::EvalBatch).
enum class MatMulRows : uint8_t { kDecodeOnce, kInPlace };
void MatMul(const Matrix& w, const float* x, size_t n_tokens, float* y, ThreadPool& pool,
            Activations activations, MatMulRows mode = MatMulRows::kDecodeOnce);

}  // namespace logitkit

#endif  // LOGITKIT_MODEL_MATMUL_H_
