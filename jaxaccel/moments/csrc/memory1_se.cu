// Persistent CUDA kernels for the memory-1 SE second-moment recursion (Algorithm A, theory §3.4),
// exposed to JAX through the XLA FFI (targets jaxaccel_memory1_f32 / jaxaccel_memory1_f64).
//
// Per eigenvalue lambda_k the three unique entries (c11, c12, c22) of the 2x2 block evolve as
//   C <- S C S^T + noise v v^T,  S = S0 + lambda v w^T,
//   noise = G (inv_b tau1) (lambda m) + (inv_b sigma2) (lambda m) - (inv_b tau2) lambda^2 g,
//   g = w^T C w,
// with the global scalar G_t = sum_k lambda_k g_k (boxed equation of theory §3.3); the loss is
// L_t = 1/2 sum_k lambda_k c11_k and L~_t = G_t / 2.
//
// One launch runs all T steps ("persistent"): each step updates the state, reduces the two
// global sums of the new state in the same pass (per-thread sums in double, warp/block trees,
// one partial per block), and then the blocks of one configuration meet at a barrier on a
// monotone counter (release add, acquire poll) and each block sums the partials of its
// configuration in the same fixed order (so every block sees bit-identical totals and takes
// identical decisions).  Two layouts:
//   * register mode: every thread keeps E eigenvalues (state and lambda) in registers for the
//     whole run; only the block partials travel through memory (on-chip regime, N <= ~1e6);
//   * stream mode: the state lives in the output buffer and every step streams it once through
//     global memory: read c11, c12, c22, lambda (and m), write c11, c12, c22 -- 28 bytes per
//     eigen-step in float32 with unit weights (HBM-bound regime, N >= 1e7).
// Global sums are accumulated in float64 in both precisions.
#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <string>

#include "memory1_ffi.h"

namespace ffi = xla::ffi;

namespace {

using namespace jaxaccel;

constexpr int kStreamThreads = 512;  // stream mode
constexpr int kUnroll = 4;           // stream mode: independent eigenvalues in flight per thread
constexpr unsigned kFull = 0xffffffffu;
constexpr int kMaxBlocks = 4096;  // blocks per configuration (workspace: 256 + 32 B bytes each)

__device__ __forceinline__ unsigned long long load_acquire(const unsigned long long* p) {
  unsigned long long v;
  asm volatile("ld.acquire.gpu.global.u64 %0, [%1];" : "=l"(v) : "l"(p) : "memory");
  return v;
}

__device__ __forceinline__ void add_release(unsigned long long* p, unsigned long long v) {
  asm volatile("red.release.gpu.global.add.u64 [%0], %1;" : : "l"(p), "l"(v) : "memory");
}

template <int THREADS>
struct Shared {
  double2 warp[THREADS / 32];
  double2 total;
};

// Sum of (acc_l, acc_g) over the B blocks of one configuration; every thread gets the total.
// Lane 0 of each block stores its partial in its slot, adds 1 to the configuration's counter
// with release semantics and waits (acquire) until all B blocks of reduction r have arrived;
// then warp 0 of every block sums the B slots in the same fixed order, so all blocks get
// bit-identical totals. The slots are double-buffered by the parity of r: a block can only
// reach reduction r + 2 after every block has arrived at r + 1, i.e. finished reading r.
// (Measured on an H200: one counter beats per-block flags polled by every block.)
template <int THREADS>
__device__ double2 config_total(double acc_l, double acc_g, Shared<THREADS>& sh, double2* part,
                                unsigned long long* counter, int B, int b, long long r) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    acc_l += __shfl_down_sync(kFull, acc_l, o);
    acc_g += __shfl_down_sync(kFull, acc_g, o);
  }
  if (lane == 0) sh.warp[warp] = make_double2(acc_l, acc_g);
  __syncthreads();
  if (warp == 0) {
    double x = lane < THREADS / 32 ? sh.warp[lane].x : 0.0;
    double y = lane < THREADS / 32 ? sh.warp[lane].y : 0.0;
#pragma unroll
    for (int o = 16; o > 0; o >>= 1) {
      x += __shfl_down_sync(kFull, x, o);
      y += __shfl_down_sync(kFull, y, o);
    }
    if (B == 1) {
      if (lane == 0) sh.total = make_double2(x, y);
    } else {
      double2* slot = part + (r & 1) * B;
      if (lane == 0) {
        slot[b] = make_double2(x, y);
        add_release(counter, 1ULL);
        const unsigned long long target = (unsigned long long)(r + 1) * (unsigned long long)B;
        while (load_acquire(counter) < target) {
        }
      }
      __syncwarp();
      double sx = 0.0, sy = 0.0;
      for (int i = lane; i < B; i += 32) {
        const double2 p = __ldcg(slot + i);
        sx += p.x;
        sy += p.y;
      }
#pragma unroll
      for (int o = 16; o > 0; o >>= 1) {
        sx += __shfl_down_sync(kFull, sx, o);
        sy += __shfl_down_sync(kFull, sy, o);
      }
      if (lane == 0) sh.total = make_double2(sx, sy);
    }
  }
  __syncthreads();
  const double2 tot = sh.total;
  __syncthreads();  // sh is reused by the next reduction
  return tot;
}

