// `logitkit convert MODEL.gguf --type f32|f16|bf16|q8_0 -o OUT.gguf`: a copy
// of a GGUF model with its matrices in another type (gguf::ConvertFile).
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/gguf.h"
#include "logitkit/gguf_convert.h"
#include "logitkit/loaded_model.h"
#include "terminal.h"

namespace logitkit::cli {
namespace {

constexpr const char* kCommand = "convert";

constexpr const char* kHelp =
    R"(usage: logitkit convert [MODEL.gguf] --type f32|f16|bf16|q8_0 -o OUT.gguf [options]

Writes a copy of a GGUF model whose matrices are all of one type, e.g. the
default Q4_1 model as F32, so that `logitkit compare` can set a quantized
model beside a higher-precision one.

Each matrix (tensor of 2 or more dimensions) of another type is dequantized
row by row and encoded in the new type, bit for bit as llama.cpp and the
`gguf` Python package encode; 1-D tensors (norms, biases), integer tensors
and matrices already of the type are copied byte for byte. Metadata is
copied key by key, with general.file_type set to the type's llama.cpp file
type. Tensor order, names, shapes and alignment are kept. The file is
written to OUT.gguf.tmp and renamed to OUT.gguf when complete.

Converting up adds no information: an F32 copy of a quantized model holds
exactly the weights the quantized model computes with (its logits equal the
original's up to float32 summation order); F16, BF16 and Q8_0 round each
weight once more (relative 2^-11, 2^-8, and max|block|/254 + 2^-11).

The model: MODEL.gguf, else --model, else $LOGITKIT_MODEL, else the default
model (SmolLM2-135M-Instruct Q4_1, fetched by scripts/fetch-model).

options:
  --type TYPE        f32, f16, bf16 or q8_0 (required)
  -o, --out FILE     the output file (required; replaced if it exists; not the model)
  --model FILE       the model (same as the positional argument)
  --json             a machine-readable summary on stdout
  --help             this text

exit status: 0 ok, 1 an error (unreadable model, a tensor that cannot be
converted, a write failure), 2 a usage error
)";

struct TypeName {
  const char* flag;
  quant::TensorType type;
};
constexpr TypeName kTypes[] = {{"f32", quant::TensorType::kF32},
                               {"f16", quant::TensorType::kF16},
                               {"bf16", quant::TensorType::kBF16},
                               {"q8_0", quant::TensorType::kQ8_0}};

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  return s;
}

// True if a and b name the same file (b need not exist).
bool SameFile(const std::string& a, const std::string& b) {
  std::error_code ec;
  if (std::filesystem::equivalent(a, b, ec)) return true;  // both exist: same inode, links included
  const std::filesystem::path ca = std::filesystem::weakly_canonical(a, ec);
  if (ec) return false;
  const std::filesystem::path cb = std::filesystem::weakly_canonical(b, ec);
  return !ec && ca == cb;
}

}  // namespace

int RunConvert(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"type", "o", "out", "model"}, {"json", "help"});
  const auto usage = [](const std::string& m) {
    return Fail(kCommand, InvalidArgumentError(m + " (see --help)"));
  };
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (flags->positional().size() > 1 || (flags->positional().size() == 1 && flags->Has("model"))) {
    return usage("expected one MODEL.gguf (as an argument or --model)");
  }
  if (!flags->Has("type")) return usage("--type is required: f32, f16, bf16 or q8_0");
  const std::string type_flag = flags->Get("type", "");
  const TypeName* target = nullptr;
  for (const TypeName& t : kTypes) {
    if (Lower(type_flag) == t.flag) target = &t;
  }
  if (target == nullptr)
    return usage("--type '" + type_flag + "' is not one of f32, f16, bf16, q8_0");
  if (flags->Has("o") && flags->Has("out")) return usage("give the output once (-o or --out)");
  const std::string out = flags->Get("o", flags->Get("out", ""));
  if (out.empty()) return usage("-o OUT.gguf is required");
  const std::string path = ResolveModelPath(flags->positional().empty() ? flags->Get("model", "")
                                                                        : flags->positional()[0]);
  if (SameFile(path, out) || SameFile(path, out + ".tmp")) {
    return usage("-o " + out + " would overwrite the model itself: choose another output");
  }

  StatusOr<gguf::File> file = OpenModelFile(path);
  if (!file.ok()) return Fail(kCommand, file.status());
  const char* type_name = quant::TensorTypeName(static_cast<uint32_t>(target->type));
  const auto start = std::chrono::steady_clock::now();
  std::optional<Progress> mib;  // a bar in MiB of output, erased when done
  StatusOr<gguf::ConvertStats> stats =
      gguf::ConvertFile(*file, target->type, out, [&](const gguf::ConvertProgress& p) {
        if (!mib)
          mib.emplace(std::string("converting to ") + type_name + ", MiB", p.bytes_total >> 20);
        mib->Update(p.bytes_done >> 20);
      });
  mib.reset();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!stats.ok()) return Fail(kCommand, stats.status().WithContext(path + ": "));
  const size_t tensors = stats->tensors_converted + stats->tensors_copied;
  if (flags->Has("json")) {
    const nlohmann::json o = {{"model", path},
                              {"output", out},
                              {"type", type_name},
                              {"file_type", gguf::LlamaFileType(target->type)},
                              {"tensors", tensors},
                              {"converted", stats->tensors_converted},
                              {"copied", stats->tensors_copied},
                              {"bytes_in", stats->bytes_in},
                              {"bytes_out", stats->bytes_out},
                              {"seconds", seconds}};
    PrintJson(o);
    return 0;
  }
  std::printf("%s: %s, %zu tensors (%zu converted, %zu copied), %.1f MiB -> %.1f MiB in %.2f s\n",
              out.c_str(), type_name, tensors, stats->tensors_converted, stats->tensors_copied,
              stats->bytes_in / 1048576.0, stats->bytes_out / 1048576.0, seconds);
  return 0;
}

}  // namespace logitkit::cli
