// Unary kernels for avx512 (compiled with -mavx512f -mfma; see unary_impl.h).
#if defined(__x86_64__) || defined(_M_X64)
#define UNARY_KERNELS_FN unary_kernels_avx512
#include "unary_impl.h"
#endif
