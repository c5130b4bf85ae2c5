#include "npy.h"

#include <cstring>

namespace logitkit::cli {
namespace {

size_t ElementBytes(const std::string& descr) {
  if (descr == "<f4" || descr == "<i4") return 4;
  if (descr == "<f2") return 2;
  if (descr == "<i8") return 8;
  return 0;
}

float HalfToFloat(uint16_t h) {
  const uint32_t sign = uint32_t(h >> 15) << 31, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
  uint32_t bits;
  if (exponent == 0x1f) {
    bits = sign | 0x7f800000u | (mantissa << 13);
  } else if (exponent == 0) {
    float f = float(mantissa) * 0x1p-24f;  // subnormal (or zero)
    std::memcpy(&bits, &f, 4);
    bits |= sign;
  } else {
    bits = sign | ((exponent + 112) << 23) | (mantissa << 13);
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

}  // namespace

StatusOr<NpyReader> NpyReader::Open(const std::string& path) {
  NpyReader r;
  r.path_ = path;
  r.in_ = std::make_unique<std::ifstream>(path, std::ios::binary);
  auto fail = [&](const std::string& what, uint64_t offset) {
    return InvalidArgumentError("'" + path + "': " + what + " (byte " + std::to_string(offset) + ")");
  };
  if (!*r.in_) return Status(StatusCode::kNotFound, "'" + path + "': cannot read it");
  char magic[8] = {};
  r.in_->read(magic, 8);
  if (r.in_->gcount() != 8 || std::memcmp(magic, "\x93NUMPY", 6) != 0) return fail("not a .npy file: no \\x93NUMPY magic", 0);
  const int major = static_cast<unsigned char>(magic[6]);
  if (major < 1 || major > 3) return fail("format version " + std::to_string(major) + " is not 1, 2 or 3", 6);
  uint32_t header_len = 0;
  unsigned char len_bytes[4] = {};
  const int len_size = major == 1 ? 2 : 4;
  r.in_->read(reinterpret_cast<char*>(len_bytes), len_size);
  for (int i = len_size - 1; i >= 0; --i) header_len = header_len << 8 | len_bytes[i];
  if (header_len > (1u << 20)) return fail("header length " + std::to_string(header_len) + " is too large", 8);
  std::string header(header_len, '\0');
  r.in_->read(header.data(), header_len);
  if (uint32_t(r.in_->gcount()) != header_len) return fail("the header is truncated", 8 + len_size);
  const uint64_t header_at = 8 + len_size;
  r.data_offset_ = header_at + header_len;
  auto field = [&](const std::string& key, size_t* at) -> StatusOr<std::string> {
    const size_t k = header.find("'" + key + "'");
    if (k == std::string::npos) return fail("the header has no '" + key + "'", header_at);
    size_t v = header.find(':', k);
    if (v == std::string::npos) return fail("'" + key + "' has no value", header_at + k);
    ++v;
    while (v < header.size() && header[v] == ' ') ++v;
    *at = header_at + v;
    const size_t end = header[v] == '(' ? header.find(')', v) + 1 : header.find_first_of(",}", v);
    if (end == std::string::npos || end == 0) return fail("'" + key + "' is not terminated", header_at + v);
    return header.substr(v, end - v);
  };
  size_t at = 0;
  StatusOr<std::string> descr = field("descr", &at);
  if (!descr.ok()) return descr.status();
  r.descr_ = descr->size() >= 2 ? descr->substr(1, descr->size() - 2) : *descr;
  if (ElementBytes(r.descr_) == 0) {
    return fail("descr '" + r.descr_ + "' is not one of <f4, <f2, <i4, <i8 (little-endian float32/16, int32/64)", at);
  }
  StatusOr<std::string> fortran = field("fortran_order", &at);
  if (!fortran.ok()) return fortran.status();
  if (*fortran != "False") return fail("fortran_order " + *fortran + ": only C order is read", at);
  StatusOr<std::string> shape = field("shape", &at);
  if (!shape.ok()) return shape.status();
  // Digits only; every dimension and the total byte count below 2^40 (a file
  // that large is not read a row at a time on this kind of machine anyway).
  constexpr uint64_t kLimit = uint64_t{1} << 40;
  r.elements_ = 1;
  for (size_t i = 1; i + 1 < shape->size();) {
    while (i < shape->size() && ((*shape)[i] == ' ' || (*shape)[i] == ',')) ++i;
    if (i + 1 >= shape->size()) break;
    uint64_t dim = 0;
    size_t digits = 0;
    for (; i < shape->size() && (*shape)[i] >= '0' && (*shape)[i] <= '9' && dim < kLimit; ++i, ++digits) {
      dim = dim * 10 + uint64_t((*shape)[i] - '0');
    }
    if (digits == 0) return fail("shape " + *shape + " is not a tuple of non-negative integers", at + i);
    if (dim >= kLimit || (dim > 0 && r.elements_ > kLimit / dim)) {
      return fail("shape " + *shape + " is too large", at);
    }
    r.shape_.push_back(dim);
    r.elements_ *= dim;
  }
  r.in_->seekg(0, std::ios::end);
  const uint64_t size = uint64_t(r.in_->tellg());
  const uint64_t need = r.data_offset_ + r.elements_ * ElementBytes(r.descr_);  // < 2^44: no overflow
  if (size < need) {
    return fail("shape " + *shape + " needs " + std::to_string(need) + " bytes; the file has " + std::to_string(size),
                at);
  }
  r.in_->seekg(std::streamoff(r.data_offset_));
  return r;
}

Status NpyReader::Read(size_t count, size_t element_bytes, std::vector<char>* raw) {
  if (read_ + count > elements_) {
    return OutOfRangeError("'" + path_ + "': reading past its " + std::to_string(elements_) + " elements");
  }
  raw->resize(count * element_bytes);
  in_->read(raw->data(), std::streamsize(raw->size()));
  if (size_t(in_->gcount()) != raw->size()) {
    return InternalError("'" + path_ + "': read error at byte " + std::to_string(data_offset_ + read_ * element_bytes));
  }
  read_ += count;
  return OkStatus();
}

Status NpyReader::ReadFloats(size_t count, std::vector<float>* out) {
  if (descr_[1] != 'f') return InvalidArgumentError("'" + path_ + "' holds " + descr_ + ", not float32/float16");
  std::vector<char> raw;
  if (Status s = Read(count, ElementBytes(descr_), &raw); !s.ok()) return s;
  out->resize(count);
  if (descr_ == "<f4") {
    std::memcpy(out->data(), raw.data(), 4 * count);
    return OkStatus();
  }
  for (size_t i = 0; i < count; ++i) {
    uint16_t h;
    std::memcpy(&h, raw.data() + 2 * i, 2);
    (*out)[i] = HalfToFloat(h);
  }
  return OkStatus();
}

Status NpyReader::ReadInts(size_t count, std::vector<int64_t>* out) {
  if (descr_[1] != 'i') return InvalidArgumentError("'" + path_ + "' holds " + descr_ + ", not int32/int64");
  std::vector<char> raw;
  if (Status s = Read(count, ElementBytes(descr_), &raw); !s.ok()) return s;
  out->resize(count);
  const bool int32 = descr_ == "<i4";
  for (size_t i = 0; i < count; ++i) {
    if (int32) {
      int32_t v;
      std::memcpy(&v, raw.data() + 4 * i, 4);
      (*out)[i] = v;
    } else {
      std::memcpy(&(*out)[i], raw.data() + 8 * i, 8);
    }
  }
  return OkStatus();
}

}  // namespace logitkit::cli
