// The sampling parameters, described once: each field of SamplerParams that a
// user sets (the processors, temperature, the filters and their order) with
// its name, type, range, default and a one-line doc.
//
// Every front end is generated from this table: the CLI flags (`--top-p`),
// the server's JSON fields (`"top_p"`) and the Python keyword arguments
// (`top_p=`), their help texts and their range checks; the decode head
// validates a row's parameters with the same entries, so an out-of-range
// value gets the same message everywhere ("top_p = 1.5 is outside (0, 1]").
// A new parameter is one entry here (plus its field in SamplerParams) and
// reaches every front end with no edit there.
//
// Not in the table: the outputs (outputs, top_logprobs, alternatives_from),
// which each front end reports in its own format, and eos_tokens, which the
// generator takes from the tokenizer.
#ifndef LOGITKIT_SAMPLER_TABLE_H_
#define LOGITKIT_SAMPLER_TABLE_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "logitkit/head.h"
#include "logitkit/status.h"

namespace logitkit {

// How a parameter's value is written:
//   kFloat      a number                       CLI "0.9"        JSON 0.9            Python 0.9
//   kInt        an integer                     CLI "40"         JSON 40             Python 40
//   kTokens     token ids                      CLI "1,2,3"      JSON [1, 2, 3]      Python [1, 2, 3]
//   kTokenBias  token id -> bias to add        CLI "5:-1.5,9:2" JSON {"5": -1.5}    Python {5: -1.5}
//   kStages     stage names, in order          CLI "top_k,temperature"  JSON ["top_k", ...]  Python [...]
enum class ParamType : uint8_t { kFloat, kInt, kTokens, kTokenBias, kStages };

struct SamplerParam {
  using Field = std::variant<float SamplerParams::*, int32_t SamplerParams::*,
                             std::vector<int32_t> SamplerParams::*,
                             std::vector<TokenBias> SamplerParams::*,
                             std::vector<Stage> SamplerParams::*>;

  const char* name;  // snake_case: the JSON field and the Python keyword
  ParamType type;
  Field field;
  const char* doc;      // one line, for --help, docs/ and docstrings
  const char* meta;     // the value's placeholder in --help ("P", "K", "IDS")
  // Numeric types: the allowed range ([lo, hi], ends open where said; an
  // infinite end is unbounded). Floats must be finite.
  double lo = 0, hi = 0;
  bool lo_open = false, hi_open = false;
  const char* note = "";  // appended to a lower-bound error: "(0 = off)"

  // "--top-p": the CLI flag.
  std::string Flag() const;
  // The default (SamplerParams{}'s value) in the CLI's text form: "1", "0.5",
  // "temperature,top_k,top_p,min_p,typical_p,top_n_sigma", "" for empty lists.
  std::string DefaultText() const;

  // Setters, each checking the type and the range (token ids are checked
  // against n_vocab by Check). Errors are kInvalidArgument and name the
  // parameter and the value: "top_p = 1.5 is outside (0, 1]".
  Status SetNumber(double value, SamplerParams* params) const;  // kFloat, kInt
  Status SetTokens(std::vector<int32_t> ids, SamplerParams* params) const;  // kTokens
  Status SetBias(std::vector<TokenBias> bias, SamplerParams* params) const;  // kTokenBias
  Status SetStages(std::vector<Stage> stages, SamplerParams* params) const;  // kStages
  // Parses the CLI's text form (above) and sets the value.
  Status SetText(std::string_view text, SamplerParams* params) const;

  // The value in params, for the numeric types.
  double Number(const SamplerParams& params) const;
  // Checks the value in params: the range, and token ids in [0, n_vocab)
  // (kOutOfRange). The decode head runs this for every entry of every row.
  Status Check(const SamplerParams& params, size_t n_vocab) const;
};

// Every sampling parameter, in the order the head applies them: repetition,
// frequency and presence penalties, penalty_window, logit_bias, allowed and
// banned tokens, min_tokens, temperature, top_k, top_p, min_p, typical_p,
// top_n_sigma, order.
std::span<const SamplerParam> SamplerParamTable();

// Every entry's Check, in table order: the first error.
Status CheckSamplerParams(const SamplerParams& params, size_t n_vocab);

// The entry named `name` (snake_case), or null.
const SamplerParam* FindSamplerParam(std::string_view name);

// The stage called `name` ("top_k", as StageName writes it). Errors name the
// stages there are.
StatusOr<Stage> ParseStage(std::string_view name);

}  // namespace logitkit

#endif  // LOGITKIT_SAMPLER_TABLE_H_
