#include "logitkit/thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <vector>

namespace logitkit {
namespace {

TEST(ThreadPool, RunsEveryTaskExactlyOnce) {
  ThreadPool pool(4);
  EXPECT_EQ(pool.num_threads(), 4u);
  for (size_t n : {0, 1, 3, 100, 1000}) {
    std::vector<std::atomic<int>> hits(n);
    pool.Run(n, [&](size_t task, size_t thread) {
      ASSERT_LT(thread, 4u);
      hits[task].fetch_add(1);
    });
    for (size_t i = 0; i < n; ++i) EXPECT_EQ(hits[i].load(), 1) << "task " << i;
  }
}

TEST(ThreadPool, ReusesTheSameThreadsAcrossCalls) {
  ThreadPool pool(3);
  std::mutex m;
  std::set<std::thread::id> ids;
  for (int call = 0; call < 200; ++call) {
    pool.Run(64, [&](size_t, size_t) {
      std::lock_guard<std::mutex> lock(m);
      ids.insert(std::this_thread::get_id());
    });
  }
  EXPECT_LE(ids.size(), 3u);  // a pool that started threads per call would show hundreds
}

TEST(ThreadPool, SingleThreadPoolRunsOnCaller) {
  ThreadPool pool(1);
  const auto caller = std::this_thread::get_id();
  pool.Run(5, [&](size_t, size_t thread) {
    EXPECT_EQ(thread, 0u);
    EXPECT_EQ(std::this_thread::get_id(), caller);
  });
}

}  // namespace
}  // namespace logitkit
