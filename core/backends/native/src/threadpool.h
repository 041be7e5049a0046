// A fixed pool of worker threads that runs "task i of n" loops; the calling thread works too.
#pragma once
#include <cstdint>
#include <functional>

namespace ctrlora {

/** Threads in use, the caller included (at least 1). */
int pool_threads();

/** Threads later loops use (1 = the calling thread only); the pool grows as needed. Not from inside a loop. */
void pool_resize(int threads);

/**
 * Runs fn(i) for i in [0, n), spread over the pool; returns when every call has returned.
 * Nested calls (from inside fn) run serially on their thread.
 */
void parallel_for(int64_t n, const std::function<void(int64_t)>& fn);

/** Work (in multiply-adds or element visits) below which splitting costs more than it saves. */
constexpr int64_t PARALLEL_MIN_WORK = 1 << 16;

/** parallel_for when work is large enough, else a plain loop on the calling thread. */
inline void parallel_for_if(int64_t work, int64_t n, const std::function<void(int64_t)>& fn) {
  if (work >= PARALLEL_MIN_WORK && n > 1 && pool_threads() > 1) {
    parallel_for(n, fn);
  } else {
    for (int64_t i = 0; i < n; i++) fn(i);
  }
}

}  // namespace ctrlora
