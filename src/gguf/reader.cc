// The GGUF reader: every field is read through a Cursor that checks it against
// the bytes that remain, so a hostile file gets an error, never a bad read.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "logitkit/gguf.h"

namespace logitkit::gguf {
namespace {

constexpr uint64_t kMaxDims = 4;
constexpr int kMaxArrayDepth = 8;  // arrays of arrays, bounded so the stack is too

Status Malformed(const std::string& field, uint64_t offset, const std::string& problem) {
  return Status(StatusCode::kDataLoss,
                "gguf: " + field + " at byte " + std::to_string(offset) + ": " + problem);
}

class Cursor {
 public:
  explicit Cursor(std::span<const uint8_t> bytes) : bytes_(bytes) {}
  uint64_t offset() const { return pos_; }
  uint64_t remaining() const { return bytes_.size() - pos_; }

  template <typename T>
  Status Read(const std::string& field, T* out) {
    if (remaining() < sizeof(T)) {
      return Malformed(field, pos_, "needs " + std::to_string(sizeof(T)) + " bytes, " +
                                        std::to_string(remaining()) + " remain");
    }
    std::memcpy(out, bytes_.data() + pos_, sizeof(T));  // little-endian hosts only
    pos_ += sizeof(T);
    return OkStatus();
  }

  Status ReadString(const std::string& field, std::string_view* out) {
    const uint64_t at = pos_;
    uint64_t length = 0;
    LOGITKIT_RETURN_IF_ERROR(Read(field + " length", &length));
    if (length > remaining()) {
      return Malformed(field, at, "length " + std::to_string(length) + " exceeds the " +
                                      std::to_string(remaining()) + " bytes that remain");
    }
    *out = std::string_view(reinterpret_cast<const char*>(bytes_.data() + pos_), length);
    pos_ += length;
    return OkStatus();
  }

  Status ReadBytes(const std::string& field, uint64_t n, std::span<const uint8_t>* out) {
    if (n > remaining()) {
      return Malformed(field, pos_, std::to_string(n) + " bytes exceed the " + std::to_string(remaining()) +
                                        " that remain");
    }
    *out = bytes_.subspan(pos_, n);
    pos_ += n;
    return OkStatus();
  }

  Status Skip(uint64_t n) {
    if (n > remaining()) return Malformed("padding", pos_, "runs past the end of the file");
    pos_ += n;
    return OkStatus();
  }

