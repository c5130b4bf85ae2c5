// What the commands that draw (lens, calibrate) share: XML escaping and
// writing a text file.
#ifndef LOGITKIT_APPS_CLI_SVG_H_
#define LOGITKIT_APPS_CLI_SVG_H_

#include <string>
#include <string_view>

#include "logitkit/status.h"

namespace logitkit::cli {

// &, <, >, " as XML entities.
std::string Xml(std::string_view text);

// Writes text to path, replacing it whole or not at all (base/atomic_file.h).
// Errors name the path.
Status WriteText(const std::string& path, const std::string& text);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_SVG_H_
