// The streamed corpus: how pieces are cut, what is rejected, and that windows
// score every token once. The shared GPT-2 and Llama (SentencePiece, BOS)
// vocabularies stand in for a model's tokenizer.
#include "corpus.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace logitkit::cli {
namespace {

constexpr size_t kPiece = size_t{1} << 20;

std::string TempFile(const std::string& name, const std::string& content) {
  const std::string path = (std::filesystem::temp_directory_path() / ("logitkit_corpus_test_" + name)).string();
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

std::vector<std::string> Pieces(const std::string& path) {
  StatusOr<CorpusReader> r = CorpusReader::Open(path);
  EXPECT_TRUE(r.ok()) << r.status().message();
  std::vector<std::string> pieces;
  for (;;) {
    StatusOr<std::string> p = r->Next();
    EXPECT_TRUE(p.ok()) << p.status().message();
    if (!p.ok() || p->empty()) break;
    pieces.push_back(*p);
  }
  return pieces;
}

std::string Join(const std::vector<std::string>& pieces) {
  std::string all;
  for (const std::string& p : pieces) all += p;
  return all;
}

TEST(CorpusReader, CutsAfterANewlineBeforeText) {
  std::string text;
  for (int i = 0; text.size() < 3 * kPiece + 12345; ++i) text += "Line " + std::to_string(i) + " of the text.\n";
  const std::vector<std::string> pieces = Pieces(TempFile("lines", text));
  ASSERT_GE(pieces.size(), 4u);
  EXPECT_EQ(Join(pieces), text);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_LE(pieces[i].size(), kPiece);
    EXPECT_EQ(pieces[i].back(), '\n') << i;
    EXPECT_EQ(pieces[i + 1][0], 'L') << i;
  }
}

// After a blank line the newlines are one pre-token at the end of a piece
// but two in the whole text (the pre-tokenizers' "\s+(?!\S)"): no cut there,
// but before a space between words (found by corpus_fuzz).
TEST(CorpusReader, ABlankLineIsNoCut) {
  std::string text;
  for (int i = 0; text.size() < 3 * kPiece + 12345; ++i) text += "Line " + std::to_string(i) + " of the text.\n\n";
  const std::vector<std::string> pieces = Pieces(TempFile("blank lines", text));
  ASSERT_GE(pieces.size(), 4u);
  EXPECT_EQ(Join(pieces), text);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_NE(pieces[i].back(), '\n') << i;
    EXPECT_EQ(pieces[i + 1][0], ' ') << i;
  }
}

TEST(CorpusReader, CutsBeforeASpaceBetweenWordsInOneLongLine) {
  std::string text;
  while (text.size() < 2 * kPiece + 100) text += "And God said ";
  const std::vector<std::string> pieces = Pieces(TempFile("words", text));
  ASSERT_GE(pieces.size(), 3u);
  EXPECT_EQ(Join(pieces), text);
  for (size_t i = 0; i + 1 < pieces.size(); ++i) {
    EXPECT_NE(pieces[i].back(), ' ') << i;
    EXPECT_EQ(pieces[i + 1][0], ' ') << i;
    EXPECT_NE(pieces[i + 1][1], ' ') << i;
  }
}

TEST(CorpusReader, NeverReturnsAnEmptyPieceBeforeTheEnd) {
  // No newline, no space, no UTF-8 start byte for 2.5 MiB: cut anywhere.
  const std::string text = "start\n" + std::string(5 * kPiece / 2, '\x80') + "\nend\n";
  const std::vector<std::string> pieces = Pieces(TempFile("continuation", text));
  ASSERT_GE(pieces.size(), 3u);
  EXPECT_EQ(Join(pieces), text);
}

TEST(CorpusReader, NamesBinaryInputEmptyFilesAndDirectories) {
  std::string text(3 * kPiece / 2, 'a');
  text[1500000] = '\0';
  StatusOr<CorpusReader> r = CorpusReader::Open(TempFile("nul", text));
  ASSERT_TRUE(r.ok());
  Status error = OkStatus();
  for (int i = 0; i < 4 && error.ok(); ++i) {
    StatusOr<std::string> p = r->Next();
    if (!p.ok()) error = p.status();
  }
  EXPECT_NE(error.message().find("a NUL byte at offset 1500000"), std::string::npos) << error.message();
  std::string control(1000, 'a');
  for (size_t i = 0; i < control.size(); i += 50) control[i] = '\x01';
  StatusOr<CorpusReader> c = CorpusReader::Open(TempFile("control", control));
  ASSERT_TRUE(c.ok());
  EXPECT_NE(c->Next().status().message().find("20 of the first 1000 bytes are control bytes, the first at offset 0"),
            std::string::npos);
  EXPECT_NE(CorpusReader::Open(TempFile("empty", "")).status().message().find("is empty"), std::string::npos);
  EXPECT_NE(CorpusReader::Open(std::filesystem::temp_directory_path().string()).status().message().find(
                "is a directory"),
            std::string::npos);
  EXPECT_EQ(CorpusReader::Open("/nonexistent/corpus.txt").status().code(), StatusCode::kNotFound);
}

// Every window starts with its context token; the scored tokens, in order,
// are the whole text's tokens (after the first, without BOS).
void CheckWindows(const std::string& vocab, bool bos) {
  StatusOr<tokenizer::Tokenizer> tok = tokenizer::Tokenizer::Open(vocab);
  if (!tok.ok()) GTEST_SKIP() << "no " << vocab << " (../shared beside the checkout)";
  ASSERT_EQ(tok->add_bos(), bos);
  std::string text;
  for (int i = 0; i < 300; ++i) text += "In the beginning " + std::to_string(i) + " was the word.\n";
  tokenizer::EncodeOptions options;
  options.add_bos = false;
  StatusOr<std::vector<int32_t>> whole = tok->Encode(text, options);
  ASSERT_TRUE(whole.ok());
  StatusOr<CorpusReader> reader = CorpusReader::Open(TempFile("windows", text));
  ASSERT_TRUE(reader.ok());
  constexpr size_t kCtx = 100;
  TokenWindows windows(*tok, std::move(*reader), kCtx, 0);
  std::vector<int32_t> window, scored;
  int32_t previous_last = -1;
  size_t n_windows = 0;
  for (;;) {
    StatusOr<bool> more = windows.Next(&window);
    ASSERT_TRUE(more.ok());
    if (!*more) break;
    ASSERT_GE(window.size(), 2u);
    ASSERT_LE(window.size(), kCtx);
    if (bos) {
      EXPECT_EQ(window[0], tok->bos());
    } else if (n_windows > 0) {
      EXPECT_EQ(window[0], previous_last);
    }
    scored.insert(scored.end(), window.begin() + 1, window.end());
    previous_last = window.back();
    ++n_windows;
  }
  const std::vector<int32_t> want(whole->begin() + (bos ? 0 : 1), whole->end());
  EXPECT_EQ(scored, want);
  EXPECT_GT(n_windows, 10u);
}

TEST(TokenWindows, ScoreEveryTokenOnceWithTheLastTokenAsContext) {
  CheckWindows(std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/ggml-vocab-gpt-2.gguf", false);
}

TEST(TokenWindows, ScoreEveryTokenOnceAfterBos) {
  CheckWindows(std::string(LOGITKIT_SHARED_DIR) + "/data/tokenizer-vectors/ggml-vocab-llama-spm.gguf", true);
}

}  // namespace
}  // namespace logitkit::cli
