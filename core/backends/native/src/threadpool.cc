// Workers sleep on a condition variable between loops; a loop publishes its body and a
// task counter, and the participating threads (the caller too) claim task indices until
// none are left. The pool only grows: asking for fewer threads leaves the rest asleep.
#include "threadpool.h"

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace ctrlora {
namespace {

/** True on a thread running a loop body: a nested loop then runs serially. */
thread_local bool inside_loop = false;

struct Pool {
  std::mutex mu;
  std::condition_variable wake;
  std::condition_variable done;
  std::vector<std::thread> workers;
  int active = 1;  // threads a loop uses, the caller included
  const std::function<void(int64_t)>* body = nullptr;
  int64_t tasks = 0;
  std::atomic<int64_t> next{0};
  int participants = 0;  // workers taking part in the current loop
  int running = 0;       // of those, still inside it
  uint64_t generation = 0;
  bool stopping = false;

  void work() {
    const auto& fn = *body;
    for (int64_t i = next.fetch_add(1); i < tasks; i = next.fetch_add(1)) fn(i);
  }

  void worker_main(int index) {
    uint64_t seen = 0;
    for (;;) {
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
  if (inside_loop || p.active == 1 || n == 1) {
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
  std::unique_lock<std::mutex> lock(p.mu);
  p.done.wait(lock, [&] { return p.running == 0; });
  p.body = nullptr;
}

}  // namespace ctrlora
