#include "flags.h"

#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>

namespace logitkit::cli {
namespace {

StatusOr<double> ParseDouble(const std::string& name, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    return InvalidArgumentError("--" + name + ": '" + text + "' is not a number");
  }
  return v;
}

StatusOr<long long> ParseInt(const std::string& name, const std::string& text) {
  errno = 0;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    return InvalidArgumentError("--" + name + ": '" + text + "' is not an integer");
  }
  return v;
}

}  // namespace

StatusOr<Flags> Flags::Parse(const std::vector<std::string>& args,
                             const std::set<std::string>& with_value,
                             const std::set<std::string>& switches) {
  Flags flags;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    // "-x" (one letter) is short for "--x".
    const bool short_flag = arg.size() == 2 && arg[0] == '-' && std::isalpha(static_cast<unsigned char>(arg[1]));
    if (!short_flag && (arg.size() < 2 || arg.compare(0, 2, "--") != 0 || arg == "--")) {
      flags.positional_.push_back(arg);
      continue;
    }
    std::string name = arg.substr(short_flag ? 1 : 2), value;
    const size_t eq = name.find('=');
    const bool inline_value = eq != std::string::npos;
    if (inline_value) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (switches.count(name)) {
      if (inline_value) return InvalidArgumentError("--" + name + " takes no value");
      flags.values_[name].push_back("1");
    } else if (with_value.count(name)) {
      if (!inline_value) {
        if (i + 1 >= args.size()) return InvalidArgumentError("--" + name + " needs a value");
        value = args[++i];
      }
      flags.values_[name].push_back(value);
    } else {
      return InvalidArgumentError("unknown flag --" + name + " (see --help)");
    }
  }
  return flags;
}

std::string Flags::Get(const std::string& name, const std::string& fallback) const {
  auto it = values_.find(name);
  return it == values_.end() ? fallback : it->second.back();
}

std::vector<std::string> Flags::GetAll(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

StatusOr<double> Flags::GetDouble(const std::string& name, double fallback) const {
  return Has(name) ? ParseDouble(name, Get(name, "")) : StatusOr<double>(fallback);
}

StatusOr<long long> Flags::GetInt(const std::string& name, long long fallback) const {
  return Has(name) ? ParseInt(name, Get(name, "")) : StatusOr<long long>(fallback);
}

StatusOr<std::vector<double>> Flags::GetDoubles(const std::string& name) const {
  std::vector<double> out;
  for (const std::string& text : GetAll(name)) {
    StatusOr<double> v = ParseDouble(name, text);
    if (!v.ok()) return v.status();
    out.push_back(*v);
  }
  return out;
}

}  // namespace logitkit::cli
