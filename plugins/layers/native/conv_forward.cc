// A unit-stride 2-D convolution (NHWC input, HWIO kernel, float32) as an XLA FFI custom
// call, for JAX on CPU; with the kernel flipped and transposed it is also the input
// gradient of one (native.py).
//
//   y[n, oh, ow, co] = sum over i, j, ci of x[n, oh + i - pt, ow + j - pl, ci] * w[i, j, ci, co]
//
// (zero outside x). XLA's CPU convolution reaches about half of the 2-core machine's
// speed at the large-image shapes of a small U-Net; this one keeps a block of output
// pixels and channels in registers (a direct convolution) over chunks of output rows,
// split over XLA's intra-op threads. Measured in bench/RESULTS.md.

#include <algorithm>
#include <vector>

#include "common.h"

namespace visionhooks {
namespace {

// y[oh, ow0 + p, co0 + VW v ..] for p < PB of one image, every tap and input channel,
// read from `xp`: the image's input rows for this chunk, zero-padded (pw columns); the
// block's weights `wb` hold tap t, input channel c at wb[(t·C_in + c)·ws].
template <int VW, int PB, int NV>
VH_INLINE void pixel_block(const Shape& s, const float* xp, int64_t pw, const float* wb,
                           int64_t ws, float* y, int64_t b, int64_t ow0, int64_t co0) {
  typedef float vec __attribute__((vector_size(VW * sizeof(float)), aligned(sizeof(float))));
  vec acc[PB][NV];
  for (int p = 0; p < PB; ++p)
    for (int v = 0; v < NV; ++v) acc[p][v] = vec{};
  for (int64_t i = 0; i < s.kh; ++i)
    for (int64_t j = 0; j < s.kw; ++j) {
      const float* xq = xp + ((b + i) * pw + ow0 + j) * s.ci;
      const float* wq = wb + (i * s.kw + j) * s.ci * ws;
      for (int64_t c = 0; c < s.ci; ++c, ++xq, wq += ws) {
        vec wv[NV];
        for (int v = 0; v < NV; ++v) wv[v] = *reinterpret_cast<const vec*>(wq + VW * v);
        for (int p = 0; p < PB; ++p) {
          const float xs = xq[p * s.ci];
          for (int v = 0; v < NV; ++v) acc[p][v] += xs * wv[v];
        }
      }
    }
  float* out = y + ow0 * s.co + co0;
  for (int p = 0; p < PB; ++p)
    for (int v = 0; v < NV; ++v) *reinterpret_cast<vec*>(out + p * s.co + VW * v) = acc[p][v];
}

// One output row (`y` at its first pixel), one block of output channels: PB pixels at a
// time, then 8 (where PB is larger), 4, then 1.
template <int VW, int PB, int NV>
VH_INLINE void row_block(const Shape& s, const float* xp, int64_t pw, const float* wb,
                         int64_t ws, float* y, int64_t b, int64_t co0) {
  int64_t ow = 0;
  for (; ow + PB <= s.wo; ow += PB) pixel_block<VW, PB, NV>(s, xp, pw, wb, ws, y, b, ow, co0);
  if (PB > 8)  // e.g. 8×8 images, narrower than AVX-512's 12-pixel blocks
    for (; ow + 8 <= s.wo; ow += 8) pixel_block<VW, 8, NV>(s, xp, pw, wb, ws, y, b, ow, co0);
  for (; ow + 4 <= s.wo; ow += 4) pixel_block<VW, 4, NV>(s, xp, pw, wb, ws, y, b, ow, co0);
  for (; ow < s.wo; ++ow) pixel_block<VW, 1, NV>(s, xp, pw, wb, ws, y, b, ow, co0);
}

// Output rows [r0, r1) of one image: their input rows are copied once, zero-padded (so
// that no tap needs a bounds check), then output channels go 2·VW at a time (PB2
// pixels; weights from `packed`, pack_weights' layout), VW at a time (PB1 pixels), then
// singly (weights from w).
template <int VW, int PB2, int PB1>
VH_INLINE void rows_all(const Shape& s, const float* x, const float* w, const float* packed,
                        float* y, int64_t img, int64_t r0, int64_t r1) {
  const int64_t pw = s.wo + s.kw - 1, ph = r1 - r0 + s.kh - 1;
  std::vector<float> padded(ph * pw * s.ci, 0.0f);
  for (int64_t b = 0; b < ph; ++b) {
    const int64_t r = r0 + b - s.pt;
    if (r < 0 || r >= s.h) continue;
    const int64_t c0 = std::max<int64_t>(0, s.pl), c1 = std::min<int64_t>(pw, s.w + s.pl);
    if (c1 > c0)
      std::memcpy(&padded[(b * pw + c0) * s.ci], x + ((img * s.h + r) * s.w + c0 - s.pl) * s.ci,
                  (c1 - c0) * s.ci * sizeof(float));
  }
  const float* xp = padded.data();
  // channel blocks outside the rows: a block's weights (kh·kw·C_in·2·VW floats, 288 KiB at
  // 256 input channels with AVX-512) are read from cache for every row of the chunk
  float* yimg = y + img * s.ho * s.wo * s.co;
  const int64_t taps = s.kh * s.kw * s.ci;
  int64_t co0 = 0;
  for (; co0 + 2 * VW <= s.co; co0 += 2 * VW)
    for (int64_t oh = r0; oh < r1; ++oh)
      row_block<VW, PB2, 2>(s, xp, pw, packed + co0 * taps, 2 * VW,
                            yimg + oh * s.wo * s.co, oh - r0, co0);
  for (; co0 + VW <= s.co; co0 += VW)
    for (int64_t oh = r0; oh < r1; ++oh)
      row_block<VW, PB1, 1>(s, xp, pw, w + co0, s.co, yimg + oh * s.wo * s.co, oh - r0, co0);
  for (; co0 < s.co; ++co0)
    for (int64_t oh = r0; oh < r1; ++oh)
      row_block<1, 8, 1>(s, xp, pw, w + co0, s.co, yimg + oh * s.wo * s.co, oh - r0, co0);
}

typedef void (*RowsFn)(const Shape&, const float*, const float*, const float*, float*, int64_t,
                       int64_t, int64_t);

// The rows function and its block of output channels (2·VW) for an instruction set.
struct Kernel {
  RowsFn rows;
  int64_t block;
};

VH_TARGET_AVX512 void rows_avx512(const Shape& s, const float* x, const float* w,
                                  const float* packed, float* y, int64_t img, int64_t r0,
                                  int64_t r1) {
  rows_all<16, 12, 16>(s, x, w, packed, y, img, r0, r1);
}
VH_TARGET_AVX2 void rows_avx2(const Shape& s, const float* x, const float* w,
                              const float* packed, float* y, int64_t img, int64_t r0,
                              int64_t r1) {
  rows_all<8, 6, 12>(s, x, w, packed, y, img, r0, r1);
}
void rows_portable(const Shape& s, const float* x, const float* w, const float* packed,
                   float* y, int64_t img, int64_t r0, int64_t r1) {
  rows_all<4, 6, 12>(s, x, w, packed, y, img, r0, r1);
}

const Kernel kKernel = by_isa<Kernel>({rows_avx512, 32}, {rows_avx2, 16}, {rows_portable, 8});

// The weights of each whole block of `block` output channels contiguous, tap by tap and
// input channel by input channel: packed[(co0 / block)·taps·block + t·block + v] =
// w[t·C_out + co0 + v], taps = kh·kw·C_in. In HWIO order a block's rows sit C_out floats
// apart, a power of two that maps them onto a few cache sets (at 256 channels a block
// no longer stayed in cache: 8×8×256 → 256 took 6.6 ms against 3.8 for XLA's).
std::vector<float> pack_weights(const float* w, int64_t taps, int64_t co, int64_t block) {
  const int64_t blocks = co / block;
  std::vector<float> packed(blocks * taps * block);
  for (int64_t k = 0; k < blocks; ++k)
    for (int64_t t = 0; t < taps; ++t)
      std::memcpy(&packed[(k * taps + t) * block], w + t * co + k * block, block * sizeof(float));
  return packed;
}

ffi::Error Conv(ffi::ThreadPool pool, ffi::Buffer<ffi::F32> x, ffi::Buffer<ffi::F32> w,
                ffi::ResultBuffer<ffi::F32> y, int64_t pad_top, int64_t pad_left) {
  Shape s;  // taps outside x read the padded copy's zeros
  const ffi::Error bad = conv_shape("conv", x.dimensions(), y->dimensions(), w.dimensions(),
                                    pad_top, pad_left, &s);
  if (bad.failure()) return bad;
  if (s.n * s.ho * s.wo * s.co == 0) return ffi::Error::Success();
  if (s.ci == 0) {  // an empty sum
    std::memset(y->typed_data(), 0, s.n * s.ho * s.wo * s.co * sizeof(float));
    return ffi::Error::Success();
  }
  // rows of about 16384 output values (at least 4 chunks per thread where the batch allows)
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  int64_t rows = std::max<int64_t>(1, 16384 / std::max<int64_t>(1, s.wo * s.co));
  rows = std::min(rows, std::max<int64_t>(1, s.n * s.ho / (4 * threads)));
  rows = std::min(rows, s.ho);
  const int64_t per_image = (s.ho + rows - 1) / rows;
  const float* xs = x.typed_data();
  const float* ws = w.typed_data();
  const std::vector<float> packed = pack_weights(ws, s.kh * s.kw * s.ci, s.co, kKernel.block);
  float* ys = y->typed_data();
  parallel_chunks(pool, static_cast<size_t>(s.n * per_image), 0, nullptr,
                  [&](size_t c, float*) {
                    const int64_t img = c / per_image, r0 = (c % per_image) * rows;
                    kKernel.rows(s, xs, ws, packed.data(), ys, img, r0,
                                 std::min(r0 + rows, s.ho));
                  });
  return ffi::Error::Success();
}

}  // namespace
}  // namespace visionhooks

XLA_FFI_DEFINE_HANDLER_SYMBOL(VisionhooksConv, visionhooks::Conv,
                              xla::ffi::Ffi::Bind()
                                  .Ctx<xla::ffi::ThreadPool>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Arg<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Ret<xla::ffi::Buffer<xla::ffi::F32>>()
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
