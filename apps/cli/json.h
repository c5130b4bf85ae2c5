// Minimal JSON output for --json: strings are escaped, non-finite numbers
// (which JSON cannot hold) are written as null.
#ifndef LOGITKIT_APPS_CLI_JSON_H_
#define LOGITKIT_APPS_CLI_JSON_H_

#include <cmath>
#include <cstdio>
#include <string>
#include <string_view>

namespace logitkit::cli {

inline std::string JsonString(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

inline std::string JsonNumber(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_JSON_H_
