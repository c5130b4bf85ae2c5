// Test helpers shared by the tokenizer tests: the shared vector files and
// tokenizers built from in-memory GGUF files.
#ifndef LOGITKIT_TOKENIZER_TESTING_H_
#define LOGITKIT_TOKENIZER_TESTING_H_

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer::testing {

inline std::string VectorsDir() {
  return std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/";
}

inline bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream s;
  s << in.rdbuf();
  *out = s.str();
  return true;
}

struct Vector {
  std::string text;
  std::vector<TokenId> ids;
};

// NAME.inp (texts, each followed by "\n__ggml_vocab_test__\n") and NAME.out
// (one line of space-separated ids per text). Empty when the files are absent.
inline std::vector<Vector> ReadVectors(const std::string& inp_path, const std::string& out_path) {
  std::string inp, out;
  std::vector<Vector> vectors;
  if (!ReadFile(inp_path, &inp) || !ReadFile(out_path, &out)) return vectors;
  const std::string sep = "\n__ggml_vocab_test__\n";
  size_t pos = 0;
  for (size_t hit; (hit = inp.find(sep, pos)) != std::string::npos; pos = hit + sep.size()) {
    vectors.push_back({inp.substr(pos, hit - pos), {}});
  }
  std::istringstream lines(out);
  std::string line;
  for (Vector& v : vectors) {
    if (!std::getline(lines, line)) break;
    std::istringstream ids(line);
    for (TokenId id; ids >> id;) v.ids.push_back(id);
  }
  return vectors;
}

// A tokenizer from a Writer's bytes (kept alive in `storage`).
inline StatusOr<Tokenizer> FromWriter(const gguf::Writer& w, std::vector<uint8_t>* storage) {
  *storage = w.Finish();
  StatusOr<gguf::File> f = gguf::File::FromBytes(*storage);
  if (!f.ok()) return f.status();
  return Tokenizer::FromGguf(*f);
}

}  // namespace logitkit::tokenizer::testing

#endif  // LOGITKIT_TOKENIZER_TESTING_H_
