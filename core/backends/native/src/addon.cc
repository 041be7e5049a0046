// The Node-API surface: thin functions that take Float32Arrays (zero-copy), plain numbers
// and a Float64Array of dims, check the extents every kernel will touch, and call it.
// Outputs are preallocated by the caller (core/backends/native/backend.ts, from its pool).
#include <node_api.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "gemm.h"
#include "kernels.h"
#include "strided.h"
#include "threadpool.h"

using namespace ctrlora;

namespace {

/** Thrown on bad arguments; turned into a JS TypeError naming the function. */
struct BadArg {
  std::string message;
};

struct F32 {
  float* data;
  int64_t length;
};

struct F64 {
  const double* data;
  int64_t length;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, const char* fn) : env_(env), fn_(fn) {
    argc_ = 24;
    napi_get_cb_info(env, info, &argc_, argv_, nullptr, nullptr);
  }

  F32 f32(size_t i) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (i >= argc_ || napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) {
      fail("argument " + std::to_string(i) + " must be a Float32Array");
    }
    return {static_cast<float*>(data), static_cast<int64_t>(length)};
  }

  F64 f64(size_t i, int64_t min_length) const {
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (i >= argc_ || napi_get_typedarray_info(env_, argv_[i], &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float64_array) {
      fail("argument " + std::to_string(i) + " must be a Float64Array");
    }
    if (static_cast<int64_t>(length) < min_length) fail("argument " + std::to_string(i) + " holds too few dims");
    return {static_cast<const double*>(data), static_cast<int64_t>(length)};
  }

  double num(size_t i) const {
    double v = 0;
    if (i >= argc_ || napi_get_value_double(env_, argv_[i], &v) != napi_ok) fail("argument " + std::to_string(i) + " must be a number");
    return v;
  }

  int64_t count(size_t i) const {
    const double v = num(i);
    if (!(v >= 0) || v != static_cast<double>(static_cast<int64_t>(v))) fail("argument " + std::to_string(i) + " must be a non-negative integer");
    return static_cast<int64_t>(v);
  }

  bool flag(size_t i) const {
    bool v = false;
    if (i >= argc_ || napi_get_value_bool(env_, argv_[i], &v) != napi_ok) fail("argument " + std::to_string(i) + " must be a boolean");
    return v;
  }

  napi_value raw(size_t i) const { return i < argc_ ? argv_[i] : nullptr; }

  [[noreturn]] void fail(const std::string& what) const { throw BadArg{std::string("native.") + fn_ + ": " + what}; }

  /** The storage holds at least `need` values. */
  void need(const F32& a, int64_t need, const char* name) const {
    if (a.length < need) fail(std::string(name) + " has " + std::to_string(a.length) + " values, needs " + std::to_string(need));
  }

  /** Every index a strided layout reaches (offset + sum i_d stride_d) lies inside the storage. */
  void reach(const F32& a, int rank, const double* shape, const double* strides, int64_t offset, const char* name) const {
    int64_t lo = offset, hi = offset, total = 1;
    for (int d = 0; d < rank; d++) {
      const int64_t s = static_cast<int64_t>(shape[d]);
      const int64_t st = static_cast<int64_t>(strides[d]);
      total *= s;
      if (s == 0) continue;
      if (st > 0) hi += (s - 1) * st;
      else lo += (s - 1) * st;
    }
    if (total == 0) return;
    if (lo < 0 || hi >= a.length) fail(std::string(name) + ": the view reaches outside its storage");
  }

  int rank(size_t i) const {
    const int64_t r = count(i);
    if (r > MAX_RANK) fail("rank " + std::to_string(r) + " is above " + std::to_string(MAX_RANK));
    return static_cast<int>(r);
  }

 private:
  napi_env env_;
  const char* fn_;
  size_t argc_;
  napi_value argv_[24];
};

using Body = void (*)(const Args&, napi_env, napi_value*);

/** Wraps a body: C++ errors become JS TypeErrors. */
template <Body body>
napi_value entry(napi_env env, napi_callback_info info, const char* name) {
  napi_value result = nullptr;
  try {
    Args a(env, info, name);
    body(a, env, &result);
  } catch (const BadArg& e) {
    napi_throw_type_error(env, nullptr, e.message.c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("native.") + name + ": " + e.what()).c_str());
  }
  return result;
}

