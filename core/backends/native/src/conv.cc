// conv2d forward, input gradient and weight gradient (NCHW, groups) lowered onto the GEMM.
//
// Per group, images are processed in chunks whose patch matrix ("cols", [Cg*KH*KW, nb*P]
// with P = OH*OW) is built by im2col into a reused buffer; several small images share one
// chunk so the GEMM sees enough columns to fill its register tiles. A large image is cut
// the other way, into bands of output rows, so that its patch matrix stays in L2 between
// im2col writing it and the GEMM packing it (a 128x128 image with 8 channels has a 4.7 MB
// patch matrix; in 256 KB bands its forward went from 32 to 39 GFLOP/s, its input
// gradient from 41 to 48 and its weight gradient from 14 to 18.5).
// A 1x1 convolution with stride 1 and no padding needs no patch matrix: the image already is one.
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

  /**
   * Output rows per band of one image: a band's patch matrix fits BAND_FLOATS (a quarter of
   * a 1 MiB L2) but keeps at least ~256 columns; a chunk of several images is never banded.
   */
  int64_t band_rows(const ConvGeom& g) const {
    if (pointwise || chunk(g) > 1 || g.ow == 0) return std::max<int64_t>(g.oh, 1);
    const int64_t fit = BAND_FLOATS / std::max<int64_t>(1, ckk * g.ow);
    const int64_t least = (256 + g.ow - 1) / g.ow;
    return std::clamp<int64_t>(std::max(fit, least), 1, std::max<int64_t>(g.oh, 1));
  }
  static constexpr int64_t BAND_FLOATS = 64 * 1024;
};

/** nb images from n0 (whole), or output rows [oh0, oh1) of image n0 when nb is 1. */
struct Chunk {
  int64_t n0, nb, oh0, oh1;
  int64_t per_image(const ConvGeom& g) const { return (oh1 - oh0) * g.ow; }
  int64_t cols(const ConvGeom& g) const { return nb * per_image(g); }
};

/** Calls fn(chunk) over every chunk of the batch: several small images together, a large one in bands. */
template <typename Fn>
void for_each_chunk(const ConvGeom& g, const Dims& d, Fn fn) {
  const int64_t nb_max = d.chunk(g);
  const int64_t rows = d.band_rows(g);
  for (int64_t n0 = 0; n0 < g.n; n0 += nb_max) {
    const int64_t nb = std::min(nb_max, g.n - n0);
    if (nb > 1 || g.oh == 0) {
      fn(Chunk{n0, nb, 0, g.oh});
      continue;
    }
    for (int64_t oh0 = 0; oh0 < g.oh; oh0 += rows) fn(Chunk{n0, 1, oh0, std::min(g.oh, oh0 + rows)});
  }
}

/** The output columns [lo, hi) whose input column ow * sw + iw0 lies inside the image. */
struct Run {
  int64_t lo, hi;
};
Run run(const ConvGeom& g, int64_t iw0) {
  const int64_t lo = iw0 >= 0 ? 0 : std::min(g.ow, (-iw0 + g.sw - 1) / g.sw);
  const int64_t hi = g.w - iw0 <= 0 ? lo : std::clamp<int64_t>((g.w - iw0 + g.sw - 1) / g.sw, lo, g.ow);
  return {lo, hi};
}

/**
 * Bands of at most this many output pixels (an 8x8 map or smaller) go through a table of
 * where each patch-matrix entry of a channel reads: their rows are a few floats long, and
 * im2col's per-row bounds work and copy calls cost more than the copy (a 4x4 map with 128
 * channels spent twice as long in im2col and col2im as in its GEMM).
 */
constexpr int64_t TABLE_PIXELS = 64;

thread_local std::vector<int64_t> taps_buf;

/** For output rows [oh0, oh1): the offset into a channel's plane that patch entry (kh, kw, pixel) reads, -1 for padding. */
const int64_t* tap_table(const ConvGeom& g, int64_t oh0, int64_t oh1) {
  const int64_t pk = (oh1 - oh0) * g.ow;
  if (static_cast<int64_t>(taps_buf.size()) < g.kh * g.kw * pk) taps_buf.resize(g.kh * g.kw * pk);
  int64_t* t = taps_buf.data();
  for (int64_t i = 0; i < g.kh; i++) {
    for (int64_t j = 0; j < g.kw; j++) {
      for (int64_t oh = oh0; oh < oh1; oh++) {
        const int64_t ih = oh * g.sh - g.ph + i * g.dh;
        for (int64_t ow = 0; ow < g.ow; ow++) {
          const int64_t iw = ow * g.sw - g.pw + j * g.dw;
          *t++ = ih >= 0 && ih < g.h && iw >= 0 && iw < g.w ? ih * g.w + iw : -1;
        }
      }
    }
  }
  return taps_buf.data();
}

