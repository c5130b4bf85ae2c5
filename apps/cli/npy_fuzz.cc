// libFuzzer target over the .npy reader (the `fuzz` preset;
// docs/reliability.md): the first two bytes of an input are the number of
// elements per read, the rest is the file. Besides "no crash, no hang, no
// sanitizer report", it checks what npy.h promises: Open gives a reader or an
// error naming a byte offset; a reader hands out exactly the product of its
// shape in elements, of the kind its descr says, and refuses the other kind
// and any read past the end.
//   build/fuzz/apps/cli/npy_fuzz -dict=fuzz/npy/dict fuzz/npy/corpus
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "fuzz_file.h"
#include "npy.h"

namespace {

[[noreturn]] void Violated(const char* what, const std::string& detail) {
  std::fprintf(stderr, "npy_fuzz: %s: %s\n", what, detail.c_str());
  std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const size_t chunk = 1 + (size_t(data[0]) | size_t(data[1]) << 8);
  logitkit::cli::FuzzFile file(data + 2, size - 2);
  auto reader = logitkit::cli::NpyReader::Open(file.path());
  if (!reader.ok()) {
    if (reader.status().message().find("(byte ") == std::string::npos) {
      Violated("an error without its byte offset", reader.status().ToString());
    }
    return 0;
  }
  uint64_t elements = 1;
  for (uint64_t d : reader->shape()) elements *= d;
  const bool floats = reader->descr()[1] == 'f';
  std::vector<float> f;
  std::vector<int64_t> i;
  if ((floats ? reader->ReadInts(1, &i) : reader->ReadFloats(1, &f)).ok()) {
    Violated("the wrong kind of element was read", reader->descr());
  }
  uint64_t read = 0;
  while (read < elements) {
    const size_t n = size_t(std::min<uint64_t>(chunk, elements - read));
    const logitkit::Status s = floats ? reader->ReadFloats(n, &f) : reader->ReadInts(n, &i);
    if (!s.ok()) Violated("a read within the shape failed", s.ToString());
    if ((floats ? f.size() : i.size()) != n) Violated("a read gave the wrong count", std::to_string(n));
    read += n;
  }
  if ((floats ? reader->ReadFloats(1, &f) : reader->ReadInts(1, &i)).ok()) {
    Violated("a read past the shape succeeded", std::to_string(elements));
  }
  return 0;
}
