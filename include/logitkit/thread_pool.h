// A persistent thread pool: the workers start once and wait between calls, so
// a decode step never pays for starting a thread. Waiting spins for up to
// kSpinMicros before sleeping on a condition variable: a forward pass makes
// ~250 calls per token, microseconds apart, and a futex wake-up each would
// cost more than the work.
#ifndef LOGITKIT_THREAD_POOL_H_
#define LOGITKIT_THREAD_POOL_H_

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace logitkit {

class ThreadPool {
 public:
  // Runs work on `n_threads` threads in all: the caller plus n_threads - 1
  // workers. 0 means one per hardware thread.
  explicit ThreadPool(size_t n_threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t num_threads() const { return workers_.size() + 1; }

  // Calls fn(task, thread) for every task in [0, n_tasks) and returns when all
  // are done. `thread` in [0, num_threads()) identifies the executing thread,
  // for per-thread scratch. Tasks are handed out dynamically, so which thread
  // runs a task varies: results must not depend on it. Calls from several
  // threads at once are serialised. REQUIRES: fn does not call Run on this pool.
  void Run(size_t n_tasks, const std::function<void(size_t task, size_t thread)>& fn);

  static constexpr int kSpinMicros = 100;

 private:
  void WorkerLoop(size_t thread);
  void RunTasks(size_t thread);

  std::vector<std::thread> workers_;
  std::mutex run_mutex_;  // one Run at a time
  std::mutex mutex_;
  std::condition_variable work_cv_;
  std::condition_variable done_cv_;
  // Published by Run before generation_ is incremented (release); read by
  // workers after they see the new generation (acquire).
  const std::function<void(size_t, size_t)>* fn_ = nullptr;
  size_t n_tasks_ = 0;
  std::atomic<size_t> next_task_{0};
  std::atomic<size_t> generation_{0};
  std::atomic<size_t> n_busy_{0};      // workers still running the current call
  size_t n_sleeping_ = 0;              // workers waiting on work_cv_ (under mutex_)
  std::atomic<bool> stop_{false};
};

}  // namespace logitkit

#endif  // LOGITKIT_THREAD_POOL_H_
