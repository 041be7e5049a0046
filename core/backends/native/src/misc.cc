// Nearest upsampling, average pooling, row gathers (embeddings) and the fused Adam step.
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "threadpool.h"

namespace ctrlora {

void upsample_nearest(const float* x, float* y, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  const int64_t W = w * sw;
  parallel_for_if(planes * h * w * sh * sw, planes, [&](int64_t p) {
    float* out = y + p * h * sh * W;
    for (int64_t i = 0; i < h; i++) {
      const float* xr = x + (p * h + i) * w;
      float* first = out + i * sh * W;
      for (int64_t j = 0; j < w; j++) {
        for (int64_t b = 0; b < sw; b++) first[j * sw + b] = xr[j];
      }
      for (int64_t a = 1; a < sh; a++) std::copy(first, first + W, first + a * W);
    }
  });
}

void upsample_nearest_grad(const float* gy, float* gx, int64_t planes, int64_t h, int64_t w, int64_t sh, int64_t sw) {
  const int64_t W = w * sw;
  parallel_for_if(planes * h * w * sh * sw, planes, [&](int64_t p) {
    for (int64_t i = 0; i < h; i++) {
      float* out = gx + (p * h + i) * w;
      for (int64_t j = 0; j < w; j++) {
        float acc = 0;
        for (int64_t a = 0; a < sh; a++) {
          const float* g = gy + (p * h * sh + i * sh + a) * W + j * sw;
          for (int64_t b = 0; b < sw; b++) acc += g[b];
        }
        out[j] = acc;
      }
    }
  });
}

namespace {
struct Window {
  int64_t hs, ws, he, we;
  float inv_count;
};

/** The window of output (oh, ow) clipped to the input, and 1 / its divisor. */
Window window(const PoolGeom& g, int64_t oh, int64_t ow) {
  const int64_t h0 = oh * g.sh - g.ph;
  const int64_t w0 = ow * g.sw - g.pw;
  const int64_t h1 = std::min(h0 + g.kh, g.h + g.ph);
  const int64_t w1 = std::min(w0 + g.kw, g.w + g.pw);
  Window win{std::max<int64_t>(h0, 0), std::max<int64_t>(w0, 0), std::min(h1, g.h), std::min(w1, g.w), 0};
  const int64_t count = g.count_include_pad ? (h1 - h0) * (w1 - w0) : (win.he - win.hs) * (win.we - win.ws);
  win.inv_count = 1.f / static_cast<float>(count);
  return win;
}
}  // namespace

void avg_pool(const float* x, float* y, const PoolGeom& g) {
  parallel_for_if(g.planes * g.oh * g.ow * g.kh * g.kw, g.planes, [&](int64_t p) {
    const float* xp = x + p * g.h * g.w;
    float* yp = y + p * g.oh * g.ow;
    for (int64_t oh = 0; oh < g.oh; oh++) {
      for (int64_t ow = 0; ow < g.ow; ow++) {
        const Window win = window(g, oh, ow);
        float acc = 0;
        for (int64_t i = win.hs; i < win.he; i++) {
          for (int64_t j = win.ws; j < win.we; j++) acc += xp[i * g.w + j];
        }
        yp[oh * g.ow + ow] = acc * win.inv_count;
      }
    }
  });
}

void avg_pool_grad(const float* gy, float* gx, const PoolGeom& g) {
  parallel_for_if(g.planes * g.oh * g.ow * g.kh * g.kw, g.planes, [&](int64_t p) {
    float* xp = gx + p * g.h * g.w;
    const float* yp = gy + p * g.oh * g.ow;
    std::fill(xp, xp + g.h * g.w, 0.f);
    for (int64_t oh = 0; oh < g.oh; oh++) {
      for (int64_t ow = 0; ow < g.ow; ow++) {
        const Window win = window(g, oh, ow);
        const float v = yp[oh * g.ow + ow] * win.inv_count;
        for (int64_t i = win.hs; i < win.he; i++) {
          for (int64_t j = win.ws; j < win.we; j++) xp[i * g.w + j] += v;
        }
      }
    }
  });
}

void gather_rows(const float* table, const float* idx, float* out, int64_t count, int64_t dim) {
  for (int64_t i = 0; i < count; i++) std::copy(table + static_cast<int64_t>(idx[i]) * dim, table + (static_cast<int64_t>(idx[i]) + 1) * dim, out + i * dim);
}

void gather_rows_grad(const float* gy, const float* idx, float* out, int64_t count, int64_t vocab, int64_t dim) {
  std::fill(out, out + vocab * dim, 0.f);
  for (int64_t i = 0; i < count; i++) {
    float* row = out + static_cast<int64_t>(idx[i]) * dim;
    const float* g = gy + i * dim;
    for (int64_t d = 0; d < dim; d++) row[d] += g[d];
  }
}

void adam_step(const float* p, const float* g, const float* m, const float* v, float* p2, float* m2, float* v2, int64_t n, const AdamArgs& h) {
  const int64_t chunks = n >= PARALLEL_MIN_WORK ? 4 * pool_threads() : 1;
  parallel_for_if(n * 8, chunks, [&](int64_t t) {
    const int64_t i1 = n * (t + 1) / chunks;
    for (int64_t i = n * t / chunks; i < i1; i++) {
      double pi = p[i];
      double gi = g[i];
      if (h.decoupled) {
        pi -= h.lr * h.weight_decay * pi;
      } else {
        gi += h.weight_decay * pi;
      }
      const double mi = h.beta1 * m[i] + (1 - h.beta1) * gi;
      const double vi = h.beta2 * v[i] + (1 - h.beta2) * gi * gi;
      p2[i] = static_cast<float>(pi - (h.lr * (mi / h.c1)) / (std::sqrt(vi / h.c2) + h.eps));
      m2[i] = static_cast<float>(mi);
      v2[i] = static_cast<float>(vi);
    }
  });
}

}  // namespace ctrlora
