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
 * The kernel for one product: AVX-512's 32-column tile spends half its lanes or more on a C
 * of 16 columns or fewer, where AVX2's 16-column tile spends none (and on CPUs that split
 * a 512-bit FMA in two, such as Zen 4, both tiles retire the same useful FMAs a cycle).
 */
static const GemmIsa& kernel_for(const Gemm& g, const GemmIsa& isa) {
#if defined(__x86_64__) || defined(_M_X64)
  static const GemmIsa narrow = gemm_isa_avx2();
  if (g.n <= narrow.nr && std::strcmp(isa.name, "avx512") == 0) return narrow;
#endif
  return isa;
}

/**
 * A rough cost of one product in cycles: multiply-adds over the padded register tiles of
 * the kernel that would run it (NR a cycle: two FMA ports of NR/2 lanes), plus packing: B
 * always (a gather when its columns are strided, a copy when rows are contiguous), A only
 * when its rows are not contiguous (otherwise the kernel reads it in place), and a C with
 * strided columns (a transposed problem), whose tiles are stored element by element. The
 * weights are measured: a conv weight gradient (M 8, N 72, K 896: dY @ cols^T) ran at 18
 * GFLOP/s gathering cols^T and at 33 as C^T = cols @ dY^T, which gathers only dY; one at a
 * 4x4 map (M 128, N 1152, K 16) ran at 57 as it is and at 37 storing a transposed C.
 */
static double cost(const Gemm& g, const GemmIsa& isa0) {
  const GemmIsa& isa = kernel_for(g, isa0);
  const auto padded = [](int64_t extent, int64_t unit) { return double((extent + unit - 1) / unit * unit); };
  const double k = double(g.k);
  const double compute = padded(g.m, isa.mr) * padded(g.n, isa.nr) * k / isa.nr;
  const double pack_b = k * double(g.n) * (g.csb == 1 ? 0.25 : 3.0);
  const double pack_a = g.csa == 1 ? 0.0 : k * double(g.m) * (g.rsa == 1 ? 0.5 : 1.0);
  const double store_c = g.csc == 1 ? 0.0 : 2.0 * double(g.m) * double(g.n);
  return compute + pack_b + pack_a + store_c;
}

/**
 * Whether C^T = B^T A^T is cheaper: a C narrower than one column panel (a 4x4 feature map
 * has 16 columns) wastes most of each tile, and a transposed B costs a gather to pack.
 */
static bool better_transposed(const Gemm& g, const GemmIsa& isa) { return cost(transposed(g), isa) < 0.8 * cost(g, isa); }

void sgemm(const Gemm& g0) {
  if (g0.m <= 0 || g0.n <= 0) return;
  const Gemm g = better_transposed(g0, gemm_isa()) ? transposed(g0) : g0;
  const GemmIsa& isa = kernel_for(g, gemm_isa());
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
      if (h.m > 0 && h.n > 0) kernel_for(h, isa).block(h, 0, h.m, 0, h.n);
    });
    return;
  }
  for (int64_t q = 0; q < batch; q++) sgemm(one(q));
}

}  // namespace ctrlora
