#include "terminal.h"

#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace logitkit::cli {
namespace {

// Length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8Length(std::string_view s, size_t i) {
  const unsigned char c = s[i];
  const size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  }
  return n;
}

}  // namespace

std::string Visible(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size();) {
    const unsigned char c = text[i];
    const size_t n = Utf8Length(text, i);
    if (c == ' ') {
      out += "\u2423";
    } else if (c == '\n') {
      out += "\u21b5";
    } else if (c == '\t') {
      out += "\u21e5";
    } else if (n == 0 || c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02X", c);
      out += buf;
    } else {
      out.append(text.substr(i, n));
      i += n;
      continue;
    }
    ++i;
  }
  return out;
}

std::string Pad(const std::string& text, size_t width) {
  size_t columns = 0;
  for (unsigned char c : text) columns += (c & 0xC0) != 0x80;
  return text + std::string(columns < width ? width - columns : 0, ' ');
}

std::string Wrap(const std::string& text, size_t width, const std::string& indent) {
  std::string out, line;
  size_t start = text.find_first_not_of(' ');
  while (start != std::string::npos) {
    const size_t end = std::min(text.find(' ', start), text.size());
    const std::string word = text.substr(start, end - start);
    if (!line.empty() && indent.size() + line.size() + 1 + word.size() > width) {
      out += (out.empty() ? "" : "\n") + indent + line;
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
    start = text.find_first_not_of(' ', end);
  }
  if (!line.empty()) out += (out.empty() ? "" : "\n") + indent + line;
  return out;
}

Progress::Progress(std::string label, size_t total)
    : label_(std::move(label)), total_(total), enabled_(isatty(STDERR_FILENO) == 1) {}

Progress::~Progress() {
  if (drawn_) std::fprintf(stderr, "\r\033[K");
}

void Progress::Update(size_t done) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (!drawn_) start_ = now, start_done_ = done;
  if (drawn_ && (done == last_done_ || (done < total_ && now - last_ < std::chrono::milliseconds(100)))) return;
  last_done_ = done;
  last_ = now;
  drawn_ = true;
  const size_t width = 30, filled = total_ ? std::min(done, total_) * width / total_ : width;
  std::string bar(filled, '#');
  bar += std::string(width - filled, '.');
  std::string rate;
  const double seconds = std::chrono::duration<double>(now - start_).count();
  if (seconds > 0.5 && done > start_done_) {
    const double per_second = double(done - start_done_) / seconds;
    const long eta = done < total_ ? long(double(total_ - done) / per_second + 0.5) : 0;
    char buf[64];
    std::snprintf(buf, sizeof(buf), "  %.0f/s  ETA %ld:%02ld", per_second, eta / 60, eta % 60);
    rate = buf;
  }
  std::fprintf(stderr, "\r%s [%s] %zu/%zu%s\033[K", label_.c_str(), bar.c_str(), done, total_, rate.c_str());
  std::fflush(stderr);
}

}  // namespace logitkit::cli
