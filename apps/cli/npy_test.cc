// The .npy reader against files written here byte by byte (the format is
// small enough to state in a test), valid and malformed.
#include "npy.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace logitkit::cli {
namespace {

// A version-`major` file: magic, header length, the header padded with spaces
// and a newline to a multiple of 64 bytes, then `data`.
std::string WriteNpy(const std::string& name, const std::string& header, const std::string& data, int major = 1) {
  const size_t prefix = major == 1 ? 10 : 12;
  std::string h = header;
  while ((prefix + h.size() + 1) % 64 != 0) h += ' ';
  h += '\n';
  std::string bytes = "\x93NUMPY";
  bytes += char(major);
  bytes += '\0';
  const uint32_t len = uint32_t(h.size());
  bytes.append(reinterpret_cast<const char*>(&len), major == 1 ? 2 : 4);
  bytes += h + data;
  const std::string path = (std::filesystem::temp_directory_path() / ("logitkit_npy_test_" + name)).string();
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

TEST(NpyReader, ReadsFloat32RowsAndIntegerVectors) {
  const std::vector<float> values = {1.5f, -2.0f, 0.0f, 3.25f, -INFINITY, 7.0f};
  StatusOr<NpyReader> f = NpyReader::Open(
      WriteNpy("f4", "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }", Bytes(values)));
  ASSERT_TRUE(f.ok()) << f.status().message();
  EXPECT_EQ(f->shape(), (std::vector<uint64_t>{2, 3}));
  std::vector<float> row;
  ASSERT_TRUE(f->ReadFloats(3, &row).ok());
  EXPECT_EQ(row, std::vector<float>(values.begin(), values.begin() + 3));
  ASSERT_TRUE(f->ReadFloats(3, &row).ok());
  EXPECT_EQ(row, std::vector<float>(values.begin() + 3, values.end()));
  EXPECT_EQ(f->ReadFloats(1, &row).code(), StatusCode::kOutOfRange);  // past the end
  std::vector<int64_t> ids;
  EXPECT_FALSE(f->ReadInts(1, &ids).ok());  // floats are not ids

  StatusOr<NpyReader> i8 = NpyReader::Open(WriteNpy(
      "i8", "{'descr': '<i8', 'fortran_order': False, 'shape': (3,), }", Bytes(std::vector<int64_t>{5, -1, 1LL << 40}), 2));
  ASSERT_TRUE(i8.ok()) << i8.status().message();
  ASSERT_TRUE(i8->ReadInts(3, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int64_t>{5, -1, 1LL << 40}));
  StatusOr<NpyReader> i4 = NpyReader::Open(
      WriteNpy("i4", "{'descr': '<i4', 'fortran_order': False, 'shape': (2,), }", Bytes(std::vector<int32_t>{7, -3}), 3));
  ASSERT_TRUE(i4.ok());
  ASSERT_TRUE(i4->ReadInts(2, &ids).ok());
  EXPECT_EQ(ids, (std::vector<int64_t>{7, -3}));
}

TEST(NpyReader, WidensFloat16Exactly) {
  // 1, -2, 65504 (largest), 2^-24 (smallest subnormal), -0, +inf.
  const std::vector<uint16_t> half = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x8000, 0x7C00};
  StatusOr<NpyReader> f = NpyReader::Open(
      WriteNpy("f2", "{'descr': '<f2', 'fortran_order': False, 'shape': (1, 6), }", Bytes(half)));
  ASSERT_TRUE(f.ok());
  std::vector<float> row;
  ASSERT_TRUE(f->ReadFloats(6, &row).ok());
  EXPECT_EQ(row[0], 1.0f);
  EXPECT_EQ(row[1], -2.0f);
  EXPECT_EQ(row[2], 65504.0f);
  EXPECT_EQ(row[3], std::ldexp(1.0f, -24));
  EXPECT_TRUE(row[4] == 0.0f && std::signbit(row[4]));
  EXPECT_EQ(row[5], INFINITY);
}

TEST(NpyReader, MalformedFilesAreNamedWithTheFieldAndByte) {
  struct Case {
    std::string header, data, want;
  };
  const std::vector<Case> cases = {
      {"{'descr': '<f8', 'fortran_order': False, 'shape': (1, 1), }", std::string(8, '\0'), "descr '<f8'"},
      {"{'descr': '<f4', 'fortran_order': True, 'shape': (1, 1), }", std::string(4, '\0'), "fortran_order True"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (a, 1), }", "", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (-1, 4), }", "", "not a tuple"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (8, 2305843009213693952), }", "", "too large"},
      {"{'descr': '<f4', 'fortran_order': False, 'shape': (4, 4), }", std::string(60, '\0'), "needs"},
      {"{'descr': '<f4', 'fortran_order': False, }", "", "no 'shape'"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    StatusOr<NpyReader> f = NpyReader::Open(WriteNpy("bad" + std::to_string(i), cases[i].header, cases[i].data));
    EXPECT_FALSE(f.ok()) << cases[i].header;
    EXPECT_NE(f.status().message().find(cases[i].want), std::string::npos) << f.status().message();
    EXPECT_NE(f.status().message().find("(byte "), std::string::npos) << f.status().message();
  }
  const std::string path = (std::filesystem::temp_directory_path() / "logitkit_npy_test_magic").string();
  std::ofstream(path, std::ios::binary) << "PK\x03\x04 not npy";
  EXPECT_NE(NpyReader::Open(path).status().message().find("magic"), std::string::npos);
  EXPECT_EQ(NpyReader::Open("/nonexistent.npy").status().code(), StatusCode::kNotFound);
}

}  // namespace
}  // namespace logitkit::cli
