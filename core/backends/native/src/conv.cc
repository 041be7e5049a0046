// conv2d forward, input gradient and weight gradient (NCHW, groups) lowered onto the GEMM.
//
// Per group, images are processed in chunks whose patch matrix ("cols", [Cg*KH*KW, nb*P]
// with P = OH*OW) is built by im2col into a reused buffer; several small images share one
// chunk so the GEMM sees enough columns to fill its register tiles. A 1x1 convolution with
// stride 1 and no padding needs no patch matrix: the image already is one.
//   forward:      Y_g[O/G, cols]   = W_g[O/G, CKK] @ cols
//   input grad:   dcols[CKK, cols] = W_g^T @ dY_g   then col2im (scatter-add) into dX
//   weight grad:  dW_g[O/G, CKK]  += dY_g[O/G, cols] @ cols^T   (accumulated over chunks)
#include <algorithm>
#include <cstring>
#include <vector>

#include "gemm.h"
#include "kernels.h"

namespace ctrlora {
namespace {

/** Scratch that only grows: conv calls after the first allocate nothing. */
float* scratch(std::vector<float>& v, int64_t n) {
  if (static_cast<int64_t>(v.size()) < n) v.resize(n);
  return v.data();
}

struct Dims {
  int64_t G, cpg, opg, ckk, P, HW;
  bool pointwise;  // 1x1, stride 1, no padding: x itself is the patch matrix
  explicit Dims(const ConvGeom& g)
      : G(g.groups), cpg(g.c / g.groups), opg(g.o / g.groups), ckk((g.c / g.groups) * g.kh * g.kw), P(g.oh * g.ow), HW(g.h * g.w),
        pointwise(g.kh == 1 && g.kw == 1 && g.sh == 1 && g.sw == 1 && g.ph == 0 && g.pw == 0 && g.oh == g.h && g.ow == g.w) {}

  /** Images per chunk: enough columns for the GEMM's tiles, a patch matrix of at most ~16 MB. */
  int64_t chunk(const ConvGeom& g) const {
    const int64_t want = std::max<int64_t>(1, (256 + P - 1) / P);
    const int64_t cap = std::max<int64_t>(1, (int64_t{4} << 20) / std::max<int64_t>(1, ckk * P));
    return std::min({g.n, want, cap});
  }
};

/** The output columns [lo, hi) whose input column ow * sw + iw0 lies inside the image. */
struct Run {
  int64_t lo, hi;
};
Run run(const ConvGeom& g, int64_t iw0) {
  const int64_t lo = iw0 >= 0 ? 0 : std::min(g.ow, (-iw0 + g.sw - 1) / g.sw);
  const int64_t hi = g.w - iw0 <= 0 ? lo : std::clamp<int64_t>((g.w - iw0 + g.sw - 1) / g.sw, lo, g.ow);
  return {lo, hi};
}

/** The patch matrix of one image's group: rows (c, kh, kw), columns (oh, ow), row stride ld. */
void im2col(const float* x, const ConvGeom& g, const Dims& d, float* cols, int64_t ld) {
  for (int64_t c = 0; c < d.cpg; c++) {
    const float* xc = x + c * d.HW;
    for (int64_t i = 0; i < g.kh; i++) {
      for (int64_t j = 0; j < g.kw; j++) {
        float* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        for (int64_t oh = 0; oh < g.oh; oh++) {
          float* out = row + oh * g.ow;
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) {
            std::fill(out, out + g.ow, 0.f);
            continue;
          }
          const float* xr = xc + ih * g.w;
          const int64_t iw0 = j * g.dw - g.pw;
          if (g.sw == 1) {
            // Columns ow with 0 <= ow + iw0 < w read a contiguous run; the rest are padding.
            const int64_t lo = std::clamp<int64_t>(-iw0, 0, g.ow);
            const int64_t hi = std::clamp<int64_t>(g.w - iw0, lo, g.ow);
            std::fill(out, out + lo, 0.f);
            std::memcpy(out + lo, xr + lo + iw0, sizeof(float) * (hi - lo));
            std::fill(out + hi, out + g.ow, 0.f);
          } else {
            const Run r = run(g, iw0);
            std::fill(out, out + r.lo, 0.f);
            for (int64_t ow = r.lo; ow < r.hi; ow++) out[ow] = xr[ow * g.sw + iw0];
            std::fill(out + r.hi, out + g.ow, 0.f);
          }
        }
      }
    }
  }
}

/** Adds a patch-matrix gradient back onto one image's group (the transpose of im2col). */
void col2im_add(const float* cols, int64_t ld, const ConvGeom& g, const Dims& d, float* gx) {
  for (int64_t c = 0; c < d.cpg; c++) {
    float* gc = gx + c * d.HW;
    for (int64_t i = 0; i < g.kh; i++) {
      for (int64_t j = 0; j < g.kw; j++) {
        const float* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        for (int64_t oh = 0; oh < g.oh; oh++) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          const float* in = row + oh * g.ow;
          float* gr = gc + ih * g.w;
          const int64_t iw0 = j * g.dw - g.pw;
          if (g.sw == 1) {
            const int64_t lo = std::clamp<int64_t>(-iw0, 0, g.ow);
            const int64_t hi = std::clamp<int64_t>(g.w - iw0, lo, g.ow);
            for (int64_t ow = lo; ow < hi; ow++) gr[ow + iw0] += in[ow];
          } else {
            const Run r = run(g, iw0);
            for (int64_t ow = r.lo; ow < r.hi; ow++) gr[ow * g.sw + iw0] += in[ow];
          }
        }
      }
    }
  }
}

