// A main() for the fuzz targets where libFuzzer is not there: the ASan +
// UBSan build (g++) links each target with this file and ctest runs it, so
// every run of the tests replays the seed corpora and a fixed number of
// mutations of them. Coverage-guided fuzzing is the `fuzz` preset's
// (libFuzzer, clang); this is the regression run.
//
//   TARGET [-runs=N] [-seed=S] [-max_len=L] [-dict=FILE] DIR_OR_FILE...
//
// Every file given (or in a folder given) runs once, in name order; then N
// inputs, each a random seed input with 1 to 4 mutations (bit flips, random
// or dictionary bytes inserted, ranges erased, copied or spliced from another
// input), from a fixed random seed: the same inputs on every machine. An input
// that stops the process (a sanitizer report, a target's abort on a broken
// promise, or more than 60 s in one input) is written to
// ./crash-replay-<pid> and named on stderr.
// Prints the number of inputs and the time taken.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
extern "C" __attribute__((weak)) int LLVMFuzzerInitialize(int* argc, char*** argv);
extern "C" __attribute__((weak)) void __sanitizer_set_death_callback(void (*callback)());

namespace {

// The input being run, for the crash handlers (set before each run).
const uint8_t* g_input = nullptr;
size_t g_input_size = 0;

void SaveInput() {
  if (g_input == nullptr) return;  // between inputs (a leak found at exit has none)
  char name[64];
  std::snprintf(name, sizeof(name), "crash-replay-%d", int(getpid()));
  const int fd = ::open(name, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) return;
  for (size_t done = 0; done < g_input_size;) {
    const ssize_t n = ::write(fd, g_input + done, g_input_size - done);
    if (n <= 0) break;
    done += size_t(n);
  }
  ::close(fd);
  const char msg[] = "fuzz replay: the input that stopped the run is in ./";
  (void)!::write(2, msg, sizeof(msg) - 1);
  (void)!::write(2, name, std::strlen(name));
  (void)!::write(2, "\n", 1);
}

void OnSignal(int sig) {
  SaveInput();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// The files named, and those directly in the folders named, in name order.
std::vector<std::string> Inputs(const std::vector<std::string>& paths) {
  std::vector<std::string> inputs;
  for (const std::string& p : paths) {
    struct stat st;
    if (::stat(p.c_str(), &st) != 0) {
      std::fprintf(stderr, "fuzz replay: cannot read '%s'\n", p.c_str());
      std::exit(2);
    }
    if (!S_ISDIR(st.st_mode)) {
      inputs.push_back(ReadFile(p));
      continue;
    }
    std::vector<std::string> names;
    DIR* d = ::opendir(p.c_str());
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] != '.') names.push_back(e->d_name);
    }
    ::closedir(d);
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) inputs.push_back(ReadFile(p + "/" + n));
  }
  return inputs;
}

// libFuzzer's dictionary format: one "quoted" token per line, with \\, \"
// and \xAB escapes; '#' lines and blank lines are skipped.
std::vector<std::string> ReadDictionary(const std::string& path) {
  std::vector<std::string> tokens;
  std::ifstream f(path);
  for (std::string line; std::getline(f, line);) {
    const size_t open = line.find('"'), close = line.rfind('"');
    if (line.empty() || line[0] == '#' || open == std::string::npos || close <= open) continue;
    std::string token;
    for (size_t i = open + 1; i < close; ++i) {
      if (line[i] != '\\' || i + 1 >= close) {
        token += line[i];
      } else if (line[i + 1] == 'x' && i + 3 < close) {
        token += char(std::strtol(line.substr(i + 2, 2).c_str(), nullptr, 16));
        i += 3;
      } else {
        token += line[++i];
      }
    }
    tokens.push_back(token);
  }
  return tokens;
}

class Mutator {
 public:
  Mutator(uint64_t seed, size_t max_len, std::vector<std::string> dictionary)
      : rng_(seed), max_len_(max_len), dictionary_(std::move(dictionary)) {}

