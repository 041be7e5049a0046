// Row-wise kernels over contiguous [rows, cols] blocks: reductions, the fused
// standardisation (group/layer norm) and softmax, forward and backward. Sums run in double
// over eight independent lanes (vectorisable, and as accurate as the reference's float64).
#include <cmath>
#include <limits>

#include "kernels.h"
#include "threadpool.h"

namespace ctrlora {
namespace {

enum Reduce { SUM, MAX, MIN };

/** Runs row(r) for every row, split over the pool when rows * cols is large. */
template <class Row>
void for_rows(int64_t rows, int64_t cols, Row row) {
  const int64_t chunks = std::min<int64_t>(rows, 4 * pool_threads());
  parallel_for_if(rows * cols, chunks, [&](int64_t t) {
    const int64_t r1 = rows * (t + 1) / chunks;
    for (int64_t r = rows * t / chunks; r < r1; r++) row(r);
  });
}

double sum(const float* x, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) lane[j] += x[i + j];
  }
  for (; i < n; i++) lane[0] += x[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

double dot(const float* x, const float* y, int64_t n) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) lane[j] += static_cast<double>(x[i + j]) * y[i + j];
  }
  for (; i < n; i++) lane[0] += static_cast<double>(x[i]) * y[i];
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

double centred_square_sum(const float* x, int64_t n, double mean) {
  double lane[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    for (int j = 0; j < 8; j++) {
      const double d = x[i + j] - mean;
      lane[j] += d * d;
    }
  }
  for (; i < n; i++) lane[0] += (x[i] - mean) * (x[i] - mean);
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

}  // namespace

void reduce_rows(int op, const float* x, float* out, int64_t rows, int64_t cols) {
  for_rows(rows, cols, [&](int64_t r) {
    const float* row = x + r * cols;
    if (op == SUM) {
      out[r] = static_cast<float>(sum(row, cols));
      return;
    }
    float acc = op == MAX ? -std::numeric_limits<float>::infinity() : std::numeric_limits<float>::infinity();
    bool nan = false;
    for (int64_t c = 0; c < cols; c++) {
      const float v = row[c];
      nan |= std::isnan(v);
      acc = op == MAX ? (v > acc ? v : acc) : (v < acc ? v : acc);
    }
    out[r] = nan ? std::numeric_limits<float>::quiet_NaN() : acc;
  });
}

void norm_rows(const float* x, float* y, float* mean, float* rstd, int64_t rows, int64_t cols, float eps) {
  for_rows(rows, cols, [&](int64_t r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    const double m = sum(xr, cols) / cols;
    const double rs = 1.0 / std::sqrt(centred_square_sum(xr, cols, m) / cols + eps);
    for (int64_t c = 0; c < cols; c++) yr[c] = static_cast<float>((xr[c] - m) * rs);
    mean[r] = static_cast<float>(m);
    rstd[r] = static_cast<float>(rs);
  });
}

void norm_rows_grad(const float* xhat, const float* gy, const float* rstd, float* gx, int64_t rows, int64_t cols) {
  for_rows(rows, cols, [&](int64_t r) {
    const float* xr = xhat + r * cols;
    const float* gr = gy + r * cols;
    float* out = gx + r * cols;
    // In double: g - mean(g) - xhat mean(g xhat) cancels almost entirely when a row's
    // variance dwarfs eps (a group of two values), and float would keep only its noise.
    const double mg = sum(gr, cols) / cols;
    const double mgx = dot(gr, xr, cols) / cols;
    const double rs = rstd[r];
    for (int64_t c = 0; c < cols; c++) out[c] = static_cast<float>(rs * (gr[c] - mg - xr[c] * mgx));
  });
}

void softmax_rows(const float* x, float* y, int64_t rows, int64_t cols, bool log) {
  for_rows(rows, cols, [&](int64_t r) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -std::numeric_limits<float>::infinity();
    for (int64_t c = 0; c < cols; c++) m = xr[c] > m ? xr[c] : m;
    if (m == -std::numeric_limits<float>::infinity()) m = 0;  // a fully masked row gives NaN, like PyTorch
    // NaN anywhere in the row makes every value NaN, as in the reference.
    for (int64_t c = 0; c < cols; c++) {
      if (std::isnan(xr[c])) m = xr[c];
    }
    for (int64_t c = 0; c < cols; c++) yr[c] = std::exp(xr[c] - m);
    const double s = sum(yr, cols);
    if (log) {
      const float ls = static_cast<float>(std::log(s));
      for (int64_t c = 0; c < cols; c++) yr[c] = xr[c] - m - ls;
    } else {
      const float inv = static_cast<float>(1.0 / s);
      for (int64_t c = 0; c < cols; c++) yr[c] *= inv;
    }
  });
}

void softmax_rows_grad(const float* y, const float* gy, float* gx, int64_t rows, int64_t cols, bool log) {
  for_rows(rows, cols, [&](int64_t r) {
    const float* yr = y + r * cols;
    const float* gr = gy + r * cols;
    float* out = gx + r * cols;
    if (log) {
      const double s = sum(gr, cols);
      for (int64_t c = 0; c < cols; c++) out[c] = static_cast<float>(gr[c] - std::exp(yr[c]) * s);
    } else {
      const double d = dot(gr, yr, cols);
      for (int64_t c = 0; c < cols; c++) out[c] = static_cast<float>(yr[c] * (gr[c] - d));
    }
  });
}

}  // namespace ctrlora