thread_local std::vector<float> cols_buf, tmp_buf;

}  // namespace

void conv2d(const float* x, const float* w, float* y, const ConvGeom& g) {
  const Dims d(g);
  const int64_t nb_max = d.chunk(g);
  for (int64_t gi = 0; gi < d.G; gi++) {
    const float* wg = w + gi * d.opg * d.ckk;
    for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
      const int64_t nb = std::min(nb_max, g.n - n0);
      const int64_t L = nb * d.P;
      Gemm m{d.opg, L, d.ckk, wg, d.ckk, 1, nullptr, L, 1, nullptr, L, false};
      if (nb == 1 && d.pointwise) {
        m.b = x + (n0 * g.c + gi * d.cpg) * d.HW;
      } else {
        float* cols = scratch(cols_buf, d.ckk * L);
        for (int64_t q = 0; q < nb; q++) im2col(x + ((n0 + q) * g.c + gi * d.cpg) * d.HW, g, d, cols + q * d.P, L);
        m.b = cols;
      }
      if (nb == 1) {
        m.c = y + (n0 * g.o + gi * d.opg) * d.P;
        m.ldc = d.P;
        sgemm(m);
        continue;
      }
      float* tmp = scratch(tmp_buf, d.opg * L);
      m.c = tmp;
      sgemm(m);
      for (int64_t q = 0; q < nb; q++) {
        for (int64_t o = 0; o < d.opg; o++) {
          std::memcpy(y + ((n0 + q) * g.o + gi * d.opg + o) * d.P, tmp + o * L + q * d.P, sizeof(float) * d.P);
        }
      }
    }
  }
}

/** dY of images [n0, n0+nb), group gi, as [O/G, nb*P] (a view when nb is 1, else gathered into tmp). */
static const float* grad_out_chunk(const float* gy, const ConvGeom& g, const Dims& d, int64_t gi, int64_t n0, int64_t nb) {
  if (nb == 1) return gy + (n0 * g.o + gi * d.opg) * d.P;
  const int64_t L = nb * d.P;
  float* tmp = scratch(tmp_buf, d.opg * L);
  for (int64_t q = 0; q < nb; q++) {
    for (int64_t o = 0; o < d.opg; o++) {
      std::memcpy(tmp + o * L + q * d.P, gy + ((n0 + q) * g.o + gi * d.opg + o) * d.P, sizeof(float) * d.P);
    }
  }
  return tmp;
}

void conv2d_grad_input(const float* gy, const float* w, float* gx, const ConvGeom& g) {
  const Dims d(g);
  const int64_t nb_max = d.chunk(g);
  if (!d.pointwise) std::fill(gx, gx + g.n * g.c * d.HW, 0.f);
  for (int64_t gi = 0; gi < d.G; gi++) {
    const float* wg = w + gi * d.opg * d.ckk;
    for (int64_t n0 = 0; n0 < g.n; n0 += d.pointwise ? 1 : nb_max) {
      const int64_t nb = d.pointwise ? 1 : std::min(nb_max, g.n - n0);
      const int64_t L = nb * d.P;
      // W_g^T: A(i = ckk row, p = o) = wg[o * ckk + i].
      Gemm m{d.ckk, L, d.opg, wg, 1, d.ckk, grad_out_chunk(gy, g, d, gi, n0, nb), L, 1, nullptr, L, false};
      if (d.pointwise) {
        m.c = gx + (n0 * g.c + gi * d.cpg) * d.HW;
        m.ldc = d.HW;
        sgemm(m);
        continue;
      }
      float* cols = scratch(cols_buf, d.ckk * L);
      m.c = cols;
      sgemm(m);
      for (int64_t q = 0; q < nb; q++) col2im_add(cols + q * d.P, L, g, d, gx + ((n0 + q) * g.c + gi * d.cpg) * d.HW);
    }
  }
}

void conv2d_grad_weight(const float* x, const float* gy, float* gw, const ConvGeom& g) {
  const Dims d(g);
  const int64_t nb_max = d.pointwise ? 1 : d.chunk(g);
  if (g.n == 0) std::fill(gw, gw + g.o * d.ckk, 0.f);
  for (int64_t gi = 0; gi < d.G; gi++) {
    for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
      const int64_t nb = std::min(nb_max, g.n - n0);
      const int64_t L = nb * d.P;
      // cols^T: B(p = column, j = ckk row) = cols[j * L + p].
      Gemm m{d.opg, d.ckk, L, nullptr, L, 1, nullptr, 1, L, gw + gi * d.opg * d.ckk, d.ckk, n0 > 0};
      if (d.pointwise) {
        m.b = x + (n0 * g.c + gi * d.cpg) * d.HW;
      } else {
        float* cols = scratch(cols_buf, d.ckk * L);
        for (int64_t q = 0; q < nb; q++) im2col(x + ((n0 + q) * g.c + gi * d.cpg) * d.HW, g, d, cols + q * d.P, L);
        m.b = cols;
      }
      m.a = grad_out_chunk(gy, g, d, gi, n0, nb);
      sgemm(m);
    }
  }
}

}  // namespace ctrlora
