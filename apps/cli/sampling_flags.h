// The sampling flags: one per entry of the parameter table
// (logitkit/sampler_table.h), `--top-p P` for top_p, with the table's help
// line, default and range check. A parameter added to the table is a flag
// here with no edit.
#ifndef LOGITKIT_APPS_CLI_SAMPLING_FLAGS_H_
#define LOGITKIT_APPS_CLI_SAMPLING_FLAGS_H_

#include <set>
#include <string>

#include "flags.h"
#include "logitkit/head.h"
#include "logitkit/status.h"

namespace logitkit::cli {

// The flags' names, without "--" (merge into a command's flags with values).
std::set<std::string> SamplingFlagNames();

// The help lines, one per flag: "  --top-p P    keep the smallest ... (1: off)".
std::string SamplingFlagsHelp();

// Sets every sampling flag given. Errors name the flag and the value:
// "--top-p = 1.5 is outside (0, 1]".
Status ReadSamplingFlags(const Flags& flags, SamplerParams* params);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_SAMPLING_FLAGS_H_
