// `logitkit vocab convert`: builds a GGUF vocabulary from a tiktoken BPE file
// or a SentencePiece model, as llama.cpp's converter would.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "logitkit/tokenizer.h"

namespace logitkit::cli {
namespace {

constexpr const char* kCommand = "vocab";

constexpr const char* kHelp = R"(usage: logitkit vocab convert (--tiktoken FILE | --sentencepiece FILE.model) --out OUT.gguf

Writes a vocabulary-only GGUF file (tokenizer.ggml.* metadata, no tensors)
that `logitkit tokenize --vocab OUT.gguf` and the library read:

  --tiktoken FILE          a tiktoken BPE file ("base64 rank" lines), as Meta's
                           Llama 3 tokenizer.model: byte-level BPE, pre-tokenizer
                           llama-bpe, merges recovered from the ranks, Llama 3's
                           256 special tokens appended as control tokens
  --sentencepiece FILE     a SentencePiece BPE model (Llama 2, Mistral): pieces,
                           scores and types as they are ("llama" tokenizer)
  --out OUT.gguf           where to write (overwritten)
  --help                   this text

The result is checked by building its tokenizer before it is written.
exit status: 0 ok, 1 an error (unreadable or malformed input, write failure), 2 a usage error
)";

bool ReadFile(const std::string& path, std::string* out) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return false;
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  const bool ok = !std::ferror(f);
  std::fclose(f);
  return ok;
}

}  // namespace

int RunVocab(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"tiktoken", "sentencepiece", "out"}, {"help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const auto usage = [](const std::string& m) {
    return Fail(kCommand, InvalidArgumentError(m + " (see --help)"));
  };
  if (flags->positional().size() != 1 || flags->positional()[0] != "convert") {
    return usage("expected the subcommand 'convert'");
  }
  const bool tiktoken = flags->Has("tiktoken"), spm = flags->Has("sentencepiece");
  if (tiktoken == spm) return usage("give exactly one of --tiktoken FILE and --sentencepiece FILE");
  if (!flags->Has("out")) return usage("--out OUT.gguf is required");
  const std::string flag = tiktoken ? "--tiktoken" : "--sentencepiece";
  const std::string in = flags->Get(tiktoken ? "tiktoken" : "sentencepiece", "");
  const std::string out = flags->Get("out", "");
  std::string bytes;
  if (!ReadFile(in, &bytes)) {
    return Fail(kCommand, Status(StatusCode::kNotFound, flag + " " + in + ": cannot read the file"));
  }
  StatusOr<gguf::Writer> w =
      tiktoken ? tokenizer::TiktokenToGguf(bytes) : tokenizer::SentencePieceToGguf(bytes);
  if (!w.ok()) return Fail(kCommand, w.status().WithContext(flag + " " + in + ": "));
  const std::vector<uint8_t> gguf_bytes = w->Finish();
  StatusOr<gguf::File> file = gguf::File::FromBytes(gguf_bytes);
  StatusOr<tokenizer::Tokenizer> tok =
      file.ok() ? tokenizer::Tokenizer::FromGguf(*file) : StatusOr<tokenizer::Tokenizer>(file.status());
  if (!tok.ok()) {
    return Fail(kCommand, InternalError(flag + " " + in + ": the converted vocabulary does not load: " +
                                        tok.status().message()));
  }
  if (Status st = w->WriteFile(out); !st.ok()) return Fail(kCommand, st.WithContext("--out " + out + ": "));
  std::printf("%s: %zu tokens (%s), %zu bytes\n", out.c_str(), tok->n_vocab(),
              tok->algorithm() == tokenizer::Algorithm::kBpe ? "byte-level BPE" : "SentencePiece BPE",
              gguf_bytes.size());
  return 0;
}

}  // namespace logitkit::cli
