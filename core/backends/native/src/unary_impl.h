// The unary kernels, compiled once per ISA (unary_avx512.cc, unary_avx2.cc,
// unary_portable.cc define UNARY_KERNELS_FN first). Everything here is TU-local and calls
// only C functions (libm, parallel_chunks): no std:: template or inline function whose
// out-of-line copy, compiled for this ISA, the linker could pick for the whole addon.
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "threadpool.h"
#include "unary.h"

namespace {

// Op codes: the index of the op in core/backend.ts's UNARY_OPS.
enum Unary { NEG, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, SILU, GELU, GELU_TANH, RELU, ABS, SIN, COS, SQUARE, SIGN };

constexpr float SQRT_2_OVER_PI = 0.7978845608028654f;
constexpr float INV_SQRT_2PI = 0.3989422804014327f;
constexpr float INV_SQRT_2 = 0.7071067811865476f;
constexpr float GELU_C = 0.044715f;

/**
 * e^x without a libm call, so loops over it vectorise: x = n ln2 + r with |r| <= ln2 / 2
 * (ln2 split in two for an exact product), e^r by its degree-6 Taylor polynomial (relative
 * error under 2 float ulps), 2^n built in the exponent bits. Below -87 the result flushes to
 * 0 and above 88 to infinity (float's range); NaN stays NaN.
 */
inline float fast_exp(float x) {
  const float xc = x < -87.f ? -87.f : (x > 88.7f ? 88.7f : x);
  // Round to nearest by adding and removing 1.5 * 2^23 (vectorises where nearbyint would not).
  const float n = (xc * 1.4426950408889634f + 12582912.f) - 12582912.f;
  const float r = (xc - n * 0.693145751953125f) - n * 1.428606765330187e-06f;
  float p = 1.f / 720;
  p = p * r + 1.f / 120;
  p = p * r + 1.f / 24;
  p = p * r + 1.f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.f;
  p = p * r + 1.f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  memcpy(&scale, &bits, sizeof scale);
  const float e = p * scale;
  return x < -87.f ? 0.f : (x > 88.7f ? INFINITY : (x == x ? e : x));
}

/** 1 / (1 + e^-x): for very negative x, e^-x is infinite and the quotient 0, as it should be. */
inline float sigmoid(float x) { return 1.f / (1.f + fast_exp(-x)); }

template <class F>
struct Map1 {
  const float* x;
  float* out;
  F f;
  static void run(void* ctx, int64_t i0, int64_t i1) {
    Map1& m = *static_cast<Map1*>(ctx);
    for (int64_t i = i0; i < i1; i++) m.out[i] = m.f(m.x[i]);
  }
};

template <class F>
struct Map2 {
  const float* x;
  const float* y;
  float* out;
  F f;
  static void run(void* ctx, int64_t i0, int64_t i1) {
    Map2& m = *static_cast<Map2*>(ctx);
    for (int64_t i = i0; i < i1; i++) m.out[i] = m.f(m.x[i], m.y[i]);
  }
};

template <class F>
void map1(const float* x, float* out, int64_t n, F f) {
  Map1<F> m{x, out, f};
  ctrlora::parallel_chunks(n, &Map1<F>::run, &m);
}

template <class F>
void map2(const float* x, const float* y, float* out, int64_t n, F f) {
  Map2<F> m{x, y, out, f};
  ctrlora::parallel_chunks(n, &Map2<F>::run, &m);
}

void unary_op(int op, const float* x, float* out, int64_t n) {
  switch (op) {
    case NEG: return map1(x, out, n, [](float v) { return -v; });
    case EXP: return map1(x, out, n, [](float v) { return fast_exp(v); });
    case LOG: return map1(x, out, n, [](float v) { return logf(v); });
    case SQRT: return map1(x, out, n, [](float v) { return sqrtf(v); });
    case RSQRT: return map1(x, out, n, [](float v) { return 1.f / sqrtf(v); });
    case TANH: return map1(x, out, n, [](float v) { return tanhf(v); });
    case SIGMOID: return map1(x, out, n, [](float v) { return sigmoid(v); });
    case SILU: return map1(x, out, n, [](float v) { return v * sigmoid(v); });
    case GELU: return map1(x, out, n, [](float v) { return 0.5f * v * (1.f + erff(v * INV_SQRT_2)); });
    case GELU_TANH:
      return map1(x, out, n, [](float v) { return 0.5f * v * (1.f + tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v))); });
    case RELU: return map1(x, out, n, [](float v) { return v > 0 ? v : 0.f; });
    case ABS: return map1(x, out, n, [](float v) { return fabsf(v); });
    case SIN: return map1(x, out, n, [](float v) { return sinf(v); });
    case COS: return map1(x, out, n, [](float v) { return cosf(v); });
    case SQUARE: return map1(x, out, n, [](float v) { return v * v; });
    case SIGN: return map1(x, out, n, [](float v) { return v > 0 ? 1.f : v < 0 ? -1.f : 0.f; });
  }
}

void unary_grad_op(int op, const float* x, const float* gy, float* out, int64_t n) {
  switch (op) {
    case NEG: return map2(x, gy, out, n, [](float, float g) { return -g; });
    case EXP: return map2(x, gy, out, n, [](float v, float g) { return g * fast_exp(v); });
    case LOG: return map2(x, gy, out, n, [](float v, float g) { return g / v; });
    case SQRT: return map2(x, gy, out, n, [](float v, float g) { return g * (0.5f / sqrtf(v)); });
    case RSQRT: return map2(x, gy, out, n, [](float v, float g) { return g * (-0.5f / (v * sqrtf(v))); });
    case TANH:
      return map2(x, gy, out, n, [](float v, float g) {
        const float t = tanhf(v);
        return g * (1.f - t * t);
      });
    case SIGMOID:
      return map2(x, gy, out, n, [](float v, float g) {
        const float s = sigmoid(v);
        return g * (s * (1.f - s));
      });
    case SILU:
      return map2(x, gy, out, n, [](float v, float g) {
        const float s = sigmoid(v);
        return g * (s * (1.f + v * (1.f - s)));
      });
    case GELU:
      return map2(x, gy, out, n, [](float v, float g) {
        return g * (0.5f * (1.f + erff(v * INV_SQRT_2)) + v * INV_SQRT_2PI * expf(-0.5f * v * v));
      });
    case GELU_TANH:
      return map2(x, gy, out, n, [](float v, float g) {
        const float t = tanhf(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
        return g * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * SQRT_2_OVER_PI * (1.f + 3.f * GELU_C * v * v));
      });
    case RELU: return map2(x, gy, out, n, [](float v, float g) { return v > 0 ? g : 0.f; });
    case ABS: return map2(x, gy, out, n, [](float v, float g) { return v > 0 ? g : v < 0 ? -g : 0.f; });
    case SIN: return map2(x, gy, out, n, [](float v, float g) { return g * cosf(v); });
    case COS: return map2(x, gy, out, n, [](float v, float g) { return -g * sinf(v); });
    case SQUARE: return map2(x, gy, out, n, [](float v, float g) { return g * (2.f * v); });
    case SIGN: return map2(x, gy, out, n, [](float, float g) { return g * 0.f; });
  }
}

}  // namespace

namespace ctrlora {
UnaryKernels UNARY_KERNELS_FN() { return {unary_op, unary_grad_op}; }
}  // namespace ctrlora
