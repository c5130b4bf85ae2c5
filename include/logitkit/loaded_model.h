// A model ready to run: the GGUF file's model, its tokenizer, its chat template
// and a thread pool, loaded and checked together. The CLI's model commands
// and Python's logitkit.Model load through this one function.
#ifndef LOGITKIT_LOADED_MODEL_H_
#define LOGITKIT_LOADED_MODEL_H_

#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "logitkit/chat.h"
#include "logitkit/gguf.h"
#include "logitkit/model.h"
#include "logitkit/status.h"
#include "logitkit/structured.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace logitkit {

struct LoadedModel {
  std::string path;
  std::unique_ptr<Model> model;
  std::unique_ptr<tokenizer::Tokenizer> tokenizer;
  // The file's chat template, or a built-in format (chat.h).
  tokenizer::ChatTemplate chat_template;
  std::unique_ptr<ThreadPool> pool;
  // Compiles structured-output constraints for this vocabulary, with a cache
  // (GenerateOptions::constraint). Thread-safe.
  std::unique_ptr<ConstraintCompiler> constraints;

  const ModelConfig& config() const { return model->config(); }
  // The prompt's tokens: text as the vocabulary encodes it (BOS as it says;
  // special tokens written in it are those tokens only with parse_special),
  // or with chat, text as the user's message in the model's chat template
  // (chat.h; the message's text is always plain text).
  StatusOr<std::vector<int32_t>> EncodePrompt(const std::string& text, bool chat,
                                              bool parse_special = false) const;
};

// The cache of scripts/fetch-model: $LOGITKIT_CACHE, else $HOME/.cache/logitkit.
std::string CacheDir();
// The model read when none is named: $LOGITKIT_MODEL, else the default model
// in the cache (CacheDir()/SmolLM2-135M-Instruct.Q4_1.gguf).
std::string DefaultModelPath();
// path, or DefaultModelPath() if path is empty.
std::string ResolveModelPath(const std::string& path);

// Opens the GGUF file at path ("" : DefaultModelPath()). A missing default
// model is a kNotFound error that says how to fetch it.
StatusOr<gguf::File> OpenModelFile(const std::string& path);

// Loads the model at path ("" : DefaultModelPath()) with a pool of `threads`
// threads (0: one per core, at most 256). progress(k) is called as each of
// the three parts is read (k = 1 file, 2 tokenizer, 3 weights). Errors name
// the file; a missing default model says how to fetch it.
StatusOr<LoadedModel> LoadModel(const std::string& path, size_t threads,
                                const std::function<void(int)>& progress = {});

}  // namespace logitkit

#endif  // LOGITKIT_LOADED_MODEL_H_