 private:
  std::span<const uint8_t> bytes_;
  uint64_t pos_ = 0;
};

// Smallest encoded size of one value of `type`, to bound counts before allocating.
uint64_t MinEncodedSize(ValueType type) {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: return 8;   // the length
    case ValueType::kArray: return 12;   // element type and count
  }
  return 1;
}

bool KnownValueType(uint32_t t) { return t <= static_cast<uint32_t>(ValueType::kFloat64); }

Status ReadValue(Cursor& c, const std::string& field, ValueType type, int depth, Value* v) {
  v->type = type;
  switch (type) {
    case ValueType::kUint8: { uint8_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->u = x; return OkStatus(); }
    case ValueType::kInt8: { int8_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->i = x; return OkStatus(); }
    case ValueType::kUint16: { uint16_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->u = x; return OkStatus(); }
    case ValueType::kInt16: { int16_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->i = x; return OkStatus(); }
    case ValueType::kUint32: { uint32_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->u = x; return OkStatus(); }
    case ValueType::kInt32: { int32_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->i = x; return OkStatus(); }
    case ValueType::kUint64: { uint64_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->u = x; return OkStatus(); }
    case ValueType::kInt64: { int64_t x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->i = x; return OkStatus(); }
    case ValueType::kFloat32: { float x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->f = x; return OkStatus(); }
    case ValueType::kFloat64: { double x; LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x)); v->f = x; return OkStatus(); }
    case ValueType::kBool: {
      const uint64_t at = c.offset();
      uint8_t x;
      LOGITKIT_RETURN_IF_ERROR(c.Read(field, &x));
      if (x > 1) return Malformed(field, at, "bool value " + std::to_string(x) + " is not 0 or 1");
      v->u = x;
      return OkStatus();
    }
    case ValueType::kString: return c.ReadString(field, &v->str);
    case ValueType::kArray: {
      if (depth >= kMaxArrayDepth) {
        return Malformed(field, c.offset(), "arrays nested deeper than " + std::to_string(kMaxArrayDepth));
      }
      const uint64_t type_at = c.offset();
      uint32_t element_type = 0;
      LOGITKIT_RETURN_IF_ERROR(c.Read(field + " element type", &element_type));
      if (!KnownValueType(element_type)) {
        return Malformed(field + " element type", type_at, "unknown value type " + std::to_string(element_type));
      }
      v->element_type = static_cast<ValueType>(element_type);
      const uint64_t count_at = c.offset();
      uint64_t count = 0;
      LOGITKIT_RETURN_IF_ERROR(c.Read(field + " count", &count));
      if (count > c.remaining() / MinEncodedSize(v->element_type)) {
        return Malformed(field + " count", count_at,
                         std::to_string(count) + " elements cannot fit in the " +
                             std::to_string(c.remaining()) + " bytes that remain");
      }
      v->count = count;
      const ValueType et = v->element_type;
      if (const size_t size = ScalarSize(et); size != 0) {
        // Numbers and bools stay in the file (count * size fits: checked above).
        const uint64_t at = c.offset();
        std::span<const uint8_t> raw;
        LOGITKIT_RETURN_IF_ERROR(c.ReadBytes(field, count * size, &raw));
        if (et == ValueType::kBool) {
          for (uint64_t k = 0; k < count; ++k) {
            if (raw[k] > 1) {
              return Malformed(field + "[" + std::to_string(k) + "]", at + k,
                               "bool value " + std::to_string(raw[k]) + " is not 0 or 1");
            }
          }
        }
        v->raw = raw;
      } else if (et == ValueType::kString) {
        v->strings.resize(count);
        for (uint64_t k = 0; k < count; ++k) {
          LOGITKIT_RETURN_IF_ERROR(c.ReadString(field + "[" + std::to_string(k) + "]", &v->strings[k]));
        }
      } else {
        v->arrays.resize(count);
        for (uint64_t k = 0; k < count; ++k) {
          LOGITKIT_RETURN_IF_ERROR(ReadValue(c, field + "[" + std::to_string(k) + "]", et, depth + 1, &v->arrays[k]));
        }
      }
      return OkStatus();
    }
  }
  return Malformed(field, c.offset(), "unknown value type");
}

// a * b and a + b, or false on uint64 overflow.
bool MulOverflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_mul_overflow(a, b, out); }
bool AddOverflows(uint64_t a, uint64_t b, uint64_t* out) { return __builtin_add_overflow(a, b, out); }

}  // namespace

const char* ValueTypeName(ValueType type) {
  static const char* kNames[] = {"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32",
                                 "bool", "string", "array", "uint64", "int64", "float64"};
  const auto i = static_cast<uint32_t>(type);
  return i < 13 ? kNames[i] : "unknown";
}

size_t ScalarSize(ValueType type) {
  switch (type) {
    case ValueType::kUint8: case ValueType::kInt8: case ValueType::kBool: return 1;
    case ValueType::kUint16: case ValueType::kInt16: return 2;
    case ValueType::kUint32: case ValueType::kInt32: case ValueType::kFloat32: return 4;
    case ValueType::kUint64: case ValueType::kInt64: case ValueType::kFloat64: return 8;
    case ValueType::kString: case ValueType::kArray: return 0;
  }
  return 0;
}

bool IsIntegerType(ValueType type) {
  return ScalarSize(type) != 0 && type != ValueType::kBool && type != ValueType::kFloat32 &&
         type != ValueType::kFloat64;
}

bool IsSignedType(ValueType type) {
  return type == ValueType::kInt8 || type == ValueType::kInt16 || type == ValueType::kInt32 ||
         type == ValueType::kInt64;
}

