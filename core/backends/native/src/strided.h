// Walking up to three strided operands and a contiguous output together.
#pragma once
#include <algorithm>
#include <cstdint>

#include "kernels.h"
#include "threadpool.h"

namespace ctrlora {

constexpr int MAX_RANK = 16;

/** A layout with size-1 dims dropped and neighbours merged wherever every operand allows. */
template <int K>
struct Collapsed {
  int rank = 0;
  int64_t size[MAX_RANK];
  int64_t stride[K][MAX_RANK];

  explicit Collapsed(const Layout& l) {
    for (int d = 0; d < l.rank; d++) {
      const int64_t s = static_cast<int64_t>(l.shape[d]);
      if (s == 1) continue;
      bool merge = rank > 0;
      for (int k = 0; k < K && merge; k++) merge = stride[k][rank - 1] == static_cast<int64_t>(l.strides[k][d]) * s;
      if (merge) {
        size[rank - 1] *= s;
        for (int k = 0; k < K; k++) stride[k][rank - 1] = static_cast<int64_t>(l.strides[k][d]);
      } else {
        size[rank] = s;
        for (int k = 0; k < K; k++) stride[k][rank] = static_cast<int64_t>(l.strides[k][d]);
        rank++;
      }
    }
    if (rank == 0) {
      size[0] = 1;
      for (int k = 0; k < K; k++) stride[k][0] = 0;
      rank = 1;
    }
  }

  int64_t inner() const { return size[rank - 1]; }
  int64_t outer() const {
    int64_t o = 1;
    for (int d = 0; d + 1 < rank; d++) o *= size[d];
    return o;
  }
};

/**
 * Calls inner(out_row, {row offsets of the operands}, length, {inner strides}) for every
 * innermost row of the collapsed layout; rows are split over the pool when the work is large.
 */
template <int K, class Inner>
void walk_rows(const Collapsed<K>& c, const int64_t (&offsets)[K], float* out, Inner inner) {
  const int64_t len = c.inner();
  const int64_t rows = c.outer();
  int64_t in_stride[K];
  for (int k = 0; k < K; k++) in_stride[k] = c.stride[k][c.rank - 1];
  const int64_t chunks = std::min<int64_t>(rows, 4 * pool_threads());
  parallel_for_if(rows * len, chunks, [&](int64_t t) {
    const int64_t r0 = rows * t / chunks;
    const int64_t r1 = rows * (t + 1) / chunks;
    int64_t idx[MAX_RANK] = {};
    int64_t pos[K];
    // Unravel r0 over the outer dims.
    int64_t rem = r0;
    for (int k = 0; k < K; k++) pos[k] = offsets[k];
    for (int d = c.rank - 2; d >= 0; d--) {
      idx[d] = rem % c.size[d];
      rem /= c.size[d];
      for (int k = 0; k < K; k++) pos[k] += idx[d] * c.stride[k][d];
    }
    for (int64_t r = r0; r < r1; r++) {
      inner(out + r * len, pos, len, in_stride);
      for (int d = c.rank - 2; d >= 0; d--) {
        for (int k = 0; k < K; k++) pos[k] += c.stride[k][d];
        if (++idx[d] < c.size[d]) break;
        for (int k = 0; k < K; k++) pos[k] -= c.stride[k][d] * c.size[d];
        idx[d] = 0;
      }
    }
  });
}

}  // namespace ctrlora