// The operands of one call plus the barrier workspace and the launch's place in the plan.
template <typename T>
struct CudaArgs : Args<T> {
  double2* part;                // [C][2][B] block partials
  unsigned long long* counter;  // [C] barrier counters
  int B, c_begin;               // blocks per configuration, first configuration of this launch
  bool aligned;                 // lambda, weights and state 16-byte aligned (vector loads)
};

// Recording and divergence test at step t (memory1_ffi.h); block 0, thread 0 writes.
template <typename T>
__device__ __forceinline__ bool record(const CudaArgs<T>& a, int c, int b, double2 tot,
                                       const Coef<T>& q, long long t, int& ptr, long long& div) {
  return record_step<T>(a, c, tot.x, tot.y, q.thr, t, ptr, div, b == 0 && threadIdx.x == 0);
}

template <typename T>
__device__ __forceinline__ void finish(const CudaArgs<T>& a, int c, int b, int ptr, long long div) {
  if (b == 0 && threadIdx.x == 0) finish_config<T>(a, c, ptr, div);
}

template <typename T>
__device__ __forceinline__ double2 with_g(T l, T g, bool shift) {
  return make_double2(double(l), double(shift ? g : l));
}

// Register mode: the state of E eigenvalues per thread stays in registers for the whole run;
// lambda (and lambda m) sit in shared memory, [E][THREADS], and are re-read every step (the
// block barrier inside the step loop keeps the compiler from hoisting them, or anything derived
// from them, into registers).
template <typename T, int E, int THREADS, bool SHIFT, bool UNIT>
__global__ void __launch_bounds__(THREADS, 1) register_kernel(CudaArgs<T> a) {
  __shared__ Shared<THREADS> sh;
  extern __shared__ __align__(16) unsigned char dyn[];
  T* slam = reinterpret_cast<T*>(dyn);
  T* slm = slam + E * THREADS;  // only when !UNIT
  const int c = a.c_begin + blockIdx.x / a.B, b = blockIdx.x % a.B;
  const long long n = a.n;
  const Coef<T> q = load_coef<T>(a.params + (a.par_pc ? (long long)c * kParams : 0));
  const T* lamp = a.lam + (a.lam_pc ? c * n : 0);
  const T* wp = a.wts + (a.wts_pc ? c * n : 0);
  const T* e0 = a.entries0 + (a.e0_pc ? 3 * c * n : 0);
  double2* part = a.part + (long long)c * 2 * a.B;
  unsigned long long* counter = a.counter + c;
  T x11[E], x12[E], x22[E];
  T acc_l = T(0), acc_g = T(0);
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const long long i = ((long long)b * E + e) * THREADS + threadIdx.x;
    T l = T(0);
    if (i < n) {
      l = lamp[i];
      if (!UNIT) slm[e * THREADS + threadIdx.x] = l * wp[i];
      x11[e] = e0[i]; x12[e] = e0[n + i]; x22[e] = e0[2 * n + i];
    } else {
      x11[e] = T(0); x12[e] = T(0); x22[e] = T(0);
      if (!UNIT) slm[e * THREADS + threadIdx.x] = T(0);
    }
    slam[e * THREADS + threadIdx.x] = l;
    acc_l += l * x11[e];
    if (SHIFT) acc_g += l * quad<T, SHIFT>(q, x11[e], x12[e], x22[e]);
  }
  long long r = 0;
  double2 s = with_g(acc_l, acc_g, SHIFT);
  double2 tot = config_total<THREADS>(s.x, s.y, sh, part, counter, a.B, b, r++);
  int ptr;
  const long long t0 = start_step(a, c, ptr);
  long long div = -1;
  for (long long k = 0;; ++k) {
    if (record(a, c, b, tot, q, t0 + k, ptr, div) || k == a.steps) break;
    const T G = T(tot.y);
    acc_l = T(0); acc_g = T(0);
#pragma unroll
    for (int e = 0; e < E; ++e) {
      const T l = slam[e * THREADS + threadIdx.x];
      const T lm = UNIT ? l : slm[e * THREADS + threadIdx.x];
      se_step<T, SHIFT>(q, l, lm, G, x11[e], x12[e], x22[e], acc_l, acc_g);
    }
    s = with_g(acc_l, acc_g, SHIFT);
    tot = config_total<THREADS>(s.x, s.y, sh, part, counter, a.B, b, r++);
  }
  finish(a, c, b, ptr, div);
  T* out = a.entries + 3 * c * n;
