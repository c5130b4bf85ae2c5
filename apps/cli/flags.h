// A small command-line flag parser: `--name value`, `--name=value`, `-n value`
// (one letter, short for `--n`), repeated
// flags, boolean switches and positional arguments. Errors name the flag and
// the value.
#ifndef LOGITKIT_APPS_CLI_FLAGS_H_
#define LOGITKIT_APPS_CLI_FLAGS_H_

#include <map>
#include <set>
#include <string>
#include <vector>

#include "logitkit/status.h"

namespace logitkit::cli {

class Flags {
 public:
  // `with_value` lists the flags that take a value, `switches` the boolean ones
  // (both without the leading "--").
  static StatusOr<Flags> Parse(const std::vector<std::string>& args,
                               const std::set<std::string>& with_value,
                               const std::set<std::string>& switches);

  bool Has(const std::string& name) const { return values_.count(name) > 0; }
  // The last value given, or `fallback`.
  std::string Get(const std::string& name, const std::string& fallback) const;
  std::vector<std::string> GetAll(const std::string& name) const;
  StatusOr<double> GetDouble(const std::string& name, double fallback) const;
  StatusOr<long long> GetInt(const std::string& name, long long fallback) const;
  StatusOr<std::vector<double>> GetDoubles(const std::string& name) const;
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::map<std::string, std::vector<std::string>> values_;
  std::vector<std::string> positional_;
};

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_FLAGS_H_
