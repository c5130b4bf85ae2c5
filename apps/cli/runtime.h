// What the model commands (top, generate, ...) share: the model, its
// tokenizer and a thread pool from --model / --threads (through the library's
// one loader, with a progress line), and a progress line for long prompts.
#ifndef LOGITKIT_APPS_CLI_RUNTIME_H_
#define LOGITKIT_APPS_CLI_RUNTIME_H_

#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>

#include "flags.h"
#include "logitkit/loaded_model.h"
#include "logitkit/status.h"
#include "terminal.h"

namespace logitkit::cli {

// Flags every model command takes (merge into the command's own).
inline const char* const kRuntimeFlagsHelp =
    "  --model FILE      a GGUF model (default: $LOGITKIT_MODEL, else SmolLM2-135M-Instruct\n"
    "                    from scripts/fetch-model)\n"
    "  --threads N       threads (default: one per core)\n";
inline const std::set<std::string> kRuntimeFlags = {"model", "threads"};

using Runtime = LoadedModel;

// The model of --model (else the default) with --threads threads.
StatusOr<Runtime> LoadRuntime(const Flags& flags);
// The model at `path` (--threads from flags).
StatusOr<Runtime> LoadRuntimeAt(const std::string& path, const Flags& flags);

// The process's peak resident memory so far, in MiB.
double PeakRssMiB();

// A progress line for evaluating n_tokens prompt tokens (shown on a terminal
// when they take more than one forward pass): pass progress.callback() to
// Context::Eval or Sequence::Start.
class PromptProgress {
 public:
  explicit PromptProgress(size_t n_tokens);
  Context::Progress callback();

 private:
  std::optional<Progress> progress_;
};

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_RUNTIME_H_
