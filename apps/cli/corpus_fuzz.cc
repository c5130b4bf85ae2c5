// libFuzzer target over the corpus reader and its token windows (the `fuzz`
// preset; docs/reliability.md). The input is the corpus file. Besides "no
// crash, no hang, no sanitizer report", it checks what corpus.h promises:
//   - the pieces, in order, are the file's bytes, and offset() counts them;
//     an error (binary input) names its offset;
//   - the windows (GPT-2's vocabulary, byte-level BPE, and Llama's,
//     SentencePiece, from ../shared/data/tokenizer-vectors, or
//     $LOGITKIT_FUZZ_VOCABS) have 2 to ctx tokens in the vocabulary, and
//     CountCorpus counts the same windows and scored tokens;
//   - byte-level BPE: the windows' tokens (each window's first one is the
//     last of the window before) are those of the whole text at once.
//   build/fuzz/apps/cli/corpus_fuzz -dict=fuzz/tokenizer/dict fuzz/corpus/corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "corpus.h"
#include "fuzz_file.h"
#include "logitkit/tokenizer.h"

namespace {

using logitkit::tokenizer::Tokenizer;

std::vector<Tokenizer>* g_tokenizers = nullptr;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "corpus_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void CheckPieces(const std::string& path, const uint8_t* data, size_t size) {
  auto reader = logitkit::cli::CorpusReader::Open(path);
  if (!reader.ok()) {
    if (size != 0) Violated("a file with bytes was refused", reader.status().ToString());
    return;
  }
  std::string text;
  for (;;) {
    auto piece = reader->Next();
    if (!piece.ok()) {
      if (piece.status().message().find("offset") == std::string::npos) {
        Violated("an error without its offset", piece.status().ToString());
      }
      return;
    }
    if (piece->empty()) break;
    text += *piece;
    if (reader->offset() != text.size()) Violated("offset() is not the bytes returned", std::to_string(text.size()));
  }
  if (text != std::string(reinterpret_cast<const char*>(data), size)) Violated("the pieces are not the file", "");
}

void CheckWindows(const std::string& path, const uint8_t* data, size_t size, const Tokenizer& tok, size_t ctx) {
  auto reader = logitkit::cli::CorpusReader::Open(path);
  if (!reader.ok()) return;
  logitkit::cli::TokenWindows windows(tok, std::move(*reader), ctx, 0);
  std::vector<int32_t> window, stream;
  uint64_t scored = 0, count = 0;
  for (;;) {
    auto more = windows.Next(&window);
    if (!more.ok()) return;  // binary input, as CheckPieces saw
    if (!*more) break;
    if (window.size() < 2 || window.size() > ctx) Violated("a window's size is outside [2, ctx]", std::to_string(window.size()));
    for (int32_t id : window) {
      if (id < 0 || size_t(id) >= tok.n_vocab()) Violated("a window's token is out of range", std::to_string(id));
    }
    if (count > 0 && !tok.add_bos() && window[0] != stream.back()) Violated("a window does not start with the last token", "");
    stream.insert(stream.end(), window.begin() + (count == 0 || tok.add_bos() ? 0 : 1), window.end());
    scored += window.size() - 1;
    ++count;
  }
  auto counted = logitkit::cli::CountCorpus(tok, path, ctx, 0);
  if (scored == 0) {  // fewer than 2 tokens: an error
    if (counted.ok()) Violated("CountCorpus took a corpus with nothing to score", "");
    return;
  }
  if (!counted.ok()) Violated("CountCorpus failed where the windows did not", counted.status().ToString());
  if (counted->scored != scored || counted->windows != count) {
    Violated("CountCorpus counts other windows", std::to_string(counted->windows) + " != " + std::to_string(count));
  }
  if (tok.algorithm() == logitkit::tokenizer::Algorithm::kBpe && !tok.add_bos()) {
    logitkit::tokenizer::EncodeOptions options;
    options.add_bos = false;
    options.add_eos = false;
    auto whole = tok.Encode(std::string(reinterpret_cast<const char*>(data), size), options);
    if (whole.ok() && *whole != stream) Violated("the windows' tokens are not the whole text's", "");
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  const char* env = std::getenv("LOGITKIT_FUZZ_VOCABS");
  const std::string dir = LOGITKIT_SOURCE_DIR "/../shared/data/tokenizer-vectors/";
  std::string paths = env ? env : dir + "ggml-vocab-gpt-2.gguf:" + dir + "ggml-vocab-llama-spm.gguf";
  g_tokenizers = new std::vector<Tokenizer>;
  std::stringstream list(paths);
  for (std::string path; std::getline(list, path, ':');) {
    auto tok = Tokenizer::Open(path);
    if (!tok.ok()) Violated("cannot open a vocabulary", tok.status().ToString());
    g_tokenizers->push_back(std::move(*tok));
  }
  if (g_tokenizers->empty()) Violated("no vocabulary", paths);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  logitkit::cli::FuzzFile file(data, size);
  CheckPieces(file.path(), data, size);
  // The vocabulary and window size from the input's length: every input runs
  // one of each.
  const Tokenizer& tok = (*g_tokenizers)[size % g_tokenizers->size()];
  const size_t ctx = 2 + size % 7 * 3;
  CheckWindows(file.path(), data, size, tok, ctx);
  return 0;
}
