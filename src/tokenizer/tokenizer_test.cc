#include <gtest/gtest.h>

#include "logitkit/tokenizer.h"
#include "tokenizer/testing.h"

namespace logitkit::tokenizer {
namespace {

TEST(Tokenizer, Placeholder) {}

}  // namespace
}  // namespace logitkit::tokenizer
