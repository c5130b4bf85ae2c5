// llama.cpp's side of `bench/compare agree`, built by bench/compare against the
// libllama it builds in the cache (not part of the CMake project):
//
//   lcpp_logits MODEL.gguf TEXT.txt N_TOKENS OUT.ids OUT.f32
//
// Tokenizes the whole of TEXT.txt with llama.cpp's tokenizer (no BOS, control
// tokens stay text: the same as `logitkit tokenize --no-bos`), writes the first
// N_TOKENS ids to OUT.ids (space-separated, one line) and evaluates them as one
// sequence on the CPU, writing the logits of every position to OUT.f32:
// [N_TOKENS, n_vocab] float32, row-major. One thread-count-independent pass:
// n_batch = n_ubatch = N_TOKENS, so the prompt is a single ubatch.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "llama.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "lcpp_logits: %s\n", message.c_str());
  return 1;
}

void Quiet(ggml_log_level level, const char* text, void*) {
  if (level >= GGML_LOG_LEVEL_WARN) std::fputs(text, stderr);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 6) {
    std::fprintf(stderr, "usage: lcpp_logits MODEL.gguf TEXT.txt N_TOKENS OUT.ids OUT.f32\n");
    return 2;
  }
  const std::string model_path = argv[1], text_path = argv[2], ids_path = argv[4], out_path = argv[5];
  const long n_wanted = std::strtol(argv[3], nullptr, 10);
  if (n_wanted < 1 || n_wanted > 8192) return Fail("N_TOKENS must be in [1, 8192]");

  std::ifstream in(text_path, std::ios::binary);
  if (!in) return Fail("cannot read " + text_path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();

  llama_log_set(Quiet, nullptr);
  llama_backend_init();
  llama_model_params mparams = llama_model_default_params();
  mparams.n_gpu_layers = 0;
  mparams.progress_callback = [](float, void*) { return true; };
  llama_model* model = llama_model_load_from_file(model_path.c_str(), mparams);
  if (model == nullptr) return Fail("cannot load " + model_path);
  const llama_vocab* vocab = llama_model_get_vocab(model);
  const int32_t n_vocab = llama_vocab_n_tokens(vocab);

  std::vector<llama_token> ids(text.size() + 16);
  const int32_t n = llama_tokenize(vocab, text.data(), int32_t(text.size()), ids.data(), int32_t(ids.size()),
                                   /*add_special=*/false, /*parse_special=*/false);
  if (n < 0) return Fail("llama_tokenize failed");
  if (n < n_wanted) return Fail("the text has only " + std::to_string(n) + " tokens");
  ids.resize(size_t(n_wanted));

  FILE* ids_out = std::fopen(ids_path.c_str(), "w");
  if (ids_out == nullptr) return Fail("cannot write " + ids_path);
  for (size_t i = 0; i < ids.size(); ++i) std::fprintf(ids_out, i ? " %d" : "%d", ids[i]);
  std::fprintf(ids_out, "\n");
  std::fclose(ids_out);
  // All ids of the text too, to compare the whole tokenization.
  FILE* all_out = std::fopen((ids_path + ".all").c_str(), "w");
  if (all_out == nullptr) return Fail("cannot write " + ids_path + ".all");
  std::vector<llama_token> all(text.size() + 16);
  const int32_t n_all = llama_tokenize(vocab, text.data(), int32_t(text.size()), all.data(), int32_t(all.size()),
                                       false, false);
  for (int32_t i = 0; i < n_all; ++i) std::fprintf(all_out, i ? " %d" : "%d", all[i]);
  std::fprintf(all_out, "\n");
  std::fclose(all_out);

  llama_context_params cparams = llama_context_default_params();
  cparams.n_ctx = uint32_t(n_wanted);
  cparams.n_batch = uint32_t(n_wanted);
  cparams.n_ubatch = uint32_t(n_wanted);
  cparams.n_threads = 2;
  cparams.n_threads_batch = 2;
  // LCPP_KV=f32: float32 K/V cache and no flash attention (the default is an
  // f16 cache, flash attention where the backend has it), to separate the
  // cache's rounding from the matrix products'.
  const char* kv = std::getenv("LCPP_KV");
  if (kv != nullptr && std::string(kv) == "f32") {
    cparams.type_k = GGML_TYPE_F32;
    cparams.type_v = GGML_TYPE_F32;
    cparams.flash_attn_type = LLAMA_FLASH_ATTN_TYPE_DISABLED;
  }
  llama_context* ctx = llama_init_from_model(model, cparams);
  if (ctx == nullptr) return Fail("llama_init_from_model failed");

  llama_batch batch = llama_batch_init(int32_t(n_wanted), 0, 1);
  for (int32_t i = 0; i < int32_t(n_wanted); ++i) {
    batch.token[i] = ids[size_t(i)];
    batch.pos[i] = i;
    batch.n_seq_id[i] = 1;
    batch.seq_id[i][0] = 0;
    batch.logits[i] = 1;
  }
  batch.n_tokens = int32_t(n_wanted);
  if (llama_decode(ctx, batch) != 0) return Fail("llama_decode failed");

  FILE* out = std::fopen(out_path.c_str(), "wb");
  if (out == nullptr) return Fail("cannot write " + out_path);
  for (int32_t i = 0; i < int32_t(n_wanted); ++i) {
    const float* row = llama_get_logits_ith(ctx, i);
    if (row == nullptr) return Fail("no logits for position " + std::to_string(i));
    std::fwrite(row, sizeof(float), size_t(n_vocab), out);
  }
  if (std::fclose(out) != 0) return Fail("cannot write " + out_path);
  std::fprintf(stderr, "lcpp_logits: %d tokens in the text, logits of the first %ld, n_vocab %d\n", n, n_wanted,
               n_vocab);
  llama_batch_free(batch);
  llama_free(ctx);
  llama_model_free(model);
  llama_backend_free();
  return 0;
}
