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
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace ffi = xla::ffi;

namespace {

struct Shape {
  int64_t n, h, w, ci, ho, wo, co, kh, kw, pt, pl;
};

// A run of output pixels: images [img0, img1), output rows [r0, r1) of each.
struct Chunk {
  int64_t img0, img1, r0, r1;
};

#define VH_INLINE __attribute__((always_inline)) inline

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

// Register blocks per instruction set: AVX-512 has 32 vector registers of 16 floats,
// AVX2 16 of 8, the portable build (SSE, NEON) 16 of 4; each block leaves registers for
// the gradient vectors and the broadcast input.
#if defined(__x86_64__)
__attribute__((target("arch=x86-64-v4"))) void chunk_avx512(const Shape& s, const float* x,
                                                            const float* g, float* dw,
                                                            const Chunk& k) {
  chunk_all<16, 8, 16>(s, x, g, dw, k);
}
__attribute__((target("arch=x86-64-v3"))) void chunk_avx2(const Shape& s, const float* x,
                                                          const float* g, float* dw,
                                                          const Chunk& k) {
  chunk_all<8, 6, 12>(s, x, g, dw, k);
}
#endif
void chunk_portable(const Shape& s, const float* x, const float* g, float* dw, const Chunk& k) {
  chunk_all<4, 6, 12>(s, x, g, dw, k);
}

typedef void (*ChunkFn)(const Shape&, const float*, const float*, float*, const Chunk&);

// The widest instruction set this CPU has; VISIONHOOKS_NATIVE_ISA=portable|avx2|avx512
// picks a narrower one (tests run every path on one machine).
ChunkFn pick_chunk_fn() {
  const char* want = std::getenv("VISIONHOOKS_NATIVE_ISA");
  const bool any = want == nullptr || *want == '\0';
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (v4 && (any || std::strcmp(want, "avx512") == 0)) return chunk_avx512;
  if (v3 && (any || std::strcmp(want, "avx512") == 0 || std::strcmp(want, "avx2") == 0))
    return chunk_avx2;
#endif
  return chunk_portable;
}

const ChunkFn kChunk = pick_chunk_fn();

}  // namespace

// The instruction set the kernel runs with: 2 AVX-512, 1 AVX2, 0 portable (Python picks
// the shapes where it beats XLA's kernel by this).
extern "C" int VisionhooksNativeIsa() {
#if defined(__x86_64__)
  if (kChunk == chunk_avx512) return 2;
  if (kChunk == chunk_avx2) return 1;
#endif
  return 0;
}

namespace {

// Chunks shared by the calling thread and the pool threads that join it: each claims
// chunks until none is left, summing into its own buffer. The caller waits only for
// helpers that joined before it closed the work, so a helper the pool starts late (its
// threads busy with other operations) returns at once and nothing waits on it.
struct Work {
  Shape s;
  const float* x;
  const float* g;
  std::vector<Chunk> chunks;
  int64_t size;
  std::atomic<size_t> next{0};
  std::mutex mu;
  std::condition_variable done;
  bool closed = false;
  int active = 0;
  std::vector<std::unique_ptr<float[]>> partials;

  void drain(float* dw) {
    for (size_t c; (c = next.fetch_add(1)) < chunks.size();) kChunk(s, x, g, dw, chunks[c]);
  }

  void help() {
    float* mine;
    {
      std::lock_guard<std::mutex> lock(mu);
      if (closed || next.load() >= chunks.size()) return;
      ++active;
      partials.emplace_back(new float[size]());
      mine = partials.back().get();
    }
    drain(mine);
    {
      std::lock_guard<std::mutex> lock(mu);
      --active;
    }
    done.notify_all();
  }
};

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
  const auto xd = x.dimensions(), gd = g.dimensions(), kd = dw->dimensions();
  if (xd.size() != 4 || gd.size() != 4 || kd.size() != 4)
    return ffi::Error::InvalidArgument("conv_kernel_grad: x, g and dw must be 4-D");
  Shape s{xd[0], xd[1], xd[2], xd[3], gd[1], gd[2], gd[3], kd[0], kd[1], pad_top, pad_left};
  // any output size is well defined (reads outside x count as zeros and are skipped)
  if (gd[0] != s.n || kd[2] != s.ci || kd[3] != s.co || pad_top < 0 || pad_left < 0)
    return ffi::Error::InvalidArgument("conv_kernel_grad: shapes do not match");
  auto work = std::make_shared<Work>();
  work->s = s;
  work->x = x.typed_data();
  work->g = g.typed_data();
  const int64_t threads = std::max<int64_t>(1, pool.num_threads());
  work->chunks = make_chunks(s, threads);
  work->size = s.kh * s.kw * s.ci * s.co;
  float* out = dw->typed_data();
  std::memset(out, 0, work->size * sizeof(float));
  const int64_t helpers =
      std::min<int64_t>(pool.num_threads(), static_cast<int64_t>(work->chunks.size()) - 1);
  for (int64_t t = 0; t < helpers; ++t) pool.Schedule([work] { work->help(); });
  work->drain(out);
  std::unique_lock<std::mutex> lock(work->mu);
  work->closed = true;
  work->done.wait(lock, [&] { return work->active == 0; });
  for (const auto& p : work->partials)
    for (int64_t e = 0; e < work->size; ++e) out[e] += p[e];
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(VisionhooksConvKernelGrad, KernelGrad,
                              ffi::Ffi::Bind()
                                  .Ctx<ffi::ThreadPool>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Arg<ffi::Buffer<ffi::F32>>()
                                  .Ret<ffi::Buffer<ffi::F32>>()
                                  .Attr<int64_t>("pad_top")
                                  .Attr<int64_t>("pad_left"));
