// For the numpy reference (tests/model/check_logits.py):
//   model_logits MODEL.gguf OUT.f32 ID...            logits of every position:
//                                                    T x n_vocab float32, row-major
//   model_logits --greedy N MODEL.gguf OUT.txt ID... N greedy tokens after the
//                                                    prompt, space-separated
//   --int8 (first): int8 activations (Activations::kInt8)
// The prompt is evaluated as one batch; greedy steps one token at a time.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "logitkit/model.h"

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "model_logits: %s\n", message.c_str());
  return 1;
}

size_t ArgMax(const float* x, size_t n) {
  size_t best = 0;
  for (size_t i = 1; i < n; ++i) best = x[i] > x[best] ? i : best;
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace logitkit;
  int arg = 1;
  long greedy = -1;
  Activations activations = Activations::kFloat32;
  for (bool more = true; more;) {
    more = false;
    if (argc > arg + 1 && std::strcmp(argv[arg], "--greedy") == 0) {
      greedy = std::strtol(argv[arg + 1], nullptr, 10);
      arg += 2;
      more = true;
    } else if (argc > arg && std::strcmp(argv[arg], "--int8") == 0) {
      activations = Activations::kInt8;
      arg += 1;
      more = true;
    }
  }
  if (argc - arg < 3) {
    std::fprintf(stderr, "usage: model_logits [--int8] [--greedy N] MODEL.gguf OUT ID...\n");
    return 2;
  }
  const std::string path = argv[arg], out_path = argv[arg + 1];
  std::vector<int32_t> ids;
  for (int i = arg + 2; i < argc; ++i) ids.push_back(int32_t(std::strtol(argv[i], nullptr, 10)));
  StatusOr<std::unique_ptr<Model>> model = Model::Load(path);
  if (!model.ok()) return Fail(model.status().ToString());
  ThreadPool pool;
  Context context(**model, ids.size() + (greedy > 0 ? size_t(greedy) : 0), &pool, activations);
  std::vector<float> logits;
  const size_t V = (*model)->config().n_vocab;
  Status s = context.Eval(ids, greedy >= 0 ? Logits::kLast : Logits::kAll, &logits);
  if (!s.ok()) return Fail(s.ToString());
  FILE* out = std::fopen(out_path.c_str(), "wb");
  if (out == nullptr) return Fail("cannot write " + out_path);
  if (greedy < 0) {
    std::fwrite(logits.data(), sizeof(float), logits.size(), out);
  } else {
    for (long n = 0; n < greedy; ++n) {
      const int32_t next = int32_t(ArgMax(logits.data(), V));
      std::fprintf(out, n ? " %d" : "%d", next);
      if (n + 1 == greedy) break;
      s = context.Eval(std::span<const int32_t>(&next, 1), Logits::kLast, &logits);
      if (!s.ok()) return Fail(s.ToString());
    }
    std::fprintf(out, "\n");
  }
  return std::fclose(out) == 0 ? 0 : Fail("cannot write " + out_path);
}
