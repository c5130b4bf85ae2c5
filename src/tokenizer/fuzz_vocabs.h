// The vocabularies the tokenizer-reading fuzz targets (tokenizer_fuzz,
// corpus_fuzz) run over: $LOGITKIT_FUZZ_VOCABS (GGUF paths separated by ':'),
// by default GPT-2's (byte-level BPE) and Llama's (SentencePiece) from
// ../shared/data/tokenizer-vectors. A vocabulary that cannot be opened is a
// skip (exit 77, as ctest is told), or a failure where
// $LOGITKIT_REQUIRE_MODEL=1 says the data must be there.
#ifndef LOGITKIT_TOKENIZER_FUZZ_VOCABS_H_
#define LOGITKIT_TOKENIZER_FUZZ_VOCABS_H_

#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <string>
#include <vector>

#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {

// REQUIRES: LOGITKIT_SOURCE_DIR defined (logitkit_fuzz does).
inline std::vector<Tokenizer>* LoadFuzzVocabs() {
  const char* env = std::getenv("LOGITKIT_FUZZ_VOCABS");
  const std::string dir = LOGITKIT_SOURCE_DIR "/../shared/data/tokenizer-vectors/";
  const std::string paths = env ? env : dir + "ggml-vocab-gpt-2.gguf:" + dir + "ggml-vocab-llama-spm.gguf";
  auto* tokenizers = new std::vector<Tokenizer>;
  std::stringstream list(paths);
  for (std::string path; std::getline(list, path, ':');) {
    auto tok = Tokenizer::Open(path);
    if (!tok.ok()) {
      std::fprintf(stderr, "cannot open a vocabulary: %s\n", tok.status().ToString().c_str());
      std::exit(std::getenv("LOGITKIT_REQUIRE_MODEL") ? 1 : 77);
    }
    tokenizers->push_back(std::move(*tok));
  }
  if (tokenizers->empty()) {
    std::fprintf(stderr, "no vocabulary in '%s'\n", paths.c_str());
    std::exit(1);
  }
  return tokenizers;
}

}  // namespace logitkit::tokenizer

#endif  // LOGITKIT_TOKENIZER_FUZZ_VOCABS_H_
