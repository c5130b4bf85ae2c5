#include "runtime.h"

#include <sys/resource.h>

#include <algorithm>

#include "logitkit/chat.h"
#include "model_path.h"
#include "terminal.h"

namespace logitkit::cli {

double PeakRssMiB() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return double(usage.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

StatusOr<Runtime> LoadRuntime(const Flags& flags) {
  return LoadRuntimeAt(ResolveModelPath(flags.Get("model", "")), flags);
}

StatusOr<Runtime> LoadRuntimeAt(const std::string& path, const Flags& flags) {
  StatusOr<long long> threads = flags.GetInt("threads", 0);
  if (!threads.ok()) return threads.status();
  if (*threads < 0 || *threads > 256) {
    return InvalidArgumentError("--threads = " + std::to_string(*threads) + " is outside [0, 256]");
  }
  Runtime r;
  r.path = path;
  Progress progress("loading " + r.path, 3);  // the file, the tokenizer, the weights
  progress.Update(0);
  StatusOr<gguf::File> file = OpenModel(r.path);
  if (!file.ok()) return file.status();
  progress.Update(1);
  auto shared = std::make_shared<const gguf::File>(std::move(*file));
  StatusOr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::FromGguf(*shared);
  if (!tok.ok()) return tok.status().WithContext(r.path + ": ");
  progress.Update(2);
  StatusOr<std::unique_ptr<Model>> model = Model::FromFile(shared);
  if (!model.ok()) return model.status().WithContext(r.path + ": ");
  if (tok->n_vocab() != (*model)->config().n_vocab) {
    return InvalidArgumentError(r.path + ": the tokenizer has " + std::to_string(tok->n_vocab()) +
                                " tokens but the model's embedding has " +
                                std::to_string((*model)->config().n_vocab) + " rows");
  }
  r.model = std::move(*model);
  r.tokenizer.emplace(std::move(*tok));
  r.pool = std::make_unique<ThreadPool>(static_cast<size_t>(*threads));
  return r;
}

StatusOr<std::vector<int32_t>> EncodePrompt(const Runtime& r, const std::string& text, bool chat) {
  const tokenizer::Tokenizer& tok = *r.tokenizer;
  if (!chat) return tok.Encode(text);
  const tokenizer::ChatMessage user[] = {{"user", text}};
  return tokenizer::EncodeChat(tok, tokenizer::DetectChatFormat(r.model->file()), user);
}

Status EvalPrompt(Context& context, const std::vector<int32_t>& tokens, std::vector<float>* logits) {
  constexpr size_t kChunk = 64;
  if (tokens.empty()) return InvalidArgumentError("the prompt is empty (no tokens)");
  if (tokens.size() > context.max_tokens() - context.n_past()) {
    return OutOfRangeError("the prompt has " + std::to_string(tokens.size()) + " tokens but the context holds " +
                           std::to_string(context.max_tokens() - context.n_past()));
  }
  std::optional<Progress> progress;
  if (tokens.size() > kChunk) progress.emplace("prompt", tokens.size());
  for (size_t i = 0; i < tokens.size(); i += kChunk) {
    const size_t n = std::min(kChunk, tokens.size() - i);
    const bool last = i + n == tokens.size();
    LOGITKIT_RETURN_IF_ERROR(context.Eval(std::span<const int32_t>(tokens.data() + i, n),
                                          last ? Logits::kLast : Logits::kNone, logits));
    if (progress) progress->Update(i + n);
  }
  return OkStatus();
}

}  // namespace logitkit::cli
