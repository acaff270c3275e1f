// Shared by the native kernels: the instruction set chosen when the library loads, and
// the chunked work split over XLA's intra-op threads.
#ifndef VISIONHOOKS_NATIVE_COMMON_H_
#define VISIONHOOKS_NATIVE_COMMON_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "xla/ffi/api/ffi.h"

namespace visionhooks {

namespace ffi = xla::ffi;

#define VH_INLINE __attribute__((always_inline)) inline

// Instruction sets, widest last: each kernel is compiled for all three and runs the
// widest this CPU has, or a narrower one named by VISIONHOOKS_NATIVE_ISA (portable, avx2,
// avx512: tests run every path on one machine). AVX-512 has 32 vector registers of 16
// floats, AVX2 16 of 8, the portable build (SSE, NEON) 16 of 4.
enum Isa { kPortable = 0, kAvx2 = 1, kAvx512 = 2 };

inline Isa pick_isa() {
  const char* want = std::getenv("VISIONHOOKS_NATIVE_ISA");
  int most = 2;
  if (want != nullptr && std::strcmp(want, "avx2") == 0) most = 1;
  if (want != nullptr && std::strcmp(want, "portable") == 0) most = 0;
#if defined(__x86_64__)
  __builtin_cpu_init();
  const bool v4 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                  __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512dq");
  const bool v3 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (v4 && most >= 2) return kAvx512;
  if (v3 && most >= 1) return kAvx2;
#endif
  return kPortable;
}

#if defined(__x86_64__)
#define VH_TARGET_AVX512 __attribute__((target("arch=x86-64-v4")))
#define VH_TARGET_AVX2 __attribute__((target("arch=x86-64-v3")))
#else  // compiled as portable code, never picked (pick_isa)
#define VH_TARGET_AVX512
#define VH_TARGET_AVX2
#endif

// What a kernel runs for the instruction set pick_isa chose.
template <class T>
T by_isa(T avx512, T avx2, T portable) {
  switch (pick_isa()) {
    case kAvx512:
      return avx512;
    case kAvx2:
      return avx2;
    default:
      return portable;
  }
}

// A unit-stride convolution's sizes: input x (n, h, w, ci), output or output gradient
// (n, ho, wo, co), kernel or kernel gradient (kh, kw, ci, co), padding before (pt, pl).
struct Shape {
  int64_t n, h, w, ci, ho, wo, co, kh, kw, pt, pl;
};

// The Shape of x, y (output or output gradient) and k (kernel or its gradient), or an
// error naming `op` unless all are 4-D and agree. Any output size is well defined: taps
// outside x count as zeros.
template <class Dims>
ffi::Error conv_shape(const char* op, Dims xd, Dims yd, Dims kd, int64_t pad_top,
                      int64_t pad_left, Shape* s) {
  if (xd.size() != 4 || yd.size() != 4 || kd.size() != 4)
    return ffi::Error::InvalidArgument(std::string(op) + ": operands must be 4-D");
  *s = Shape{xd[0], xd[1], xd[2], xd[3], yd[1], yd[2], yd[3], kd[0], kd[1], pad_top, pad_left};
  if (yd[0] != s->n || kd[2] != s->ci || kd[3] != s->co || pad_top < 0 || pad_left < 0)
    return ffi::Error::InvalidArgument(std::string(op) + ": shapes do not match");
  return ffi::Error::Success();
}

// Runs body(c, buffer) for every chunk c in [0, n) on the calling thread (buffer: `own`)
// and on the pool threads that join it (each its own zeroed buffer of `scratch` floats,
// none where scratch is 0); returns the helpers' buffers once all are done. The caller
// waits only for helpers that joined before it ran out of chunks: a helper the pool
// starts late (its threads busy with other operations) returns at once, and nothing
// waits on it.
inline std::vector<std::unique_ptr<float[]>> parallel_chunks(
    ffi::ThreadPool& pool, size_t n, int64_t scratch, float* own,
    std::function<void(size_t, float*)> body) {
  struct State {
    std::function<void(size_t, float*)> body;
    size_t n;
    int64_t scratch;
    std::atomic<size_t> next{0};
    std::mutex mu;
    std::condition_variable done;
    bool closed = false;
    int active = 0;
    std::vector<std::unique_ptr<float[]>> buffers;

    void drain(float* buffer) {
      for (size_t c; (c = next.fetch_add(1)) < n;) body(c, buffer);
    }
  };
  auto state = std::make_shared<State>();
  state->body = std::move(body);
  state->n = n;
  state->scratch = scratch;
  const int64_t helpers = std::min<int64_t>(pool.num_threads(), static_cast<int64_t>(n) - 1);
  for (int64_t t = 0; t < helpers; ++t)
    pool.Schedule([state] {
      float* mine = nullptr;
      {
        std::lock_guard<std::mutex> lock(state->mu);
        if (state->closed || state->next.load() >= state->n) return;
        ++state->active;
        if (state->scratch > 0) {
          state->buffers.emplace_back(new float[state->scratch]());
          mine = state->buffers.back().get();
        }
      }
      state->drain(mine);
      {
        std::lock_guard<std::mutex> lock(state->mu);
        --state->active;
      }
      state->done.notify_all();
    });
  state->drain(own);
  std::unique_lock<std::mutex> lock(state->mu);
  state->closed = true;
  state->done.wait(lock, [&] { return state->active == 0; });
  return std::move(state->buffers);
}

}  // namespace visionhooks

#endif  // VISIONHOOKS_NATIVE_COMMON_H_
