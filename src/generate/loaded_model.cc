#include "logitkit/loaded_model.h"

#include <cstdlib>
#include <filesystem>

#include "logitkit/generate.h"

namespace logitkit {
namespace {

constexpr const char* kDefaultModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

}  // namespace

std::string CacheDir() {
  if (const char* cache = std::getenv("LOGITKIT_CACHE"); cache && *cache) return cache;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/logitkit";
}

std::string DefaultModelPath() {
  if (const char* env = std::getenv("LOGITKIT_MODEL"); env && *env) return env;
  return CacheDir() + "/" + kDefaultModel;
}

std::string ResolveModelPath(const std::string& path) { return path.empty() ? DefaultModelPath() : path; }

StatusOr<gguf::File> OpenModelFile(const std::string& given) {
  const std::string path = ResolveModelPath(given);
  if (path == CacheDir() + "/" + kDefaultModel && !std::filesystem::exists(path)) {
    return Status(StatusCode::kNotFound, "the default model " + path +
                                             " is not there: run scripts/fetch-model, or name a model file "
                                             "(or set LOGITKIT_MODEL)");
  }
  return gguf::File::Open(path);
}

StatusOr<LoadedModel> LoadModel(const std::string& path_or_empty, size_t threads,
                                const std::function<void(int)>& progress) {
  if (threads > 256) return InvalidArgumentError("threads = " + std::to_string(threads) + " is outside [0, 256]");
  LoadedModel m;
  m.path = ResolveModelPath(path_or_empty);
  StatusOr<gguf::File> file = OpenModelFile(m.path);
  if (!file.ok()) return file.status();
  if (progress) progress(1);
  auto shared = std::make_shared<const gguf::File>(std::move(*file));
  StatusOr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::FromGguf(*shared);
  if (!tok.ok()) return tok.status().WithContext(m.path + ": ");
  if (progress) progress(2);
  StatusOr<std::unique_ptr<Model>> model = Model::FromFile(shared);
  if (!model.ok()) return model.status().WithContext(m.path + ": ");
  if (tok->n_vocab() != (*model)->config().n_vocab) {
    return InvalidArgumentError(m.path + ": the tokenizer has " + std::to_string(tok->n_vocab()) +
                                " tokens but the model's embedding has " +
                                std::to_string((*model)->config().n_vocab) + " rows");
  }
  if (progress) progress(3);
  m.chat_template = tokenizer::ChatTemplate::ForModel(*shared, *tok);
  m.model = std::move(*model);
  m.tokenizer = std::make_unique<tokenizer::Tokenizer>(std::move(*tok));
  m.pool = std::make_unique<ThreadPool>(threads);
  m.constraints = std::make_unique<ConstraintCompiler>(*m.tokenizer, m.config().n_vocab,
                                                       EndOfGenerationTokens(*m.tokenizer));
  return m;
}

StatusOr<std::vector<int32_t>> LoadedModel::EncodePrompt(const std::string& text, bool chat,
                                                         bool parse_special) const {
  if (!chat) {
    tokenizer::EncodeOptions options;
    options.parse_special = parse_special;
    return tokenizer->Encode(text, options);
  }
  const tokenizer::ChatMessage user[] = {{"user", text}};
  return chat_template.Encode(*tokenizer, user);
}

}  // namespace logitkit