#define FN(name) \
  void body_##name(const Args& a, napi_env env, napi_value* result); \
  napi_value js_##name(napi_env env, napi_callback_info info) { return entry<body_##name>(env, info, #name); } \
  void body_##name(const Args& a, [[maybe_unused]] napi_env env, [[maybe_unused]] napi_value* result)

// ---- runtime -------------------------------------------------------------------------

FN(isa) { napi_create_string_utf8(env, gemm_isa().name, NAPI_AUTO_LENGTH, result); }

FN(threads) { napi_create_int32(env, pool_threads(), result); }

FN(setThreads) {
  const int64_t n = a.count(0);
  if (n < 1 || n > 1024) a.fail("threads must be between 1 and 1024");
  pool_resize(static_cast<int>(n));
}

// ---- layout --------------------------------------------------------------------------

// copy(dst, src, srcOffset, rank, dims = [shape, srcStrides, dstStrides], dstOffset)
FN(copy) {
  const F32 dst = a.f32(0), src = a.f32(1);
  const int64_t so = a.count(2), doff = a.count(5);
  const int r = a.rank(3);
  const F64 d = a.f64(4, 3 * r);
  a.reach(src, r, d.data, d.data + r, so, "source");
  a.reach(dst, r, d.data, d.data + 2 * r, doff, "destination");
  strided_copy(dst.data, src.data, so, Layout{r, d.data, {d.data + r, nullptr, nullptr}}, d.data + 2 * r, doff);
}

// pad(out, x, rank, dims = [shape, before, after], value)
FN(pad) {
  const F32 out = a.f32(0), x = a.f32(1);
  const int r = a.rank(2);
  const F64 d = a.f64(3, 3 * r);
  int64_t in = 1, outn = 1;
  for (int i = 0; i < r; i++) {
    in *= static_cast<int64_t>(d.data[i]);
    outn *= static_cast<int64_t>(d.data[i] + d.data[r + i] + d.data[2 * r + i]);
  }
  a.need(x, in, "x");
  a.need(out, outn, "out");
  pad(out.data, x.data, r, d.data, d.data + r, d.data + 2 * r, static_cast<float>(a.num(4)));
}

// concat(out, [inputs], outer, sizes (Float64Array), inner)
FN(concat) {
  const F32 out = a.f32(0);
  const int64_t outer = a.count(2), inner = a.count(4);
  uint32_t k = 0;
  napi_get_array_length(env, a.raw(1), &k);
  const F64 sizes = a.f64(3, k);
  int64_t total = 0;
  for (uint32_t i = 0; i < k; i++) total += static_cast<int64_t>(sizes.data[i]);
  a.need(out, outer * total * inner, "out");
  int64_t at = 0;
  for (uint32_t i = 0; i < k; i++) {
    napi_value v;
    napi_get_element(env, a.raw(1), i, &v);
    napi_typedarray_type type;
    size_t length = 0;
    void* data = nullptr;
    if (napi_get_typedarray_info(env, v, &type, &length, &data, nullptr, nullptr) != napi_ok || type != napi_float32_array) a.fail("inputs must be Float32Arrays");
    const int64_t block = static_cast<int64_t>(sizes.data[i]) * inner;
    if (static_cast<int64_t>(length) < outer * block) a.fail("input " + std::to_string(i) + " is too small");
    const float* src = static_cast<const float*>(data);
    for (int64_t o = 0; o < outer; o++) std::copy(src + o * block, src + (o + 1) * block, out.data + o * total * inner + at);
    at += block;
  }
}

// ---- elementwise ---------------------------------------------------------------------

FN(unary) {
  const F32 x = a.f32(1), out = a.f32(2);
  a.need(x, out.length, "x");
  unary(static_cast<int>(a.count(0)), x.data, out.data, out.length);
}

FN(unaryGrad) {
  const F32 x = a.f32(1), gy = a.f32(2), out = a.f32(3);
  a.need(x, out.length, "x");
  a.need(gy, out.length, "gy");
  unary_grad(static_cast<int>(a.count(0)), x.data, gy.data, out.data, out.length);
}

