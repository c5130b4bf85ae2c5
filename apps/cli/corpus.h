// A text corpus for calibrate and compare, streamed: read in pieces of at
// most ~1 MiB, tokenized piece by piece, and cut into windows for the model,
// so memory does not grow with the corpus.
#ifndef LOGITKIT_APPS_CLI_CORPUS_H_
#define LOGITKIT_APPS_CLI_CORPUS_H_

#include <cstdint>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "logitkit/status.h"
#include "logitkit/tokenizer.h"

namespace logitkit::cli {

// The pieces of a text file. A piece ends after a newline between two
// non-whitespace bytes (a pre-tokenizer boundary for the byte-level BPE
// vocabularies, so tokenizing piece by piece gives the same tokens as the
// whole text at once; SentencePiece vocabularies add their space prefix to
// each piece), else before the last single space between two words, else
// at 1 MiB (moved back to a UTF-8 start byte when one is within 3 bytes).
// (A newline after other whitespace is no boundary: found by corpus_fuzz.)
class CorpusReader {
 public:
  static constexpr size_t kPieceBytes = size_t{1} << 20;
  // Errors: a missing or unreadable file, an empty one. piece_bytes (>= 4)
  // replaces the 1 MiB above (corpus_fuzz cuts small inputs into pieces).
  static StatusOr<CorpusReader> Open(const std::string& path, size_t piece_bytes = kPieceBytes);
  // The next piece; empty at the end. Error: binary input (a NUL byte, or
  // more than 1% of the first 64 KiB in control bytes), named with its offset.
  StatusOr<std::string> Next();
  uint64_t size() const { return size_; }
  uint64_t offset() const { return offset_; }  // bytes returned so far
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::unique_ptr<std::ifstream> in_;
  uint64_t size_ = 0, offset_ = 0;
  size_t piece_ = kPieceBytes;
  std::string pending_;  // read but not yet returned
};

// Windows of at most `ctx` tokens over the corpus: each window's first token
// is context only (the BOS token when the vocabulary adds one, else the last
// token of the window before; the corpus's first token for the first window)
// and every other token is scored once, predicted from the ones before it in
// its window. max_tokens > 0 stops after that many tokens of the corpus.
class TokenWindows {
 public:
  TokenWindows(const tokenizer::Tokenizer& tokenizer, CorpusReader reader, size_t ctx, uint64_t max_tokens);
  // The next window (size >= 2) in *window; false at the end.
  StatusOr<bool> Next(std::vector<int32_t>* window);
  const CorpusReader& reader() const { return reader_; }

 private:
  Status Fill();  // tokenizes pieces until ctx tokens are pending or the text ends

  const tokenizer::Tokenizer& tokenizer_;
  CorpusReader reader_;
  size_t ctx_;
  uint64_t max_tokens_, tokens_ = 0;
  bool ended_ = false, started_ = false;
  int32_t carry_ = -1;
  std::vector<int32_t> pending_;
  size_t pending_start_ = 0;
};

// Scored positions and windows of the whole corpus, by a tokenizing pass
// (for the progress bar and the fit split), with a progress line in bytes.
struct CorpusCount {
  uint64_t scored = 0, windows = 0;
};
StatusOr<CorpusCount> CountCorpus(const tokenizer::Tokenizer& tokenizer, const std::string& path, size_t ctx,
                                  uint64_t max_tokens);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_CORPUS_H_
