// What the model commands (top, generate, ...) share: loading the model, its
// tokenizer and a thread pool from --model / --threads, turning the prompt
// into tokens (--chat), and evaluating a prompt with a progress line.
#ifndef LOGITKIT_APPS_CLI_RUNTIME_H_
#define LOGITKIT_APPS_CLI_RUNTIME_H_

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "flags.h"
#include "logitkit/model.h"
#include "logitkit/status.h"
#include "logitkit/thread_pool.h"
#include "logitkit/tokenizer.h"

namespace logitkit::cli {

// Flags every model command takes (merge into the command's own).
inline const char* const kRuntimeFlagsHelp =
    "  --model FILE      a GGUF model (default: $LOGITKIT_MODEL, else SmolLM2-135M-Instruct\n"
    "                    from scripts/fetch-model)\n"
    "  --threads N       threads (default: one per core)\n";
inline const std::set<std::string> kRuntimeFlags = {"model", "threads"};

struct Runtime {
  std::string path;
  std::unique_ptr<Model> model;
  std::optional<tokenizer::Tokenizer> tokenizer;
  std::unique_ptr<ThreadPool> pool;
};

StatusOr<Runtime> LoadRuntime(const Flags& flags);
// The same for the model at `path` (--threads from flags).
StatusOr<Runtime> LoadRuntimeAt(const std::string& path, const Flags& flags);

// The prompt's tokens. chat: wrapped in the model's chat format, known from
// its tokenizer.chat_template (ChatML, Llama 3, or Llama 2 / Mistral [INST]);
// the template's own markers are special tokens, the user's text never is.
StatusOr<std::vector<int32_t>> EncodePrompt(const Runtime& runtime, const std::string& text, bool chat);

// The process's peak resident memory so far, in MiB.
double PeakRssMiB();

// Evaluates tokens in chunks of 64 (a progress line on a terminal when there
// are more than 64), returning the logits of the last one.
Status EvalPrompt(Context& context, const std::vector<int32_t>& tokens, std::vector<float>* logits);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_RUNTIME_H_