#pragma unroll
  for (int e = 0; e < E; ++e) {
    const long long i = ((long long)b * E + e) * THREADS + threadIdx.x;
    if (i < n) { out[i] = x11[e]; out[n + i] = x12[e]; out[2 * n + i] = x22[e]; }
  }
}

template <typename T>
struct Vec;
template <>
struct Vec<float> {
  using type = float4;
};
template <>
struct Vec<double> {
  using type = double2;
};

// One step over this block's slice [lo, hi) in the stream layout, U elements of type VT (T
// itself, or a 16-byte vector of V values of T) per thread and iteration, loaded before any is
// used; adds the global sums of the new state to (sl, sg).
template <typename T, typename VT, int U, bool SHIFT, bool UNIT>
__device__ __forceinline__ void stream_pass(const Coef<T>& q, T G, const T* lamp, const T* wp,
                                            T* X11, T* X12, T* X22, long long lo, long long hi,
                                            double& sl, double& sg) {
  constexpr int V = sizeof(VT) / sizeof(T);
  const VT* L = reinterpret_cast<const VT*>(lamp);
  const VT* W = reinterpret_cast<const VT*>(wp);
  VT* Y11 = reinterpret_cast<VT*>(X11);
  VT* Y12 = reinterpret_cast<VT*>(X12);
  VT* Y22 = reinterpret_cast<VT*>(X22);
  const long long jhi = hi / V;
  for (long long j0 = lo / V + threadIdx.x; j0 < jhi; j0 += (long long)kStreamThreads * U) {
    VT l[U], m[U], y11[U], y12[U], y22[U];
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const long long j = j0 + (long long)u * kStreamThreads;
      if (j < jhi) {
        l[u] = __ldg(L + j);
        if (!UNIT) m[u] = __ldg(W + j);
        y11[u] = Y11[j]; y12[u] = Y12[j]; y22[u] = Y22[j];
      }
    }
    T al = T(0), ag = T(0);
#pragma unroll
    for (int u = 0; u < U; ++u) {
      const long long j = j0 + (long long)u * kStreamThreads;
      if (j < jhi) {
        T* pl = reinterpret_cast<T*>(&l[u]);
        T* pm = reinterpret_cast<T*>(&m[u]);
        T* p11 = reinterpret_cast<T*>(&y11[u]);
        T* p12 = reinterpret_cast<T*>(&y12[u]);
        T* p22 = reinterpret_cast<T*>(&y22[u]);
#pragma unroll
        for (int v = 0; v < V; ++v)
          se_step<T, SHIFT>(q, pl[v], UNIT ? pl[v] : pl[v] * pm[v], G, p11[v], p12[v], p22[v],
                            al, ag);
        Y11[j] = y11[u]; Y12[j] = y12[u]; Y22[j] = y22[u];
      }
    }
    sl += double(al);
    if (SHIFT) sg += double(ag);
  }
}

