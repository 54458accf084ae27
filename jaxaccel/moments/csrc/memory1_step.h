// One step of the memory-1 SE recursion (Algorithm A, theory §3.4) for one eigenvalue, shared by
// the CUDA kernel (memory1_se.cu) and the CPU kernel (memory1_cpu.cc).
//
//   C <- S C S^T + noise v v^T,  S = S0 + lambda v wbar^T,
//   noise = G (tau1 / b) (lambda m) + (sigma2 / b) (lambda m) - (tau2 / b) lambda^2 g,
//   g = wbar^T C wbar (sigma2: the label-noise variance, theory §3.5),
//
// on the unique entries (c11, c12, c22) of the 2x2 block; G = sum_k lambda_k g_k (theory §3.3).
#pragma once

#ifdef __CUDACC__
#define JAXACCEL_HD __host__ __device__ __forceinline__
#else
#define JAXACCEL_HD inline
#endif

namespace jaxaccel {

// Coefficient vector passed by Python (jaxaccel.native.coefficients), float64:
// s00 s01 s10 s11 v0 v1 w0 w1 tau1/b tau2/b threshold sigma2/b
constexpr int kParams = 12;

template <typename T>
struct Coef {
  T s00, s01, s10, s11, v0, v1, w0, w1, nb1, nb2, nbs;
  T vv00, vv01, vv11, ww00, ww01, ww11;  // products formed once per run
  double thr;
};

template <typename T>
JAXACCEL_HD Coef<T> load_coef(const double* p) {
  Coef<T> q;
  q.s00 = T(p[0]); q.s01 = T(p[1]); q.s10 = T(p[2]); q.s11 = T(p[3]);
  q.v0 = T(p[4]); q.v1 = T(p[5]); q.w0 = T(p[6]); q.w1 = T(p[7]);
  q.nb1 = T(p[8]); q.nb2 = T(p[9]); q.thr = p[10]; q.nbs = T(p[11]);
  q.vv00 = q.v0 * q.v0; q.vv01 = q.v0 * q.v1; q.vv11 = q.v1 * q.v1;
  q.ww00 = q.w0 * q.w0; q.ww01 = T(2) * (q.w0 * q.w1); q.ww11 = q.w1 * q.w1;
  return q;
}

// g = wbar^T C wbar (c11 itself when there is no gradient shift: wbar = e1).
template <typename T, bool SHIFT>
JAXACCEL_HD T quad(const Coef<T>& q, T c11, T c12, T c22) {
  if (SHIFT) return q.ww00 * c11 + q.ww01 * c12 + q.ww11 * c22;
  return c11;
}

// One SE step for one eigenvalue (lm = lambda m); adds lambda c11' and lambda g' of the new
// state to the running sums (kept in type A). g' uses the read-out vector of qn (the next step's
// parameters of a schedule; q itself for a stationary run).
template <typename T, bool SHIFT, typename A = T>
JAXACCEL_HD void se_step(const Coef<T>& q, const Coef<T>& qn, T lam, T lm, T G, T& c11, T& c12,
                         T& c22, A& acc_l, A& acc_g) {
  T a00, a01, a10, a11;
  if (SHIFT) {
    a00 = q.s00 + lam * (q.v0 * q.w0); a01 = q.s01 + lam * (q.v0 * q.w1);
    a10 = q.s10 + lam * (q.v1 * q.w0); a11 = q.s11 + lam * (q.v1 * q.w1);
  } else {
    a00 = q.s00 + lam * q.v0; a01 = q.s01; a10 = q.s10 + lam * q.v1; a11 = q.s11;
  }
  const T g = quad<T, SHIFT>(q, c11, c12, c22);
  const T noise = G * (q.nb1 * lm) + q.nbs * lm - (q.nb2 * (lam * lam)) * g;
  const T t00 = a00 * c11 + a01 * c12, t01 = a00 * c12 + a01 * c22;
  const T t10 = a10 * c11 + a11 * c12, t11 = a10 * c12 + a11 * c22;
  c11 = t00 * a00 + t01 * a01 + noise * q.vv00;
  c12 = t00 * a10 + t01 * a11 + noise * q.vv01;
  c22 = t10 * a10 + t11 * a11 + noise * q.vv11;
  acc_l += A(lam * c11);
  if (SHIFT) acc_g += A(lam * quad<T, SHIFT>(qn, c11, c12, c22));
}

template <typename T, bool SHIFT, typename A = T>
JAXACCEL_HD void se_step(const Coef<T>& q, T lam, T lm, T G, T& c11, T& c12, T& c22, A& acc_l,
                         A& acc_g) {
  se_step<T, SHIFT, A>(q, q, lam, lm, G, c11, c12, c22, acc_l, acc_g);
}

}  // namespace jaxaccel
