// AVX-512 GEMM: an 8 x 32 register tile (16 zmm accumulators, two B vectors, one broadcast).
// Compiled with -mavx512f -mfma; only called after the CPU says it has AVX-512F.
#if defined(__x86_64__) || defined(_M_X64)
#include <immintrin.h>

#include <cstdint>

namespace {
constexpr int MR = 8;
constexpr int NR = 32;

inline void micro_kernel(int64_t kc, const float* A, const float* B, float* C, int64_t ldc, bool acc) {
  __m512 c00 = _mm512_setzero_ps(), c01 = _mm512_setzero_ps(), c10 = _mm512_setzero_ps(), c11 = _mm512_setzero_ps();
  __m512 c20 = _mm512_setzero_ps(), c21 = _mm512_setzero_ps(), c30 = _mm512_setzero_ps(), c31 = _mm512_setzero_ps();
  __m512 c40 = _mm512_setzero_ps(), c41 = _mm512_setzero_ps(), c50 = _mm512_setzero_ps(), c51 = _mm512_setzero_ps();
  __m512 c60 = _mm512_setzero_ps(), c61 = _mm512_setzero_ps(), c70 = _mm512_setzero_ps(), c71 = _mm512_setzero_ps();
  for (int64_t p = 0; p < kc; p++) {
    const __m512 b0 = _mm512_load_ps(B);
    const __m512 b1 = _mm512_load_ps(B + 16);
    __m512 a;
#define ROW(r)                              \
  a = _mm512_set1_ps(A[r]);                 \
  c##r##0 = _mm512_fmadd_ps(a, b0, c##r##0); \
  c##r##1 = _mm512_fmadd_ps(a, b1, c##r##1);
    ROW(0) ROW(1) ROW(2) ROW(3) ROW(4) ROW(5) ROW(6) ROW(7)
#undef ROW
    A += MR;
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