// binary(op, out, a, aOffset, b, bOffset, rank, dims = [shape, aStrides, bStrides])
FN(binary) {
  const F32 out = a.f32(1), x = a.f32(2), y = a.f32(4);
  const int64_t ox = a.count(3), oy = a.count(5);
  const int r = a.rank(6);
  const F64 d = a.f64(7, 3 * r);
  a.reach(x, r, d.data, d.data + r, ox, "a");
  a.reach(y, r, d.data, d.data + 2 * r, oy, "b");
  int64_t n = 1;
  for (int i = 0; i < r; i++) n *= static_cast<int64_t>(d.data[i]);
  a.need(out, n, "out");
  if (n == 0) return;
  binary(static_cast<int>(a.count(0)), out.data, x.data, ox, y.data, oy, Layout{r, d.data, {d.data + r, d.data + 2 * r, nullptr}});
}

// where(out, cond, oc, a, oa, b, ob, rank, dims = [shape, cStrides, aStrides, bStrides])
FN(where) {
  const F32 out = a.f32(0), c = a.f32(1), x = a.f32(3), y = a.f32(5);
  const int64_t oc = a.count(2), ox = a.count(4), oy = a.count(6);
  const int r = a.rank(7);
  const F64 d = a.f64(8, 4 * r);
  a.reach(c, r, d.data, d.data + r, oc, "cond");
  a.reach(x, r, d.data, d.data + 2 * r, ox, "a");
  a.reach(y, r, d.data, d.data + 3 * r, oy, "b");
  int64_t n = 1;
  for (int i = 0; i < r; i++) n *= static_cast<int64_t>(d.data[i]);
  a.need(out, n, "out");
  if (n == 0) return;
  where(out.data, c.data, oc, x.data, ox, y.data, oy, Layout{r, d.data, {d.data + r, d.data + 2 * r, d.data + 3 * r}});
}

FN(clamp) {
  const F32 x = a.f32(0), out = a.f32(1);
  a.need(x, out.length, "x");
  clamp(x.data, out.data, out.length, static_cast<float>(a.num(2)), static_cast<float>(a.num(3)));
}

// ---- reductions ----------------------------------------------------------------------

FN(reduceRows) {
  const F32 x = a.f32(1), out = a.f32(2);
  const int64_t rows = a.count(3), cols = a.count(4);
  a.need(x, rows * cols, "x");
  a.need(out, rows, "out");
  reduce_rows(static_cast<int>(a.count(0)), x.data, out.data, rows, cols);
}

// ---- dense ---------------------------------------------------------------------------

// matmul(a, b, out, batch, m, k, n, transA, transB)
FN(matmul) {
  const F32 x = a.f32(0), y = a.f32(1), out = a.f32(2);
  const int64_t batch = a.count(3), m = a.count(4), k = a.count(5), n = a.count(6);
  const bool ta = a.flag(7), tb = a.flag(8);
  a.need(x, batch * m * k, "a");
  a.need(y, batch * k * n, "b");
  a.need(out, batch * m * n, "out");
  const Gemm g{m, n, k, x.data, ta ? 1 : k, ta ? m : 1, y.data, tb ? 1 : n, tb ? k : 1, out.data, n, false};
  sgemm_batched(g, batch, m * k, k * n, m * n);
}

/** A conv geometry from 16 dims (core/backend.ts's Conv2dGeometry, in its field order). */
ConvGeom conv_geom(const Args& a, size_t i) {
  const double* d = a.f64(i, 16).data;
  ConvGeom g{};
  int64_t* f[] = {&g.n, &g.c, &g.h, &g.w, &g.o, &g.oh, &g.ow, &g.kh, &g.kw, &g.sh, &g.sw, &g.ph, &g.pw, &g.dh, &g.dw, &g.groups};
  for (int j = 0; j < 16; j++) *f[j] = static_cast<int64_t>(d[j]);
  if (g.groups < 1 || g.c % g.groups != 0 || g.o % g.groups != 0) a.fail("channels must divide into groups");
  return g;
}

FN(conv2d) {
  const F32 x = a.f32(0), w = a.f32(1), y = a.f32(2);
  const ConvGeom g = conv_geom(a, 3);
  a.need(x, g.n * g.c * g.h * g.w, "x");
  a.need(w, g.o * (g.c / g.groups) * g.kh * g.kw, "w");
  a.need(y, g.n * g.o * g.oh * g.ow, "out");
  conv2d(x.data, w.data, y.data, g);
}

