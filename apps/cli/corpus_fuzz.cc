// libFuzzer target over the corpus reader and its token windows (the `fuzz`
// preset; docs/reliability.md). The input is the corpus file. Besides "no
// crash, no hang, no sanitizer report", it checks what corpus.h promises:
//   - the pieces (at most 4 to 64 bytes each here, so that inputs are cut),
//     in order, are the file's bytes, and offset() counts them; an error
//     (binary input) names its offset;
//   - the windows (GPT-2's vocabulary, byte-level BPE, and Llama's,
//     SentencePiece, from ../shared/data/tokenizer-vectors, or
//     $LOGITKIT_FUZZ_VOCABS) have 2 to ctx tokens in the vocabulary, and
//     CountCorpus counts the same windows and scored tokens;
//   - byte-level BPE: the windows' tokens (each window's first one is the
//     last of the window before) are those of the whole text at once, and
//     stay so when valid UTF-8 is read in small pieces whose cuts are all
//     soft (after a newline, before a single space between words). (Not
//     checked for invalid UTF-8: a cut may split what the pre-tokenizer
//     would have read as one broken character.)
//   build/fuzz/apps/cli/corpus_fuzz -dict=fuzz/tokenizer/dict fuzz/corpus/corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "corpus.h"
#include "fuzz_file.h"
#include "logitkit/tokenizer.h"
#include "tokenizer/fuzz_vocabs.h"

namespace {

using logitkit::tokenizer::Tokenizer;

std::vector<Tokenizer>* g_tokenizers = nullptr;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "corpus_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

// Whether the cut between two pieces is one of the reader's soft ones (after
// a newline between two non-space bytes, or before a single space between two
// words), where byte-level BPE pre-tokens end anyway.
bool SoftCut(const std::string& before, const std::string& after) {
  const auto space = [](char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; };
  if (before.size() >= 2 && before.back() == '\n' && !space(before[before.size() - 2]) && !space(after[0])) {
    return true;
  }
  return after[0] == ' ' && after.size() > 1 && !space(after[1]) && !space(before.back());
}

// The pieces of the file in pieces of at most piece_bytes (+ the reader's
// search for a cut); *soft is whether every cut was soft.
void CheckPieces(const std::string& path, const uint8_t* data, size_t size, size_t piece_bytes, bool* soft) {
  *soft = true;
  auto reader = logitkit::cli::CorpusReader::Open(path, piece_bytes);
  if (!reader.ok()) {
    if (size != 0) Violated("a file with bytes was refused", reader.status().ToString());
    return;
  }
  std::string text, last;
  for (;;) {
    auto piece = reader->Next();
    if (!piece.ok()) {
      if (piece.status().message().find("offset") == std::string::npos) {
        Violated("an error without its offset", piece.status().ToString());
      }
      return;
    }
    if (piece->empty()) break;
    if (piece->size() > piece_bytes) Violated("a piece is longer than asked", std::to_string(piece->size()));
    if (!last.empty() && !SoftCut(last, *piece)) *soft = false;
    text += *piece;
    last = *piece;
    if (reader->offset() != text.size()) Violated("offset() is not the bytes returned", std::to_string(text.size()));
  }
  if (text != std::string(reinterpret_cast<const char*>(data), size)) Violated("the pieces are not the file", "");
}

// The windows' tokens in order (each window's first token is the last of the
// window before, so it is left out after the first window), their count and
// the positions scored. False on an error (binary input: CheckPieces saw it).
bool Windows(const std::string& path, const Tokenizer& tok, size_t ctx, size_t piece_bytes,
             std::vector<int32_t>* stream, uint64_t* count, uint64_t* scored) {
  auto reader = logitkit::cli::CorpusReader::Open(path, piece_bytes);
  if (!reader.ok()) return false;
  logitkit::cli::TokenWindows windows(tok, std::move(*reader), ctx, 0);
  std::vector<int32_t> window;
  for (*count = 0, *scored = 0;;) {
    auto more = windows.Next(&window);
    if (!more.ok()) return false;
    if (!*more) return true;
    if (window.size() < 2 || window.size() > ctx) Violated("a window's size is outside [2, ctx]", std::to_string(window.size()));
    for (int32_t id : window) {
      if (id < 0 || size_t(id) >= tok.n_vocab()) Violated("a window's token is out of range", std::to_string(id));
    }
    if (*count > 0 && !tok.add_bos() && window[0] != stream->back()) Violated("a window does not start with the last token", "");
    stream->insert(stream->end(), window.begin() + (*count == 0 || tok.add_bos() ? 0 : 1), window.end());
    *scored += window.size() - 1;
    ++*count;
  }
}

void CheckWindows(const std::string& path, const uint8_t* data, size_t size, const Tokenizer& tok, size_t ctx,
                  size_t piece_bytes, bool soft) {
  std::vector<int32_t> stream, small_stream;
  uint64_t count = 0, scored = 0, small_count = 0, small_scored = 0;
  if (!Windows(path, tok, ctx, logitkit::cli::CorpusReader::kPieceBytes, &stream, &count, &scored)) return;
  auto counted = logitkit::cli::CountCorpus(tok, path, ctx, 0);
  if (scored == 0) {  // fewer than 2 tokens: an error
    if (counted.ok()) Violated("CountCorpus took a corpus with nothing to score", "");
    return;
  }
  if (!counted.ok()) Violated("CountCorpus failed where the windows did not", counted.status().ToString());
  if (counted->scored != scored || counted->windows != count) {
    Violated("CountCorpus counts other windows", std::to_string(counted->windows) + " != " + std::to_string(count));
  }
  if (tok.algorithm() != logitkit::tokenizer::Algorithm::kBpe || tok.add_bos()) return;
  // Byte-level BPE: the whole text's tokens, and the same when the text is
  // read in small pieces cut softly.
  logitkit::tokenizer::EncodeOptions options;
  options.add_bos = false;
  options.add_eos = false;
  auto whole = tok.Encode(std::string(reinterpret_cast<const char*>(data), size), options);
  if (whole.ok() && *whole != stream) Violated("the windows' tokens are not the whole text's", "");
  if (!Windows(path, tok, ctx, piece_bytes, &small_stream, &small_count, &small_scored)) return;
  const std::string text(reinterpret_cast<const char*>(data), size);
  if (soft && logitkit::tokenizer::SanitizeUtf8(text) == text && small_stream != stream) {
    Violated("pieces cut softly changed the tokens of valid UTF-8", std::to_string(piece_bytes));
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tokenizers = logitkit::tokenizer::LoadFuzzVocabs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  logitkit::cli::FuzzFile file(data, size);
  // The piece size, vocabulary and window size from the input's length: every
  // input runs one of each.
  const size_t piece_bytes = 4 + size * 7 % 61;
  bool soft = true;
  CheckPieces(file.path(), data, size, piece_bytes, &soft);
  const Tokenizer& tok = (*g_tokenizers)[size % g_tokenizers->size()];
  const size_t ctx = 2 + size % 7 * 3;
  CheckWindows(file.path(), data, size, tok, ctx, piece_bytes, soft);
  return 0;
}
