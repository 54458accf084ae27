// CPU kernel of the SE recursion (Algorithm A, theory §3.4) for any memory M = 1..4 (blocks of
// size K = M + 1) with per-step parameters: schedules of (alpha, a, b, c, D) and of the batch
// size b_t (FFI targets jaxaccel_memory_cpu_f32 / jaxaccel_memory_cpu_f64). Included by
// memory1_cpu.cc, whose tuned memory-1 kernel keeps the stationary memory-1 case.
//
// State: the P = K(K+1)/2 unique entries of each symmetric block, row-major upper triangle,
// as P arrays of N (the layout of the XLA scan). One step for one eigenvalue lambda:
//
//   S = S0 + lambda v wbar^T,   g = wbar^T C wbar,   G = sum_j lambda_j g_j (of the state),
//   C <- S C S^T + (G (tau1/b) lambda m + (sigma2/b) lambda m - (tau2/b) lambda^2 g) v v^T,
//
// and the new state adds lambda C_11 and lambda wbar'^T C wbar' to the global sums of the next
// step, where wbar' is the read-out vector of the next step (the scan's rule for schedules).
// Coefficients per step (float64, Q = K^2 + 2K + 4): S0 row-major, v, wbar, tau1/b, tau2/b, the
// divergence threshold, sigma2/b (label noise); one row (stationary) or `steps` rows (schedule).
#pragma once

// The loops over block indices (trip counts K, P <= 15) are fully unrolled (#pragma GCC unroll)
// so that the loop over eigenvalues vectorises.

