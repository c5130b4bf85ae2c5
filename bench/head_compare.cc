// The decode head beside llama.cpp's sampler chain (`bench/compare head`),
// built by bench/compare against logitkit's release libraries and the libllama
// it builds in the cache (not part of the CMake project):
//
//   head_compare --rows-dir DIR --json OUT [--vocab V]... [--batch B]...
//                [--model-rows FILE.f32] [--reps N] [--min-time-ms T]
//
// For every vocabulary size V it makes 64 rows of each synthetic shape with
// logitkit's generator (head/synthetic.h: peaked, normal σ=1, σ=5; fixed seeds)
// and, at V = 49152, takes 64 rows of the default model's logits from
// --model-rows; it writes them to DIR/rows-V-SHAPE.f32 ([64, V] float32) so
// that the Python peers (bench/head_peers.py) time the very same rows. Then,
// per (V, shape, setting, batch), it times logitkit's DecodeHead (one thread)
// and llama.cpp's llama_sampler chain with the same settings, interleaved: each
// repetition runs logitkit then llama.cpp for >= T ms each; the JSON holds the
// median time per row of each and the median of the per-repetition ratios.
// llama.cpp's cost includes filling the llama_token_data array from the row,
// which llama_sampler_sample does too. A batch of B rows is B calls of the
// chain (llama.cpp's samplers take one row); logitkit gets DecodeBatch.
// "top-20 logprobs" has no llama.cpp sampler: its time is left out (null).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "head/synthetic.h"
#include "llama.h"
#include "logitkit/head.h"