// Stream mode: the state lives in the output buffer; every step is one pass over it. When N is
// a multiple of the vector width (simulate pads N to a multiple of 1024), each thread moves
// 16-byte vectors (4 float32 or 2 float64 eigenvalues per load), two vectors per iteration;
// otherwise single values, four per iteration.
template <typename T, bool SHIFT, bool UNIT>
__global__ void __launch_bounds__(kStreamThreads, 1) stream_kernel(CudaArgs<T> a) {
  using VT = typename Vec<T>::type;
  constexpr int V = sizeof(VT) / sizeof(T);
  __shared__ Shared<kStreamThreads> sh;
  const int c = a.c_begin + blockIdx.x / a.B, b = blockIdx.x % a.B;
  const long long n = a.n;
  const Coef<T> q = load_coef<T>(a.params + (a.par_pc ? (long long)c * kParams : 0));
  const T* lamp = a.lam + (a.lam_pc ? c * n : 0);
  const T* wp = a.wts + (a.wts_pc ? c * n : 0);
  double2* part = a.part + (long long)c * 2 * a.B;
  unsigned long long* counter = a.counter + c;
  T* X11 = a.entries + 3 * c * n;  // copied in from entries0 by the host
  T* X12 = X11 + n;
  T* X22 = X12 + n;
  const bool vec = a.aligned && n % V == 0;
  // contiguous slice of this block, a multiple of V x the block size long (except the last)
  const long long unit = (long long)kStreamThreads * V;
  const long long per = ((n + a.B - 1) / a.B + unit - 1) / unit * unit;
  const long long lo = (long long)b * per, hi = lo + per < n ? lo + per : n;
  double sl = 0.0, sg = 0.0;
  for (long long i = lo + threadIdx.x; i < hi; i += kStreamThreads) {
    sl += double(lamp[i] * X11[i]);
    if (SHIFT) sg += double(lamp[i] * quad<T, SHIFT>(q, X11[i], X12[i], X22[i]));
  }
  long long r = 0;
  double2 tot = config_total<kStreamThreads>(sl, SHIFT ? sg : sl, sh, part, counter, a.B, b, r++);
  int ptr;
  const long long t0 = start_step(a, c, ptr);
  long long div = -1;
  for (long long k = 0;; ++k) {
    if (record(a, c, b, tot, q, t0 + k, ptr, div) || k == a.steps) break;
    const T G = T(tot.y);
    sl = 0.0; sg = 0.0;
    if (vec)
      stream_pass<T, VT, 2, SHIFT, UNIT>(q, G, lamp, wp, X11, X12, X22, lo, hi, sl, sg);
    else
      stream_pass<T, T, kUnroll, SHIFT, UNIT>(q, G, lamp, wp, X11, X12, X22, lo, hi, sl, sg);
    tot = config_total<kStreamThreads>(sl, SHIFT ? sg : sl, sh, part, counter, a.B, b, r++);
  }
  finish(a, c, b, ptr, div);
}

// ------------------------------------------------------------------------------ host side
struct Plan {
  const void* fn;
  int threads;
  int per_launch;  // configurations per launch
  int B;           // blocks per configuration
  int E;           // eigenvalues per thread (0: stream mode)
  size_t smem;     // dynamic shared memory per block
};

int sm_count() {
  static int count = [] {
    int dev = 0, v = 0;
    cudaGetDevice(&dev);
    cudaDeviceGetAttribute(&v, cudaDevAttrMultiProcessorCount, dev);
    return v;
  }();
  return count;
}

