#include "model/architecture.h"

namespace logitkit {
namespace {

// clang-format off
constexpr Architecture kArchitectures[] = {
    // name      norm             positions            rope                    fused  qkv_bias         output_bias     mlp               mlp_bias
    {"llama",   NormKind::kRms,   Positions::kRope,    RopeLayout::kAdjacent,  false, Bias::kOptional, Bias::kNone,     MlpKind::kSwiGlu, Bias::kNone},
    {"mistral", NormKind::kRms,   Positions::kRope,    RopeLayout::kAdjacent,  false, Bias::kOptional, Bias::kNone,     MlpKind::kSwiGlu, Bias::kNone},
    {"qwen2",   NormKind::kRms,   Positions::kRope,    RopeLayout::kHalves,    false, Bias::kOptional, Bias::kNone,     MlpKind::kSwiGlu, Bias::kNone},
    {"gpt2",    NormKind::kLayer, Positions::kLearned, RopeLayout::kAdjacent,  true,  Bias::kRequired, Bias::kRequired, MlpKind::kGelu,   Bias::kRequired},
};
// clang-format on

}  // namespace

StatusOr<const Architecture*> FindArchitecture(std::string_view name) {
  std::string supported;
  for (const Architecture& a : kArchitectures) {
    if (a.name == name) return &a;
    supported += (supported.empty() ? "" : ", ") + std::string(a.name);
  }
  return InvalidArgumentError("model: architecture '" + std::string(name) + "' is not supported (supported: " +
                              supported + ")");
}

}  // namespace logitkit
