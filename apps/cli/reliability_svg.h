// `logitkit calibrate --svg`: the reliability diagram (confidence on x,
// accuracy on y, one bar per equal-width bin with its gap to the dashed
// diagonal in red, the positions per bin below, ECE on the plot) and, when a
// temperature was fitted, the fit split's NLL over T with the fit marked.
#ifndef LOGITKIT_APPS_CLI_RELIABILITY_SVG_H_
#define LOGITKIT_APPS_CLI_RELIABILITY_SVG_H_

#include <string>

#include "logitkit/calibration.h"

namespace logitkit::cli {

std::string ReliabilitySvg(const analysis::CalibrationSummary& summary, const std::string& title);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_RELIABILITY_SVG_H_
