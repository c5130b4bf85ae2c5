#include "corpus.h"

#include <algorithm>
#include <filesystem>

#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr size_t kSniff = size_t{64} << 10;

bool IsSpace(char c) { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' || c == '\v'; }

}  // namespace

StatusOr<CorpusReader> CorpusReader::Open(const std::string& path, size_t piece_bytes) {
  CorpusReader r;
  r.path_ = path;
  r.piece_ = std::max<size_t>(piece_bytes, 4);
  r.in_ = std::make_unique<std::ifstream>(path, std::ios::binary | std::ios::ate);
  std::error_code error;
  if (std::filesystem::is_directory(path, error)) {
    return InvalidArgumentError("corpus '" + path + "' is a directory, not a text file");
  }
  if (!*r.in_) return Status(StatusCode::kNotFound, "corpus '" + path + "': cannot read it");
  const std::streamoff size = r.in_->tellg();
  if (size < 0) return InvalidArgumentError("corpus '" + path + "': not a regular file");
  r.size_ = uint64_t(size);
  if (r.size_ == 0) return InvalidArgumentError("corpus '" + path + "' is empty");
  r.in_->seekg(0);
  return r;
}

StatusOr<std::string> CorpusReader::Next() {
  const uint64_t base = offset_;  // file offset of pending_[0]
  if (pending_.size() < piece_ + 1 && *in_) {
    const size_t have = pending_.size();
    pending_.resize(piece_ + 1);
    in_->read(pending_.data() + have, std::streamsize(piece_ + 1 - have));
    pending_.resize(have + size_t(in_->gcount()));
    if (in_->bad()) return InternalError("corpus '" + path_ + "': read error at byte " + std::to_string(base + have));
  }
  if (const size_t nul = pending_.find('\0'); nul != std::string::npos) {
    return InvalidArgumentError("corpus '" + path_ + "': a NUL byte at offset " + std::to_string(base + nul) +
                                ": binary input is not text");
  }
  if (base == 0) {
    size_t control = 0, first = 0;
    const size_t sniff = std::min(pending_.size(), kSniff);
    for (size_t i = 0; i < sniff; ++i) {
      const unsigned char c = static_cast<unsigned char>(pending_[i]);
      const bool is_control = (c < 0x20 && !IsSpace(char(c))) || c == 0x7f;
      if (is_control && control++ == 0) first = i;
    }
    if (control * 100 > sniff) {
      return InvalidArgumentError("corpus '" + path_ + "': " + std::to_string(control) + " of the first " +
                                  std::to_string(sniff) + " bytes are control bytes, the first at offset " +
                                  std::to_string(first) + ": binary input is not text");
    }
  }
  size_t cut = pending_.size();
  if (cut > piece_) {
    cut = 0;
    // After a newline alone between two non-space bytes: a run of whitespace
    // before the text goes to the pre-tokenizers' "\s+(?!\S)" whole at the end
    // of a piece, but split before its last byte in the whole text.
    for (size_t i = piece_; i > 1 && cut == 0; --i) {
      if (pending_[i - 1] == '\n' && !IsSpace(pending_[i - 2]) && !IsSpace(pending_[i])) cut = i;
    }
    // Before a single space between two words: " word" starts a pre-token.
    for (size_t i = piece_; i > 1 && cut == 0; --i) {
      if (pending_[i - 1] == ' ' && !IsSpace(pending_[i - 2]) && !IsSpace(pending_[i])) cut = i - 1;
    }
    if (cut == 0) {  // at a UTF-8 start byte if one is within 3 bytes, else anywhere
      cut = piece_;
      for (size_t back = 0; back < 4 && cut > back; ++back) {
        if ((static_cast<unsigned char>(pending_[cut - back]) & 0xC0) != 0x80) {
          cut -= back;
          break;
        }
      }
    }
  }
  std::string piece = pending_.substr(0, cut);
  pending_.erase(0, cut);
  offset_ += cut;
  return piece;
}

TokenWindows::TokenWindows(const tokenizer::Tokenizer& tokenizer, CorpusReader reader, size_t ctx,
                           uint64_t max_tokens)
    : tokenizer_(tokenizer), reader_(std::move(reader)), ctx_(ctx), max_tokens_(max_tokens) {}

Status TokenWindows::Fill() {
  while (!ended_ && pending_.size() - pending_start_ < ctx_) {
    StatusOr<std::string> piece = reader_.Next();
    if (!piece.ok()) return piece.status();
    if (piece->empty()) {
      ended_ = true;
      break;
    }
    tokenizer::EncodeOptions options;
    options.add_bos = false;
    StatusOr<std::vector<int32_t>> ids = tokenizer_.Encode(*piece, options);
    if (!ids.ok()) return ids.status();
    pending_.erase(pending_.begin(), pending_.begin() + ptrdiff_t(pending_start_));
    pending_start_ = 0;
    for (int32_t id : *ids) {
      if (max_tokens_ > 0 && tokens_ >= max_tokens_) {
        ended_ = true;
        break;
      }
      pending_.push_back(id);
      ++tokens_;
    }
  }
  return OkStatus();
}

StatusOr<bool> TokenWindows::Next(std::vector<int32_t>* window) {
  if (Status s = Fill(); !s.ok()) return s;
  window->clear();
  if (!started_) {
    started_ = true;
    if (tokenizer_.add_bos() && tokenizer_.bos() != tokenizer::kNoToken) {
      carry_ = tokenizer_.bos();
    } else if (pending_start_ < pending_.size()) {
      carry_ = pending_[pending_start_++];
    }
  }
  const size_t n = std::min(ctx_ - 1, pending_.size() - pending_start_);
  if (n == 0 || carry_ < 0) return false;
  window->push_back(carry_);
  window->insert(window->end(), pending_.begin() + ptrdiff_t(pending_start_),
                 pending_.begin() + ptrdiff_t(pending_start_ + n));
  pending_start_ += n;
  carry_ = tokenizer_.add_bos() && tokenizer_.bos() != tokenizer::kNoToken ? tokenizer_.bos() : window->back();
  return true;
}

StatusOr<CorpusCount> CountCorpus(const tokenizer::Tokenizer& tokenizer, const std::string& path, size_t ctx,
                                  uint64_t max_tokens) {
  StatusOr<CorpusReader> reader = CorpusReader::Open(path);
  if (!reader.ok()) return reader.status();
  const uint64_t bytes = reader->size();
  TokenWindows windows(tokenizer, std::move(*reader), ctx, max_tokens);
  CorpusCount count;
  std::vector<int32_t> window;
  Progress progress("tokenizing (bytes)", bytes);
  for (;;) {
    StatusOr<bool> more = windows.Next(&window);
    if (!more.ok()) return more.status();
    if (!*more) break;
    count.scored += window.size() - 1;
    count.windows += 1;
    progress.Update(windows.reader().offset());
  }
  if (count.scored == 0) {
    return InvalidArgumentError("corpus '" + path + "' has fewer than 2 tokens: nothing to score");
  }
  return count;
}

}  // namespace logitkit::cli
