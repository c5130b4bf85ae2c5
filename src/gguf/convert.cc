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

#include "base/atomic_file.h"
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
  // Every write error is returned with this context; the file at `path` stays
  // as it was until the Commit at the end.
  base::AtomicFile out;
  LOGITKIT_RETURN_IF_ERROR(out.Open(path).WithContext("gguf convert: "));
  LOGITKIT_RETURN_IF_ERROR(out.Write(header.data(), header.size()).WithContext("gguf convert: "));

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
    LOGITKIT_RETURN_IF_ERROR(out.WriteZeros(begin - out.written()).WithContext("gguf convert: "));  // padding
    if (!p.convert) {
      for (uint64_t done = 0; done < t.bytes;) {
        const uint64_t k = std::min<uint64_t>(kChunk, t.bytes - done);
        LOGITKIT_RETURN_IF_ERROR(out.Write(t.data + done, k).WithContext("gguf convert: "));
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
          LOGITKIT_RETURN_IF_ERROR(out.Write(chunk.data(), chunk.size()).WithContext("gguf convert: "));
          chunk.clear();
          report();
        }
      }
      ++stats.tensors_converted;
    }
    ++at.tensors_done;
    report();
  }
  LOGITKIT_RETURN_IF_ERROR(out.WriteZeros(at.bytes_total - out.written()).WithContext("gguf convert: "));
  LK_CHECK(out.written() == at.bytes_total);
  stats.bytes_out = out.written();
  LOGITKIT_RETURN_IF_ERROR(out.Commit().WithContext("gguf convert: "));
  report();
  return stats;
}

}  // namespace logitkit::gguf
