// The packed GEMM loop nest shared by every ISA (included once per ISA translation unit).
//
// Goto/BLIS blocking: a KC x NC block of B is packed into NR-wide panels (L2), an MC x KC
// block of A into MR-tall panels; the micro-kernel multiplies one MR-panel by one NR-panel
// with MR x NR accumulators held in registers. Edge panels are zero-padded, so every tile
// runs the same kernel with the same summation order: a result never depends on how the
// product was split over threads.
//
// A whose rows are contiguous (csa == 1) is not packed: the kernel broadcasts its values
// straight from MR row pointers (a broadcast is one load either way), which saves copying a
// whole weight matrix on every call when C has few columns.
//
// Expects, before inclusion: MR, NR and
//   template <bool DIRECT> void micro_kernel(int64_t kc, const float* A_packed, const float* const* A_rows,
//                                            const float* B, float* C, int64_t ldc, bool acc);
#include <cstdlib>
#include <cstring>

#include "gemm.h"

namespace {

// No std:: templates here: an out-of-line instance compiled with this file's ISA flags could
// be the one the linker keeps for the whole addon, and then run on a CPU without the ISA.
inline int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

// Block sizes: k is cut into equal blocks of at most KC_MAX (a 288-long k runs as one block,
// not 256 + a 32-long tail that reloads C for little work); a packed B block holds at most
// B_FLOATS (half of a 1 MiB L2), so the column block shrinks as the k block grows.
constexpr int64_t KC_MAX = 384;
constexpr int64_t MC = 128;
constexpr int64_t NC_MAX = 1024;
constexpr int64_t B_FLOATS = 128 * 1024;

/** Per-thread packing buffers, grown on demand and kept (no allocation per call). */
struct PackBuffers {
  float* a = nullptr;
  float* b = nullptr;
  PackBuffers() {
    a = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * MC * KC_MAX));
    b = static_cast<float*>(std::aligned_alloc(64, sizeof(float) * B_FLOATS));
  }
  ~PackBuffers() {
    std::free(a);
    std::free(b);
  }
};

/** A rows [i0, i0+mc) x cols [p0, p0+kc) as MR-row panels, each kc x MR (p-major), rows past mc zero. */
inline void pack_a(const ctrlora::Gemm& g, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* dst) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    const int64_t rows = min64(MR, mc - ir);
    const float* src = g.a + (i0 + ir) * g.rsa + p0 * g.csa;
    if (g.csa == 1) {
      for (int64_t p = 0; p < kc; p++) {
        for (int64_t r = 0; r < rows; r++) dst[p * MR + r] = src[r * g.rsa + p];
        for (int64_t r = rows; r < MR; r++) dst[p * MR + r] = 0.f;
      }
    } else {
      for (int64_t p = 0; p < kc; p++) {
        const float* s = src + p * g.csa;
        for (int64_t r = 0; r < rows; r++) dst[p * MR + r] = s[r * g.rsa];
        for (int64_t r = rows; r < MR; r++) dst[p * MR + r] = 0.f;
      }
    }
    dst += kc * MR;
  }
}