FN(conv2dGradInput) {
  const F32 gy = a.f32(0), w = a.f32(1), gx = a.f32(2);
  const ConvGeom g = conv_geom(a, 3);
  a.need(gy, g.n * g.o * g.oh * g.ow, "gy");
  a.need(w, g.o * (g.c / g.groups) * g.kh * g.kw, "w");
  a.need(gx, g.n * g.c * g.h * g.w, "out");
  conv2d_grad_input(gy.data, w.data, gx.data, g);
}

FN(conv2dGradWeight) {
  const F32 x = a.f32(0), gy = a.f32(1), gw = a.f32(2);
  const ConvGeom g = conv_geom(a, 3);
  a.need(x, g.n * g.c * g.h * g.w, "x");
  a.need(gy, g.n * g.o * g.oh * g.ow, "gy");
  a.need(gw, g.o * (g.c / g.groups) * g.kh * g.kw, "out");
  conv2d_grad_weight(x.data, gy.data, gw.data, g);
}

// ---- spatial -------------------------------------------------------------------------

FN(upsample) {
  const F32 x = a.f32(0), y = a.f32(1);
  const int64_t planes = a.count(2), h = a.count(3), w = a.count(4), sh = a.count(5), sw = a.count(6);
  a.need(x, planes * h * w, "x");
  a.need(y, planes * h * w * sh * sw, "out");
  upsample_nearest(x.data, y.data, planes, h, w, sh, sw);
}

FN(upsampleGrad) {
  const F32 gy = a.f32(0), gx = a.f32(1);
  const int64_t planes = a.count(2), h = a.count(3), w = a.count(4), sh = a.count(5), sw = a.count(6);
  a.need(gy, planes * h * w * sh * sw, "gy");
  a.need(gx, planes * h * w, "out");
  upsample_nearest_grad(gy.data, gx.data, planes, h, w, sh, sw);
}

/** A pool geometry from 12 dims: planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw, countIncludePad. */
PoolGeom pool_geom(const Args& a, size_t i) {
  const double* d = a.f64(i, 12).data;
  return {static_cast<int64_t>(d[0]), static_cast<int64_t>(d[1]), static_cast<int64_t>(d[2]), static_cast<int64_t>(d[3]),
          static_cast<int64_t>(d[4]), static_cast<int64_t>(d[5]), static_cast<int64_t>(d[6]), static_cast<int64_t>(d[7]),
          static_cast<int64_t>(d[8]), static_cast<int64_t>(d[9]), static_cast<int64_t>(d[10]), d[11] != 0};
}

FN(avgPool) {
  const F32 x = a.f32(0), y = a.f32(1);
  const PoolGeom g = pool_geom(a, 2);
  a.need(x, g.planes * g.h * g.w, "x");
  a.need(y, g.planes * g.oh * g.ow, "out");
  avg_pool(x.data, y.data, g);
}

FN(avgPoolGrad) {
  const F32 gy = a.f32(0), gx = a.f32(1);
  const PoolGeom g = pool_geom(a, 2);
  a.need(gy, g.planes * g.oh * g.ow, "gy");
  a.need(gx, g.planes * g.h * g.w, "out");
  avg_pool_grad(gy.data, gx.data, g);
}

// ---- rows ----------------------------------------------------------------------------

FN(normRows) {
  const F32 x = a.f32(0), y = a.f32(1), mean = a.f32(2), rstd = a.f32(3);
  const int64_t rows = a.count(4), cols = a.count(5);
  a.need(x, rows * cols, "x");
  a.need(y, rows * cols, "y");
  a.need(mean, rows, "mean");
  a.need(rstd, rows, "rstd");
  norm_rows(x.data, y.data, mean.data, rstd.data, rows, cols, static_cast<float>(a.num(6)));
}

FN(normRowsGrad) {
  const F32 xhat = a.f32(0), gy = a.f32(1), rstd = a.f32(2), gx = a.f32(3);
  const int64_t rows = a.count(4), cols = a.count(5);
  a.need(xhat, rows * cols, "xhat");
  a.need(gy, rows * cols, "gy");
  a.need(rstd, rows, "rstd");
  a.need(gx, rows * cols, "out");
  norm_rows_grad(xhat.data, gy.data, rstd.data, gx.data, rows, cols);
}