namespace jaxaccel_m {

using namespace jaxaccel;

constexpr int coef_size(int K) { return K * K + 2 * K + 4; }

template <int K>
struct CoefM {
  double s0[K][K], v[K], w[K], nb1, nb2, thr, nbs;
};

template <int K>
inline CoefM<K> load(const double* p) {
  CoefM<K> q;
  #pragma GCC unroll 32
  for (int i = 0; i < K; ++i)
    #pragma GCC unroll 32
    for (int j = 0; j < K; ++j) q.s0[i][j] = p[i * K + j];
  #pragma GCC unroll 32
  for (int i = 0; i < K; ++i) q.v[i] = p[K * K + i];
  #pragma GCC unroll 32
  for (int i = 0; i < K; ++i) q.w[i] = p[K * K + K + i];
  q.nb1 = p[K * K + 2 * K];
  q.nb2 = p[K * K + 2 * K + 1];
  q.thr = p[K * K + 2 * K + 2];
  q.nbs = p[K * K + 2 * K + 3];
  return q;
}

// index of entry (i, j), i <= j, in the row-major upper triangle
constexpr int tri(int K, int i, int j) { return i * K - i * (i - 1) / 2 + (j - i); }

// wbar^T C wbar (C_11 when there is no gradient shift)
template <typename T, int K, bool SHIFT>
inline T quad_m(const T* w, const T* c) {
  if (!SHIFT) return c[0];
  T s = T(0);
  #pragma GCC unroll 32
  for (int i = 0; i < K; ++i)
    #pragma GCC unroll 32
    for (int j = i; j < K; ++j) s += (i == j ? T(1) : T(2)) * (w[i] * w[j]) * c[tri(K, i, j)];
  return s;
}

template <typename T, int K>
struct StepM {  // one step's coefficients in the run's type
  T s0[K][K], v[K], w[K], wn[K], nb1, nb2, nbs;
  double thr;
  Coef<T> m1, m1n;  // K = 2: the same step in the tuned memory-1 form (memory1_step.h)
};

// The coefficients of a step from its row and the next step's (whose wbar reads out the state).
// A K = 2 row is the 12 memory-1 coefficients (S0, v, wbar, tau1/b, tau2/b, threshold, sigma2/b).
template <typename T, int K>
inline StepM<T, K> step_coef(const double* row, const double* next) {
  const CoefM<K> q = load<K>(row), qn = load<K>(next);
  StepM<T, K> s;
  if (K == 2) {
    s.m1 = load_coef<T>(row);
    s.m1n = load_coef<T>(next);
  }
  #pragma GCC unroll 32
  for (int i = 0; i < K; ++i) {
    #pragma GCC unroll 32
    for (int j = 0; j < K; ++j) s.s0[i][j] = T(q.s0[i][j]);
    s.v[i] = T(q.v[i]);
    s.w[i] = T(q.w[i]);
    s.wn[i] = T(qn.w[i]);
  }
  s.nb1 = T(q.nb1);
  s.nb2 = T(q.nb2);
  s.nbs = T(q.nbs);
  s.thr = q.thr;
  return s;
}

#include "memory_m_steps.h"  // se_step_unrolled for K = 3, 4, 5 (generated, straight-line)

// Block sums (lambda C11, lambda g) of blocks [b0, b1): of the state (STEP false, with the
// read-out vector w) or of the state after one step (in place).
template <typename T, int K, bool SHIFT, bool UNIT, bool STEP>
void block_pass_m(const StepM<T, K>& q, long long n, const T* lam, const T* wts, T* X, T G,
                  long long b0, long long b1, double* out) {
  constexpr int P = K * (K + 1) / 2;
  for (long long blk = b0; blk < b1; ++blk) {
    const long long base = blk * kBlock, end = std::min(n, base + kBlock);
    double bl = 0.0, bg = 0.0;
#pragma omp simd reduction(+ : bl, bg)
    for (long long k = base; k < end; ++k) {
      const T l = lam[k];
      if constexpr (K == 2) {  // memory 1: the tuned step of the stationary kernel
        if (STEP) {
          T x11 = X[k], x12 = X[n + k], x22 = X[2 * n + k];
          se_step<T, SHIFT, double>(q.m1, q.m1n, l, UNIT ? l : l * wts[k], G, x11, x12, x22,
                                    bl, bg);
          X[k] = x11;
          X[n + k] = x12;
          X[2 * n + k] = x22;
        } else {
          bl += double(l * X[k]);
          if (SHIFT) bg += double(l * quad<T, SHIFT>(q.m1, X[k], X[n + k], X[2 * n + k]));
        }
      } else if (STEP) {
        se_step_unrolled<T, SHIFT>(q, l, UNIT ? l : l * wts[k], G, X, n, k, bl, bg);
      } else {
        T c[P];
#pragma GCC unroll 32
        for (int p = 0; p < P; ++p) c[p] = X[p * n + k];
        bl += double(l * c[0]);
        if (SHIFT) bg += double(l * quad_m<T, K, SHIFT>(q.w, c));
      }
    }
    out[2 * blk] = bl;
    out[2 * blk + 1] = SHIFT ? bg : bl;
  }
}

// All steps of configuration c (the driver of the memory-1 kernel, memory1_cpu.cc).
template <typename T, int K, bool SHIFT, bool UNIT>
void run_config_m(const Args<T>& a, int c, int nth) {
  constexpr int P = K * (K + 1) / 2;
  constexpr int Q = coef_size(K);
  const long long n = a.n, nb = (n + kBlock - 1) / kBlock;
  const double* par = a.params + (a.par_pc ? (long long)c * a.rows * Q : 0);
  auto coef = [&](long long k) {  // the coefficients of step k (the last row is reused)
    const long long r = std::min(k, a.rows - 1);
    return step_coef<T, K>(par + r * Q, par + std::min(r + 1, a.rows - 1) * Q);
  };
  const T* lam = a.lam + (a.lam_pc ? c * n : 0);
  const T* w = a.wts + (a.wts_pc ? c * n : 0);
  T* X = a.entries + (long long)P * c * n;
  std::memcpy(X, a.entries0 + (a.e0_pc ? (long long)P * c * n : 0), sizeof(T) * P * n);
  const StepM<T, K> q0 = coef(0);
  drive<T>(
      a, c, nth, q0.thr,
      [&](double* out) {
        block_pass_m<T, K, SHIFT, UNIT, false>(q0, n, lam, w, X, T(0), 0, nb, out);
      },
      [&](long long k, T G, long long b0, long long b1, double* out) {
        const StepM<T, K> q = a.rows > 1 ? coef(k) : q0;
        block_pass_m<T, K, SHIFT, UNIT, true>(q, n, lam, w, X, G, b0, b1, out);
      });
}

template <typename T, int K>
void run_all_m(const Args<T>& a, bool shift, bool unit) {
  run_configs(a, shift ? (unit ? &run_config_m<T, K, true, true> : &run_config_m<T, K, true, false>)
                       : (unit ? &run_config_m<T, K, false, true>
                               : &run_config_m<T, K, false, false>));
}

template <ffi::DataType DT>
ffi::Error memory_cpu_impl(ffi::Buffer<DT> lam, ffi::Buffer<DT> wts, ffi::Buffer<DT> entries0,
                           ffi::Buffer<ffi::F64> params, ffi::Buffer<ffi::S32> rec,
                           ffi::Buffer<ffi::S32> t0, ffi::ResultBuffer<DT> loss,
                           ffi::ResultBuffer<DT> lossg, ffi::ResultBuffer<ffi::S32> divat,
                           ffi::ResultBuffer<DT> entries, int64_t steps, int64_t K,
                           int64_t rows, int64_t shift, int64_t unit_weights) {
  using T = ffi::NativeType<DT>;
  if (K < 2 || K > 5) return ffi::Error::InvalidArgument("jaxaccel memory kernel: K must be 2..5");
  Args<T> a{};
  ffi::Error err = fill_args<DT>(a, lam, wts, entries0, params, rec, t0, loss, lossg, divat,
                                 entries, steps, K * (K + 1) / 2, rows * coef_size((int)K), rows);
  if (!err.success()) return err;
  const bool sh = shift != 0, un = unit_weights != 0;
  switch (K) {
    case 2: run_all_m<T, 2>(a, sh, un); break;
    case 3: run_all_m<T, 3>(a, sh, un); break;
    case 4: run_all_m<T, 4>(a, sh, un); break;
    default: run_all_m<T, 5>(a, sh, un); break;
  }
  return ffi::Error::Success();
}

template <ffi::DataType DT>
auto bind_m() {
  return bind_buffers<DT>(ffi::Ffi::Bind())
      .template Attr<int64_t>("steps")
      .template Attr<int64_t>("K")
      .template Attr<int64_t>("rows")
      .template Attr<int64_t>("shift")
      .template Attr<int64_t>("unit_weights");
}

}  // namespace jaxaccel_m

XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory_cpu_f32, jaxaccel_m::memory_cpu_impl<ffi::F32>,
                              jaxaccel_m::bind_m<ffi::F32>());
XLA_FFI_DEFINE_HANDLER_SYMBOL(jaxaccel_memory_cpu_f64, jaxaccel_m::memory_cpu_impl<ffi::F64>,
                              jaxaccel_m::bind_m<ffi::F64>());
