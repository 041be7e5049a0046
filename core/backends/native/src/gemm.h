// Single-precision GEMM with runtime ISA dispatch: C (+)= A B over strided operands.
#pragma once
#include <cstdint>

namespace ctrlora {

/**
 * One product. A(i, p) = a[i * rsa + p * csa], B(p, j) = b[p * rsb + j * csb],
 * C(i, j) = c[i * ldc + j * csc].
 */
struct Gemm {
  int64_t m, n, k;
  const float* a; int64_t rsa, csa;
  const float* b; int64_t rsb, csb;
  float* c; int64_t ldc;
  /** true: C += A B; false: C = A B (C is written, never read). */
  bool accumulate;
  /** Column stride of C: 1 but for a transposed problem (sgemm's C^T = B^T A^T). */
  int64_t csc = 1;
};

/** The rows [i0, i1) and columns [j0, j1) of one product on the calling thread (one ISA's kernel). */
using GemmBlockFn = void (*)(const Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1);

struct GemmIsa {
  const char* name;
  /** Register tile: rows and columns of C one micro-kernel call produces. */
  int mr, nr;
  GemmBlockFn block;
};

GemmIsa gemm_isa_portable();
#if defined(__x86_64__) || defined(_M_X64)
GemmIsa gemm_isa_avx2();
GemmIsa gemm_isa_avx512();
#endif

/** The fastest kernel this CPU runs (chosen once); CTRLORA_NATIVE_ISA=avx512|avx2|portable caps it. */
const GemmIsa& gemm_isa();

/** One product, split over the thread pool when it is large enough. */
void sgemm(const Gemm& g);

/** batch products whose operands advance by sa, sb, sc floats from one to the next. */
void sgemm_batched(const Gemm& g, int64_t batch, int64_t sa, int64_t sb, int64_t sc);

}  // namespace ctrlora