int capacity(const void* fn, int threads, size_t smem) {
  int per_sm = 0;
  if (smem > 48 * 1024 &&
      cudaFuncSetAttribute(fn, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem) !=
          cudaSuccess)
    return 0;
  if (cudaOccupancyMaxActiveBlocksPerMultiprocessor(&per_sm, fn, threads, smem) != cudaSuccess)
    return 0;
  return per_sm * sm_count();
}

int launches(int C, int per) { return per > 0 ? (C + per - 1) / per : 1 << 30; }

template <typename T, int E, int THREADS, bool SHIFT, bool UNIT>
void consider_register(long long n, int C, Plan& best) {
  const void* fn = reinterpret_cast<const void*>(&register_kernel<T, E, THREADS, SHIFT, UNIT>);
  const size_t smem = sizeof(T) * E * THREADS * (UNIT ? 1 : 2);
  const int cap = capacity(fn, THREADS, smem);
  const long long B = (n + (long long)E * THREADS - 1) / ((long long)E * THREADS);
  if (cap <= 0 || B > cap || B > kMaxBlocks) return;
  const int per = (int)(cap / B) < C ? (int)(cap / B) : C;
  if (launches(C, per) < launches(C, best.per_launch)) best = Plan{fn, THREADS, per, (int)B, E, smem};
}

// Register-mode variants, most threads first: every variant keeps its state without spilling
// (checked with -Xptxas -v); the plan takes the one needing the fewest launches.
template <typename T, bool SHIFT, bool UNIT>
void register_variants(long long n, int C, Plan& best) {
  if constexpr (sizeof(T) == 4) {
    consider_register<T, 1, 1024, SHIFT, UNIT>(n, C, best);
    consider_register<T, 2, 1024, SHIFT, UNIT>(n, C, best);
    consider_register<T, 4, 512, SHIFT, UNIT>(n, C, best);
    consider_register<T, 8, 512, SHIFT, UNIT>(n, C, best);
    consider_register<T, 16, 256, SHIFT, UNIT>(n, C, best);
    consider_register<T, 32, 256, SHIFT, UNIT>(n, C, best);
  } else {
    consider_register<T, 1, 1024, SHIFT, UNIT>(n, C, best);
    consider_register<T, 2, 512, SHIFT, UNIT>(n, C, best);
    consider_register<T, 4, 256, SHIFT, UNIT>(n, C, best);
    consider_register<T, 8, 256, SHIFT, UNIT>(n, C, best);
  }
}

template <typename T, bool SHIFT, bool UNIT>
Plan make_plan_for(long long n, int C, int64_t mode) {
  Plan best{nullptr, 0, 0, 0, 0, 0};
  if (mode != 2) register_variants<T, SHIFT, UNIT>(n, C, best);  // 0 auto, 1 register, 2 stream
  if (mode == 1) return best;
  const void* fn = reinterpret_cast<const void*>(&stream_kernel<T, SHIFT, UNIT>);
  const int cap = capacity(fn, kStreamThreads, 0);
  if (cap <= 0) return best;
  const int per = C < cap ? C : cap;
  long long B = cap / per;
  const long long useful = (n + kStreamThreads - 1) / kStreamThreads;  // no block without work
  if (B > useful) B = useful;
  if (B > kMaxBlocks) B = kMaxBlocks;
  // the stream layout wins only when it needs fewer launches (many configurations whose
  // registers do not fit at once; their state then stays in L2)
  if (best.fn && launches(C, best.per_launch) <= launches(C, per)) return best;
  return Plan{fn, kStreamThreads, per, (int)(B < 1 ? 1 : B), 0, 0};
}

template <typename T>
Plan make_plan(long long n, int C, int64_t mode, bool shift, bool unit) {
  if (shift) return unit ? make_plan_for<T, true, true>(n, C, mode)
                         : make_plan_for<T, true, false>(n, C, mode);
  return unit ? make_plan_for<T, false, true>(n, C, mode)
              : make_plan_for<T, false, false>(n, C, mode);
}

std::string cuda_error(const char* what, cudaError_t e) {
  return std::string("jaxaccel memory1 kernel: ") + what + ": " + cudaGetErrorString(e);
}

