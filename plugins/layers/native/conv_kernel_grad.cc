// The kernel gradient of a unit-stride 2-D convolution (NHWC input, HWIO kernel, float32)
// as an XLA FFI custom call, for JAX on CPU.
//
//   dw[i, j, ci, co] = sum over n, oh, ow of x[n, oh + i - pt, ow + j - pl, ci] * g[n, oh, ow, co]
//
// (zero outside x). XLA's own CPU kernel for this contraction runs at ~40-50 GFLOP/s on
// the shapes of a small U-Net, a quarter of what the same 2-core machine reaches on its
// forward convolution; this one computes it as a register-blocked sum of outer products
// over chunks of output pixels (a chunk's input rows and gradients stay in L2), split over
// XLA's intra-op threads, each with its own partial sum. Measured in bench/RESULTS.md.

#include <algorithm>

#include "common.h"

namespace visionhooks {
namespace {

// A run of output pixels: images [img0, img1), output rows [r0, r1) of each.
struct Chunk {
  int64_t img0, img1, r0, r1;
};

// acc[c][v] = sum over the chunk's pixels p of x[p + (i, j), ci0 + c] * g[p, co0 + VW v ..];
// then dw[i, j, ci0 + c, co0 + VW v ..] += acc[c][v]. VW floats per vector (1 for the
// scalar tail of the output channels), NV vectors, CB input channels.
template <int VW, int CB, int NV>
VH_INLINE void tap_block(const Shape& s, const float* x, const float* g, float* dw,
                         const Chunk& k, int64_t i, int64_t j, int64_t ci0, int64_t co0) {
  typedef float vec __attribute__((vector_size(VW * sizeof(float)), aligned(sizeof(float))));
  vec acc[CB][NV];
  for (int c = 0; c < CB; ++c)
    for (int v = 0; v < NV; ++v) acc[c][v] = vec{};
  const int64_t w0 = std::max<int64_t>(0, s.pl - j);
  const int64_t w1 = std::min<int64_t>(s.wo, s.w + s.pl - j);
  for (int64_t img = k.img0; img < k.img1; ++img) {
    for (int64_t oh = k.r0; oh < k.r1; ++oh) {
      const int64_t r = oh + i - s.pt;
      if (r < 0 || r >= s.h) continue;
      const float* xp = x + ((img * s.h + r) * s.w + (w0 + j - s.pl)) * s.ci + ci0;
      const float* gp = g + ((img * s.ho + oh) * s.wo + w0) * s.co + co0;
      for (int64_t ow = w0; ow < w1; ++ow, xp += s.ci, gp += s.co) {
        vec gv[NV];
        for (int v = 0; v < NV; ++v) gv[v] = *reinterpret_cast<const vec*>(gp + VW * v);
        for (int c = 0; c < CB; ++c) {
          const float xs = xp[c];
          for (int v = 0; v < NV; ++v) acc[c][v] += xs * gv[v];
        }
      }
    }
  }
  float* out = dw + ((i * s.kw + j) * s.ci + ci0) * s.co + co0;
  for (int c = 0; c < CB; ++c)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<vec*>(out + c * s.co + VW * v) += acc[c][v];
}

// All input channels of one output-channel block: CB at a time, then a tail of 4s and 1s.
template <int VW, int CB, int NV>
VH_INLINE void channel_blocks(const Shape& s, const float* x, const float* g, float* dw,
                              const Chunk& k, int64_t i, int64_t j, int64_t co0) {
  int64_t ci0 = 0;
  for (; ci0 + CB <= s.ci; ci0 += CB) tap_block<VW, CB, NV>(s, x, g, dw, k, i, j, ci0, co0);
  for (; ci0 + 4 <= s.ci; ci0 += 4) tap_block<VW, 4, NV>(s, x, g, dw, k, i, j, ci0, co0);
  for (; ci0 < s.ci; ++ci0) tap_block<VW, 1, NV>(s, x, g, dw, k, i, j, ci0, co0);
}

// One chunk, every tap and channel block. Output channels go 2·VW at a time with
// CB2 input channels (CB2·2 accumulators), then VW at a time with CB1, then singly.
template <int VW, int CB2, int CB1>
VH_INLINE void chunk_all(const Shape& s, const float* x, const float* g, float* dw,
                         const Chunk& k) {
  for (int64_t i = 0; i < s.kh; ++i)
    for (int64_t j = 0; j < s.kw; ++j) {
      int64_t co0 = 0;
      for (; co0 + 2 * VW <= s.co; co0 += 2 * VW)
        channel_blocks<VW, CB2, 2>(s, x, g, dw, k, i, j, co0);
      for (; co0 + VW <= s.co; co0 += VW) channel_blocks<VW, CB1, 1>(s, x, g, dw, k, i, j, co0);
      for (; co0 < s.co; ++co0) channel_blocks<1, 8, 1>(s, x, g, dw, k, i, j, co0);
    }
}

typedef void (*ChunkFn)(const Shape&, const float*, const float*, float*, const Chunk&);

// Register blocks per instruction set (common.h); each leaves registers for the gradient
// vectors and the broadcast input.
VH_TARGET_AVX512 void chunk_avx512(const Shape& s, const float* x, const float* g, float* dw,
                                   const Chunk& k) {
  chunk_all<16, 8, 16>(s, x, g, dw, k);
}
VH_TARGET_AVX2 void chunk_avx2(const Shape& s, const float* x, const float* g, float* dw,
                               const Chunk& k) {
  chunk_all<8, 6, 12>(s, x, g, dw, k);
}
void chunk_portable(const Shape& s, const float* x, const float* g, float* dw, const Chunk& k) {
  chunk_all<4, 6, 12>(s, x, g, dw, k);
}

const ChunkFn kChunk = by_isa<ChunkFn>(chunk_avx512, chunk_avx2, chunk_portable);

// A chunk's pixels are read once per tap and channel block, so its input rows and
// gradients should stay in L2: about 256 KiB of them (4096 pixels at 16 + 16 channels,
// 256 at 128 + 128), at least 64 pixels (the accumulators' flush stays under ~2% of the
// work), and at least 4 chunks per thread where the batch allows (load balance).
std::vector<Chunk> make_chunks(const Shape& s, int64_t threads) {
  std::vector<Chunk> chunks;
  const int64_t per_image = s.ho * s.wo;
  if (s.n == 0 || per_image == 0) return chunks;
  int64_t target = std::max<int64_t>(64, 65536 / std::max<int64_t>(1, s.ci + s.co));
  target = std::min(target, std::max<int64_t>(64, s.n * per_image / (4 * std::max<int64_t>(1, threads))));
  if (per_image >= target) {
    const int64_t rows = std::max<int64_t>(1, target / std::max<int64_t>(1, s.wo));
    for (int64_t img = 0; img < s.n; ++img)
      for (int64_t r0 = 0; r0 < s.ho; r0 += rows)
        chunks.push_back({img, img + 1, r0, std::min(r0 + rows, s.ho)});
  } else {
    const int64_t images = std::max<int64_t>(1, target / per_image);
    for (int64_t img = 0; img < s.n; img += images)
      chunks.push_back({img, std::min(img + images, s.n), 0, s.ho});
  }
  return chunks;
}

ffi::Error KernelGrad(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> g,
                      ffi::ResultBuffer<ffi::F32> dw, int64_t pad_top, int64_t pad_left) {
  Shape s;  // reads outside x are skipped
  const ffi::Error bad = conv_shape("conv_kernel_grad", x.dimensions(), g.dimensions(),
                                    dw->dimensions(), pad_top, pad_left, &s);
  if (bad.failure()) return bad;
  const int64_t size = s.kh * s.kw * s.ci * s.co;
  float* out = dw->typed_data();
  std::memset(out, 0, size * sizeof(float));
  const std::vector<Chunk> chunks = make_chunks(s, std::max<int64_t>(1, pool.num_threads()));
  const float* xs = x.typed_data();
  const float* gs = g.typed_data();
  // each thread sums into its own buffer (the caller into dw), added up at the end
  const auto partials = parallel_chunks(
      pool, chunks.size(), size, out, [&](size_t c, float* buffer) {
        kChunk(s, xs, gs, buffer, chunks[c]);
      });
  for (const auto& p : partials)
    for (int64_t e = 0; e < size; ++e) out[e] += p[e];
  return ffi::Error::Success();
}

}  // namespace
}  // namespace visionhooks

// The instruction set the kernels run with: 2 AVX-512, 1 AVX2, 0 portable (Python picks
// the shapes where they beat XLA's by this).
extern "C" int VisionhooksNativeIsa() { return visionhooks::pick_isa(); }

XLA_FFI_DEFINE_HANDLER_SYMBOL(VisionhooksConvKernelGrad, visionhooks::KernelGrad,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
