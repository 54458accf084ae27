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
#include <cstring>
#include <thread>
#include <vector>

#include "memory1_ffi.h"

namespace {

using namespace jaxaccel;

constexpr long long kBlock = 1024;

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
  int ptr;
  const long long t0 = start_step(a, c, ptr);
  long long div = -1;
  for (long long k = 0;; ++k) {
    if (record_step<T>(a, c, sl, sg, q.thr, t0 + k, ptr, div, true) || k == a.steps) break;
    pass<T, SHIFT, UNIT, true>(q, n, lam, w, X11, X12, X22, T(sg), sl, sg);
  }
  finish_config<T>(a, c, ptr, div);
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

template <ffi::DataType DT>
ffi::Error memory1_cpu_impl(JAXACCEL_MEMORY1_PARAMS(DT)) {
  Args<ffi::NativeType<DT>> a{};
  ffi::Error err = unpack<DT>(a, lam, wts, entries0, params, rec, t0, loss, lossg, divat, entries,
                              workspace, steps, mode, shift, unit_weights);
  if (!err.success()) return err;
  run_all(a, shift != 0, unit_weights != 0);
  return ffi::Error::Success();
}

}  // namespace

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_cpu_f32, memory1_cpu_impl<ffi::F32>,
                              bind_operands<ffi::F32>(ffi::Ffi::Bind()));
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory1_cpu_f64, memory1_cpu_impl<ffi::F64>,
                              bind_operands<ffi::F64>(ffi::Ffi::Bind()));
