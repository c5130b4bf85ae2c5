// Stop strings over streamed text: holds back the end of the text that could
// still become a stop string, and cuts the text where one appears.
#ifndef LOGITKIT_GENERATE_STOP_STRINGS_H_
#define LOGITKIT_GENERATE_STOP_STRINGS_H_

#include <string>
#include <vector>

namespace logitkit::generate {

class StopStrings {
 public:
  // REQUIRES: every stop string is non-empty.
  explicit StopStrings(std::vector<std::string> stops);

  // Adds text; returns what is safe to release. The text released over all
  // calls and the final Flush is the whole text cut before the earliest
  // occurrence of any stop string, however it was split: text that a stop
  // string could still start in is held back, and a stop string found is
  // decided on once none could complete earlier. Then stopped() is set and
  // the rest is dropped.
  std::string Push(const std::string& text);
  // At the end of the text: the held-back text, cut at a stop string if one
  // is complete in it; empty once stopped.
  std::string Flush();

  bool stopped() const { return !matched_.empty(); }
  const std::string& matched() const { return matched_; }  // the stop string found, or ""

 private:
  std::string Scan(bool final);

  std::vector<std::string> stops_;
  std::string pending_;
  std::string matched_;
};

}  // namespace logitkit::generate

#endif  // LOGITKIT_GENERATE_STOP_STRINGS_H_
