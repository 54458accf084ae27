// The XLA FFI interface shared by the CPU (memory1_cpu.cc) and CUDA (memory1_se.cu) kernels of
// the memory-1 SE recursion: operands, results and attributes, their unpacking and checks, and
// the recording / divergence rule of the XLA scan (jaxaccel.moments._run).
//
// Operands: lambda (N,) or (C, N); weights m, same; initial entries (3, N) or (C, 3, N);
// coefficients (12,) or (C, 12) float64 (memory1_step.h); recorded steps (>= R,) int32; start
// step () or (C,) int32. Results: L_t and L~_t at the recorded steps (C, R); first divergent
// step or -1 (C,) int32; final entries (C, 3, N); a byte workspace (the CUDA barrier).
// Attributes: steps, mode (CUDA layout), shift (wbar != e1), unit_weights (m == 1).
// C is the number of configurations of a vmapped call (vmap_method="expand_dims"): an operand
// with a single configuration's worth of elements is shared by all of them.
#pragma once

#include <cmath>
#include <cstdint>
#include <utility>

#include "xla/ffi/api/ffi.h"
#include "memory1_step.h"

#ifdef __CUDACC__
#define JAXACCEL_ISFINITE(x) isfinite(x)
#else
#define JAXACCEL_ISFINITE(x) std::isfinite(x)
#endif

namespace jaxaccel {

namespace ffi = xla::ffi;

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
  bool lam_pc, wts_pc, e0_pc, par_pc, t0_pc;  // operand given per configuration
  long long rows = 1;  // coefficient rows per configuration (the general CPU kernel: 1 or steps)
};

// The handler's parameters after its context (same order as bind_operands).
#define JAXACCEL_MEMORY1_PARAMS(DT)                                                         \
  ffi::Buffer<DT> lam, ffi::Buffer<DT> wts, ffi::Buffer<DT> entries0,                       \
      ffi::Buffer<ffi::F64> params, ffi::Buffer<ffi::S32> rec, ffi::Buffer<ffi::S32> t0,    \
      ffi::ResultBuffer<DT> loss, ffi::ResultBuffer<DT> lossg,                              \
      ffi::ResultBuffer<ffi::S32> divat, ffi::ResultBuffer<DT> entries,                     \
      ffi::ResultBuffer<ffi::U8> workspace, int64_t steps, int64_t mode, int64_t shift,     \
      int64_t unit_weights

// The operands and results every SE kernel shares (lambda, weights, entries0, coefficients,
// record, t0 -> loss, loss~, divergence step, entries).
template <ffi::DataType DT, typename Binding>
auto bind_buffers(Binding&& b) {
  return std::move(b)
      .template Arg<ffi::Buffer<DT>>()
      .template Arg<ffi::Buffer<DT>>()
      .template Arg<ffi::Buffer<DT>>()
      .template Arg<ffi::Buffer<ffi::F64>>()
      .template Arg<ffi::Buffer<ffi::S32>>()
      .template Arg<ffi::Buffer<ffi::S32>>()
      .template Ret<ffi::Buffer<DT>>()
      .template Ret<ffi::Buffer<DT>>()
      .template Ret<ffi::Buffer<ffi::S32>>()
      .template Ret<ffi::Buffer<DT>>();
}

template <ffi::DataType DT, typename Binding>
auto bind_operands(Binding&& b) {
  return bind_buffers<DT>(std::move(b))
      .template Ret<ffi::Buffer<ffi::U8>>()
      .template Attr<int64_t>("steps")
      .template Attr<int64_t>("mode")
      .template Attr<int64_t>("shift")
      .template Attr<int64_t>("unit_weights");
}

inline bool sized(size_t count, long long C, long long unit, bool& per_config) {
  per_config = C > 1 && (long long)count == C * unit;
  return per_config || (long long)count == unit;
}

