// The logitkit subcommands. Each takes the arguments after its name and
// returns the process exit code: 0 ok, 1 a runtime failure (a corrupt file,
// an I/O error), 2 a bad argument or input (a missing file too); see Fail.
#ifndef LOGITKIT_APPS_CLI_COMMANDS_H_
#define LOGITKIT_APPS_CLI_COMMANDS_H_

#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "logitkit/status.h"

namespace logitkit::cli {

// Prints "logitkit COMMAND: MESSAGE" on stderr and returns the exit code: 2
// for a bad argument or input (kInvalidArgument, kOutOfRange, kNotFound),
// else 1.
int Fail(const char* command, const Status& status);

// A JSON value as one line of text, as every --json prints it: invalid UTF-8
// in a string becomes U+FFFD, a non-finite number null.
std::string JsonText(const nlohmann::json& value);
// Prints JsonText(value) and a newline on stdout.
void PrintJson(const nlohmann::json& value);

int RunDemo(const std::vector<std::string>& args);
int RunBench(const std::vector<std::string>& args);
int RunBenchModel(const std::vector<std::string>& args);
int RunInspect(const std::vector<std::string>& args);
int RunTop(const std::vector<std::string>& args);
int RunGenerate(const std::vector<std::string>& args);
int RunScore(const std::vector<std::string>& args);
int RunLens(const std::vector<std::string>& args);
int RunCalibrate(const std::vector<std::string>& args);
int RunCompare(const std::vector<std::string>& args);
int RunTokenize(const std::vector<std::string>& args);
int RunVocab(const std::vector<std::string>& args);
int RunConvert(const std::vector<std::string>& args);
int RunServe(const std::vector<std::string>& args);

}  // namespace logitkit::cli

#endif  // LOGITKIT_APPS_CLI_COMMANDS_H_