/** The patch matrix of one image's group, output rows [oh0, oh1): rows (c, kh, kw), columns (oh, ow), row stride ld. */
void im2col(const float* x, const ConvGeom& g, const Dims& d, float* cols, int64_t ld, int64_t oh0, int64_t oh1) {
  const int64_t pk = (oh1 - oh0) * g.ow, taps = g.kh * g.kw;
  if (pk <= TABLE_PIXELS) {
    const int64_t* table = tap_table(g, oh0, oh1);
    for (int64_t c = 0; c < d.cpg; c++) {
      const float* xc = x + c * d.HW;
      for (int64_t r = 0; r < taps; r++) {
        float* out = cols + (c * taps + r) * ld;
        const int64_t* t = table + r * pk;
        for (int64_t p = 0; p < pk; p++) out[p] = t[p] >= 0 ? xc[t[p]] : 0.f;
      }
    }
    return;
  }
  for (int64_t c = 0; c < d.cpg; c++) {
    const float* xc = x + c * d.HW;
    for (int64_t i = 0; i < g.kh; i++) {
      for (int64_t j = 0; j < g.kw; j++) {
        float* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        for (int64_t oh = oh0; oh < oh1; oh++) {
          float* out = row + (oh - oh0) * g.ow;
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

/** Adds the patch-matrix gradient of output rows [oh0, oh1) back onto one image's group (the transpose of im2col). */
void col2im_add(const float* cols, int64_t ld, const ConvGeom& g, const Dims& d, float* gx, int64_t oh0, int64_t oh1) {
  const int64_t pk = (oh1 - oh0) * g.ow, taps = g.kh * g.kw;
  if (pk <= TABLE_PIXELS) {
    // Within one row of the table no two entries read the same input (a tap moves with its
    // output pixel), so the order of the adds is the one the row loop below uses.
    const int64_t* table = tap_table(g, oh0, oh1);
    for (int64_t c = 0; c < d.cpg; c++) {
      float* gc = gx + c * d.HW;
      for (int64_t r = 0; r < taps; r++) {
        const float* in = cols + (c * taps + r) * ld;
        const int64_t* t = table + r * pk;
        for (int64_t p = 0; p < pk; p++) {
          if (t[p] >= 0) gc[t[p]] += in[p];
        }
      }
    }
    return;
  }
  for (int64_t c = 0; c < d.cpg; c++) {
    float* gc = gx + c * d.HW;
    for (int64_t i = 0; i < g.kh; i++) {
      for (int64_t j = 0; j < g.kw; j++) {
        const float* row = cols + ((c * g.kh + i) * g.kw + j) * ld;
        for (int64_t oh = oh0; oh < oh1; oh++) {
          const int64_t ih = oh * g.sh - g.ph + i * g.dh;
          if (ih < 0 || ih >= g.h) continue;
          const float* in = row + (oh - oh0) * g.ow;
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

/** The patch matrix of one chunk of group gi, [ckk, chunk columns]. */
static float* chunk_cols(const float* x, const ConvGeom& g, const Dims& d, int64_t gi, const Chunk& k) {
  const int64_t L = k.cols(g), Pk = k.per_image(g);
  float* cols = scratch(cols_buf, d.ckk * L);
  for (int64_t q = 0; q < k.nb; q++) im2col(x + ((k.n0 + q) * g.c + gi * d.cpg) * d.HW, g, d, cols + q * Pk, L, k.oh0, k.oh1);
  return cols;
}

/** A [O/G, chunk columns] block of an output-shaped tensor (y or dY): where it starts and its row stride. */
struct Block {
  float* p;
  int64_t ld;
};
static Block view(float* t, const ConvGeom& g, const Dims& d, int64_t gi, const Chunk& k) {
  return {t + (k.n0 * g.o + gi * d.opg) * d.P + k.oh0 * g.ow, d.P};
}

void conv2d(const float* x, const float* w, float* y, const ConvGeom& g) {
  const Dims d(g);
  for (int64_t gi = 0; gi < d.G; gi++) {
    const float* wg = w + gi * d.opg * d.ckk;
    for_each_chunk(g, d, [&](const Chunk& k) {
      const int64_t L = k.cols(g);
      Gemm m{d.opg, L, d.ckk, wg, d.ckk, 1, nullptr, L, 1, nullptr, L, false};
      m.b = k.nb == 1 && d.pointwise ? x + (k.n0 * g.c + gi * d.cpg) * d.HW : chunk_cols(x, g, d, gi, k);
      if (k.nb == 1) {
        const Block out = view(y, g, d, gi, k);
        m.c = out.p;
        m.ldc = out.ld;
        sgemm(m);
        return;
      }
      float* tmp = scratch(tmp_buf, d.opg * L);
      m.c = tmp;
      sgemm(m);
      for (int64_t q = 0; q < k.nb; q++) {
        for (int64_t o = 0; o < d.opg; o++) {
          std::memcpy(y + ((k.n0 + q) * g.o + gi * d.opg + o) * d.P, tmp + o * L + q * d.P, sizeof(float) * d.P);
        }
      }
    });
  }
}

/** dY of one chunk of group gi as [O/G, chunk columns]: a view of gy for one image, else gathered into tmp. */
static Block grad_out_chunk(const float* gy, const ConvGeom& g, const Dims& d, int64_t gi, const Chunk& k) {
  if (k.nb == 1) return view(const_cast<float*>(gy), g, d, gi, k);
  const int64_t L = k.cols(g);
  float* tmp = scratch(tmp_buf, d.opg * L);
  for (int64_t q = 0; q < k.nb; q++) {
    for (int64_t o = 0; o < d.opg; o++) {
      std::memcpy(tmp + o * L + q * d.P, gy + ((k.n0 + q) * g.o + gi * d.opg + o) * d.P, sizeof(float) * d.P);
    }
  }
  return {tmp, L};
}

void conv2d_grad_input(const float* gy, const float* w, float* gx, const ConvGeom& g) {
  const Dims d(g);
  if (d.pointwise) {
    // dX_g = W_g^T @ dY_g straight into dX, image by image.
    for (int64_t gi = 0; gi < d.G; gi++) {
      for (int64_t n = 0; n < g.n; n++) {
        Gemm m{d.ckk, d.P, d.opg, w + gi * d.opg * d.ckk, 1, d.ckk, gy + (n * g.o + gi * d.opg) * d.P, d.P, 1,
               gx + (n * g.c + gi * d.cpg) * d.HW, d.HW, false};
        sgemm(m);
      }
    }
    return;
  }
  std::fill(gx, gx + g.n * g.c * d.HW, 0.f);
  for (int64_t gi = 0; gi < d.G; gi++) {
    const float* wg = w + gi * d.opg * d.ckk;
    for_each_chunk(g, d, [&](const Chunk& k) {
      const int64_t L = k.cols(g), Pk = k.per_image(g);
      const Block dy = grad_out_chunk(gy, g, d, gi, k);
      // W_g^T: A(i = ckk row, p = o) = wg[o * ckk + i].
      float* cols = scratch(cols_buf, d.ckk * L);
      sgemm(Gemm{d.ckk, L, d.opg, wg, 1, d.ckk, dy.p, dy.ld, 1, cols, L, false});
      for (int64_t q = 0; q < k.nb; q++) col2im_add(cols + q * Pk, L, g, d, gx + ((k.n0 + q) * g.c + gi * d.cpg) * d.HW, k.oh0, k.oh1);
    });
  }
}

void conv2d_grad_weight(const float* x, const float* gy, float* gw, const ConvGeom& g) {
  const Dims d(g);
  if (g.n == 0) std::fill(gw, gw + g.o * d.ckk, 0.f);
  for (int64_t gi = 0; gi < d.G; gi++) {
    bool first = true;
    const auto one = [&](const Chunk& k) {
      const int64_t L = k.cols(g);
      const Block dy = grad_out_chunk(gy, g, d, gi, k);
      // cols^T: B(p = column, j = ckk row) = cols[j * L + p]; a 1x1 image is its own patch matrix.
      const bool view_x = d.pointwise && k.nb == 1;
      const float* b = view_x ? x + (k.n0 * g.c + gi * d.cpg) * d.HW : chunk_cols(x, g, d, gi, k);
      const int64_t ldb = view_x ? d.HW : L;
      sgemm(Gemm{d.opg, d.ckk, L, dy.p, dy.ld, 1, b, 1, ldb, gw + gi * d.opg * d.ckk, d.ckk, !first});
      first = false;
    };
    if (d.pointwise) {
      for (int64_t n = 0; n < g.n; n++) one(Chunk{n, 1, 0, g.oh});
    } else {
      for_each_chunk(g, d, one);
    }
  }
}

}  // namespace ctrlora
