// GGUF model files (the format of llama.cpp, Ollama and LM Studio): a reader
// that treats the file as hostile, and a writer for tests and tools.
//
// Layout (little-endian, versions 2 and 3):
//   "GGUF" | u32 version | u64 tensor_count | u64 kv_count
//   kv_count × (string key | u32 value_type | value)
//   tensor_count × (string name | u32 n_dims | n_dims × u64 dim | u32 type | u64 offset)
//   padding to general.alignment (default 32) | tensor data
// A string is u64 length + bytes; an array is u32 element type + u64 count +
// elements (arrays of arrays included).
//
// Every count, length, dimension, size and offset is checked, with overflow-safe
// arithmetic, against the bytes that remain before anything is allocated or
// read. A malformed file gives an error naming the field and its byte offset.
#ifndef LOGITKIT_GGUF_H_
#define LOGITKIT_GGUF_H_

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "logitkit/quant.h"
#include "logitkit/status.h"

namespace logitkit::gguf {

enum class ValueType : uint32_t {
  kUint8 = 0, kInt8 = 1, kUint16 = 2, kInt16 = 3, kUint32 = 4, kInt32 = 5, kFloat32 = 6,
  kBool = 7, kString = 8, kArray = 9, kUint64 = 10, kInt64 = 11, kFloat64 = 12,
};
const char* ValueTypeName(ValueType type);

// A metadata value. Scalars are widened (integers to int64 / uint64, floats to
// double); strings view the file's bytes. An array of `count` elements costs
// at most a small multiple of its encoded bytes: numbers and bools stay in
// the file (`raw`, read through the *At accessors), strings are views, and
// only arrays of arrays hold Values.
struct Value {
  ValueType type = ValueType::kUint8;
  uint64_t u = 0;          // unsigned integers and bool
  int64_t i = 0;           // signed integers
  double f = 0;            // floats
  std::string_view str;    // kString

  // kArray.
  ValueType element_type = ValueType::kUint8;
  uint64_t count = 0;
  std::span<const uint8_t> raw;          // number and bool elements, little-endian
  std::vector<std::string_view> strings;  // string elements
  std::vector<Value> arrays;              // array elements

  // Element k (REQUIRES: k < count) of an array of numbers or bools: as an
  // integer (floats truncated, 0 if NaN or out of range; uint64 above 2^63
  // wraps), as a double.
  int64_t IntAt(size_t k) const;
  double FloatAt(size_t k) const;
  // Element k of any array as a Value of its own (arrays copied).
  Value At(size_t k) const;

  std::string ToString(size_t max_elements = 8) const;  // for inspect
};
// Bytes of one number or bool of `type` (0 for strings and arrays).
size_t ScalarSize(ValueType type);
// The integer types, and the signed ones among them (held in Value::i; the
// unsigned ones and bool in Value::u).
bool IsIntegerType(ValueType type);
bool IsSignedType(ValueType type);

struct Tensor {
  std::string_view name;
  uint32_t type = 0;           // a quant::TensorType code (checked: one with a known layout)
  std::vector<uint64_t> dims;  // ggml order: dims[0] is the row length
  uint64_t elements = 0;
  uint64_t offset = 0;         // from the start of the data section
  uint64_t bytes = 0;
  const uint8_t* data = nullptr;  // into the file's bytes
};

class File {
 public:
  // Memory-maps and parses `path`. The mapping lives as long as the File.
  static StatusOr<File> Open(const std::string& path);
  // Parses bytes the caller keeps alive (tests, in-memory files).
  static StatusOr<File> FromBytes(std::span<const uint8_t> bytes);

  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }
  size_t size_bytes() const { return bytes_.size(); }
  // Keys in file order, and lookup.
  const std::vector<std::pair<std::string_view, Value>>& metadata() const { return metadata_; }
  const Value* Find(std::string_view key) const;
  const std::vector<Tensor>& tensors() const { return tensors_; }
  const Tensor* FindTensor(std::string_view name) const;

 private:
  File() = default;
  Status Parse();

  std::shared_ptr<void> mapping_;  // munmap on destruction (Open only)
  std::span<const uint8_t> bytes_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string_view, Value>> metadata_;
  std::map<std::string_view, size_t> key_index_;
  std::vector<Tensor> tensors_;
};

// Builds a GGUF file in memory (version 3, little-endian).
class Writer {
 public:
  void AddUint32(const std::string& key, uint32_t v);
  void AddInt32(const std::string& key, int32_t v);
  void AddFloat32(const std::string& key, float v);
  void AddUint64(const std::string& key, uint64_t v);
  void AddBool(const std::string& key, bool v);
  void AddString(const std::string& key, const std::string& v);
  void AddStringArray(const std::string& key, const std::vector<std::string>& v);
  void AddFloat32Array(const std::string& key, const std::vector<float>& v);
  void AddInt32Array(const std::string& key, const std::vector<int32_t>& v);
  // A raw key: type and encoded value bytes (for tests of odd files).
  void AddRaw(const std::string& key, ValueType type, const std::vector<uint8_t>& value);
  void SetAlignment(uint32_t alignment) { alignment_ = alignment; }
  // data.size() must equal the type's byte size for dims.
  void AddTensor(const std::string& name, quant::TensorType type, std::vector<uint64_t> dims,
                 std::vector<uint8_t> data);

  std::vector<uint8_t> Finish() const;
  Status WriteFile(const std::string& path) const;

 private:
  template <typename T>
  void AddScalar(const std::string& key, ValueType type, T v);

  std::vector<uint8_t> kv_;
  uint64_t kv_count_ = 0;
  uint32_t alignment_ = 32;
  struct PendingTensor {
    std::string name;
    quant::TensorType type;
    std::vector<uint64_t> dims;
    std::vector<uint8_t> data;
  };
  std::vector<PendingTensor> tensors_;
};

}  // namespace logitkit::gguf

#endif  // LOGITKIT_GGUF_H_
