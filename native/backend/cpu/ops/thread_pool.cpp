// ThreadPool (thread_pool.h): dispatch by generation counter, dynamic chunking by one atomic
// cursor, spin-then-sleep waiting.
//
// Lost-wakeup argument: a worker increments n_sleeping_ and then re-reads generation_ under
// sleep_mu_; the dispatcher bumps generation_ and then reads n_sleeping_ (all seq_cst). Either the
// worker sees the new generation, or the dispatcher sees the sleeper and notifies under the mutex
// (which it can only take once the worker is inside wait()).
#include "backend/cpu/ops/thread_pool.h"

#include <algorithm>

namespace petrel::cpu {
namespace {

// The pool whose task this thread is running (nullptr outside any task), and its index there.
thread_local const ThreadPool* t_pool = nullptr;
thread_local int t_thread_index = -1;

// Marks the calling thread as thread 0 of `pool` for one dispatch, restoring the previous
// marks after (a task of another pool may call in).
struct CallerMark {
  const ThreadPool* saved_pool;
  int saved_index;
  explicit CallerMark(const ThreadPool* pool) : saved_pool(t_pool), saved_index(t_thread_index) {
    t_pool = pool;
    t_thread_index = 0;
  }
  ~CallerMark() {
    t_pool = saved_pool;
    t_thread_index = saved_index;
  }
};

// About 20-100 us of polling, depending on the CPU's pause latency.
constexpr int kWorkerSpins = 1 << 14;
constexpr int kCallerSpinsBeforeYield = 1 << 12;

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  if (n_threads <= 0) n_threads = static_cast<int>(std::thread::hardware_concurrency());
  n_threads_ = std::max(1, n_threads);
  workers_.reserve(static_cast<size_t>(n_threads_ - 1));
  for (int i = 1; i < n_threads_; ++i) workers_.emplace_back([this, i] { worker_main(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(dispatch_mu_);  // let a running dispatch finish
    stop_.store(true);
    generation_.fetch_add(1);
  }
  {
    std::lock_guard<std::mutex> lock(sleep_mu_);
  }
  sleep_cv_.notify_all();
  for (auto& t : workers_) t.join();
}

void ThreadPool::work(int thread_index) {
  const Job& job = job_;
  for (;;) {
    const int64_t begin = next_.fetch_add(job.chunk, std::memory_order_relaxed);
    if (begin >= job.n_tasks) break;
    const int64_t end = std::min(job.n_tasks, begin + job.chunk);
    job.fn(job.ctx, begin, end, thread_index);
  }
}

void ThreadPool::run(int64_t n_tasks, int64_t grain, TaskFn fn, void* ctx) {
  if (n_tasks <= 0) return;
  // Nested call from inside one of this pool's tasks: the pool is busy with the outer job, so
  // run inline under the calling task's index.
  if (t_pool == this) {
    fn(ctx, 0, n_tasks, t_thread_index);
    return;
  }
  int64_t chunk = grain > 0 ? grain : std::max<int64_t>(1, n_tasks / (static_cast<int64_t>(n_threads_) * 4));
  std::lock_guard<std::mutex> dispatch(dispatch_mu_);
  CallerMark mark(this);
  if (n_threads_ == 1 || chunk >= n_tasks) {
    fn(ctx, 0, n_tasks, 0);
    return;
  }

  job_ = Job{fn, ctx, n_tasks, chunk};
  next_.store(0, std::memory_order_relaxed);
  pending_.store(n_threads_ - 1, std::memory_order_relaxed);
  generation_.fetch_add(1);  // seq_cst: publishes job_ and orders against n_sleeping_
  if (n_sleeping_.load() > 0) {
    { std::lock_guard<std::mutex> lock(sleep_mu_); }
    sleep_cv_.notify_all();
  }

  work(0);

  for (int spins = 0; pending_.load(std::memory_order_acquire) != 0; ++spins) {
    if (spins < kCallerSpinsBeforeYield) {
      cpu_relax();
    } else {
      std::this_thread::yield();  // oversubscribed machine: let the straggler run
    }
  }
}

void ThreadPool::worker_main(int thread_index) {
  t_pool = this;
  t_thread_index = thread_index;
  uint64_t seen = 0;
  for (;;) {
    uint64_t gen = generation_.load(std::memory_order_acquire);
    for (int spins = 0; gen == seen && spins < kWorkerSpins; ++spins) {
      cpu_relax();
      gen = generation_.load(std::memory_order_acquire);
    }
    if (gen == seen) {
      std::unique_lock<std::mutex> lock(sleep_mu_);
      n_sleeping_.fetch_add(1);
      while ((gen = generation_.load()) == seen) sleep_cv_.wait(lock);
      n_sleeping_.fetch_sub(1);
    }
    seen = gen;
    if (stop_.load()) return;
    work(thread_index);
    pending_.fetch_sub(1, std::memory_order_release);
  }
}

}  // namespace petrel::cpu
