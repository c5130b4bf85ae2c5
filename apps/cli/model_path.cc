#include "model_path.h"

#include <cstdlib>
#include <filesystem>

namespace logitkit::cli {

constexpr const char* kDefaultModel = "SmolLM2-135M-Instruct.Q4_1.gguf";

std::string CacheDir() {
  if (const char* cache = std::getenv("LOGITKIT_CACHE"); cache && *cache) return cache;
  const char* home = std::getenv("HOME");
  return std::string(home && *home ? home : ".") + "/.cache/logitkit";
}

std::string ResolveModelPath(const std::string& flag) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv("LOGITKIT_MODEL"); env && *env) return env;
  return CacheDir() + "/" + kDefaultModel;
}

StatusOr<gguf::File> OpenModel(const std::string& path) {
  if (path == CacheDir() + "/" + kDefaultModel && !std::filesystem::exists(path)) {
    return Status(StatusCode::kNotFound, "the default model " + path +
                                             " is not there: run scripts/fetch-model, or pass --model FILE.gguf "
                                             "(or set LOGITKIT_MODEL)");
  }
  return gguf::File::Open(path);
}

}  // namespace logitkit::cli
