// Formatting for error messages: numbers as a user would type them back.
#ifndef LOGITKIT_BASE_FORMAT_H_
#define LOGITKIT_BASE_FORMAT_H_

#include <cstdio>
#include <string>

namespace logitkit::base {

// Shortest round-trip-ish form: "0.9", "1e+30", "nan", "-inf".
inline std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.9g", v);
  return buf;
}

}  // namespace logitkit::base

#endif  // LOGITKIT_BASE_FORMAT_H_
