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

namespace {

// The table names the parameter ("top_p = ..."): the CLI names the flag.
Status AsFlag(const SamplerParam& p, const Status& s) {
  std::string message = s.message();
  if (message.starts_with(p.name)) message = p.Flag() + message.substr(std::string(p.name).size());
  return Status(s.code(), message);
}

}  // namespace

Status ReadSamplingFlags(const Flags& flags, SamplerParams* params) {
  for (const SamplerParam& p : SamplerParamTable()) {
    const std::string name = p.Flag().substr(2);
    if (!flags.Has(name)) continue;
    if (Status s = p.SetText(flags.Get(name, ""), params); !s.ok()) return AsFlag(p, s);
  }
  // What only the whole set tells (a filter set but left out of --order);
  // token ids are checked against the model's vocabulary when it is loaded.
  for (const SamplerParam& p : SamplerParamTable()) {
    if (p.type != ParamType::kStages) continue;
    if (Status s = p.Check(*params, /*n_vocab=*/0); !s.ok()) return AsFlag(p, s);
  }
  return OkStatus();
}

}  // namespace logitkit::cli
