// Unary elementwise ops and their gradients, built once per ISA (unary_impl.h) and picked at
// run time with the GEMM's ISA: exp, sigmoid and silu are the costliest elementwise ops of a
// training step, and only a wide ISA vectorises their polynomial.
#pragma once
#include <cstdint>

namespace ctrlora {

struct UnaryKernels {
  void (*unary)(int op, const float* x, float* out, int64_t n);
  void (*grad)(int op, const float* x, const float* gy, float* out, int64_t n);
};

UnaryKernels unary_kernels_portable();
#if defined(__x86_64__) || defined(_M_X64)
UnaryKernels unary_kernels_avx2();
UnaryKernels unary_kernels_avx512();
#endif

/** The build matching gemm_isa(). */
const UnaryKernels& unary_kernels();

}  // namespace ctrlora
