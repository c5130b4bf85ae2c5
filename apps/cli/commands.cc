#include "commands.h"

#include <cstdio>

namespace logitkit::cli {

int Fail(const char* command, const Status& status) {
  std::fprintf(stderr, "logitkit %s: %s\n", command, status.message().c_str());
  switch (status.code()) {
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange:
    case StatusCode::kNotFound: return 2;
    default: return 1;
  }
}

}  // namespace logitkit::cli
