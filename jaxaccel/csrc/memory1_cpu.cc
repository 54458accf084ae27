// CPU kernel for the memory-1 SE recursion (Algorithm A, spec §3.4), exposed to JAX through the
// XLA FFI (targets jaxaccel_memory1_cpu_f32 / jaxaccel_memory1_cpu_f64); the same operands,
// results and semantics as the CUDA kernel (memory1_se.cu).
//
// Each step is one pass over the state: read c11, c12, c22, lambda (and m), write the new
// entries and add lambda c11' and lambda g' of the new state to the global sums of the next
// step, in float64, per block of 1024 eigenvalues and then over the blocks (a two-level sum:
// error ~ (1024 + N / 1024) eps). The XLA scan needs ~30 passes per step on a CPU.
// Configurations (vmap) are spread over the hardware threads.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "xla/ffi/api/ffi.h"
#include "memory1_step.h"

namespace ffi = xla::ffi;

namespace {

using namespace jaxaccel;

constexpr long long kBlock = 1024;

template <typename T>
struct Args {
  const T* lam;
  const T* wts;
  const T* entries0;
  const double* params;
  const int32_t* rec;
  const int32_t* t0;
  T* loss;
  T* lossg;
  int32_t* divat;
  T* entries;
  long long n, steps;
  int C, R;
  bool lam_pc, wts_pc, e0_pc, par_pc, t0_pc;
};

// Global sums (sum lambda c11, sum lambda g) of the state, or of the state after one step
// (when step is true, the state is updated in place with the global scalar G).
template <typename T, bool SHIFT, bool UNIT, bool STEP>
void pass(const Coef<T>& q, long long n, const T* lam, const T* w, T* X11, T* X12, T* X22, T G,
          double& sl, double& sg) {
  sl = 0.0;
  sg = 0.0;
  for (long long base = 0; base < n; base += kBlock) {
    const long long end = std::min(n, base + kBlock);
    double bl = 0.0, bg = 0.0;
#pragma omp simd reduction(+ : bl, bg)
    for (long long k = base; k < end; ++k) {
      const T l = lam[k];
      T x11 = X11[k], x12 = X12[k], x22 = X22[k];
      if (STEP) {
        se_step<T, SHIFT, double>(q, l, UNIT ? l : l * w[k], G, x11, x12, x22, bl, bg);
        X11[k] = x11;
        X12[k] = x12;
        X22[k] = x22;
      } else {
        bl += double(l * x11);
        if (SHIFT) bg += double(l * quad<T, SHIFT>(q, x11, x12, x22));
      }
    }
    sl += bl;
    sg += bg;
  }
  if (!SHIFT) sg = sl;
}

template <typename T, bool SHIFT, bool UNIT>
void run_config(const Args<T>& a, int c) {
  const long long n = a.n;
  const Coef<T> q = load_coef<T>(a.params + (a.par_pc ? (long long)c * kParams : 0));
  const T* lam = a.lam + (a.lam_pc ? c * n : 0);
  const T* w = a.wts + (a.wts_pc ? c * n : 0);
  T* X11 = a.entries + 3 * c * n;
  T* X12 = X11 + n;
  T* X22 = X12 + n;
  std::memcpy(X11, a.entries0 + (a.e0_pc ? 3 * c * n : 0), sizeof(T) * 3 * n);
  double sl, sg;
  pass<T, SHIFT, UNIT, false>(q, n, lam, w, X11, X12, X22, T(0), sl, sg);
  const long long t0 = a.t0[a.t0_pc ? c : 0];
  int ptr = 0;
  long long div = -1;
  while (ptr < a.R && a.rec[ptr] < t0) ++ptr;
  for (long long k = 0;; ++k) {
    const long long t = t0 + k;
    const T L = T(0.5 * sl), Lg = T(0.5 * sg);
    const bool bad = !(std::isfinite(L) && std::isfinite(Lg)) || double(std::max(L, Lg)) > q.thr;
    if (div < 0 && bad) div = t;
    if (ptr < a.R && a.rec[ptr] == t) {
      a.loss[(long long)c * a.R + ptr] = L;
      a.lossg[(long long)c * a.R + ptr] = Lg;
      ++ptr;
    }
    if (div >= 0 || k == a.steps) break;
    pass<T, SHIFT, UNIT, true>(q, n, lam, w, X11, X12, X22, T(sg), sl, sg);
  }
  a.divat[c] = int32_t(div);
  for (int p = ptr; p < a.R; ++p) {  // steps never reached after a divergence
    a.loss[(long long)c * a.R + p] = T(NAN);
    a.lossg[(long long)c * a.R + p] = T(NAN);
  }
}

template <typename T>
void run_all(const Args<T>& a, bool shift, bool unit) {
  auto one = shift ? (unit ? &run_config<T, true, true> : &run_config<T, true, false>)
                   : (unit ? &run_config<T, false, true> : &run_config<T, false, false>);
  const int hw = std::max(1u, std::thread::hardware_concurrency());
  const int workers = std::min(a.C, hw);
  if (workers <= 1) {
    for (int c = 0; c < a.C; ++c) one(a, c);
    return;
  }
  std::vector<std::thread> pool;
  for (int w = 0; w < workers; ++w)
    pool.emplace_back([&, w] {
      for (int c = w; c < a.C; c += workers) one(a, c);
    });
  for (auto& th : pool) th.join();
}

bool sized(size_t count, long long C, long long unit, bool& per_config) {
  per_config = C > 1 && (long long)count == C * unit;
  return per_config || (long long)count == unit;
}

template <ffi::DataType DT>
ffi::Error memory1_cpu_impl(ffi::Buffer<DT> lam, ffi::Buffer<DT> wts, ffi::Buffer<DT> entries0,
                            ffi::Buffer<ffi::F64> params, ffi::Buffer<ffi::S32> rec,
                            ffi::Buffer<ffi::S32> t0, ffi::ResultBuffer<DT> loss,
                            ffi::ResultBuffer<DT> lossg, ffi::ResultBuffer<ffi::S32> divat,
                            ffi::ResultBuffer<DT> entries, ffi::ResultBuffer<ffi::U8> workspace,
                            int64_t steps, int64_t mode, int64_t shift, int64_t unit_weights) {
  using T = ffi::NativeType<DT>;
  (void)workspace;
  (void)mode;
  const long long C = (long long)divat->element_count();
  if (C < 1) return ffi::Error::InvalidArgument("jaxaccel memory1 kernel: no configurations");
  const long long n = (long long)entries->element_count() / (3 * C);
  const long long R = (long long)loss->element_count() / C;
  Args<T> a{};
  if (!sized(lam.element_count(), C, n, a.lam_pc) || !sized(wts.element_count(), C, n, a.wts_pc) ||
      !sized(entries0.element_count(), C, 3 * n, a.e0_pc) ||
      !sized(params.element_count(), C, kParams, a.par_pc) ||
      !sized(t0.element_count(), C, 1, a.t0_pc))
    return ffi::Error::InvalidArgument("jaxaccel memory1 kernel: inconsistent operand sizes");
  if ((long long)rec.element_count() < R)
    return ffi::Error::InvalidArgument("jaxaccel memory1 kernel: record array too short");
  a.lam = lam.typed_data(); a.wts = wts.typed_data(); a.entries0 = entries0.typed_data();
  a.params = params.typed_data(); a.rec = rec.typed_data(); a.t0 = t0.typed_data();
  a.loss = loss->typed_data(); a.lossg = lossg->typed_data(); a.divat = divat->typed_data();
  a.entries = entries->typed_data();
  a.n = n; a.steps = steps; a.C = (int)C; a.R = (int)R;
  run_all(a, shift != 0, unit_weights != 0);
  return ffi::Error::Success();
}

template <ffi::DataType DT>
auto bind() {
  return ffi::Ffi::Bind()
      .template Arg<ffi::Buffer<DT>>()          // lambda (N,) or (C, N)
      .template Arg<ffi::Buffer<DT>>()          // weights m, same shape
      .template Arg<ffi::Buffer<DT>>()          // initial entries (3, N) or (C, 3, N)
      .template Arg<ffi::Buffer<ffi::F64>>()    // coefficients (12,) or (C, 12)
      .template Arg<ffi::Buffer<ffi::S32>>()    // recorded steps (>= R,)
      .template Arg<ffi::Buffer<ffi::S32>>()    // start step () or (C,)
      .template Ret<ffi::Buffer<DT>>()          // L_t at the recorded steps (C, R)
      .template Ret<ffi::Buffer<DT>>()          // L~_t (C, R)
      .template Ret<ffi::Buffer<ffi::S32>>()    // first divergent step or -1 (C,)
      .template Ret<ffi::Buffer<DT>>()          // final entries (C, 3, N)
      .template Ret<ffi::Buffer<ffi::U8>>()     // workspace (unused on the CPU)
      .template Attr<int64_t>("steps")
      .template Attr<int64_t>("mode")
      .template Attr<int64_t>("shift")
      .template Attr<int64_t>("unit_weights");
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_cpu_f32, memory1_cpu_impl<ffi::F32>,
                              bind<ffi::F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_cpu_f64, memory1_cpu_impl<ffi::F64>,
                              bind<ffi::F64>());
