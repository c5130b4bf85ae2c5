// libFuzzer target over the tokenizers (the `fuzz` preset; docs/reliability.md):
// arbitrary bytes encoded with and without special-token parsing, arbitrary
// token ids decoded whole and streamed, text split into parts, and arbitrary
// tiktoken and SentencePiece files converted. Besides "no crash, no hang, no
// sanitizer report", it checks what the header promises:
//   - byte-level BPE: Decode(Encode(text)) == SanitizeUtf8(text) (no special
//     parsing, no BOS/EOS, no space prefix stripped: Encode puts none before
//     byte-level BPE text, even where the file sets add_space_prefix);
//   - the concatenation of StreamDecoder's Pushes and Flush is
//     SanitizeUtf8(Decode(ids)) over the ids it accepted;
//   - an out-of-range id is an error, never a piece.
// The vocabularies: $LOGITKIT_FUZZ_VOCABS (GGUF paths separated by ':'), by
// default GPT-2's (byte-level BPE) and Llama's (SentencePiece) from
// ../shared/data/tokenizer-vectors.
//   build/fuzz/src/tokenizer/tokenizer_fuzz -dict=fuzz/tokenizer/dict fuzz/tokenizer/corpus
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "logitkit/tokenizer.h"
#include "tokenizer/fuzz_vocabs.h"

namespace {

using logitkit::tokenizer::Tokenizer;

std::vector<Tokenizer>* g_tokenizers = nullptr;

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "tokenizer_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

void EncodeAndDecode(const Tokenizer& tok, FuzzedDataProvider& in) {
  logitkit::tokenizer::EncodeOptions options;
  options.parse_special = in.ConsumeBool();
  const bool plain = !options.parse_special;
  options.add_bos = false;
  options.add_eos = false;
  const std::string text = in.ConsumeRemainingBytesAsString();
  auto ids = tok.Encode(text, options);
  if (!ids.ok()) {
    if (ids.status().message().empty()) Violated("an error without a message", text);
    return;
  }
  for (int32_t id : *ids) {
    if (id < 0 || size_t(id) >= tok.n_vocab()) Violated("Encode gave an id out of range", std::to_string(id));
  }
  const bool bpe = tok.algorithm() == logitkit::tokenizer::Algorithm::kBpe;
  auto back = tok.Decode(*ids, {.render_special = true, .strip_space_prefix = !bpe});
  if (!back.ok()) Violated("Decode refused Encode's ids", back.status().message());
  if (plain && bpe && *back != logitkit::tokenizer::SanitizeUtf8(text)) {
    Violated("byte-level BPE did not round-trip", text);
  }
}

void DecodeIds(const Tokenizer& tok, FuzzedDataProvider& in) {
  const bool render_special = in.ConsumeBool();
  const logitkit::tokenizer::DecodeOptions options{.render_special = render_special,
                                                   .strip_space_prefix = in.ConsumeBool()};
  std::vector<int32_t> ids, accepted;
  while (in.remaining_bytes() > 0 && ids.size() < 4096) {
    // Mostly ids in range, some anywhere.
    ids.push_back(in.ConsumeBool() ? in.ConsumeIntegralInRange<int32_t>(0, int32_t(tok.n_vocab()) - 1)
                                   : in.ConsumeIntegral<int32_t>());
  }
  logitkit::tokenizer::StreamDecoder stream(tok, options);
  std::string streamed;
  for (int32_t id : ids) {
    auto piece = stream.Push(id);
    const bool in_range = id >= 0 && size_t(id) < tok.n_vocab();
    if (piece.ok() != in_range) Violated("Push of an id", std::to_string(id) + (in_range ? " refused" : " accepted"));
    if (piece.ok()) {
      streamed += *piece;
      accepted.push_back(id);
    }
  }
  streamed += stream.Flush();
  auto whole = tok.Decode(accepted, options);
  if (!whole.ok()) Violated("Decode refused ids Push took", whole.status().message());
  if (streamed != logitkit::tokenizer::SanitizeUtf8(*whole)) Violated("streamed != SanitizeUtf8(Decode)", *whole);
  if (accepted.size() != ids.size() && tok.Decode(ids, options).ok()) Violated("Decode took an id out of range", "");
}

void EncodeParts(const Tokenizer& tok, FuzzedDataProvider& in) {
  std::vector<std::string> texts;
  std::vector<Tokenizer::TextPart> parts;
  while (in.remaining_bytes() > 0 && texts.size() < 8) texts.push_back(in.ConsumeRandomLengthString(256));
  for (const std::string& t : texts) parts.push_back({t, in.ConsumeBool()});
  auto ids = tok.EncodeParts(parts);
  if (ids.ok()) {
    for (int32_t id : *ids) {
      if (id < 0 || size_t(id) >= tok.n_vocab()) Violated("EncodeParts gave an id out of range", std::to_string(id));
    }
  }
}

void ConvertFiles(FuzzedDataProvider& in) {
  const bool tiktoken = in.ConsumeBool();
  const std::string bytes = in.ConsumeRemainingBytesAsString();
  auto writer = tiktoken ? logitkit::tokenizer::TiktokenToGguf(bytes)
                         : logitkit::tokenizer::SentencePieceToGguf(bytes);
  if (!writer.ok() && writer.status().message().empty()) Violated("a conversion error without a message", "");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_tokenizers = logitkit::tokenizer::LoadFuzzVocabs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  const Tokenizer& tok = (*g_tokenizers)[in.ConsumeIntegralInRange<size_t>(0, g_tokenizers->size() - 1)];
  switch (in.ConsumeIntegralInRange(0, 3)) {
    case 0: EncodeAndDecode(tok, in); break;
    case 1: DecodeIds(tok, in); break;
    case 2: EncodeParts(tok, in); break;
    default: ConvertFiles(in);
  }
  return 0;
}
