// The table of tensor types: names, block layouts, and which types the
// kernels compute with.
#include <string>

#include "base/check.h"
#include "logitkit/quant.h"

namespace logitkit::quant {

bool TensorTypeLayout(uint32_t type, uint64_t* block_elements, uint64_t* block_bytes) {
  struct Layout { uint32_t type; uint64_t elements, bytes; };
  static constexpr Layout kLayouts[] = {
      {0, 1, 4},     {1, 1, 2},     {2, 32, 18},   {3, 32, 20},   {6, 32, 22},  {7, 32, 24},
      {8, 32, 34},   {9, 32, 36},   {10, 256, 84}, {11, 256, 110}, {12, 256, 144},
      {13, 256, 176}, {14, 256, 210}, {15, 256, 292}, {24, 1, 1},  {25, 1, 2},  {26, 1, 4},
      {27, 1, 8},    {28, 1, 8},    {30, 1, 2}};
  for (const Layout& l : kLayouts) {
    if (l.type == type) {
      *block_elements = l.elements;
      *block_bytes = l.bytes;
      return true;
    }
  }
  return false;
}

const char* TensorTypeName(uint32_t type) {
  switch (type) {
    case 0: return "F32"; case 1: return "F16"; case 2: return "Q4_0"; case 3: return "Q4_1";
    case 6: return "Q5_0"; case 7: return "Q5_1"; case 8: return "Q8_0"; case 9: return "Q8_1";
    case 10: return "Q2_K"; case 11: return "Q3_K"; case 12: return "Q4_K"; case 13: return "Q5_K";
    case 14: return "Q6_K"; case 15: return "Q8_K"; case 24: return "I8"; case 25: return "I16";
    case 26: return "I32"; case 27: return "I64"; case 28: return "F64"; case 30: return "BF16";
  }
  return "unknown";
}

bool IsComputeType(TensorType type) {
  switch (type) {
    case TensorType::kF32: case TensorType::kF16: case TensorType::kBF16:
    case TensorType::kQ8_0: case TensorType::kQ4_0: case TensorType::kQ4_1:
    case TensorType::kQ5_0: case TensorType::kQ5_1:
    case TensorType::kQ4_K: case TensorType::kQ5_K: case TensorType::kQ6_K:
      return true;
    default:
      return false;
  }
}

Status CheckRow(TensorType type, size_t n) {
  const uint32_t code = static_cast<uint32_t>(type);
  if (!IsComputeType(type)) {
    return InvalidArgumentError(std::string("tensor type ") + TensorTypeName(code) + " (" +
                                   std::to_string(code) + ") has no dequantization or dot product");
  }
  uint64_t block_elements = 0, block_bytes = 0;
  TensorTypeLayout(code, &block_elements, &block_bytes);
  if (n == 0 || n % block_elements != 0) {
    return InvalidArgumentError(std::string("a row of ") + std::to_string(n) + " " +
                                   TensorTypeName(code) + " elements is not a positive multiple of its block of " +
                                   std::to_string(block_elements));
  }
  return OkStatus();
}

size_t RowBytes(TensorType type, size_t n) {
  uint64_t block_elements = 0, block_bytes = 0;
  [[maybe_unused]] const bool known =
      TensorTypeLayout(static_cast<uint32_t>(type), &block_elements, &block_bytes);
  LK_DCHECK(known && n % block_elements == 0);
  return n / block_elements * block_bytes;
}

bool HasIntegerDot(TensorType type) {
  return IsComputeType(type) && type != TensorType::kF32 && type != TensorType::kF16 &&
         type != TensorType::kBF16;
}

}  // namespace logitkit::quant
