// Strided copies, padding, unary/binary/ternary elementwise ops and clamp. Formulas follow
// core/math.ts (the reference); transcendental functions run in float.
#include <cmath>
#include <cstring>

#include "kernels.h"
#include "strided.h"

namespace ctrlora {
namespace {

// Op codes: the index of the op in core/backend.ts's UNARY_OPS and BINARY_OPS.
enum Unary { NEG, EXP, LOG, SQRT, RSQRT, TANH, SIGMOID, SILU, GELU, GELU_TANH, RELU, ABS, SIN, COS, SQUARE, SIGN };
enum Binary { ADD, SUB, MUL, DIV, POW, MAXIMUM, MINIMUM, EQ, NE, LT, LE, GT, GE };

constexpr float SQRT_2_OVER_PI = 0.7978845608028654f;
constexpr float INV_SQRT_2PI = 0.3989422804014327f;
constexpr float INV_SQRT_2 = 0.7071067811865476f;
constexpr float GELU_C = 0.044715f;

inline float sigmoid(float x) {
  if (x >= 0) return 1.f / (1.f + std::exp(-x));
  const float e = std::exp(x);
  return e / (1.f + e);
}

/** Runs body(i0, i1) over [0, n) in chunks spread over the pool when n is large. */
template <class Body>
void chunked(int64_t n, Body body) {
  const int64_t chunks = n >= PARALLEL_MIN_WORK ? 4 * pool_threads() : 1;
  parallel_for_if(n, chunks, [&](int64_t t) { body(n * t / chunks, n * (t + 1) / chunks); });
}

template <class F>
void map1(const float* x, float* out, int64_t n, F f) {
  chunked(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = f(x[i]);
  });
}

template <class F>
void map2(const float* x, const float* y, float* out, int64_t n, F f) {
  chunked(n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; i++) out[i] = f(x[i], y[i]);
  });
}

/** out = f(a, b) over a broadcast layout, the innermost loop specialised for unit and zero strides. */
template <class F>
void binary_walk(float* out, const float* a, int64_t oa, const float* b, int64_t ob, const Layout& l, F f) {
  const Collapsed<2> c(l);
  const int64_t offsets[2] = {oa, ob};
  walk_rows<2>(c, offsets, out, [&](float* o, const int64_t* pos, int64_t len, const int64_t* st) {
    const float* pa = a + pos[0];
    const float* pb = b + pos[1];
    if (st[0] == 1 && st[1] == 1) {
      for (int64_t i = 0; i < len; i++) o[i] = f(pa[i], pb[i]);
    } else if (st[0] == 1 && st[1] == 0) {
      const float vb = *pb;
      for (int64_t i = 0; i < len; i++) o[i] = f(pa[i], vb);
    } else if (st[0] == 0 && st[1] == 1) {
      const float va = *pa;
      for (int64_t i = 0; i < len; i++) o[i] = f(va, pb[i]);
    } else {
      for (int64_t i = 0; i < len; i++) o[i] = f(pa[i * st[0]], pb[i * st[1]]);
    }
  });
}

}  // namespace

void strided_copy(float* dst, const float* src, int64_t src_offset, const Layout& l, const double* dst_strides, int64_t dst_offset) {
  Layout both = l;
  both.strides[1] = dst_strides;
  const Collapsed<2> c(both);
  const int64_t offsets[2] = {src_offset, dst_offset};
  walk_rows<2>(c, offsets, dst, [&](float*, const int64_t* pos, int64_t len, const int64_t* st) {
    const float* s = src + pos[0];
    float* d = dst + pos[1];
    if (st[0] == 1 && st[1] == 1) {
      std::memcpy(d, s, sizeof(float) * len);
    } else {
      for (int64_t i = 0; i < len; i++) d[i * st[1]] = s[i * st[0]];
    }
  });
}

void pad(float* out, const float* x, int rank, const double* shape, const double* before, const double* after, float value) {
  double out_strides[MAX_RANK];
  double in_strides[MAX_RANK];
  int64_t out_size = 1;
  int64_t offset = 0;
  for (int d = rank - 1; d >= 0; d--) {
    in_strides[d] = d == rank - 1 ? 1 : in_strides[d + 1] * shape[d + 1];
    out_strides[d] = static_cast<double>(out_size);
    offset += static_cast<int64_t>(before[d]) * out_size;
    out_size *= static_cast<int64_t>(shape[d] + before[d] + after[d]);
  }
  std::fill(out, out + out_size, value);
  int64_t in_size = 1;
  for (int d = 0; d < rank; d++) in_size *= static_cast<int64_t>(shape[d]);
  if (in_size == 0) return;
  const Layout l{rank, shape, {in_strides, nullptr, nullptr}};
  strided_copy(out, x, 0, l, out_strides, offset);
}

