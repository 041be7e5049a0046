// The backend's kernels over raw float pointers: every one writes all of its output.
#pragma once
#include <cstdint>

namespace ctrlora {

/** A strided layout of `rank` dims: shape, then strides of up to three operands. */
struct Layout {
  int rank;
  const double* shape;
  const double* strides[3];
};

// ---- layout --------------------------------------------------------------------------
void strided_copy(float* dst, const float* src, int64_t src_offset, const Layout& l, const double* dst_strides, int64_t dst_offset);
void pad(float* out, const float* x, int rank, const double* shape, const double* before, const double* after, float value);

// ---- elementwise ---------------------------------------------------------------------
void unary(int op, const float* x, float* out, int64_t n);
void unary_grad(int op, const float* x, const float* gy, float* out, int64_t n);
void binary(int op, float* out, const float* a, int64_t oa, const float* b, int64_t ob, const Layout& l);
void where(float* out, const float* c, int64_t oc, const float* a, int64_t oa, const float* b, int64_t ob, const Layout& l);
void clamp(const float* x, float* out, int64_t n, float lo, float hi);

// ---- reductions ----------------------------------------------------------------------
void reduce_rows(int op, const float* x, float* out, int64_t rows, int64_t cols);

// ---- convolution ---------------------------------------------------------------------
struct ConvGeom {
  int64_t n, c, h, w, o, oh, ow, kh, kw, sh, sw, ph, pw, dh, dw, groups;
};
void conv2d(const float* x, const float* w, float* y, const ConvGeom& g);
void conv2d_grad_input(const float* gy, const float* w, float* gx, const ConvGeom& g);
void conv2d_grad_weight(const float* x, const float* gy, float* gw, const ConvGeom& g);

// ---- spatial -------------------------------------------------------------------------
void upsample_nearest(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw);
void upsample_nearest_grad(const float* gy, float* gx, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw);
struct PoolGeom {
  int64_t planes, h, w, oh, ow, kh, kw, sh, sw, ph, pw;
  bool count_include_pad;
};
void avg_pool(const float* x, float* y, const PoolGeom& g);
void avg_pool_grad(const float* gy, float* gx, const PoolGeom& g);

// ---- rows: normalisation and softmax -------------------------------------------------
void norm_rows(const float* x, float* y, float* mean, float* rstd, int64_t rows, int64_t cols, float eps);
void norm_rows_grad(const float* xhat, const float* gy, const float* rstd, float* gx, int64_t rows, int64_t cols);
void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, bool log);
void softmax_rows_grad(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log);

// ---- indexing and optimisers ---------------------------------------------------------
void gather_rows(const float* table, const float* idx, float* out, int64_t count, int64_t dim);
void gather_rows_grad(const float* gy, const float* idx, float* out, int64_t count, int64_t vocab, int64_t dim);
struct AdamArgs {
  double lr, beta1, beta2, eps, weight_decay, c1, c2;
  bool decoupled;
};
void adam_step(const float* p, const float* g, const float* m, const float* v, float* p2, float* m2, float* v2, int64_t n, const AdamArgs& h);

}  // namespace ctrlora
