#include "model/architecture.h"

namespace logitkit {
namespace {

using enum NormKind;
using enum Positions;
using enum RopeLayout;
using enum MlpKind;
using enum Bias;

// clang-format off
constexpr Architecture kArchitectures[] = {
    // name     norm    positions  rope       fused  qkv_bias   output_bias mlp      mlp_bias
    {"llama",   kRms,   kRope,     kAdjacent, false, kOptional, kNone,      kSwiGlu, kNone},
    {"mistral", kRms,   kRope,     kAdjacent, false, kOptional, kNone,      kSwiGlu, kNone},
    {"qwen2",   kRms,   kRope,     kHalves,   false, kOptional, kNone,      kSwiGlu, kNone},
    {"gpt2",    kLayer, kLearned,  kAdjacent, true,  kRequired, kRequired,  kGelu,   kRequired},
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
