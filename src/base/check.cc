#include "base/check.h"

#include <cstdio>
#include <cstdlib>

namespace logitkit::base {

void CheckFailed(const char* file, int line, const char* expr) {
  std::fprintf(stderr, "logitkit: internal check failed at %s:%d: %s\n", file, line, expr);
  std::abort();
}

}  // namespace logitkit::base
