// A loop publishes its body and a task counter, and the participating threads (the caller
// too) claim task indices until none are left. Between loops a worker spins for a short while
// before it sleeps on a condition variable, and the caller spins before it sleeps waiting for
// the last helper: a training step runs thousands of short loops back to back, and a futex
// sleep and wake-up on each side cost more than most of those loops (two threads were slower
// than one). The pool only grows: asking for fewer threads leaves the rest asleep.
#include "threadpool.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ctrlora {
namespace {

/** True on a thread running a loop body: a nested loop then runs serially. */
thread_local bool inside_loop = false;

/** How long a thread spins for the other side before it sleeps (PyTorch's OpenMP spins far longer). */
constexpr auto SPIN = std::chrono::microseconds(200);

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/** Spins until done() or SPIN has passed; true when done() became true. */
template <typename Done>
bool spin_until(Done done) {
  const auto until = std::chrono::steady_clock::now() + SPIN;
  for (int i = 0;; i++) {
    if (done()) return true;
    cpu_relax();
    if ((i & 63) == 63 && std::chrono::steady_clock::now() > until) return false;
  }
}

struct Pool {
  std::mutex mu;
  /** Held by the thread whose loop owns the pool (Node worker threads may share the addon). */
  std::mutex owner;
  std::condition_variable wake;
  std::condition_variable done;
  std::vector<std::thread> workers;
  int active = 1;  // threads a loop uses, the caller included
  const std::function<void(int64_t)>* body = nullptr;
  int64_t tasks = 0;
  std::atomic<int64_t> next{0};
  int participants = 0;  // workers taking part in the current loop
  std::atomic<int> running{0};  // of those, still inside it (changed under mu; read while spinning)
  std::atomic<uint64_t> generation{0};  // one more per loop (changed under mu; read while spinning)
  bool stopping = false;

  void work() {
    const auto& fn = *body;
    for (int64_t i = next.fetch_add(1); i < tasks; i = next.fetch_add(1)) fn(i);
  }

  void worker_main(int index) {
    uint64_t seen = 0;
    for (;;) {
      // the next loop usually comes within microseconds; the locked wait below decides
      spin_until([&] { return generation.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock<std::mutex> lock(mu);
        wake.wait(lock, [&] { return stopping || (generation != seen && index < participants); });
        if (stopping) return;
        seen = generation;
      }
      inside_loop = true;
      work();
      inside_loop = false;
      std::lock_guard<std::mutex> lock(mu);
      if (--running == 0) done.notify_one();
    }
  }

  ~Pool() {
    {
      std::lock_guard<std::mutex> lock(mu);
      stopping = true;
    }
    wake.notify_all();
    for (auto& t : workers) t.join();
  }
};

Pool& pool() {
  static Pool p;
  return p;
}

}  // namespace

int pool_threads() { return pool().active; }

void pool_resize(int threads) {
  Pool& p = pool();
  std::lock_guard<std::mutex> owning(p.owner);
  if (threads < 1) threads = 1;
  while (static_cast<int>(p.workers.size()) < threads - 1) {
    const int index = static_cast<int>(p.workers.size());
    p.workers.emplace_back([&p, index] { p.worker_main(index); });
  }
  p.active = threads;
}

void parallel_for(int64_t n, const std::function<void(int64_t)>& fn) {
  Pool& p = pool();
  if (n <= 0) return;
  // Serial when nested, when there is nothing to split, or when another JS thread's loop
  // holds the pool right now.
  std::unique_lock<std::mutex> owning(p.owner, std::defer_lock);
  if (inside_loop || p.active == 1 || n == 1 || !owning.try_lock()) {
    for (int64_t i = 0; i < n; i++) fn(i);
    return;
  }
  const int helpers = static_cast<int>(std::min<int64_t>(p.active - 1, n - 1));
  {
    std::lock_guard<std::mutex> lock(p.mu);
    p.body = &fn;
    p.tasks = n;
    p.next.store(0);
    p.participants = helpers;
    p.running = helpers;
    p.generation++;
  }
  p.wake.notify_all();
  inside_loop = true;
  p.work();
  inside_loop = false;
  if (!spin_until([&] { return p.running.load(std::memory_order_acquire) == 0; })) {
    std::unique_lock<std::mutex> lock(p.mu);
    p.done.wait(lock, [&] { return p.running == 0; });
  }
  p.body = nullptr;
}

void parallel_chunks(int64_t n, void (*fn)(void* ctx, int64_t i0, int64_t i1), void* ctx) {
  if (n <= 0) return;
  const int64_t chunks = n >= PARALLEL_MIN_WORK ? std::min<int64_t>(n, 4 * pool_threads()) : 1;
  parallel_for_if(n, chunks, [&](int64_t t) { fn(ctx, n * t / chunks, n * (t + 1) / chunks); });
}

}  // namespace ctrlora
