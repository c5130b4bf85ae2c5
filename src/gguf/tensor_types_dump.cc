// Writes a GGUF file holding, for every compute tensor type T, a tensor "T"
// of random rows (quant::testing::RandomRow) and a float32 tensor "T.dequantized"
// with logitkit's dequantization of it; check_dequantize.py compares the
// second with the `gguf` Python package's dequantization of the first.
// Two more modes for check_convert.py (quant::EncodeRow and ConvertFile
// against the package's quantize):
//
// Usage: tensor_types_dump OUT.gguf [seed]
//        tensor_types_dump --encode TYPE IN.f32 COLS OUT.bin   rows of COLS raw
//                          float32 encoded to TYPE (F32, F16, BF16, Q8_0), back to back
//        tensor_types_dump --convert TYPE IN.gguf OUT.gguf     gguf::ConvertFile
// Exit 0 ok, 1 an error (printed), 2 a usage error.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "logitkit/gguf.h"
#include "logitkit/gguf_convert.h"
#include "logitkit/quant.h"
#include "quant/testing/random_blocks.h"

namespace {

using namespace logitkit::gguf;
namespace quant = logitkit::quant;

int Fail(const std::string& message) {
  std::fprintf(stderr, "tensor_types_dump: %s\n", message.c_str());
  return 1;
}

bool ParseType(const std::string& name, quant::TensorType* type) {
  using quant::TensorType;
  for (TensorType t : {TensorType::kF32, TensorType::kF16, TensorType::kBF16, TensorType::kQ8_0}) {
    if (name == quant::TensorTypeName(static_cast<uint32_t>(t))) {
      *type = t;
      return true;
    }
  }
  return false;
}

int Encode(quant::TensorType type, const char* in_path, size_t cols, const char* out_path) {
  std::vector<float> x;
  FILE* in = std::fopen(in_path, "rb");
  if (in == nullptr) return Fail(std::string("cannot read ") + in_path);
  float v;
  while (std::fread(&v, sizeof(v), 1, in) == 1) x.push_back(v);
  std::fclose(in);
  if (cols == 0 || x.size() % cols != 0) return Fail("the input is not whole rows of COLS floats");
  std::vector<uint8_t> out;
  for (size_t r = 0; r < x.size() / cols; ++r) {
    std::vector<uint8_t> row(cols * 4 + 64);  // enough for any encode type
    const logitkit::Status s = quant::EncodeRow(type, x.data() + r * cols, cols, row.data());
    if (!s.ok()) return Fail("row " + std::to_string(r) + ": " + s.message());
    out.insert(out.end(), row.begin(), row.begin() + quant::RowBytes(type, cols));
  }
  FILE* f = std::fopen(out_path, "wb");
  if (f == nullptr) return Fail(std::string("cannot write ") + out_path);
  const bool ok = std::fwrite(out.data(), 1, out.size(), f) == out.size();
  return std::fclose(f) == 0 && ok ? 0 : Fail(std::string("writing ") + out_path + " failed");
}

}  // namespace

int main(int argc, char** argv) {
  quant::TensorType type;
  if (argc == 6 && std::strcmp(argv[1], "--encode") == 0 && ParseType(argv[2], &type)) {
    return Encode(type, argv[3], std::strtoull(argv[4], nullptr, 10), argv[5]);
  }
  if (argc == 5 && std::strcmp(argv[1], "--convert") == 0 && ParseType(argv[2], &type)) {
    logitkit::StatusOr<File> in = File::Open(argv[3]);
    if (!in.ok()) return Fail(in.status().message());
    logitkit::StatusOr<ConvertStats> stats = ConvertFile(*in, type, argv[4]);
    return stats.ok() ? 0 : Fail(stats.status().message());
  }
  if (argc < 2 || argc > 3 || argv[1][0] == '-') {
    std::fprintf(stderr, "usage: tensor_types_dump OUT.gguf [seed]\n"
                         "       tensor_types_dump --encode F32|F16|BF16|Q8_0 IN.f32 COLS OUT.bin\n"
                         "       tensor_types_dump --convert F32|F16|BF16|Q8_0 IN.gguf OUT.gguf\n");
    return 2;
  }
  std::mt19937_64 rng(argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 1);
  constexpr size_t kCols = 1024, kRows = 16;  // 16 Ki elements per type
  Writer writer;
  for (quant::TensorType type : quant::testing::kComputeTypes) {
    std::vector<uint8_t> quantized;
    std::vector<float> dequantized(kCols * kRows);
    for (size_t r = 0; r < kRows; ++r) {
      const std::vector<uint8_t> row = quant::testing::RandomRow(type, kCols, rng);
      quant::DequantizeRow(type, row.data(), kCols, dequantized.data() + r * kCols);
      quantized.insert(quantized.end(), row.begin(), row.end());
    }
    const std::string name = quant::TensorTypeName(static_cast<uint32_t>(type));
    std::vector<uint8_t> bytes(dequantized.size() * sizeof(float));
    std::memcpy(bytes.data(), dequantized.data(), bytes.size());
    writer.AddTensor(name, type, {kCols, kRows}, std::move(quantized));
    writer.AddTensor(name + ".dequantized", quant::TensorType::kF32, {kCols, kRows}, std::move(bytes));
  }
  writer.AddString("logitkit.dequantized_by", quant::TensorKernelTarget());
  const logitkit::Status status = writer.WriteFile(argv[1]);
  return status.ok() ? 0 : Fail(status.ToString());
}