FN(softmaxRows) {
  const F32 x = a.f32(0), y = a.f32(1);
  const int64_t rows = a.count(2), cols = a.count(3);
  a.need(x, rows * cols, "x");
  a.need(y, rows * cols, "out");
  softmax_rows(x.data, y.data, rows, cols, a.flag(4));
}

FN(softmaxRowsGrad) {
  const F32 y = a.f32(0), gy = a.f32(1), gx = a.f32(2);
  const int64_t rows = a.count(3), cols = a.count(4);
  a.need(y, rows * cols, "y");
  a.need(gy, rows * cols, "gy");
  a.need(gx, rows * cols, "out");
  softmax_rows_grad(y.data, gy.data, gx.data, rows, cols, a.flag(5));
}

// ---- indexing and optimisers ---------------------------------------------------------

/** Every index is an integer row of the table. */
void check_indices(const Args& a, const F32& idx, int64_t count, int64_t vocab) {
  a.need(idx, count, "indices");
  for (int64_t i = 0; i < count; i++) {
    const float v = idx.data[i];
    if (!(v >= 0 && v < static_cast<float>(vocab)) || v != static_cast<float>(static_cast<int64_t>(v))) {
      a.fail("index " + std::to_string(i) + " is " + std::to_string(v) + ", not a row of a table of " + std::to_string(vocab));
    }
  }
}

FN(gatherRows) {
  const F32 table = a.f32(0), idx = a.f32(1), out = a.f32(2);
  const int64_t count = a.count(3), dim = a.count(4);
  check_indices(a, idx, count, dim == 0 ? INT64_MAX : table.length / dim);
  a.need(out, count * dim, "out");
  gather_rows(table.data, idx.data, out.data, count, dim);
}

FN(gatherRowsGrad) {
  const F32 gy = a.f32(0), idx = a.f32(1), out = a.f32(2);
  const int64_t count = a.count(3), vocab = a.count(4), dim = a.count(5);
  check_indices(a, idx, count, vocab);
  a.need(gy, count * dim, "gy");
  a.need(out, vocab * dim, "out");
  gather_rows_grad(gy.data, idx.data, out.data, count, vocab, dim);
}

// adam(param, grad, m, v, param2, m2, v2, dims = [lr, beta1, beta2, eps, weightDecay, c1, c2, decoupled])
FN(adam) {
  const F32 p = a.f32(0), g = a.f32(1), m = a.f32(2), v = a.f32(3), p2 = a.f32(4), m2 = a.f32(5), v2 = a.f32(6);
  const double* d = a.f64(7, 8).data;
  const int64_t n = p2.length;
  for (const F32* t : {&p, &g, &m, &v, &m2, &v2}) a.need(*t, n, "an Adam operand");
  adam_step(p.data, g.data, m.data, v.data, p2.data, m2.data, v2.data, n, AdamArgs{d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7] != 0});
}

#undef FN

napi_value init(napi_env env, napi_value exports) {
  // CTRLORA_NATIVE_THREADS overrides the pool size; the default is the machine's core count.
  if (const char* t = std::getenv("CTRLORA_NATIVE_THREADS")) {
    const int n = std::atoi(t);
    if (n >= 1) pool_resize(n);
  }
  const napi_property_descriptor fns[] = {
#define EXPORT(name) {#name, nullptr, js_##name, nullptr, nullptr, nullptr, napi_default, nullptr}
      EXPORT(isa), EXPORT(threads), EXPORT(setThreads),
      EXPORT(copy), EXPORT(pad), EXPORT(concat),
      EXPORT(unary), EXPORT(unaryGrad), EXPORT(binary), EXPORT(where), EXPORT(clamp),
      EXPORT(reduceRows), EXPORT(matmul), EXPORT(conv2d), EXPORT(conv2dGradInput), EXPORT(conv2dGradWeight),
      EXPORT(upsample), EXPORT(upsampleGrad), EXPORT(avgPool), EXPORT(avgPoolGrad),
      EXPORT(normRows), EXPORT(normRowsGrad), EXPORT(softmaxRows), EXPORT(softmaxRowsGrad),
      EXPORT(gatherRows), EXPORT(gatherRowsGrad), EXPORT(adam),
#undef EXPORT
  };
  napi_define_properties(env, exports, sizeof(fns) / sizeof(fns[0]), fns);
  return exports;
}

}  // namespace

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