Value Value::At(size_t k) const {
  Value e;
  e.type = element_type;
  if (element_type == ValueType::kString) {
    e.str = strings[k];
  } else if (element_type == ValueType::kArray) {
    e = arrays[k];
  } else {
    // Decode the scalar from its bytes, as ReadValue would.
    const uint8_t* p = raw.data() + k * ScalarSize(element_type);
    auto load = [p](auto x) { std::memcpy(&x, p, sizeof(x)); return x; };
    switch (element_type) {
      case ValueType::kUint8: e.u = load(uint8_t{}); break;
      case ValueType::kBool: e.u = load(uint8_t{}); break;
      case ValueType::kInt8: e.i = load(int8_t{}); break;
      case ValueType::kUint16: e.u = load(uint16_t{}); break;
      case ValueType::kInt16: e.i = load(int16_t{}); break;
      case ValueType::kUint32: e.u = load(uint32_t{}); break;
      case ValueType::kInt32: e.i = load(int32_t{}); break;
      case ValueType::kUint64: e.u = load(uint64_t{}); break;
      case ValueType::kInt64: e.i = load(int64_t{}); break;
      case ValueType::kFloat32: e.f = load(float{}); break;
      case ValueType::kFloat64: e.f = load(double{}); break;
      default: break;
    }
  }
  return e;
}

int64_t Value::IntAt(size_t k) const {
  const Value e = At(k);
  switch (e.type) {
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64: return e.i;
    case ValueType::kFloat32: case ValueType::kFloat64:  // truncated; 0 if NaN or out of range
      return e.f > -9.2e18 && e.f < 9.2e18 ? static_cast<int64_t>(e.f) : 0;
    default: return static_cast<int64_t>(e.u);
  }
}

double Value::FloatAt(size_t k) const {
  const Value e = At(k);
  switch (e.type) {
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      return static_cast<double>(e.i);
    case ValueType::kFloat32: case ValueType::kFloat64: return e.f;
    default: return static_cast<double>(e.u);
  }
}

std::string Value::ToString(size_t max_elements) const {
  switch (type) {
    case ValueType::kUint8: case ValueType::kUint16: case ValueType::kUint32: case ValueType::kUint64:
      return std::to_string(u);
    case ValueType::kInt8: case ValueType::kInt16: case ValueType::kInt32: case ValueType::kInt64:
      return std::to_string(i);
    case ValueType::kFloat32: case ValueType::kFloat64: {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.9g", f);
      return buf;
    }
    case ValueType::kBool: return u ? "true" : "false";
    case ValueType::kString: return std::string(str);
    case ValueType::kArray: {
      std::string s = "[";
      for (size_t k = 0; k < count && k < max_elements; ++k) {
        if (k) s += ", ";
        const Value e = At(k);
        s += e.type == ValueType::kString ? "\"" + e.ToString() + "\"" : e.ToString(max_elements);
      }
      if (count > max_elements) s += ", ... (" + std::to_string(count) + " in all)";
      return s + "]";
    }
  }
  return "?";
}

StatusOr<File> File::FromBytes(std::span<const uint8_t> bytes) {
  File file;
  file.bytes_ = bytes;
  LOGITKIT_RETURN_IF_ERROR(file.Parse());
  return file;
}

StatusOr<File> File::Open(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return Status(StatusCode::kNotFound, "gguf: cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool directory = S_ISDIR(st.st_mode);
    ::close(fd);
    return InvalidArgumentError("gguf: '" + path + (directory ? "' is a directory" : "' is not a regular file"));
  }
  const size_t size = static_cast<size_t>(st.st_size);
  if (size == 0) {
    ::close(fd);
    return Status(StatusCode::kDataLoss, "gguf: '" + path + "' is empty (0 bytes), not a GGUF file");
  }
  void* map = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (map == MAP_FAILED) return InternalError("gguf: cannot map '" + path + "': " + std::strerror(errno));
  File file;
  file.mapping_ = std::shared_ptr<void>(map, [size](void* p) { ::munmap(p, size); });
  file.bytes_ = std::span<const uint8_t>(static_cast<const uint8_t*>(map), size);
  Status s = file.Parse();
  if (!s.ok()) return s.WithContext(path + ": ");
  return file;
}