// Fill a from the shared buffers and check their sizes: P state entries per eigenvalue and
// `coefs` coefficients per configuration (`rows` of them per step for a schedule).
template <ffi::DataType DT>
ffi::Error fill_args(Args<ffi::NativeType<DT>>& a, ffi::Buffer<DT> lam, ffi::Buffer<DT> wts,
                     ffi::Buffer<DT> entries0, ffi::Buffer<ffi::F64> params,
                     ffi::Buffer<ffi::S32> rec, ffi::Buffer<ffi::S32> t0,
                     ffi::ResultBuffer<DT> loss, ffi::ResultBuffer<DT> lossg,
                     ffi::ResultBuffer<ffi::S32> divat, ffi::ResultBuffer<DT> entries,
                     int64_t steps, long long P, long long coefs, long long rows) {
  const long long C = (long long)divat->element_count();
  if (C < 1 || rows < 1) return ffi::Error::InvalidArgument("jaxaccel SE kernel: empty call");
  const long long n = (long long)entries->element_count() / (P * C);
  const long long R = (long long)loss->element_count() / C;
  if (!sized(lam.element_count(), C, n, a.lam_pc) || !sized(wts.element_count(), C, n, a.wts_pc) ||
      !sized(entries0.element_count(), C, P * n, a.e0_pc) ||
      !sized(params.element_count(), C, coefs, a.par_pc) ||
      !sized(t0.element_count(), C, 1, a.t0_pc) || (rows != 1 && rows < steps))
    return ffi::Error::InvalidArgument("jaxaccel SE kernel: inconsistent operand sizes");
  if ((long long)rec.element_count() < R)
    return ffi::Error::InvalidArgument("jaxaccel SE kernel: record array too short");
  a.lam = lam.typed_data(); a.wts = wts.typed_data(); a.entries0 = entries0.typed_data();
  a.params = params.typed_data(); a.rec = rec.typed_data(); a.t0 = t0.typed_data();
  a.loss = loss->typed_data(); a.lossg = lossg->typed_data(); a.divat = divat->typed_data();
  a.entries = entries->typed_data();
  a.n = n; a.steps = steps; a.rows = rows; a.C = (int)C; a.R = (int)R;
  return ffi::Error::Success();
}

// The memory-1 kernels: 3 entries, one row of kParams coefficients.
template <ffi::DataType DT>
ffi::Error unpack(Args<ffi::NativeType<DT>>& a, JAXACCEL_MEMORY1_PARAMS(DT)) {
  (void)workspace; (void)mode; (void)shift; (void)unit_weights;
  return fill_args<DT>(a, lam, wts, entries0, params, rec, t0, loss, lossg, divat, entries,
                       steps, 3, kParams, 1);
}

// Start step of configuration c; ptr: index of its first recorded step at or after it.
template <typename A>
JAXACCEL_HD long long start_step(const A& a, int c, int& ptr) {
  const long long t0 = a.t0[a.t0_pc ? c : 0];
  ptr = 0;
  while (ptr < a.R && a.rec[ptr] < t0) ++ptr;
  return t0;
}

// Divergence test and recording at step t with the global sums (sl, sg) of the state (the rule
// of the XLA scan); only the writer stores. Returns true when the run must stop.
template <typename T, typename A>
JAXACCEL_HD bool record_step(const A& a, int c, double sl, double sg, double thr, long long t,
                             int& ptr, long long& div, bool writer) {
  const T L = T(0.5 * sl), Lg = T(0.5 * sg);
  const bool bad = !(JAXACCEL_ISFINITE(L) && JAXACCEL_ISFINITE(Lg)) || double(L > Lg ? L : Lg) > thr;
  if (div < 0 && bad) div = t;
  if (ptr < a.R && a.rec[ptr] == t) {
    if (writer) {
      a.loss[(long long)c * a.R + ptr] = L;
      a.lossg[(long long)c * a.R + ptr] = Lg;
    }
    ++ptr;
  }
  return div >= 0;
}

// First divergent step of configuration c; recorded steps never reached are NaN.
template <typename T, typename A>
JAXACCEL_HD void finish_config(const A& a, int c, int ptr, long long div) {
  a.divat[c] = int32_t(div);
  for (int p = ptr; p < a.R; ++p) {
    a.loss[(long long)c * a.R + p] = T(NAN);
    a.lossg[(long long)c * a.R + p] = T(NAN);
  }
}

}  // namespace jaxaccel
