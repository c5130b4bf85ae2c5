// hello_decode: the decode head in one page. A row of logits goes in; a token,
// its logprobs and the top alternatives come out.
//
//   build/release/examples/hello_decode
#include <cstdio>
#include <vector>

#include "logitkit/head.h"

int main() {
  // The seed's "The capital of France is ___" row: one logit per token.
  const char* tokens[] = {" Paris", " France", " Lyon", " a", " the", " dog"};
  const std::vector<float> logits = {12.4f, 8.1f, 6.2f, 2.1f, 1.8f, -5.2f};

  // 1. Probabilities at a temperature: softmax(logits / T).
  std::vector<float> probs(logits.size());
  if (logitkit::Status s = logitkit::Softmax(logits, 2.0f, probs); !s.ok()) {
    std::fprintf(stderr, "%s\n", s.ToString().c_str());
    return 1;
  }
  std::printf("p(T=2):");
  for (size_t i = 0; i < probs.size(); ++i) std::printf(" %s=%.4f", tokens[i], probs[i]);
  std::printf("\n");

  // 2. The whole chain: temperature, top-k, top-p, then a seeded draw, with
  //    logprobs under the model's own and under the final distribution.
  logitkit::SamplerParams params;
  params.temperature = 1.5f;
  params.top_k = 4;
  params.top_p = 0.95f;
  params.outputs = logitkit::kOutputAll;
  params.top_logprobs = 3;

  logitkit::DecodeHead head;  // reuse it across steps: it keeps its buffers
  for (uint64_t step = 0; step < 5; ++step) {
    logitkit::RowState state;
    state.seed = 42;
    state.step = step;  // same (seed, stream, step) -> same token, always
    const logitkit::DecodeResult r = head.Decode(logits, params, state);
    if (!r.status.ok()) {
      std::fprintf(stderr, "%s\n", r.status.ToString().c_str());
      return 1;
    }
    std::printf("step %llu: %-8s logprob %.3f (raw %.3f), rank %d, kept %d of %zu; top:",
                static_cast<unsigned long long>(step), tokens[r.token], r.logprob,
                r.raw_logprob, r.rank, r.n_kept, logits.size());
    for (const logitkit::TokenLogprob& t : r.top) std::printf(" %s %.3f", tokens[t.token], t.logprob);
    std::printf("\n");
  }

  // 3. Bad input is an error that names the parameter, never a crash.
  params.top_p = 1.5f;
  std::printf("top_p = 1.5 -> %s\n", head.Decode(logits, params, {}).status.ToString().c_str());
  return 0;
}
