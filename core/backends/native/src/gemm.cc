// ISA dispatch and the split of one product (or a batch of them) over the thread pool.
#include "gemm.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "threadpool.h"

namespace ctrlora {
namespace {

GemmIsa pick_isa() {
  const char* cap = std::getenv("CTRLORA_NATIVE_ISA");
  const auto allowed = [&](const char* name) { return cap == nullptr || *cap == 0 || std::strcmp(cap, name) == 0; };
#if defined(__x86_64__) || defined(_M_X64)
  __builtin_cpu_init();
  const bool cap512 = allowed("avx512");
  const bool cap2 = cap512 || allowed("avx2");
  if (cap512 && __builtin_cpu_supports("avx512f")) return gemm_isa_avx512();
  if (cap2 && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return gemm_isa_avx2();
#endif
  return gemm_isa_portable();
}

int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }

}  // namespace

const GemmIsa& gemm_isa() {
  static const GemmIsa isa = pick_isa();
  return isa;
}

/** The same product as C^T = B^T A^T: rows and columns of every operand swapped. */
static Gemm transposed(const Gemm& g) {
  Gemm t = g;
  t.m = g.n;
  t.n = g.m;
  t.a = g.b, t.rsa = g.csb, t.csa = g.rsb;
  t.b = g.a, t.rsb = g.csa, t.csb = g.rsa;
  t.ldc = g.csc, t.csc = g.ldc;
  return t;
}

/**
 * Whether C^T = B^T A^T fills the register tiles better: a C narrower than one column panel
 * (a 4x4 feature map has 16 columns) but tall wastes most of each NR-wide tile.
 */
static bool better_transposed(const Gemm& g, const GemmIsa& isa) {
  // Keep an A the kernel reads in place (rows contiguous): packing a transposed one instead
  // costs a copy of the whole matrix, more than the wasted tile lanes.
  if (g.csa == 1 && g.rsb != 1) return false;
  const auto waste = [](int64_t extent, int64_t unit) { return (extent + unit - 1) / unit * unit - extent; };
  const int64_t now = waste(g.m, isa.mr) * g.n + waste(g.n, isa.nr) * g.m;
  const int64_t swapped = waste(g.n, isa.mr) * g.m + waste(g.m, isa.nr) * g.n;
  return swapped * 2 < now;
}

void sgemm(const Gemm& g0) {
  const GemmIsa& isa = gemm_isa();
  if (g0.m <= 0 || g0.n <= 0) return;
  const Gemm g = better_transposed(g0, isa) ? transposed(g0) : g0;
  const int threads = pool_threads();
  const int64_t work = g.m * g.n * std::max<int64_t>(g.k, 1);
  if (threads == 1 || work < PARALLEL_MIN_WORK * 4) {
    isa.block(g, 0, g.m, 0, g.n);
    return;
  }
  // Split the longer side of C into register-tile-aligned strips, a few per thread so an
  // uneven last strip does not leave a thread idle for long.
  const bool by_cols = g.n / isa.nr >= g.m / isa.mr;
  const int64_t extent = by_cols ? g.n : g.m;
  const int64_t unit = by_cols ? isa.nr : isa.mr;
  const int64_t tiles = (extent + unit - 1) / unit;
  const int64_t parts = std::min<int64_t>(tiles, threads * (tiles >= 4 * threads ? 2 : 1));
  const int64_t step = round_up((tiles + parts - 1) / parts, 1) * unit;
  const int64_t n_parts = (extent + step - 1) / step;
  parallel_for(n_parts, [&](int64_t t) {
    const int64_t lo = t * step;
    const int64_t hi = std::min(extent, lo + step);
    if (by_cols) {
      isa.block(g, 0, g.m, lo, hi);
    } else {
      isa.block(g, lo, hi, 0, g.n);
    }
  });
}

void sgemm_batched(const Gemm& g, int64_t batch, int64_t sa, int64_t sb, int64_t sc) {
  const GemmIsa& isa = gemm_isa();
  const int64_t work = g.m * g.n * std::max<int64_t>(g.k, 1);
  const auto one = [&](int64_t q) {
    Gemm h = g;
    h.a += q * sa;
    h.b += q * sb;
    h.c += q * sc;
    return h;
  };
  // Many small products (attention heads): one product per task. Few large ones: split each.
  if (batch > 1 && work < PARALLEL_MIN_WORK * 16) {
    parallel_for_if(work * batch, batch, [&](int64_t q) {
      const Gemm h0 = one(q);
      const Gemm h = better_transposed(h0, isa) ? transposed(h0) : h0;
      if (h.m > 0 && h.n > 0) isa.block(h, 0, h.m, 0, h.n);
    });
    return;
  }
  for (int64_t q = 0; q < batch; q++) sgemm(one(q));
}

}  // namespace ctrlora
