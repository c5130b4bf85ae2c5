// `logitkit tokenize`: text to token ids (and back with --decode) with the
// tokenizer of a GGUF file. `--lines` is the stable interface of the peer
// comparison (tests/tokenizer/compare_peers.py): one line of ids per input line.
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/tokenizer.h"

namespace logitkit::cli {
namespace {

constexpr const char* kCommand = "tokenize";

using tokenizer::TokenId;
using tokenizer::Tokenizer;

constexpr const char* kHelp = R"(usage: logitkit tokenize --vocab FILE.gguf [options] [TEXT]

Tokenizes TEXT (or, without TEXT, all of standard input) with the tokenizer
described by FILE.gguf's tokenizer.ggml.* metadata (a model or a vocabulary-only
file), and prints the token ids separated by spaces on one line.

options:
  --vocab FILE    the GGUF file (required)
  --special       match control tokens written in the text ("<|eot_id|>");
                  without it they stay text. With --decode: write control
                  tokens as their text instead of nothing
  --bos, --no-bos add the BOS token first, or not (default: the vocabulary's
                  tokenizer.ggml.add_bos_token)
  --lines         read standard input line by line: tokenize each line without
                  its trailing newline, print one line of ids per input line
                  (an empty line gives an empty line)
  --decode        the input is token ids (separated by spaces); print the text.
                  With --lines, one line of ids gives one line of text
  --json          print {"ids": [...], "pieces": [...]} (each token's text,
                  invalid UTF-8 replaced); with --decode {"text": ...};
                  with --lines one such object per line
  --help          this text

Invalid UTF-8 in the input is replaced by U+FFFD before tokenizing.
exit status: 0 ok, 1 an error (file, vocabulary, token id), 2 a usage error
)";

bool ReadAll(FILE* f, std::string* out) {
  char buf[1 << 16];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) out->append(buf, n);
  return !std::ferror(f);
}

// Splits `data` at '\n'; a final newline does not start another line.
std::vector<std::string_view> SplitLines(std::string_view data) {
  std::vector<std::string_view> lines;
  size_t pos = 0;
  while (pos < data.size()) {
    size_t eol = data.find('\n', pos);
    if (eol == std::string_view::npos) eol = data.size();
    lines.push_back(data.substr(pos, eol - pos));
    pos = eol + 1;
  }
  return lines;
}

StatusOr<std::vector<TokenId>> ParseIds(std::string_view text) {
  std::vector<TokenId> ids;
  size_t pos = 0;
  while (pos < text.size()) {
    while (pos < text.size() && (text[pos] == ' ' || text[pos] == '\t' || text[pos] == '\r' ||
                                 text[pos] == '\n' || text[pos] == ',')) {
      ++pos;
    }
    if (pos >= text.size()) break;
    size_t end = pos;
    while (end < text.size() && !(text[end] == ' ' || text[end] == '\t' || text[end] == '\r' ||
                                  text[end] == '\n' || text[end] == ',')) {
      ++end;
    }
    const std::string word(text.substr(pos, end - pos));
    errno = 0;
    char* stop = nullptr;
    const long long v = std::strtoll(word.c_str(), &stop, 10);
    if (*stop != '\0' || errno == ERANGE || v < INT32_MIN || v > INT32_MAX) {
      return InvalidArgumentError("--decode: '" + word + "' is not a token id");
    }
    ids.push_back(static_cast<TokenId>(v));
    pos = end;
  }
  return ids;
}

std::string IdsLine(const std::vector<TokenId>& ids) {
  std::string s;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) s += ' ';
    s += std::to_string(ids[i]);
  }
  return s;
}

StatusOr<std::string> IdsJson(const Tokenizer& tok, const std::vector<TokenId>& ids) {
  nlohmann::json pieces = nlohmann::json::array();
  for (TokenId id : ids) {
    StatusOr<std::string> piece = tok.TokenToPiece(id, /*render_special=*/true);
    if (!piece.ok()) return piece.status();
    pieces.push_back(tokenizer::SanitizeUtf8(*piece));
  }
  const nlohmann::json o = {{"ids", ids}, {"pieces", std::move(pieces)}};
  return JsonText(o);
}

// One unit of work: text -> ids line (or JSON), or ids -> text (or JSON).
StatusOr<std::string> Process(const Tokenizer& tok, std::string_view input, const Flags& flags,
                              const tokenizer::EncodeOptions& encode) {
  const bool json = flags.Has("json");
  if (flags.Has("decode")) {
    StatusOr<std::vector<TokenId>> ids = ParseIds(input);
    if (!ids.ok()) return ids.status();
    tokenizer::DecodeOptions decode;
    decode.render_special = flags.Has("special");
    StatusOr<std::string> text = tok.Decode(*ids, decode);
    if (!text.ok()) return text.status();
    if (json) {
      const nlohmann::json o = {{"text", tokenizer::SanitizeUtf8(*text)}};
      return JsonText(o);
    }
    return *text;
  }
  StatusOr<std::vector<TokenId>> ids = tok.Encode(input, encode);
  if (!ids.ok()) return ids.status();
  return json ? IdsJson(tok, *ids) : StatusOr<std::string>(IdsLine(*ids));
}

}  // namespace

int RunTokenize(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"vocab"},
                                       {"special", "bos", "no-bos", "lines", "decode", "json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  const auto usage = [](const std::string& m) {
    return Fail(kCommand, InvalidArgumentError(m + " (see --help)"));
  };
  if (!flags->Has("vocab")) return usage("--vocab FILE.gguf is required");
  if (flags->Has("bos") && flags->Has("no-bos")) return usage("--bos and --no-bos conflict");
  if (flags->positional().size() > 1) {
    return usage("expected at most one TEXT argument, got " +
                 std::to_string(flags->positional().size()) + " (quote the text)");
  }
  if (flags->Has("lines") && !flags->positional().empty()) {
    return usage("--lines reads standard input: give no TEXT argument");
  }
  StatusOr<Tokenizer> tok = Tokenizer::Open(flags->Get("vocab", ""));
  if (!tok.ok()) return Fail(kCommand, tok.status().WithContext("--vocab: "));
  tokenizer::EncodeOptions encode;
  encode.parse_special = flags->Has("special");
  if (flags->Has("bos")) encode.add_bos = true;
  if (flags->Has("no-bos")) encode.add_bos = false;

  std::string input;
  if (!flags->positional().empty()) {
    input = flags->positional()[0];
  } else if (!ReadAll(stdin, &input)) {
    return Fail(kCommand, InternalError("cannot read standard input"));
  }
  std::vector<std::string_view> units;
  if (flags->Has("lines")) {
    units = SplitLines(input);
  } else {
    units.push_back(input);
  }
  std::string out;
  for (size_t i = 0; i < units.size(); ++i) {
    StatusOr<std::string> result = Process(*tok, units[i], *flags, encode);
    if (!result.ok()) {
      return Fail(kCommand, result.status().WithContext(flags->Has("lines") ? "line " + std::to_string(i + 1) + ": "
                                                                            : std::string()));
    }
    out += *result;
    out += '\n';
    if (out.size() > (1 << 20)) {
      std::fwrite(out.data(), 1, out.size(), stdout);
      out.clear();
    }
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace logitkit::cli
