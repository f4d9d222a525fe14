// The CPU backend's persistent thread pool: n threads including the caller, created once and
// reused by every operation (creating threads per op costs tens of microseconds, more than a
// whole decode-step matvec on a small layer).
//
// parallel_for(n_tasks, fn) calls fn(begin, end, thread_index) on disjoint ranges covering
// [0, n_tasks); ranges are handed out dynamically in chunks, so uneven tasks (causal attention
// rows) balance. thread_index is in [0, n_threads()) and is unique among the calls running at
// the same moment, so it can index per-thread scratch. Results must never depend on which
// thread ran a range: that is what makes ops bit-identical for any thread count.
//
// Idle workers spin briefly (the next op usually follows within microseconds), then sleep on a
// condition variable. One parallel_for runs at a time; a call made from inside a task runs
// inline on the calling thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace petrel::cpu {

class ThreadPool {
 public:
  // n_threads <= 0: std::thread::hardware_concurrency() (at least 1).
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int n_threads() const { return n_threads_; }

  // grain: tasks per chunk handed to a thread; 0 picks about 4 chunks per thread.
  template <typename F>
  void parallel_for(int64_t n_tasks, int64_t grain, F&& fn) {
    run(n_tasks, grain, &invoke<std::remove_reference_t<F>>, const_cast<void*>(static_cast<const void*>(&fn)));
  }
  template <typename F>
  void parallel_for(int64_t n_tasks, F&& fn) {
    parallel_for(n_tasks, 0, static_cast<F&&>(fn));
  }

 private:
  using TaskFn = void (*)(void* ctx, int64_t begin, int64_t end, int thread_index);

  template <typename F>
  static void invoke(void* ctx, int64_t begin, int64_t end, int thread_index) {
    (*static_cast<F*>(ctx))(begin, end, thread_index);
  }

  struct Job {
    TaskFn fn = nullptr;
    void* ctx = nullptr;
    int64_t n_tasks = 0;
    int64_t chunk = 1;
  };

  void run(int64_t n_tasks, int64_t grain, TaskFn fn, void* ctx);
  void work(int thread_index);
  void worker_main(int thread_index);

  int n_threads_ = 1;
  std::vector<std::thread> workers_;

  Job job_;                                 // written only while no worker is inside work()
  std::atomic<int64_t> next_{0};            // first task not yet handed out
  std::atomic<int> pending_{0};             // workers that have not finished the current job
  std::atomic<uint64_t> generation_{0};     // bumped once per dispatch (and at shutdown)
  std::atomic<int> n_sleeping_{0};          // workers blocked (or about to block) on cv_
  std::atomic<bool> stop_{false};

  std::mutex sleep_mu_;
  std::condition_variable sleep_cv_;
  std::mutex dispatch_mu_;                  // one parallel_for at a time
};

}  // namespace petrel::cpu
