// Which model file a command reads: --model, else $LOGITKIT_MODEL, else the
// default model that scripts/fetch-model puts in the cache,
// ${LOGITKIT_CACHE:-$HOME/.cache/logitkit}/SmolLM2-135M-Instruct.Q4_1.gguf.
#ifndef LOGITKIT_APPS_CLI_MODEL_PATH_H_
#define LOGITKIT_APPS_CLI_MODEL_PATH_H_

#include <string>

#include "logitkit/gguf.h"
#include "logitkit/status.h"

namespace logitkit::cli {

// The cache folder (no trailing slash).
std::string CacheDir();

// `flag` is the --model value ("" if not given).
std::string ResolveModelPath(const std::string& flag);

// Opens the resolved model; a missing default model gets an error that says
// how to fetch it.
StatusOr<gguf::File> OpenModel(const std::string& path);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_MODEL_PATH_H_
