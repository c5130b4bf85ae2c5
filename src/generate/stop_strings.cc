#include "generate/stop_strings.h"

#include <algorithm>
#include <utility>

namespace logitkit::generate {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

// The text is cut before the earliest occurrence of any stop string in the
// whole text, whatever the pieces it arrives in. So a stop string found in
// the pending text is only decided on when no other could still complete at
// an earlier position; until then the text from that position is held back.
std::string StopStrings::Scan(bool final) {
  size_t found = std::string::npos;  // the earliest complete occurrence
  std::string found_stop;
  for (const std::string& s : stops_) {
    const size_t at = pending_.find(s);
    if (at < found) found = at, found_stop = s;
  }
  size_t open = pending_.size();  // the earliest start of a stop string that could still complete
  if (!final) {
    for (const std::string& s : stops_) {
      // The longest end of pending_ that is a proper prefix of s starts earliest.
      for (size_t k = std::min(s.size() - 1, pending_.size()); k > 0; --k) {
        if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
          open = std::min(open, pending_.size() - k);
          break;
        }
      }
    }
  }
  if (found != std::string::npos && found <= open) {
    matched_ = found_stop;
    std::string out = pending_.substr(0, found);
    pending_.clear();
    return out;
  }
  const size_t release = std::min(open, found);
  std::string out = pending_.substr(0, release);
  pending_.erase(0, release);
  return out;
}

std::string StopStrings::Push(const std::string& text) {
  if (stopped()) return {};
  pending_ += text;
  return Scan(/*final=*/false);
}

std::string StopStrings::Flush() {
  if (stopped()) return {};
  std::string out = Scan(/*final=*/true);
  return out + std::exchange(pending_, {});
}

}  // namespace logitkit::generate
