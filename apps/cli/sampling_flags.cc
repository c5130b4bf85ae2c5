#include "sampling_flags.h"

#include <cstdio>

#include "logitkit/sampler_table.h"

namespace logitkit::cli {

std::set<std::string> SamplingFlagNames() {
  std::set<std::string> names;
  for (const SamplerParam& p : SamplerParamTable()) names.insert(p.Flag().substr(2));
  return names;
}

std::string SamplingFlagsHelp() {
  std::string help;
  for (const SamplerParam& p : SamplerParamTable()) {
    const std::string flag = p.Flag() + " " + p.meta;
    char line[512];
    std::string doc = p.doc;
    if (p.type == ParamType::kStages) doc += ", comma-separated (default " + p.DefaultText() + ")";
    std::snprintf(line, sizeof(line), "  %-26s%s\n", flag.c_str(), doc.c_str());
    help += line;
  }
  return help;
}

Status ReadSamplingFlags(const Flags& flags, SamplerParams* params) {
  for (const SamplerParam& p : SamplerParamTable()) {
    const std::string flag = p.Flag();
    if (!flags.Has(flag.substr(2))) continue;
    Status s = p.SetText(flags.Get(flag.substr(2), ""), params);
    if (s.ok()) continue;
    // The table names the parameter ("top_p = ..."): the CLI names the flag.
    std::string message = s.message();
    if (message.starts_with(p.name)) message = flag + message.substr(std::string(p.name).size());
    return Status(s.code(), message);
  }
  return OkStatus();
}

}  // namespace logitkit::cli
