#include "generate/stop_strings.h"

#include <algorithm>
#include <utility>

namespace logitkit::generate {

StopStrings::StopStrings(std::vector<std::string> stops) : stops_(std::move(stops)) {}

std::string StopStrings::Push(const std::string& text) {
  if (stopped()) return {};
  pending_ += text;
  size_t cut = std::string::npos;
  for (const std::string& s : stops_) {
    const size_t at = pending_.find(s);
    if (at < cut) cut = at, matched_ = s;
  }
  if (cut != std::string::npos) {
    std::string out = pending_.substr(0, cut);
    pending_.clear();
    return out;
  }
  size_t keep = 0;  // the longest end of pending_ that is a prefix of a stop string
  for (const std::string& s : stops_) {
    for (size_t k = std::min(s.size() - 1, pending_.size()); k > keep; --k) {
      if (pending_.compare(pending_.size() - k, k, s, 0, k) == 0) {
        keep = k;
        break;
      }
    }
  }
  std::string out = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string StopStrings::Flush() { return std::exchange(pending_, {}); }

}  // namespace logitkit::generate
