// Writes a GGUF file holding, for every compute tensor type T, a tensor "T"
// of random rows (testing::RandomRow) and a float32 tensor "T.dequantized"
// with logitkit's dequantization of it; check_dequantize.py compares the
// second with the `gguf` Python package's dequantization of the first.
//
// Usage: tensor_types_dump OUT.gguf [seed]
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <vector>

#include "gguf/testing/random_blocks.h"
#include "logitkit/gguf.h"
#include "logitkit/tensor_types.h"

int main(int argc, char** argv) {
  using namespace logitkit::gguf;
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: tensor_types_dump OUT.gguf [seed]\n");
    return 2;
  }
  std::mt19937_64 rng(argc == 3 ? std::strtoull(argv[2], nullptr, 10) : 1);
  constexpr size_t kCols = 1024, kRows = 16;  // 16 Ki elements per type
  Writer writer;
  for (TensorType type : testing::kComputeTypes) {
    std::vector<uint8_t> quantized;
    std::vector<float> dequantized(kCols * kRows);
    for (size_t r = 0; r < kRows; ++r) {
      const std::vector<uint8_t> row = testing::RandomRow(type, kCols, rng);
      DequantizeRow(type, row.data(), kCols, dequantized.data() + r * kCols);
      quantized.insert(quantized.end(), row.begin(), row.end());
    }
    const std::string name = TensorTypeName(static_cast<uint32_t>(type));
    std::vector<uint8_t> bytes(dequantized.size() * sizeof(float));
    std::memcpy(bytes.data(), dequantized.data(), bytes.size());
    writer.AddTensor(name, type, {kCols, kRows}, std::move(quantized));
    writer.AddTensor(name + ".dequantized", TensorType::kF32, {kCols, kRows}, std::move(bytes));
  }
  writer.AddString("logitkit.dequantized_by", TensorKernelTarget());
  const logitkit::Status status = writer.WriteFile(argv[1]);
  if (!status.ok()) {
    std::fprintf(stderr, "tensor_types_dump: %s\n", status.ToString().c_str());
    return 1;
  }
  return 0;
}
