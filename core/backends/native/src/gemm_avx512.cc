// AVX-512 GEMM: an 8 x 32 register tile (16 zmm accumulators, two B vectors, one broadcast).
// Compiled with -mavx512f -mfma; only called after the CPU says it has AVX-512F.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstdint>

namespace {
constexpr int MR = 8;
constexpr int NR = 32;

// A comes packed (A[r] of each MR-wide step) or, when DIRECT, straight from MR row pointers.
template <bool DIRECT>
inline void micro_kernel(int64_t kc, const float* A, const float* const* rows, const float* B, float* C, int64_t ldc, bool acc) {
  const float *q0 = nullptr, *q1 = nullptr, *q2 = nullptr, *q3 = nullptr, *q4 = nullptr, *q5 = nullptr, *q6 = nullptr, *q7 = nullptr;
  if (DIRECT) q0 = rows[0], q1 = rows[1], q2 = rows[2], q3 = rows[3], q4 = rows[4], q5 = rows[5], q6 = rows[6], q7 = rows[7];
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(B);
    const __m512 b1 = _mm512_load_ps(B + 16);
    __m512 a;
#define ROW(r)                              \
  a = _mm512_set1_ps(DIRECT ? q##r[p] : A[r]); \
  c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0); \
  c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
    if (!DIRECT) A += MR;
    B += NR;
  }
#define STORE(r)                                                                   \
  {                                                                                \
    float* cr = C + (r) * ldc;                                                     \
    if (acc) {                                                                     \
      c##r##0 = _mm512_add_ps(_mm512_loadu_ps(cr), c##r##0);                       \
      c##r##1 = _mm512_add_ps(_mm512_loadu_ps(cr + 16), c##r##1);                  \
    }                                                                              \
    _mm512_storeu_ps(cr, c##r##0);                                                 \
    _mm512_storeu_ps(cr + 16, c##r##1);                                            \
  }
  STORE(0) STORE(1) STORE(2) STORE(3) STORE(4) STORE(5) STORE(6) STORE(7)
#undef STORE
}
}  // namespace

#include "gemm_driver.h"

namespace ctrlora {
GemmIsa gemm_isa_avx512() { return {"avx512", MR, NR, gemm_block}; }
}  // namespace ctrlora
#endif
