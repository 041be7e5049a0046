// AVX2 + FMA GEMM: a 6 x 16 register tile (12 ymm accumulators, two B vectors, one broadcast).
// Compiled with -mavx2 -mfma; only called after the CPU says it has both.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstdint>

namespace {
constexpr int MR = 6;
constexpr int NR = 16;

// A comes packed (A[r] of each MR-wide step) or, when DIRECT, straight from MR row pointers.
template <bool DIRECT>
inline void micro_kernel(int64_t kc, const float* A, const float* const* rows, const float* B, float* C, int64_t ldc, bool acc) {
  const float *q0 = nullptr, *q1 = nullptr, *q2 = nullptr, *q3 = nullptr, *q4 = nullptr, *q5 = nullptr;
  if (DIRECT) q0 = rows[0], q1 = rows[1], q2 = rows[2], q3 = rows[3], q4 = rows[4], q5 = rows[5];
  __m256 c00 = _mm256_setzero_ps(), c01 = _mm256_setzero_ps(), c10 = _mm256_setzero_ps(), c11 = _mm256_setzero_ps();
  __m256 c20 = _mm256_setzero_ps(), c21 = _mm256_setzero_ps(), c30 = _mm256_setzero_ps(), c31 = _mm256_setzero_ps();
  __m256 c40 = _mm256_setzero_ps(), c41 = _mm256_setzero_ps(), c50 = _mm256_setzero_ps(), c51 = _mm256_setzero_ps();
  for (int64_t p = 0; p < kc; p++) {
    const __m256 b0 = _mm256_load_ps(B);
    const __m256 b1 = _mm256_load_ps(B + 8);
    __m256 a;
#define ROW(r)                              \
  a = _mm256_broadcast_ss(DIRECT ? q##r + p : A + r); \
  c##r##0 = _mm256_fmadd_ps(a, b0, c##r##0); \
  c##r##1 = _mm256_fmadd_ps(a, b1, c##r##1);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5)
#undef ROW
    if (!DIRECT) A += MR;
    B += NR;
  }
#define STORE(r)                                                  \
  {                                                               \
    float* cr = C + (r) * ldc;                                    \
    if (acc) {                                                    \
      c##r##0 = _mm256_add_ps(_mm256_loadu_ps(cr), c##r##0);      \
      c##r##1 = _mm256_add_ps(_mm256_loadu_ps(cr + 8), c##r##1);  \
    }                                                             \
    _mm256_storeu_ps(cr, c##r##0);                                \
    _mm256_storeu_ps(cr + 8, c##r##1);                            \
  }
  STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5)
#undef STORE
}
}  // namespace

#include "gemm_driver.h"

namespace ctrlora {
GemmIsa gemm_isa_avx2() { return {"avx2", MR, NR, gemm_block}; }
}  // namespace ctrlora
#endif
