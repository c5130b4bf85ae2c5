// Stop strings over streamed text: holds back the end of the text that could
// still become a stop string, and cuts the text where one appears.
#ifndef LOGITKIT_APPS_SERVER_STOP_FILTER_H_
#define LOGITKIT_APPS_SERVER_STOP_FILTER_H_

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

namespace logitkit::server {

// Holds back the end of the text that could still become a stop string.
class StopFilter {
 public:
  explicit StopFilter(std::vector<std::string> stops) : stops_(std::move(stops)) {}
  // Adds text; returns what is safe to print. Sets stopped() when a stop
  // string appears (the text from it on is dropped).
  std::string Push(const std::string& text) {
    pending_ += text;
    size_t cut = std::string::npos;
    for (const std::string& s : stops_) cut = std::min(cut, pending_.find(s));
    if (cut != std::string::npos) {
      stopped_ = true;
      std::string out = pending_.substr(0, cut);
      pending_.clear();
      return out;
    }
    size_t keep = 0;  // longest suffix of pending_ that is a prefix of a stop string
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
  std::string Flush() { return std::exchange(pending_, {}); }
  bool stopped() const { return stopped_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
};

}  // namespace logitkit::server

#endif  // LOGITKIT_APPS_SERVER_STOP_FILTER_H_
