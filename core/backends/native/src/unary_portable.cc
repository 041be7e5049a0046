// Unary kernels for portable (compiled with the build's baseline; see unary_impl.h).

#define UNARY_KERNELS_FN unary_kernels_portable
#include "unary_impl.h"