template <ffi::DataType DT>
ffi::Error memory1_impl(cudaStream_t stream, JAXACCEL_MEMORY1_PARAMS(DT)) {
  using T = ffi::NativeType<DT>;
  CudaArgs<T> a{};
  ffi::Error err = unpack<DT>(a, lam, wts, entries0, params, rec, t0, loss, lossg, divat, entries,
                              workspace, steps, mode, shift, unit_weights);
  if (!err.success()) return err;
  const long long C = a.C, n = a.n;
  const Plan plan = make_plan<T>(n, (int)C, mode, shift != 0, unit_weights != 0);
  if (!plan.fn)
    return ffi::Error::InvalidArgument(
        "jaxaccel memory1 kernel: no kernel variant fits this problem in the requested mode");
  // workspace: C barrier counters (zeroed), then at a 256-byte boundary (double2 needs 16-byte
  // alignment) C x 2 x B block partials; XLA allocates C x kWorkspace bytes
  const size_t count_bytes = (sizeof(unsigned long long) * C + 255) / 256 * 256;
  const size_t part_bytes = sizeof(double2) * 2 * (size_t)plan.B * C;
  if (count_bytes + part_bytes > workspace->element_count())
    return ffi::Error::InvalidArgument("jaxaccel memory1 kernel: workspace too small");
  a.counter = reinterpret_cast<unsigned long long*>(workspace->untyped_data());
  a.part = reinterpret_cast<double2*>(reinterpret_cast<char*>(workspace->untyped_data()) +
                                      count_bytes);
  cudaError_t e = cudaMemsetAsync(a.counter, 0, count_bytes, stream);
  if (e != cudaSuccess) return ffi::Error::Internal(cuda_error("memset", e));
  if (plan.E == 0) {  // stream mode works in place on the output state
    const size_t one = sizeof(T) * 3 * (size_t)n;
    for (long long c = 0; c < C; ++c) {
      const T* src = entries0.typed_data() + (a.e0_pc ? 3 * c * n : 0);
      e = cudaMemcpyAsync(entries->typed_data() + 3 * c * n, src, one, cudaMemcpyDeviceToDevice,
                          stream);
      if (e != cudaSuccess) return ffi::Error::Internal(cuda_error("copy", e));
    }
  }
  a.B = plan.B;
  auto al16 = [](const void* p) { return reinterpret_cast<uintptr_t>(p) % 16 == 0; };
  a.aligned = al16(a.lam) && al16(a.wts) && al16(a.entries);
  for (long long c0 = 0; c0 < C; c0 += plan.per_launch) {
    const int cn = (int)(C - c0 < plan.per_launch ? C - c0 : plan.per_launch);
    a.c_begin = (int)c0;
    void* kargs[] = {&a};
    e = cudaLaunchCooperativeKernel(plan.fn, dim3(cn * plan.B), dim3(plan.threads), kargs, plan.smem,
                                    stream);
    if (e != cudaSuccess) return ffi::Error::Internal(cuda_error("launch", e));
  }
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_f32, memory1_impl<ffi::F32>,
                              bind_operands<ffi::F32>(ffi::Ffi::Bind().Ctx<ffi::PlatformStream<cudaStream_t>>()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_f64, memory1_impl<ffi::F64>,
                              bind_operands<ffi::F64>(ffi::Ffi::Bind().Ctx<ffi::PlatformStream<cudaStream_t>>()));

// The variant the plan picks (for reports): returns E (0: stream mode, -1: none) and the blocks
// per configuration and configurations per launch through the pointers.
extern "C" int jaxaccel_memory1_plan(long long n, int C, int is_f64, int64_t mode, int shift,
                                     int unit, int* B, int* per_launch) {
  const Plan p = is_f64 ? make_plan<double>(n, C, mode, shift != 0, unit != 0)
                        : make_plan<float>(n, C, mode, shift != 0, unit != 0);
  *B = p.B;
  *per_launch = p.per_launch;
  return p.fn ? p.E : -1;
}
