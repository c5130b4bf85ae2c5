// `logitkit inspect MODEL.gguf`: a GGUF file's metadata and tensor table.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "flags.h"
#include "logitkit/gguf.h"
#include "logitkit/model_config.h"
#include "logitkit/loaded_model.h"

namespace logitkit::cli {
namespace {

constexpr const char* kCommand = "inspect";

constexpr const char* kHelp = R"(usage: logitkit inspect [MODEL.gguf] [options]

Reads a GGUF file (checking every field) and prints its metadata and its
tensor table: name, type, shape, bytes. For a model (a file with
token_embd.weight), a summary first: architecture, blocks, d_model, heads,
KV heads, vocabulary, tied embeddings; a model whose metadata disagrees with
its tensors is shown, then reported as an error (exit 1).

The file: MODEL.gguf, else --model, else $LOGITKIT_MODEL, else the default
model (SmolLM2-135M-Instruct Q4_1, fetched by scripts/fetch-model).

options:
  --model FILE       the file (same as the positional argument)
  --max-elements N   array elements shown per metadata value (default 8)
  --json             machine-readable output (arrays are summarised the same way)
  --help             this text
)";

std::string Shape(const gguf::Tensor& t) {
  std::string s;
  for (size_t d = 0; d < t.dims.size(); ++d) s += (d ? " x " : "") + std::to_string(t.dims[d]);
  return s;
}

// A metadata value as JSON: a string, bool or number as itself; an array as
// {"type": "array", "element_type", "count", "first": its first max_elements}.
nlohmann::json JsonValue(const gguf::Value& v, size_t max_elements) {
  using gguf::ValueType;
  switch (v.type) {
    case ValueType::kString: return std::string(v.str);
    case ValueType::kBool: return v.u != 0;
    case ValueType::kFloat32: case ValueType::kFloat64: return v.f;
    case ValueType::kArray: {
      nlohmann::json first = nlohmann::json::array();
      for (size_t k = 0; k < v.count && k < max_elements; ++k) {
        first.push_back(JsonValue(v.At(k), max_elements));
      }
      return {{"type", "array"},
              {"element_type", gguf::ValueTypeName(v.element_type)},
              {"count", v.count},
              {"first", std::move(first)}};
    }
    default: break;
  }
  if (gguf::IsSignedType(v.type)) return v.i;
  return v.u;
}

nlohmann::json ModelJson(const ModelConfig& c) {
  return {{"architecture", c.architecture},
          {"name", c.name},
          {"blocks", c.n_layers},
          {"d_model", c.d_model},
          {"d_ff", c.d_ff},
          {"heads", c.n_attn_heads},
          {"kv_heads", c.n_attn_kv_heads},
          {"head_dim", c.attn_head_dim},
          {"context_length", c.context_length},
          {"vocab", c.n_vocab},
          {"tied_embeddings", c.tied_embeddings},
          {"lm_head_type", quant::TensorTypeName(c.unembedding_type)}};
}

void PrintModel(const ModelConfig& c) {
  std::printf("  model: %s%s%s, %u blocks, d_model %u, d_ff %u, %u heads, %u KV heads (head dim %u),\n"
              "         vocabulary %u, context %u, %s embeddings (LM head %s)\n\n",
              c.architecture.c_str(), c.name.empty() ? "" : " ", c.name.c_str(), c.n_layers, c.d_model,
              c.d_ff, c.n_attn_heads, c.n_attn_kv_heads, c.attn_head_dim, c.n_vocab, c.context_length,
              c.tied_embeddings ? "tied" : "separate", quant::TensorTypeName(c.unembedding_type));
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"max-elements", "model"}, {"json", "help"});
  if (!flags.ok()) return Fail(kCommand, flags.status());
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (flags->positional().size() > 1 || (flags->positional().size() == 1 && flags->Has("model"))) {
    return Fail(kCommand, InvalidArgumentError("expected one MODEL.gguf (as an argument or --model; see --help)"));
  }
  const std::string path =
      ResolveModelPath(flags->positional().empty() ? flags->Get("model", "") : flags->positional()[0]);
  StatusOr<long long> max_elements = flags->GetInt("max-elements", 8);
  if (!max_elements.ok() || *max_elements < 0 || *max_elements > 1000000) {
    return Fail(kCommand, InvalidArgumentError("--max-elements must be an integer in [0, 1e6]"));
  }
  const size_t shown = static_cast<size_t>(*max_elements);
  StatusOr<gguf::File> file = OpenModelFile(path);
  if (!file.ok()) return Fail(kCommand, file.status());
  // A model summary for files with an embedding; its error is the exit status.
  std::optional<StatusOr<ModelConfig>> model;
  if (file->FindTensor("token_embd.weight") != nullptr) model = ModelConfig::FromGguf(*file);
  const bool model_ok = !model || model->ok();
  auto report_model_error = [&] {
    return model_ok ? 0 : Fail(kCommand, model->status().WithContext(path + ": "));
  };
  uint64_t total_bytes = 0;
  for (const gguf::Tensor& t : file->tensors()) total_bytes += t.bytes;
  if (flags->Has("json")) {
    nlohmann::json o = {{"file", path},
                        {"version", file->version()},
                        {"bytes", file->size_bytes()},
                        {"alignment", file->alignment()}};
    if (model && model->ok()) o["model"] = ModelJson(**model);
    nlohmann::json metadata = nlohmann::json::object();
    for (const auto& [key, value] : file->metadata()) metadata[std::string(key)] = JsonValue(value, shown);
    o["metadata"] = std::move(metadata);
    nlohmann::json tensors = nlohmann::json::array();
    for (const gguf::Tensor& t : file->tensors()) {
      tensors.push_back({{"name", t.name},
                         {"type", quant::TensorTypeName(t.type)},
                         {"shape", t.dims},
                         {"bytes", t.bytes},
                         {"offset", t.offset}});
    }
    o["tensors"] = std::move(tensors);
    PrintJson(o);
    return report_model_error();
  }
  std::printf("%s: GGUF v%u, %zu bytes, %zu metadata keys, %zu tensors (%.1f MiB of data)\n\n",
              path.c_str(), file->version(), file->size_bytes(),
              file->metadata().size(), file->tensors().size(), total_bytes / 1048576.0);
  if (model && model->ok()) PrintModel(**model);
  for (const auto& [key, value] : file->metadata()) {
    std::string text = value.ToString(shown);
    if (text.size() > 160) text = text.substr(0, 157) + "...";
    std::printf("  %-40s %-8s %s\n", std::string(key).c_str(), gguf::ValueTypeName(value.type), text.c_str());
  }
  if (!file->tensors().empty()) {
    std::printf("\n  %-40s %-6s %-24s %14s\n", "tensor", "type", "shape", "bytes");
    for (const gguf::Tensor& t : file->tensors()) {
      std::printf("  %-40s %-6s %-24s %14llu\n", std::string(t.name).c_str(),
                  quant::TensorTypeName(t.type), Shape(t).c_str(),
                  static_cast<unsigned long long>(t.bytes));
    }
  }
  return report_model_error();
}

}  // namespace logitkit::cli
