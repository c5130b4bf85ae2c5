// Stands in for ggml.h when building llama.cpp's common/json.cpp outside
// llama.cpp (src/tokenizer/jinja.cmake): json.cpp includes ggml.h only for
// GGML_ASSERT, which it makes nlohmann-json's JSON_ASSERT. We give it the
// meaning nlohmann-json's own default has: assert().
#ifndef LOGITKIT_TOKENIZER_JINJA_SHIM_GGML_H_
#define LOGITKIT_TOKENIZER_JINJA_SHIM_GGML_H_

#include <cassert>

#define GGML_ASSERT(x) assert(x)

#endif  // LOGITKIT_TOKENIZER_JINJA_SHIM_GGML_H_
