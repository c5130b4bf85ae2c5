// logitkit: the command-line tool. Thin: flags -> library calls.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"

namespace {

constexpr const char* kUsage = R"(logitkit: from logits to the next token, exactly and fast.

usage: logitkit <command> [options]      (logitkit <command> --help for its options)

commands:
  demo     the seed's "The capital of France is" row: logits, probabilities at
           several temperatures, filters and seeded samples
  top      the most likely next tokens after a prompt, from the model: logits,
           probabilities at several temperatures, logprobs
  generate stream a continuation of a prompt, with every sampling option
  score    each token's logprob, rank and entropy under the model; NLL,
           perplexity, bits per byte
  calibrate  ECE, MCE, Brier, full ECE, sampling-set coverage and a fitted
           temperature over a corpus (--corpus), with a reliability diagram (--svg)
  compare  KL, top-token agreement, Δp and perplexity of one model against
           another over a corpus, in one pass
  lens     the logit lens: every layer's top tokens at every position
  serve    an OpenAI-compatible HTTP server (completions, chat, streaming,
           logprobs) that decodes concurrent requests together
  inspect  a GGUF model file's metadata and tensor table (--json)
  convert  a copy of a GGUF model with its matrices in F32, F16, BF16 or Q8_0
  bench    benchmarks: `bench head` times the decode head, `bench model` the forward pass
  tokenize text to token ids and back with a GGUF file's tokenizer (--lines, --decode)
  vocab    `logitkit vocab convert`: a GGUF vocabulary from a tiktoken or SentencePiece file
  help     this text
)";

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    std::fputs(kUsage, args.empty() ? stderr : stdout);
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "demo") return logitkit::cli::RunDemo(args);
  if (command == "bench") return logitkit::cli::RunBench(args);
  if (command == "inspect") return logitkit::cli::RunInspect(args);
  if (command == "top") return logitkit::cli::RunTop(args);
  if (command == "generate") return logitkit::cli::RunGenerate(args);
  if (command == "score") return logitkit::cli::RunScore(args);
  if (command == "lens") return logitkit::cli::RunLens(args);
  if (command == "calibrate") return logitkit::cli::RunCalibrate(args);
  if (command == "compare") return logitkit::cli::RunCompare(args);
  if (command == "serve") return logitkit::cli::RunServe(args);
  if (command == "tokenize") return logitkit::cli::RunTokenize(args);
  if (command == "vocab") return logitkit::cli::RunVocab(args);
  if (command == "convert") return logitkit::cli::RunConvert(args);
  std::fprintf(stderr, "logitkit: unknown command '%s'\n\n%s", command.c_str(), kUsage);
  return 2;
}
