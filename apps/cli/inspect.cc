// `logitkit inspect MODEL.gguf`: a GGUF file's metadata and tensor table.
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "json.h"
#include "logitkit/gguf.h"
#include "logitkit/model_config.h"
#include "logitkit/loaded_model.h"

namespace logitkit::cli {
namespace {

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

std::string JsonValue(const gguf::Value& v, size_t max_elements) {
  using gguf::ValueType;
  switch (v.type) {
    case ValueType::kString: return JsonString(v.str);
    case ValueType::kBool: return v.u ? "true" : "false";
    case ValueType::kFloat32: case ValueType::kFloat64: return JsonNumber(v.f);
    case ValueType::kArray: {
      std::string s = "{\"type\":\"array\",\"element_type\":" +
                      JsonString(gguf::ValueTypeName(v.element_type)) +
                      ",\"count\":" + std::to_string(v.count) + ",\"first\":[";
      for (size_t k = 0; k < v.count && k < max_elements; ++k) {
        s += (k ? "," : "") + JsonValue(v.At(k), max_elements);
      }
      return s + "]}";
    }
    default: return v.ToString();
  }
}

std::string ModelJson(const ModelConfig& c) {
  return "{\"architecture\":" + JsonString(c.architecture) + ",\"name\":" + JsonString(c.name) +
         ",\"blocks\":" + std::to_string(c.n_layers) + ",\"d_model\":" + std::to_string(c.d_model) +
         ",\"d_ff\":" + std::to_string(c.d_ff) + ",\"heads\":" + std::to_string(c.n_heads) +
         ",\"kv_heads\":" + std::to_string(c.n_kv_heads) + ",\"head_dim\":" + std::to_string(c.head_dim) +
         ",\"context_length\":" + std::to_string(c.context_length) +
         ",\"vocab\":" + std::to_string(c.n_vocab) +
         ",\"tied_embeddings\":" + (c.tied_embeddings ? "true" : "false") +
         ",\"lm_head_type\":" + JsonString(gguf::TensorTypeName(c.lm_head_type)) + "}";
}

void PrintModel(const ModelConfig& c) {
  std::printf("  model: %s%s%s, %u blocks, d_model %u, d_ff %u, %u heads, %u KV heads (head dim %u),\n"
              "         vocabulary %u, context %u, %s embeddings (LM head %s)\n\n",
              c.architecture.c_str(), c.name.empty() ? "" : " ", c.name.c_str(), c.n_layers, c.d_model,
              c.d_ff, c.n_heads, c.n_kv_heads, c.head_dim, c.n_vocab, c.context_length,
              c.tied_embeddings ? "tied" : "separate", gguf::TensorTypeName(c.lm_head_type));
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"max-elements", "model"}, {"json", "help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "logitkit inspect: %s\n", flags.status().message().c_str());
    return 2;
  }
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (flags->positional().size() > 1 || (flags->positional().size() == 1 && flags->Has("model"))) {
    std::fprintf(stderr, "logitkit inspect: expected one MODEL.gguf (as an argument or --model; see --help)\n");
    return 2;
  }
  const std::string path =
      ResolveModelPath(flags->positional().empty() ? flags->Get("model", "") : flags->positional()[0]);
  StatusOr<long long> max_elements = flags->GetInt("max-elements", 8);
  if (!max_elements.ok() || *max_elements < 0 || *max_elements > 1000000) {
    std::fprintf(stderr, "logitkit inspect: --max-elements must be an integer in [0, 1e6]\n");
    return 2;
  }
  const size_t shown = static_cast<size_t>(*max_elements);
  StatusOr<gguf::File> file = OpenModelFile(path);
  if (!file.ok()) {
    std::fprintf(stderr, "logitkit inspect: %s\n", file.status().message().c_str());
    return 1;
  }
  // A model summary for files with an embedding; its error is the exit status.
  std::optional<StatusOr<ModelConfig>> model;
  if (file->FindTensor("token_embd.weight") != nullptr) model = ModelConfig::FromGguf(*file);
  const bool model_ok = !model || model->ok();
  auto report_model_error = [&] {
    if (!model_ok) std::fprintf(stderr, "logitkit inspect: %s: %s\n", path.c_str(), model->status().message().c_str());
    return model_ok ? 0 : 1;
  };
  uint64_t total_bytes = 0;
  for (const gguf::Tensor& t : file->tensors()) total_bytes += t.bytes;
  if (flags->Has("json")) {
    std::string o = "{\"file\":" + JsonString(path) +
                    ",\"version\":" + std::to_string(file->version()) +
                    ",\"bytes\":" + std::to_string(file->size_bytes()) +
                    ",\"alignment\":" + std::to_string(file->alignment());
    if (model && model->ok()) o += ",\"model\":" + ModelJson(**model);
    o += ",\"metadata\":{";
    bool first = true;
    for (const auto& [key, value] : file->metadata()) {
      o += (first ? "" : ",") + JsonString(key) + ":" + JsonValue(value, shown);
      first = false;
    }
    o += "},\"tensors\":[";
    first = true;
    for (const gguf::Tensor& t : file->tensors()) {
      o += std::string(first ? "" : ",") + "{\"name\":" + JsonString(t.name) + ",\"type\":" +
           JsonString(gguf::TensorTypeName(t.type)) + ",\"shape\":[";
      for (size_t d = 0; d < t.dims.size(); ++d) o += (d ? "," : "") + std::to_string(t.dims[d]);
      o += "],\"bytes\":" + std::to_string(t.bytes) + ",\"offset\":" + std::to_string(t.offset) + "}";
      first = false;
    }
    std::printf("%s]}\n", o.c_str());
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
                  gguf::TensorTypeName(t.type), Shape(t).c_str(),
                  static_cast<unsigned long long>(t.bytes));
    }
  }
  return report_model_error();
}

}  // namespace logitkit::cli
