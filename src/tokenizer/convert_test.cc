#include <gtest/gtest.h>

#include "logitkit/tokenizer.h"

namespace logitkit::tokenizer {
namespace {

TEST(Convert, Placeholder) {}

}  // namespace
}  // namespace logitkit::tokenizer