void unary(int op, const float* x, float* out, int64_t n) {
  switch (op) {
    case NEG: return map1(x, out, n, [](float v) { return -v; });
    case EXP: return map1(x, out, n, [](float v) { return std::exp(v); });
    case LOG: return map1(x, out, n, [](float v) { return std::log(v); });
    case SQRT: return map1(x, out, n, [](float v) { return std::sqrt(v); });
    case RSQRT: return map1(x, out, n, [](float v) { return 1.f / std::sqrt(v); });
    case TANH: return map1(x, out, n, [](float v) { return std::tanh(v); });
    case SIGMOID: return map1(x, out, n, [](float v) { return sigmoid(v); });
    case SILU: return map1(x, out, n, [](float v) { return v * sigmoid(v); });
    case GELU: return map1(x, out, n, [](float v) { return 0.5f * v * (1.f + std::erf(v * INV_SQRT_2)); });
    case GELU_TANH:
      return map1(x, out, n, [](float v) { return 0.5f * v * (1.f + std::tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v))); });
    case RELU: return map1(x, out, n, [](float v) { return v > 0 ? v : 0.f; });
    case ABS: return map1(x, out, n, [](float v) { return std::fabs(v); });
    case SIN: return map1(x, out, n, [](float v) { return std::sin(v); });
    case COS: return map1(x, out, n, [](float v) { return std::cos(v); });
    case SQUARE: return map1(x, out, n, [](float v) { return v * v; });
    case SIGN: return map1(x, out, n, [](float v) { return v > 0 ? 1.f : v < 0 ? -1.f : 0.f; });
  }
}

void unary_grad(int op, const float* x, const float* gy, float* out, int64_t n) {
  switch (op) {
    case NEG: return map2(x, gy, out, n, [](float, float g) { return -g; });
    case EXP: return map2(x, gy, out, n, [](float v, float g) { return g * std::exp(v); });
    case LOG: return map2(x, gy, out, n, [](float v, float g) { return g / v; });
    case SQRT: return map2(x, gy, out, n, [](float v, float g) { return g * (0.5f / std::sqrt(v)); });
    case RSQRT: return map2(x, gy, out, n, [](float v, float g) { return g * (-0.5f / (v * std::sqrt(v))); });
    case TANH:
      return map2(x, gy, out, n, [](float v, float g) {
        const float t = std::tanh(v);
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
        return g * (0.5f * (1.f + std::erf(v * INV_SQRT_2)) + v * INV_SQRT_2PI * std::exp(-0.5f * v * v));
      });
    case GELU_TANH:
      return map2(x, gy, out, n, [](float v, float g) {
        const float t = std::tanh(SQRT_2_OVER_PI * (v + GELU_C * v * v * v));
        return g * (0.5f * (1.f + t) + 0.5f * v * (1.f - t * t) * SQRT_2_OVER_PI * (1.f + 3.f * GELU_C * v * v));
      });
    case RELU: return map2(x, gy, out, n, [](float v, float g) { return v > 0 ? g : 0.f; });
    case ABS: return map2(x, gy, out, n, [](float v, float g) { return v > 0 ? g : v < 0 ? -g : 0.f; });
    case SIN: return map2(x, gy, out, n, [](float v, float g) { return g * std::cos(v); });
    case COS: return map2(x, gy, out, n, [](float v, float g) { return -g * std::sin(v); });
    case SQUARE: return map2(x, gy, out, n, [](float v, float g) { return g * (2.f * v); });
    case SIGN: return map2(x, gy, out, n, [](float, float g) { return g * 0.f; });
  }
}

void binary(int op, float* out, const float* a, int64_t oa, const float* b, int64_t ob, const Layout& l) {
  switch (op) {
    case ADD: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x + y; });
    case SUB: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x - y; });
    case MUL: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x * y; });
    case DIV: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x / y; });
    case POW: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return std::pow(x, y); });
    case MAXIMUM:
      return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : x > y ? x : y; });
    case MINIMUM:
      return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : x < y ? x : y; });
    case EQ: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x == y ? 1.f : 0.f; });
    case NE: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x != y ? 1.f : 0.f; });
    case LT: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x < y ? 1.f : 0.f; });
    case LE: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x <= y ? 1.f : 0.f; });
    case GT: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x > y ? 1.f : 0.f; });
    case GE: return binary_walk(out, a, oa, b, ob, l, [](float x, float y) { return x >= y ? 1.f : 0.f; });
  }
}

void where(float* out, const float* c, int64_t oc, const float* a, int64_t oa, const float* b, int64_t ob, const Layout& l) {
  const Collapsed<3> col(l);
  const int64_t offsets[3] = {oc, oa, ob};
  walk_rows<3>(col, offsets, out, [&](float* o, const int64_t* pos, int64_t len, const int64_t* st) {
    const float* pc = c + pos[0];
    const float* pa = a + pos[1];
    const float* pb = b + pos[2];
    for (int64_t i = 0; i < len; i++) o[i] = pc[i * st[0]] != 0 ? pa[i * st[1]] : pb[i * st[2]];
  });
}

void clamp(const float* x, float* out, int64_t n, float lo, float hi) {
  map1(x, out, n, [lo, hi](float v) { return std::isnan(v) ? v : v < lo ? lo : v > hi ? hi : v; });
}

}  // namespace ctrlora
