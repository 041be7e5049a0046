// Unary kernels for avx2 (compiled with -mavx2 -mfma; see unary_impl.h).
#if defined(__x86_64__) || defined(_M_X64)
#define UNARY_KERNELS_FN unary_kernels_avx2
#include "unary_impl.h"
#endif