/** B rows [p0, p0+kc) x cols [j0, j0+nc) as NR-column panels, each kc x NR (p-major), cols past nc zero. */
inline void pack_b(const ctrlora::Gemm& g, int64_t p0, int64_t kc, int64_t j0, int64_t nc, float* dst) {
  for (int64_t jr = 0; jr < nc; jr += NR) {
    const int64_t cols = min64(NR, nc - jr);
    const float* src = g.b + p0 * g.rsb + (j0 + jr) * g.csb;
    if (g.csb == 1 && cols == NR) {
      for (int64_t p = 0; p < kc; p++) std::memcpy(dst + p * NR, src + p * g.rsb, sizeof(float) * NR);
    } else if (g.csb == 1) {
      for (int64_t p = 0; p < kc; p++) {
        const float* s = src + p * g.rsb;
        for (int64_t c = 0; c < cols; c++) dst[p * NR + c] = s[c];
        for (int64_t c = cols; c < NR; c++) dst[p * NR + c] = 0.f;
      }
    } else {
      // Columns are strided (a transposed B): read eight columns at a time down p (eight
      // sequential streams when rsb == 1) and write whole 8-float runs of the panel.
      int64_t c0 = 0;
      for (; c0 + 8 <= cols; c0 += 8) {
        const float* s = src + c0 * g.csb;
        for (int64_t p = 0; p < kc; p++) {
          const float* sp = s + p * g.rsb;
          float* d = dst + p * NR + c0;
          for (int c = 0; c < 8; c++) d[c] = sp[c * g.csb];
        }
      }
      for (int64_t p = 0; p < kc; p++) {
        for (int64_t c = c0; c < cols; c++) dst[p * NR + c] = src[c * g.csb + p * g.rsb];
        for (int64_t c = cols; c < NR; c++) dst[p * NR + c] = 0.f;
      }
    }
    dst += kc * NR;
  }
}

void gemm_block(const ctrlora::Gemm& g, int64_t i0, int64_t i1, int64_t j0, int64_t j1) {
  static thread_local PackBuffers buf;
  alignas(64) float tile[MR * NR];
  if (g.k == 0) {
    if (!g.accumulate) {
      for (int64_t i = i0; i < i1; i++) {
        for (int64_t j = j0; j < j1; j++) g.c[i * g.ldc + j * g.csc] = 0.f;
      }
    }
    return;
  }
  const int64_t k_blocks = (g.k + KC_MAX - 1) / KC_MAX;
  const int64_t KC = (g.k + k_blocks - 1) / k_blocks;
  const int64_t NC = min64(NC_MAX, B_FLOATS / KC / NR * NR);
  for (int64_t jc = j0; jc < j1; jc += NC) {
    const int64_t nc = min64(NC, j1 - jc);
    for (int64_t pc = 0; pc < g.k; pc += KC) {
      const int64_t kc = min64(KC, g.k - pc);
      const bool acc = g.accumulate || pc > 0;
      pack_b(g, pc, kc, jc, nc, buf.b);
      for (int64_t ic = i0; ic < i1; ic += MC) {
        const int64_t mc = min64(MC, i1 - ic);
        const bool direct = g.csa == 1;
        if (!direct) pack_a(g, ic, mc, pc, kc, buf.a);
        for (int64_t ir = 0; ir < mc; ir += MR) {
          const float* ap = buf.a + ir * kc;
          const int64_t rows = min64(MR, mc - ir);
          const float* arows[MR];
          // Rows past the edge read a valid row; their results are never stored.
          for (int r = 0; r < MR; r++) arows[r] = g.a + (ic + ir + (r < rows ? r : 0)) * g.rsa + pc;
          for (int64_t jr = 0; jr < nc; jr += NR) {
            const float* bp = buf.b + jr * kc;
            const int64_t cols = min64(NR, nc - jr);
            float* c = g.c + (ic + ir) * g.ldc + (jc + jr) * g.csc;
            const bool full = rows == MR && cols == NR && g.csc == 1;
            float* out = full ? c : tile;
            const int64_t ldo = full ? g.ldc : NR;
            const bool acc_out = full && acc;
            if (direct) {
              micro_kernel<true>(kc, nullptr, arows, bp, out, ldo, acc_out);
            } else {
              micro_kernel<false>(kc, ap, nullptr, bp, out, ldo, acc_out);
            }
            if (full) continue;
            // Edge tiles and strided C went to a local tile (the same kernel, so the same
            // summation order): add or store it element by element.
            for (int64_t r = 0; r < rows; r++) {
              float* cr = c + r * g.ldc;
              const float* t = tile + r * NR;
              if (acc) {
                for (int64_t q = 0; q < cols; q++) cr[q * g.csc] += t[q];
              } else {
                for (int64_t q = 0; q < cols; q++) cr[q * g.csc] = t[q];
              }
            }
          }
        }
      }
    }
  }
}

}  // namespace
