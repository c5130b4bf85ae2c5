// The streaming file converter: every matrix dequantized and re-encoded row by row.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "base/check.h"
#include "logitkit/gguf_convert.h"

namespace logitkit::gguf {
namespace {


template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void PutString(std::vector<uint8_t>& out, std::string_view s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

// The encoding of a value without its type tag: the inverse of the reader's
// ReadValue. Scalars come back exactly from their widened form (a float32
// through double; a signalling NaN would come back quiet).
void PutValue(std::vector<uint8_t>& out, const Value& v) {
  switch (v.type) {
    case ValueType::kUint8:
    case ValueType::kBool:
      Put(out, static_cast<uint8_t>(v.u));
      return;
    case ValueType::kInt8:
      Put(out, static_cast<int8_t>(v.i));
      return;
    case ValueType::kUint16:
      Put(out, static_cast<uint16_t>(v.u));
      return;
    case ValueType::kInt16:
      Put(out, static_cast<int16_t>(v.i));
      return;
    case ValueType::kUint32:
      Put(out, static_cast<uint32_t>(v.u));
      return;
    case ValueType::kInt32:
      Put(out, static_cast<int32_t>(v.i));
      return;
    case ValueType::kUint64:
      Put(out, v.u);
      return;
    case ValueType::kInt64:
      Put(out, v.i);
      return;
    case ValueType::kFloat32:
      Put(out, static_cast<float>(v.f));
      return;
    case ValueType::kFloat64:
      Put(out, v.f);
      return;
    case ValueType::kString:
      PutString(out, v.str);
      return;
    case ValueType::kArray:
      Put(out, static_cast<uint32_t>(v.element_type));
      Put<uint64_t>(out, v.count);
      if (ScalarSize(v.element_type) != 0) {
        out.insert(out.end(), v.raw.begin(), v.raw.end());
      } else if (v.element_type == ValueType::kString) {
        for (std::string_view s : v.strings) PutString(out, s);
      } else {
        for (const Value& e : v.arrays) PutValue(out, e);
      }
      return;
  }
}

bool IsIntegerTensorType(uint32_t type) {
  return type >= static_cast<uint32_t>(quant::TensorType::kI8) &&
         type <= static_cast<uint32_t>(quant::TensorType::kI64);
}

std::string Shape(const Tensor& t) {
  std::string s;
  for (size_t d = 0; d < t.dims.size(); ++d) s += (d ? " x " : "") + std::to_string(t.dims[d]);
  return s;
}

// What happens to one tensor.
struct Plan {
  const Tensor* tensor;
  bool convert;  // else copied byte for byte
  uint32_t out_type;
  uint64_t out_bytes;
  uint64_t offset;  // in the output's data section
};

// The temporary output: removed on destruction unless Commit succeeded.
class TempFile {
 public:
  ~TempFile() {
    if (file_ != nullptr) std::fclose(file_);
    if (!path_.empty()) ::unlink(path_.c_str());
  }

  Status Create(const std::string& path) {
    // Unlink first, then create exclusively: a stale file is replaced, and a
    // file someone has mapped is never truncated under them.
    ::unlink(path.c_str());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return Error("cannot create '" + path + "'");
    path_ = path;
    file_ = ::fdopen(fd, "wb");
    if (file_ == nullptr) {
      ::close(fd);
      return Error("cannot open '" + path + "'");
    }
    return OkStatus();
  }

  Status Write(const void* data, size_t n) {
    if (n != 0 && std::fwrite(data, 1, n, file_) != n)
      return Error("writing '" + path_ + "' failed");
    written_ += n;
    return OkStatus();
  }

  Status Zeros(size_t n) {
    static constexpr uint8_t kZeros[256] = {};
    while (n > 0) {
      const size_t k = n < sizeof(kZeros) ? n : sizeof(kZeros);
      LOGITKIT_RETURN_IF_ERROR(Write(kZeros, k));
      n -= k;
    }
    return OkStatus();
  }

  uint64_t written() const { return written_; }

  // Flushes to the disk and renames to `path`.
  Status Commit(const std::string& path) {
    if (std::fflush(file_) != 0) return Error("writing '" + path_ + "' failed");
    if (::fsync(::fileno(file_)) != 0) return Error("syncing '" + path_ + "' failed");
    FILE* f = file_;
    file_ = nullptr;
    if (std::fclose(f) != 0) return Error("closing '" + path_ + "' failed");
    if (std::rename(path_.c_str(), path.c_str()) != 0) {
      return Error("cannot rename '" + path_ + "' to '" + path + "'");
    }
    path_.clear();
    return OkStatus();
  }

 private:
  static Status Error(const std::string& what) {
    const int e = errno;
    return Status(
        e == ENOSPC || e == EDQUOT ? StatusCode::kResourceExhausted : StatusCode::kInternal,
        "gguf convert: " + what + ": " + std::strerror(e));
  }

  std::string path_;
  FILE* file_ = nullptr;
  uint64_t written_ = 0;
};

}  // namespace

uint32_t LlamaFileType(quant::TensorType type) {
  LK_CHECK(quant::IsEncodeType(type));
  return type == quant::TensorType::kF32    ? 0
         : type == quant::TensorType::kF16  ? 1
         : type == quant::TensorType::kQ8_0 ? 7
                                     : 32;
}

StatusOr<ConvertStats> ConvertFile(const File& in, quant::TensorType type, const std::string& path,
                                   const ConvertProgressFn& progress) {
  const uint32_t target = static_cast<uint32_t>(type);
  if (!quant::IsEncodeType(type)) {
    return InvalidArgumentError(std::string("gguf convert: cannot convert to ") +
                                quant::TensorTypeName(target) + " (" + std::to_string(target) +
                                "): only F32, F16, BF16 and Q8_0");
  }
  ConvertStats stats;
  stats.bytes_in = in.size_bytes();
  // Every decision and size first, so that a file that cannot be converted
  // fails before anything is written.
  const uint64_t alignment = in.alignment();
  auto padded = [alignment](uint64_t n) { return (n + alignment - 1) / alignment * alignment; };
  std::vector<Plan> plans;
  plans.reserve(in.tensors().size());
  uint64_t data_bytes = 0;
  for (const Tensor& t : in.tensors()) {
    Plan p{&t, false, t.type, t.bytes, data_bytes};
    const std::string field = "gguf convert: tensor '" + std::string(t.name) + "' (" +
                              quant::TensorTypeName(t.type) + ", " + Shape(t) + ")";
    if (t.dims.size() >= 2 && t.type != target && !IsIntegerTensorType(t.type)) {
      if (!quant::IsComputeType(static_cast<quant::TensorType>(t.type))) {
        return Status(StatusCode::kUnimplemented,
                      field + ": " + quant::TensorTypeName(t.type) +
                          " has no dequantization, so it cannot become " + quant::TensorTypeName(target));
      }
      if (Status s = quant::CheckRow(type, t.dims[0]); !s.ok()) return s.WithContext(field + ": ");
      uint64_t out_bytes = 0;
      if (__builtin_mul_overflow(t.elements / t.dims[0], uint64_t{quant::RowBytes(type, t.dims[0])},
                                 &out_bytes)) {
        return InvalidArgumentError(field + ": the converted size overflows");
      }
      p = Plan{&t, true, target, out_bytes, data_bytes};
    }
    if (__builtin_add_overflow(data_bytes, p.out_bytes, &data_bytes) ||
        data_bytes > (uint64_t{1} << 62)) {
      return InvalidArgumentError(field + ": the converted file would be too large");
    }
    data_bytes = padded(data_bytes);
    plans.push_back(p);
  }

  // The header: metadata with general.file_type set, then the tensor table.
  const uint32_t file_type = LlamaFileType(type);
  std::vector<uint8_t> header = {'G', 'G', 'U', 'F'};
  Put<uint32_t>(header, 3);
  Put<uint64_t>(header, plans.size());
  const bool has_file_type = in.Find("general.file_type") != nullptr;
  Put<uint64_t>(header, in.metadata().size() + (has_file_type ? 0 : 1));
  for (const auto& [key, value] : in.metadata()) {
    PutString(header, key);
    if (key == "general.file_type") {
      Value v = value;
      if (!IsIntegerType(v.type)) {  // a malformed key is written as a uint32
        v = Value();
        v.type = ValueType::kUint32;
      }
      v.u = file_type;
      v.i = file_type;
      Put(header, static_cast<uint32_t>(v.type));
      PutValue(header, v);
    } else {
      Put(header, static_cast<uint32_t>(value.type));
      PutValue(header, value);
    }
  }
  if (!has_file_type) {
    PutString(header, "general.file_type");
    Put(header, static_cast<uint32_t>(ValueType::kUint32));
    Put(header, file_type);
  }
  for (const Plan& p : plans) {
    PutString(header, p.tensor->name);
    Put(header, static_cast<uint32_t>(p.tensor->dims.size()));
    for (uint64_t d : p.tensor->dims) Put(header, d);
    Put(header, p.out_type);
    Put(header, p.offset);
  }
  header.resize(padded(header.size()), 0);

  ConvertProgress at{0, plans.size(), 0, header.size() + data_bytes};
  TempFile out;
  LOGITKIT_RETURN_IF_ERROR(out.Create(path + ".tmp"));
  LOGITKIT_RETURN_IF_ERROR(out.Write(header.data(), header.size()));

  // Rows are encoded into `chunk` and written about every kChunk bytes; a
  // copied tensor is written straight from the input's mapping in pieces of
  // kChunk, so that progress moves on the biggest tensors too.
  constexpr size_t kChunk = size_t{4} << 20;
  std::vector<uint8_t> chunk;
  std::vector<float> row;
  auto report = [&] {
    at.bytes_done = out.written();
    if (progress) progress(at);
  };
  for (const Plan& p : plans) {
    const Tensor& t = *p.tensor;
    const uint64_t begin = header.size() + p.offset;
    LOGITKIT_RETURN_IF_ERROR(out.Zeros(begin - out.written()));  // the previous tensor's padding
    if (!p.convert) {
      for (uint64_t done = 0; done < t.bytes;) {
        const uint64_t k = std::min<uint64_t>(kChunk, t.bytes - done);
        LOGITKIT_RETURN_IF_ERROR(out.Write(t.data + done, k));
        done += k;
        report();
      }
      ++stats.tensors_copied;
    } else {
      const quant::TensorType from = static_cast<quant::TensorType>(t.type);
      const size_t n = t.dims[0], rows = t.elements / n;
      const size_t in_row_bytes = quant::RowBytes(from, n), out_row_bytes = quant::RowBytes(type, n);
      row.resize(n);
      chunk.clear();
      chunk.reserve(std::max(kChunk, out_row_bytes) + out_row_bytes);
      for (size_t r = 0; r < rows; ++r) {
        quant::DequantizeRow(from, t.data + r * in_row_bytes, n, row.data());
        const size_t used = chunk.size();
        chunk.resize(used + out_row_bytes);
        if (Status s = quant::EncodeRow(type, row.data(), n, chunk.data() + used); !s.ok()) {
          return s.WithContext("gguf convert: tensor '" + std::string(t.name) + "' row " +
                               std::to_string(r) + ": ");
        }
        if (chunk.size() >= kChunk || r + 1 == rows) {
          LOGITKIT_RETURN_IF_ERROR(out.Write(chunk.data(), chunk.size()));
          chunk.clear();
          report();
        }
      }
      ++stats.tensors_converted;
    }
    ++at.tensors_done;
    report();
  }
  LOGITKIT_RETURN_IF_ERROR(out.Zeros(at.bytes_total - out.written()));  // the last tensor's padding
  LK_CHECK(out.written() == at.bytes_total);
  stats.bytes_out = out.written();
  LOGITKIT_RETURN_IF_ERROR(out.Commit(path));
  report();
  return stats;
}

}  // namespace logitkit::gguf
