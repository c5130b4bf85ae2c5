#include "commands.h"

#include <cstdio>

#include <nlohmann/json.hpp>

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

std::string JsonText(const nlohmann::json& value) {
  return value.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

void PrintJson(const nlohmann::json& value) { std::printf("%s\n", JsonText(value).c_str()); }

}  // namespace logitkit::cli
