// libFuzzer target over the GGUF reader: any byte string must parse or give an
// error, never crash, hang or read out of bounds. Built by the `fuzz` preset
// (clang, -fsanitize=fuzzer,address,undefined):
//   cmake --preset fuzz && cmake --build --preset fuzz
//   build/fuzz/src/gguf/gguf_fuzz -max_total_time=60 build/fuzz/corpus
// gguf_test writes the seed corpus (valid and malformed files) to
// $LOGITKIT_FUZZ_CORPUS when that is set.
#include <cstddef>
#include <cstdint>
#include <span>

#include "logitkit/gguf.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto file = logitkit::gguf::File::FromBytes(std::span<const uint8_t>(data, size));
  if (file.ok()) {
    // Touch what a caller would: every tensor's bytes and every value.
    volatile uint8_t sink = 0;
    for (const auto& t : file->tensors()) {
      if (t.bytes > 0) sink = sink ^ t.data[0] ^ t.data[t.bytes - 1];
    }
    for (const auto& kv : file->metadata()) (void)kv.second.ToString(4);
  }
  return 0;
}
