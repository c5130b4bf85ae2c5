// `logitkit inspect MODEL.gguf`: a GGUF file's metadata and tensor table.
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "flags.h"
#include "json.h"
#include "logitkit/gguf.h"

namespace logitkit::cli {
namespace {

constexpr const char* kHelp = R"(usage: logitkit inspect MODEL.gguf [options]

Reads a GGUF file (checking every field) and prints its metadata and its
tensor table: name, type, shape, bytes.

options:
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
                      ",\"count\":" + std::to_string(v.elements.size()) + ",\"first\":[";
      for (size_t k = 0; k < v.elements.size() && k < max_elements; ++k) {
        s += (k ? "," : "") + JsonValue(v.elements[k], max_elements);
      }
      return s + "]}";
    }
    default: return v.ToString();
  }
}

}  // namespace

int RunInspect(const std::vector<std::string>& args) {
  StatusOr<Flags> flags = Flags::Parse(args, {"max-elements"}, {"json", "help"});
  if (!flags.ok()) {
    std::fprintf(stderr, "logitkit inspect: %s\n", flags.status().message().c_str());
    return 2;
  }
  if (flags->Has("help")) {
    std::fputs(kHelp, stdout);
    return 0;
  }
  if (flags->positional().size() != 1) {
    std::fprintf(stderr, "logitkit inspect: expected one MODEL.gguf argument (see --help)\n");
    return 2;
  }
  StatusOr<long long> max_elements = flags->GetInt("max-elements", 8);
  if (!max_elements.ok() || *max_elements < 0 || *max_elements > 1000000) {
    std::fprintf(stderr, "logitkit inspect: --max-elements must be an integer in [0, 1e6]\n");
    return 2;
  }
  const size_t shown = static_cast<size_t>(*max_elements);
  StatusOr<gguf::File> file = gguf::File::Open(flags->positional()[0]);
  if (!file.ok()) {
    std::fprintf(stderr, "logitkit inspect: %s\n", file.status().message().c_str());
    return 1;
  }
  uint64_t total_bytes = 0;
  for (const gguf::Tensor& t : file->tensors()) total_bytes += t.bytes;
  if (flags->Has("json")) {
    std::string o = "{\"file\":" + JsonString(flags->positional()[0]) +
                    ",\"version\":" + std::to_string(file->version()) +
                    ",\"bytes\":" + std::to_string(file->size_bytes()) +
                    ",\"alignment\":" + std::to_string(file->alignment()) + ",\"metadata\":{";
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
    return 0;
  }
  std::printf("%s: GGUF v%u, %zu bytes, %zu metadata keys, %zu tensors (%.1f MiB of data)\n\n",
              flags->positional()[0].c_str(), file->version(), file->size_bytes(),
              file->metadata().size(), file->tensors().size(), total_bytes / 1048576.0);
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
  return 0;
}

}  // namespace logitkit::cli
