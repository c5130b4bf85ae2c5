// Terminal output shared by the commands: visible whitespace, column padding
// and a progress line on stderr.
#ifndef LOGITKIT_APPS_CLI_TERMINAL_H_
#define LOGITKIT_APPS_CLI_TERMINAL_H_

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>

namespace logitkit::cli {

// Token text with whitespace made visible: space '␣', newline '↵', tab '⇥',
// other control bytes and bytes that are not valid UTF-8 as \xNN.
std::string Visible(std::string_view text);

// Pads to `width` terminal columns, counting UTF-8 code points, not bytes.
std::string Pad(const std::string& text, size_t width);

// Breaks text at spaces into lines of at most `width` columns (a longer word
// stays whole), each starting with `indent`; no final newline.
std::string Wrap(const std::string& text, size_t width, const std::string& indent);

// "label [#####.....] done/total  rate/s  ETA m:ss" on one stderr line,
// redrawn at most 10 times a second, erased when done; silent when stderr is
// not a terminal. The rate counts from the first Update.
class Progress {
 public:
  Progress(std::string label, size_t total);
  ~Progress();
  void Update(size_t done);

 private:
  std::string label_;
  size_t total_;
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_, start_;
  size_t start_done_ = 0, last_done_ = 0;
};

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_TERMINAL_H_
