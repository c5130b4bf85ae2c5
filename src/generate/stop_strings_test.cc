// Stop strings over streamed text, against a whole-text reference: whatever
// the pieces, the released text is the text before the first stop string.
#include "generate/stop_strings.h"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

namespace logitkit::generate {
namespace {

// The reference: the whole text cut at the earliest occurrence of any stop string.
std::string CutAtFirstStop(const std::string& text, const std::vector<std::string>& stops) {
  size_t cut = std::string::npos;
  for (const std::string& s : stops) cut = std::min(cut, text.find(s));
  return cut == std::string::npos ? text : text.substr(0, cut);
}

TEST(StopStrings, ReleasedTextIsTheTextBeforeTheFirstStopWhateverThePieces) {
  std::mt19937 rng(7);
  const std::string alphabet = "ab.\n";
  for (int trial = 0; trial < 2000; ++trial) {
    std::string text;
    for (int i = 0; i < 30; ++i) text += alphabet[rng() % alphabet.size()];
    const std::vector<std::string> stops = {"a.b", "\n\n", "bbb", "b"};
    StopStrings filter(stops);
    std::string released;
    for (size_t at = 0; at < text.size() && !filter.stopped();) {
      const size_t n = 1 + rng() % 4;
      released += filter.Push(text.substr(at, n));
      at += n;
    }
    if (!filter.stopped()) released += filter.Flush();
    ASSERT_EQ(released, CutAtFirstStop(text, stops)) << "text " << text;
    EXPECT_EQ(filter.stopped(), released.size() < text.size());
  }
}

// A shorter stop string found first waits for a longer one that started earlier.
TEST(StopStrings, AnEarlierLongerStopWinsWhateverThePieces) {
  for (const std::vector<std::string>& pieces :
       {std::vector<std::string>{"x", "abc", "d"}, {"xabcd"}, {"xa", "b", "cd", "e"}}) {
    StopStrings filter({"abcd", "c"});
    std::string released;
    for (const std::string& piece : pieces) released += filter.Push(piece);
    released += filter.Flush();
    EXPECT_EQ(released, "x");
    EXPECT_EQ(filter.matched(), "abcd");
  }
  StopStrings filter({"abcd", "c"});  // the longer one never completes: the shorter one cuts
  std::string released = filter.Push("xabc");
  released += filter.Push("e");
  EXPECT_EQ(released, "xab");
  EXPECT_EQ(filter.matched(), "c");
  StopStrings at_end({"abcd", "c"});  // the text ends while the longer one is open
  released = at_end.Push("xabc");
  released += at_end.Flush();
  EXPECT_EQ(released, "xab");
  EXPECT_EQ(at_end.matched(), "c");
}

TEST(StopStrings, HoldsBackOnlyWhatCouldStartAStop) {
  StopStrings filter({"</end>"});
  EXPECT_EQ(filter.Push("Hello </"), "Hello ");
  EXPECT_FALSE(filter.stopped());
  EXPECT_EQ(filter.Push("b> more <"), "</b> more ");
  EXPECT_EQ(filter.Push("/end> after"), "");
  EXPECT_TRUE(filter.stopped());
  EXPECT_EQ(filter.matched(), "</end>");
  EXPECT_EQ(filter.Push("anything"), "");
  EXPECT_EQ(filter.Flush(), "");
}

TEST(StopStrings, TheEarliestStopWinsAndIsNamed) {
  StopStrings filter({"world", "o w"});
  EXPECT_EQ(filter.Push("Hello world"), "Hell");
  EXPECT_EQ(filter.matched(), "o w");
  StopStrings none({});
  EXPECT_EQ(none.Push("text"), "text");
  EXPECT_EQ(none.Flush(), "");
}

}  // namespace
}  // namespace logitkit::generate