namespace {

using logitkit::DecodeHead;
using logitkit::DecodeResult;
using logitkit::RowState;
using logitkit::SamplerParams;
using logitkit::Stage;
using Clock = std::chrono::steady_clock;

struct Setting {
  const char* name;
  SamplerParams params;
  // Adds llama.cpp's samplers for the setting to chain; false: none exists.
  std::function<bool(llama_sampler*)> lcpp;
};

std::vector<Setting> Settings() {
  std::vector<Setting> s;
  auto add = [](llama_sampler* c, llama_sampler* x) { llama_sampler_chain_add(c, x); };
  SamplerParams p;
  p.temperature = 0;
  s.push_back({"greedy", p, [=](llama_sampler* c) { return add(c, llama_sampler_init_greedy()), true; }});
  s.push_back({"T=1", SamplerParams{}, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_temp(1.0f));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};
  p.top_k = 50;
  s.push_back({"top-k 50", p, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_top_k(50));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};
  p.top_p = 0.9f;
  s.push_back({"top-p 0.9", p, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_top_p(0.9f, 1));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};  // llama.cpp's default chain, in its order (temperature last)
  p.top_k = 40;
  p.top_p = 0.95f;
  p.min_p = 0.05f;
  p.temperature = 0.8f;
  p.order = {Stage::kTopK, Stage::kTopP, Stage::kMinP, Stage::kTemperature};
  s.push_back({"llama.cpp chain", p, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_top_k(40));
                 add(c, llama_sampler_init_top_p(0.95f, 1));
                 add(c, llama_sampler_init_min_p(0.05f, 1));
                 add(c, llama_sampler_init_temp(0.8f));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};
  p.min_p = 0.1f;
  s.push_back({"min-p 0.1", p, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_min_p(0.1f, 1));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};
  p.top_p = 0.99f;
  s.push_back({"top-p 0.99", p, [=](llama_sampler* c) {
                 add(c, llama_sampler_init_top_p(0.99f, 1));
                 add(c, llama_sampler_init_dist(1234));
                 return true;
               }});
  p = SamplerParams{};
  p.top_logprobs = 20;
  p.outputs = logitkit::kOutputRawLogprob | logitkit::kOutputLogprob;
  s.push_back({"top-20 logprobs", p, [](llama_sampler*) { return false; }});
  return s;
}

// Seconds per call of fn over one repetition of >= min_time.
double TimeOnce(const std::function<void()>& fn, double min_time) {
  size_t calls = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    fn();
    ++calls;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < min_time);
  return elapsed / double(calls);
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

int Fail(const std::string& m) {
  std::fprintf(stderr, "head_compare: %s\n", m.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<size_t> vocabs, batches;
  std::string rows_dir, json_path, model_rows;
  int reps = 5;
  double min_time = 0.02;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (v == nullptr) return Fail("flag " + a + " needs a value");
    if (a == "--vocab") vocabs.push_back(std::strtoul(v, nullptr, 10));
    else if (a == "--batch") batches.push_back(std::strtoul(v, nullptr, 10));
    else if (a == "--rows-dir") rows_dir = v;
    else if (a == "--json") json_path = v;
    else if (a == "--model-rows") model_rows = v;
    else if (a == "--reps") reps = std::atoi(v);
    else if (a == "--min-time-ms") min_time = std::atof(v) / 1000.0;
    else return Fail("unknown flag " + a);
    ++i;
  }
  if (rows_dir.empty() || json_path.empty()) return Fail("--rows-dir and --json are required");
  if (vocabs.empty()) vocabs = {32000, 49152, 50257, 128256, 151936, 262144};
  if (batches.empty()) batches = {1, 64};
  if (reps < 1) reps = 1;
  constexpr size_t kRows = 64;

  FILE* json = std::fopen(json_path.c_str(), "w");
  if (json == nullptr) return Fail("cannot write " + json_path);
  std::fprintf(json, "{\"cases\": [\n");
  bool first = true;
  DecodeHead head;
  const std::vector<Setting> settings = Settings();

  for (size_t V : vocabs) {
    struct Shape {
      std::string name;
      std::vector<float> rows;  // [kRows, V]
    };
    std::vector<Shape> shapes;
    const std::pair<const char*, logitkit::head::RowKind> kinds[] = {
        {"peaked", logitkit::head::RowKind::kPeaked},
        {"normal1", logitkit::head::RowKind::kNormal1},
        {"normal5", logitkit::head::RowKind::kNormal5}};
    for (const auto& [name, kind] : kinds) {
      std::mt19937_64 rng(V * 31 + size_t(kind));
      Shape s{name, {}};
      s.rows.reserve(kRows * V);
      for (size_t r = 0; r < kRows; ++r) {
        const std::vector<float> row = logitkit::head::RandomRow(rng, V, kind);
        s.rows.insert(s.rows.end(), row.begin(), row.end());
      }
      shapes.push_back(std::move(s));
    }
    if (V == 49152 && !model_rows.empty()) {
      FILE* in = std::fopen(model_rows.c_str(), "rb");
      if (in == nullptr) return Fail("cannot read " + model_rows);
      std::fseek(in, 0, SEEK_END);
      const size_t n_model = size_t(std::ftell(in)) / (V * sizeof(float));
      if (n_model < kRows) return Fail(model_rows + " has fewer than 64 rows of 49152");
      Shape s{"model", std::vector<float>(kRows * V)};
      for (size_t r = 0; r < kRows; ++r) {  // rows spread over the text
        std::fseek(in, long((r * n_model / kRows) * V * sizeof(float)), SEEK_SET);
        if (std::fread(s.rows.data() + r * V, sizeof(float), V, in) != V) return Fail("short read");
      }
      std::fclose(in);
      shapes.push_back(std::move(s));
    }
    for (const Shape& s : shapes) {
      const std::string path = rows_dir + "/rows-" + std::to_string(V) + "-" + s.name + ".f32";
      FILE* out = std::fopen(path.c_str(), "wb");
      if (out == nullptr) return Fail("cannot write " + path);
      std::fwrite(s.rows.data(), sizeof(float), s.rows.size(), out);
      std::fclose(out);
    }

    std::vector<llama_token_data> cur(V);
    for (const Shape& s : shapes) {
      for (const Setting& setting : settings) {
        llama_sampler* chain = llama_sampler_chain_init(llama_sampler_chain_default_params());
        const bool has_lcpp = setting.lcpp(chain);
        for (size_t B : batches) {
          if (B > kRows) continue;
          uint64_t step = 0;
          std::vector<RowState> states(B);
          std::vector<DecodeResult> results;
          const logitkit::LogitsBatch batch =
              logitkit::LogitsBatch::F32(std::span<const float>(s.rows.data(), B * V), B, V);
          int32_t sink = 0;
          auto logitkit_call = [&] {
            if (B == 1) {
              RowState st;
              st.step = step++;
              sink += head.Decode(std::span<const float>(s.rows.data(), V), setting.params, st).token;
            } else {
              for (size_t r = 0; r < B; ++r) states[r].stream = r, states[r].step = step;
              ++step;
              (void)head.DecodeBatch(batch, std::span<const SamplerParams>(&setting.params, 1), states, results);
              sink += results[0].token;
            }
          };
          auto lcpp_call = [&] {
            for (size_t r = 0; r < B; ++r) {
              const float* row = s.rows.data() + r * V;
              for (size_t i = 0; i < V; ++i) cur[i] = {int32_t(i), row[i], 0.0f};
              llama_token_data_array arr{cur.data(), V, -1, false};
              llama_sampler_apply(chain, &arr);
              sink += arr.data[arr.selected].id;
            }
          };
          std::vector<double> t_lk, t_lc, ratio;
          logitkit_call();  // warm-up
          if (has_lcpp) lcpp_call();
          for (int r = 0; r < reps; ++r) {
            t_lk.push_back(TimeOnce(logitkit_call, min_time) / double(B));
            if (has_lcpp) {
              t_lc.push_back(TimeOnce(lcpp_call, min_time) / double(B));
              ratio.push_back(t_lc.back() / t_lk.back());
            }
          }
          std::fprintf(json,
                       "%s {\"vocab\": %zu, \"dist\": \"%s\", \"setting\": \"%s\", \"batch\": %zu, "
                       "\"logitkit_us\": %.4f, \"lcpp_us\": %s, \"lcpp_ratio\": %s, \"sink\": %d}",
                       first ? "" : ",\n", V, s.name.c_str(), setting.name, B, Median(t_lk) * 1e6,
                       has_lcpp ? std::to_string(Median(t_lc) * 1e6).c_str() : "null",
                       has_lcpp ? std::to_string(Median(ratio)).c_str() : "null", sink & 1);
          std::fflush(json);
          first = false;
          std::fprintf(stderr, "head_compare: V %zu %-7s %-16s batch %2zu: logitkit %9.2f us/row, llama.cpp %s\n",
                       V, s.name.c_str(), setting.name, B, Median(t_lk) * 1e6,
                       has_lcpp ? (std::to_string(Median(t_lc) * 1e6) + " us/row, ratio " +
                                   std::to_string(Median(ratio)))
                                      .c_str()
                                : "-");
        }
        llama_sampler_free(chain);
      }
    }
  }
  std::fprintf(json, "\n]}\n");
  return std::fclose(json) == 0 ? 0 : Fail("cannot write " + json_path);
}
