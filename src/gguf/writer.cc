// The GGUF writer: builds version-3 little-endian files for tests and tools.
#include <cstdio>
#include <cstring>

#include "base/atomic_file.h"
#include "logitkit/gguf.h"

namespace logitkit::gguf {
namespace {

template <typename T>
void Put(std::vector<uint8_t>& out, T v) {
  const size_t at = out.size();
  out.resize(at + sizeof(T));
  std::memcpy(out.data() + at, &v, sizeof(T));
}

void PutString(std::vector<uint8_t>& out, const std::string& s) {
  Put<uint64_t>(out, s.size());
  out.insert(out.end(), s.begin(), s.end());
}

}  // namespace

void Writer::AddRaw(const std::string& key, ValueType type, const std::vector<uint8_t>& value) {
  PutString(kv_, key);
  Put<uint32_t>(kv_, static_cast<uint32_t>(type));
  kv_.insert(kv_.end(), value.begin(), value.end());
  ++kv_count_;
}

template <typename T>
void Writer::AddScalar(const std::string& key, ValueType type, T v) {
  std::vector<uint8_t> b;
  Put(b, v);
  AddRaw(key, type, b);
}

void Writer::AddUint32(const std::string& key, uint32_t v) { AddScalar(key, ValueType::kUint32, v); }
void Writer::AddInt32(const std::string& key, int32_t v) { AddScalar(key, ValueType::kInt32, v); }
void Writer::AddFloat32(const std::string& key, float v) { AddScalar(key, ValueType::kFloat32, v); }
void Writer::AddUint64(const std::string& key, uint64_t v) { AddScalar(key, ValueType::kUint64, v); }
void Writer::AddBool(const std::string& key, bool v) {
  AddRaw(key, ValueType::kBool, {static_cast<uint8_t>(v ? 1 : 0)});
}
void Writer::AddString(const std::string& key, const std::string& v) {
  std::vector<uint8_t> b;
  PutString(b, v);
  AddRaw(key, ValueType::kString, b);
}
void Writer::AddStringArray(const std::string& key, const std::vector<std::string>& v) {
  std::vector<uint8_t> b;
  Put<uint32_t>(b, static_cast<uint32_t>(ValueType::kString));
  Put<uint64_t>(b, v.size());
  for (const std::string& s : v) PutString(b, s);
  AddRaw(key, ValueType::kArray, b);
}
void Writer::AddFloat32Array(const std::string& key, const std::vector<float>& v) {
  std::vector<uint8_t> b;
  Put<uint32_t>(b, static_cast<uint32_t>(ValueType::kFloat32));
  Put<uint64_t>(b, v.size());
  for (float x : v) Put(b, x);
  AddRaw(key, ValueType::kArray, b);
}
void Writer::AddInt32Array(const std::string& key, const std::vector<int32_t>& v) {
  std::vector<uint8_t> b;
  Put<uint32_t>(b, static_cast<uint32_t>(ValueType::kInt32));
  Put<uint64_t>(b, v.size());
  for (int32_t x : v) Put(b, x);
  AddRaw(key, ValueType::kArray, b);
}

void Writer::AddTensor(const std::string& name, quant::TensorType type, std::vector<uint64_t> dims,
                       std::vector<uint8_t> data) {
  tensors_.push_back({name, type, std::move(dims), std::move(data)});
}

std::vector<uint8_t> Writer::Finish() const {
  std::vector<uint8_t> out = {'G', 'G', 'U', 'F'};
  Put<uint32_t>(out, 3);
  Put<uint64_t>(out, tensors_.size());
  const bool custom_alignment = alignment_ != 32;
  Put<uint64_t>(out, kv_count_ + (custom_alignment ? 1 : 0));
  out.insert(out.end(), kv_.begin(), kv_.end());
  if (custom_alignment) {
    PutString(out, "general.alignment");
    Put<uint32_t>(out, static_cast<uint32_t>(ValueType::kUint32));
    Put<uint32_t>(out, alignment_);
  }
  auto padded = [this](uint64_t n) { return (n + alignment_ - 1) / alignment_ * alignment_; };
  uint64_t offset = 0;
  for (const PendingTensor& t : tensors_) {
    PutString(out, t.name);
    Put<uint32_t>(out, static_cast<uint32_t>(t.dims.size()));
    for (uint64_t d : t.dims) Put(out, d);
    Put<uint32_t>(out, static_cast<uint32_t>(t.type));
    Put<uint64_t>(out, offset);
    offset = padded(offset + t.data.size());
  }
  out.resize(padded(out.size()), 0);
  for (const PendingTensor& t : tensors_) {
    out.insert(out.end(), t.data.begin(), t.data.end());
    out.resize(padded(out.size()), 0);
  }
  return out;
}

Status Writer::WriteFile(const std::string& path) const {
  const std::vector<uint8_t> bytes = Finish();
  return base::WriteFileAtomically(path, std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()))
      .WithContext("gguf: ");
}

}  // namespace logitkit::gguf
