// Portable GEMM: a 4 x 16 tile in plain C++ that the compiler vectorises for the baseline
// ISA of the build (SSE2 on x86-64, NEON on arm64).
#include <cstdint>

namespace {
constexpr int MR = 4;
constexpr int NR = 16;

// A comes packed (A[r] of each MR-wide step) or, when DIRECT, straight from MR row pointers.
template <bool DIRECT>
inline void micro_kernel(int64_t kc, const float* A, const float* const* rows, const float* B, float* C, int64_t ldc, bool acc) {
  float t[MR][NR] = {};
  for (int64_t p = 0; p < kc; p++) {
    for (int r = 0; r < MR; r++) {
      const float a = DIRECT ? rows[r][p] : A[r];
      for (int q = 0; q < NR; q++) t[r][q] += a * B[q];
    }
    if (!DIRECT) A += MR;
    B += NR;
  }
  for (int r = 0; r < MR; r++) {
    float* cr = C + r * ldc;
    if (acc) {
      for (int q = 0; q < NR; q++) cr[q] += t[r][q];
    } else {
      for (int q = 0; q < NR; q++) cr[q] = t[r][q];
    }
  }
}
}  // namespace

#include "gemm_driver.h"

namespace ctrlora {
GemmIsa gemm_isa_portable() { return {"portable", MR, NR, gemm_block}; }
}  // namespace ctrlora