  std::string Mutate(const std::vector<std::string>& corpus) {
    std::string s = corpus[Below(corpus.size())];
    for (size_t k = 1 + Below(4); k > 0; --k) Once(&s, corpus);
    if (s.size() > max_len_) s.resize(max_len_);
    return s;
  }

 private:
  size_t Below(size_t n) { return n == 0 ? 0 : size_t(rng_() % n); }

  void Once(std::string* s, const std::vector<std::string>& corpus) {
    const size_t at = Below(s->size() + 1);
    switch (Below(7)) {
      case 0:
        if (!s->empty()) (*s)[Below(s->size())] ^= char(1 << Below(8));
        break;
      case 1:
        if (!s->empty()) (*s)[Below(s->size())] = char(rng_());
        break;
      case 2: s->insert(at, 1 + Below(4), char(rng_())); break;
      case 3: s->erase(at, 1 + Below(8)); break;
      case 4:
        if (!dictionary_.empty()) s->insert(at, dictionary_[Below(dictionary_.size())]);
        break;
      case 5: {  // a range of the input copied elsewhere in it
        const size_t from = Below(s->size() + 1);
        s->insert(at, s->substr(from, 1 + Below(16)));
        break;
      }
      default: {  // a range of another input spliced in
        const std::string& other = corpus[Below(corpus.size())];
        const size_t from = Below(other.size() + 1);
        s->insert(at, other.substr(from, 1 + Below(64)));
      }
    }
  }

  std::mt19937_64 rng_;
  size_t max_len_;
  std::vector<std::string> dictionary_;
};

// An input that runs longer than this is a hang: saved, then the run aborts.
constexpr unsigned kTimeoutSeconds = 60;

void OnTimeout(int) {
  const char msg[] = "fuzz replay: an input ran longer than 60 s\n";
  (void)!::write(2, msg, sizeof(msg) - 1);
  std::abort();  // OnSignal saves the input
}

void Run(const std::string& input) {
  g_input = reinterpret_cast<const uint8_t*>(input.data());
  g_input_size = input.size();
  ::alarm(kTimeoutSeconds);
  LLVMFuzzerTestOneInput(g_input, g_input_size);
  ::alarm(0);
  g_input = nullptr;
}

}  // namespace

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize) LLVMFuzzerInitialize(&argc, &argv);
  long runs = 0;
  uint64_t seed = 1;
  size_t max_len = 4096;
  std::vector<std::string> dictionary, paths;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("-runs=", 0) == 0) {
      runs = std::atol(a.c_str() + 6);
    } else if (a.rfind("-seed=", 0) == 0) {
      seed = std::strtoull(a.c_str() + 6, nullptr, 10);
    } else if (a.rfind("-max_len=", 0) == 0) {
      max_len = size_t(std::atol(a.c_str() + 9));
    } else if (a.rfind("-dict=", 0) == 0) {
      dictionary = ReadDictionary(a.substr(6));
    } else if (a[0] == '-') {
      std::fprintf(stderr, "fuzz replay: unknown flag %s (-runs=N -seed=S -max_len=L -dict=FILE)\n", a.c_str());
      return 2;
    } else {
      paths.push_back(a);
    }
  }
  const std::vector<std::string> corpus = Inputs(paths);
  if (corpus.empty()) {
    std::fprintf(stderr, "fuzz replay: no inputs in the paths given\n");
    return 2;
  }
  if (__sanitizer_set_death_callback) __sanitizer_set_death_callback(SaveInput);
  ::signal(SIGABRT, OnSignal);  // a target's abort; sanitizer reports go through the death callback
  ::signal(SIGALRM, OnTimeout);
  const auto start = std::chrono::steady_clock::now();
  for (const std::string& input : corpus) Run(input);
  Mutator mutator(seed, max_len, std::move(dictionary));
  for (long r = 0; r < runs; ++r) Run(mutator.Mutate(corpus));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("fuzz replay: %zu seed inputs and %ld mutations in %.1f s, no failure\n", corpus.size(), runs, seconds);
  return 0;
}
