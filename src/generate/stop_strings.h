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

  // Adds text; returns what is safe to release: everything but the longest
  // end of the pending text that is a prefix of a stop string. When a stop
  // string appears, returns the text before its first occurrence (the
  // earliest of any stop string), drops the rest and sets stopped().
  std::string Push(const std::string& text);
  // The text held back (at the end of the sequence); empty once stopped.
  std::string Flush();

  bool stopped() const { return !matched_.empty(); }
  const std::string& matched() const { return matched_; }  // the stop string found, or ""

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  std::string matched_;
};

}  // namespace logitkit::generate

#endif  // LOGITKIT_GENERATE_STOP_STRINGS_H_
