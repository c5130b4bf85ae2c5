#include "runtime.h"

#include <sys/resource.h>

#include <cstdio>

#include "logitkit/model.h"

namespace logitkit::cli {

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

StatusOr<Runtime> LoadRuntime(const Flags& flags) { return LoadRuntimeAt(flags.Get("model", ""), flags); }

StatusOr<Runtime> LoadRuntimeAt(const std::string& path, const Flags& flags) {
  StatusOr<long long> threads = flags.GetInt("threads", 0);
  if (!threads.ok()) return threads.status();
  if (*threads < 0 || *threads > 256) {
    return InvalidArgumentError("--threads = " + std::to_string(*threads) + " is outside [0, 256]");
  }
  Progress progress("loading " + (path.empty() ? DefaultModelPath() : path), 3);  // file, tokenizer, weights
  progress.Update(0);
  StatusOr<Runtime> r = LoadModel(path, size_t(*threads), [&](int part) { progress.Update(size_t(part)); });
  if (!r.ok() && r.status().code() == StatusCode::kNotFound && path.empty()) {
    return Status(StatusCode::kNotFound, r.status().message() + " (--model FILE.gguf)");
  }
  if (r.ok() && !r->chat_template.fallback_reason().empty()) {
    std::fprintf(stderr, "logitkit: warning: %s; chat prompts use the built-in %s format\n",
                 r->chat_template.fallback_reason().c_str(), tokenizer::ChatFormatName(r->chat_template.format()));
  }
  return r;
}

PromptProgress::PromptProgress(size_t n_tokens) {
  if (n_tokens > Context::kMaxBatch) progress_.emplace("prompt", n_tokens);
}

Context::Progress PromptProgress::callback() {
  if (!progress_) return {};
  return [this](size_t n) {
    progress_->Update(n);
    return true;
  };
}

}  // namespace logitkit::cli