const Value* File::Find(std::string_view key) const {
  auto it = key_index_.find(key);
  return it == key_index_.end() ? nullptr : &metadata_[it->second].second;
}

const Tensor* File::FindTensor(std::string_view name) const {
  for (const Tensor& t : tensors_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

Status File::Parse() {
  Cursor c(bytes_);
  char magic[4];
  if (bytes_.size() < 4 || std::memcmp(bytes_.data(), "GGUF", 4) != 0) {
    return Malformed("magic", 0, "not a GGUF file (the first 4 bytes are not \"GGUF\")");
  }
  LOGITKIT_RETURN_IF_ERROR(c.Read("magic", &magic));
  LOGITKIT_RETURN_IF_ERROR(c.Read("version", &version_));
  if (version_ == 0x03000000u || version_ == 0x02000000u) {
    return Malformed("version", 4, "a big-endian GGUF file; only little-endian is supported");
  }
  if (version_ != 2 && version_ != 3) {
    return Malformed("version", 4, "version " + std::to_string(version_) + " is not supported (2 or 3)");
  }
  uint64_t tensor_count = 0, kv_count = 0;
  LOGITKIT_RETURN_IF_ERROR(c.Read("tensor_count", &tensor_count));
  LOGITKIT_RETURN_IF_ERROR(c.Read("kv_count", &kv_count));
  // A key-value pair takes at least 8 + 4 + 1 bytes, a tensor entry 8 + 4 + 8 + 4 + 8.
  if (kv_count > c.remaining() / 13) {
    return Malformed("kv_count", 16, std::to_string(kv_count) + " pairs cannot fit in the " +
                                         std::to_string(c.remaining()) + " bytes that remain");
  }
  if (tensor_count > c.remaining() / 32) {
    return Malformed("tensor_count", 8, std::to_string(tensor_count) + " tensors cannot fit in the " +
                                            std::to_string(c.remaining()) + " bytes that remain");
  }
  metadata_.reserve(kv_count);
  uint64_t alignment_at = 0;  // where general.alignment's value starts, for errors
  for (uint64_t k = 0; k < kv_count; ++k) {
    const std::string field = "key " + std::to_string(k);
    const uint64_t key_at = c.offset();
    std::string_view key;
    LOGITKIT_RETURN_IF_ERROR(c.ReadString(field, &key));
    const uint64_t type_at = c.offset();
    uint32_t type = 0;
    LOGITKIT_RETURN_IF_ERROR(c.Read("type of '" + std::string(key) + "'", &type));
    if (!KnownValueType(type)) {
      return Malformed("type of '" + std::string(key) + "'", type_at, "unknown value type " + std::to_string(type));
    }
    Value value;
    if (key == "general.alignment") alignment_at = c.offset();
    LOGITKIT_RETURN_IF_ERROR(ReadValue(c, "'" + std::string(key) + "'", static_cast<ValueType>(type), 0, &value));
    if (!key_index_.emplace(key, metadata_.size()).second) {
      return Malformed("key '" + std::string(key) + "'", key_at, "appears twice");
    }
    metadata_.emplace_back(key, std::move(value));
  }
  if (const Value* a = Find("general.alignment")) {
    if (a->type != ValueType::kUint32 || a->u == 0 || (a->u & (a->u - 1)) != 0) {
      return Malformed("general.alignment", alignment_at,
                       "must be a uint32 power of two, is " + a->ToString());
    }
    alignment_ = a->u;
  }
  std::map<std::string_view, size_t> names;
  tensors_.resize(tensor_count);
  for (uint64_t k = 0; k < tensor_count; ++k) {
    Tensor& t = tensors_[k];
    const uint64_t at = c.offset();
    LOGITKIT_RETURN_IF_ERROR(c.ReadString("tensor " + std::to_string(k) + " name", &t.name));
    const std::string field = "tensor '" + std::string(t.name) + "'";
    if (!names.emplace(t.name, k).second) return Malformed(field, at, "name appears twice");
    const uint64_t dims_at = c.offset();
    uint32_t n_dims = 0;
    LOGITKIT_RETURN_IF_ERROR(c.Read(field + " n_dims", &n_dims));
    if (n_dims == 0 || n_dims > kMaxDims) {
      return Malformed(field + " n_dims", dims_at, std::to_string(n_dims) + " is outside [1, 4]");
    }
    t.dims.resize(n_dims);
    t.elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const uint64_t dim_at = c.offset();
      LOGITKIT_RETURN_IF_ERROR(c.Read(field + " dim " + std::to_string(d), &t.dims[d]));
      if (t.dims[d] == 0) return Malformed(field + " dim " + std::to_string(d), dim_at, "is 0");
      if (MulOverflows(t.elements, t.dims[d], &t.elements) || t.elements > (uint64_t{1} << 62)) {
        return Malformed(field + " dim " + std::to_string(d), dim_at, "element count overflows");
      }
    }
    const uint64_t type_at = c.offset();
    LOGITKIT_RETURN_IF_ERROR(c.Read(field + " type", &t.type));
    uint64_t block_elements = 0, block_bytes = 0;
    if (!quant::TensorTypeLayout(t.type, &block_elements, &block_bytes)) {
      return Malformed(field + " type", type_at, "unknown tensor type " + std::to_string(t.type));
    }
    if (t.dims[0] % block_elements != 0) {
      return Malformed(field + " dim 0", dims_at + 4, std::to_string(t.dims[0]) + " is not a multiple of the " +
                                                          quant::TensorTypeName(t.type) + " block of " +
                                                          std::to_string(block_elements));
    }
    if (MulOverflows(t.elements / block_elements, block_bytes, &t.bytes)) {
      return Malformed(field, at, "byte size overflows");
    }
    const uint64_t offset_at = c.offset();
    LOGITKIT_RETURN_IF_ERROR(c.Read(field + " offset", &t.offset));
    if (t.offset % alignment_ != 0) {
      return Malformed(field + " offset", offset_at, std::to_string(t.offset) + " is not a multiple of the alignment " +
                                                         std::to_string(alignment_));
    }
  }
  // The data section starts at the next multiple of the alignment.
  const uint64_t misalignment = c.offset() % alignment_;
  data_offset_ = c.offset() + (misalignment == 0 ? 0 : alignment_ - misalignment);
  if (tensor_count > 0 && data_offset_ > bytes_.size()) {
    return Malformed("data section", c.offset(), "starts past the end of the file");
  }
  std::vector<size_t> by_offset(tensors_.size());
  for (size_t k = 0; k < by_offset.size(); ++k) by_offset[k] = k;
  std::sort(by_offset.begin(), by_offset.end(),
            [&](size_t a, size_t b) { return tensors_[a].offset < tensors_[b].offset; });
  uint64_t previous_end = 0;
  for (size_t k : by_offset) {
    Tensor& t = tensors_[k];
    const std::string field = "tensor '" + std::string(t.name) + "'";
    uint64_t begin = 0, end = 0;
    if (AddOverflows(data_offset_, t.offset, &begin) || AddOverflows(begin, t.bytes, &end) ||
        end > bytes_.size()) {
      return Malformed(field + " data", data_offset_, "offset " + std::to_string(t.offset) + " + " +
                                                          std::to_string(t.bytes) + " bytes runs past the end of the file (" +
                                                          std::to_string(bytes_.size()) + " bytes)");
    }
    if (t.offset < previous_end) {
      return Malformed(field + " data", begin, "overlaps the tensor before it");
    }
    previous_end = t.offset + t.bytes;
    t.data = bytes_.data() + begin;
  }
  return OkStatus();
}

}  // namespace logitkit::gguf
