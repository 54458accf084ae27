// CPU kernel for the memory-1 SE recursion (Algorithm A, theory §3.4), exposed to JAX through the
// XLA FFI (targets jaxaccel_memory1_cpu_f32 / jaxaccel_memory1_cpu_f64); the same operands,
// results and semantics as the CUDA kernel (memory1_se.cu).
//
// Each step is one pass over the state: read c11, c12, c22, lambda (and m), write the new
// entries and add lambda c11' and lambda g' of the new state to the global sums of the next
// step, in float64, per block of 1024 eigenvalues and then over the blocks (a two-level sum:
// error ~ (1024 + N / 1024) eps; the same totals for any number of threads). The XLA scan needs
// ~30 passes per step on a CPU. Configurations (vmap) are spread over the hardware threads, and a
// single large run (N >= 2 x 32768) over up to JAXACCEL_NUM_THREADS (default: all) threads.
// memory_m_cpu.h (included at the end) adds the kernel for memory 1..4 with schedules.
#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "memory1_ffi.h"

namespace {

using namespace jaxaccel;

constexpr long long kBlock = 1024;
constexpr long long kPerThread = 32768;  // fewest eigenvalues worth a thread of one run

// Per-block global sums (lambda c11, lambda g) of blocks [b0, b1) into out[2 b], out[2 b + 1]:
// of the state, or (STEP) of the state after one step with the global scalar G (in place).
template <typename T, bool SHIFT, bool UNIT, bool STEP>
void block_pass(const Coef<T>& q, long long n, const T* lam, const T* w, T* X11, T* X12, T* X22,
                T G, long long b0, long long b1, double* out) {
  for (long long blk = b0; blk < b1; ++blk) {
    const long long base = blk * kBlock, end = std::min(n, base + kBlock);
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
    out[2 * blk] = bl;
    out[2 * blk + 1] = SHIFT ? bg : bl;
  }
}

// Totals of the block sums, in block order (so they do not depend on the number of threads).
inline void totals(const double* bs, long long nb, double& sl, double& sg) {
  sl = 0.0;
  sg = 0.0;
  for (long long b = 0; b < nb; ++b) {
    sl += bs[2 * b];
    sg += bs[2 * b + 1];
  }
}

// Generation barrier for the threads of one run: spin for a few microseconds (a step of a run
// worth splitting takes tens), then sleep on the generation counter (C++20 atomic wait), so a
// waiting thread gives its core to a late one on an oversubscribed machine.
class Barrier {
 public:
  explicit Barrier(int n) : n_(n) {}
  void wait() {
    if (n_ == 1) return;
    const unsigned gen = gen_.load(std::memory_order_acquire);
    if (count_.fetch_add(1, std::memory_order_acq_rel) + 1 == n_) {
      count_.store(0, std::memory_order_relaxed);
      gen_.fetch_add(1, std::memory_order_release);
      gen_.notify_all();
      return;
    }
    for (int i = 0; i < 50000; ++i)
      if (gen_.load(std::memory_order_acquire) != gen) return;
    while (gen_.load(std::memory_order_acquire) == gen) gen_.wait(gen, std::memory_order_acquire);
  }

 private:
  const int n_;
  std::atomic<int> count_{0};
  std::atomic<unsigned> gen_{0};
};

// All steps of configuration c on nth threads, each owning a contiguous range of blocks. Every
// thread sums all block sums itself (same order, same totals, same decisions); the block sums
// are double-buffered by step parity, so one barrier per step suffices. observe(out) writes the
// block sums of the initial state; step(k, G, b0, b1, out) advances blocks [b0, b1) by step k.
template <typename T, typename Observe, typename Step>
void drive(const Args<T>& a, int c, int nth, double thr, Observe observe, Step step) {
  const long long nb = (a.n + kBlock - 1) / kBlock;
  std::vector<double> bs(4 * nb);
  observe(bs.data());
  double sl0, sg0;
  totals(bs.data(), nb, sl0, sg0);
  int ptr0;
  const long long t0 = start_step(a, c, ptr0);
  Barrier barrier(nth);
  auto worker = [&](int id) {
    const long long b0 = nb * id / nth, b1 = nb * (id + 1) / nth;
    double sl = sl0, sg = sg0;
    int ptr = ptr0;
    long long div = -1;
    for (long long k = 0;; ++k) {
      if (record_step<T>(a, c, sl, sg, thr, t0 + k, ptr, div, id == 0) || k == a.steps) break;
      double* out = bs.data() + 2 * nb * (k & 1);
      step(k, T(sg), b0, b1, out);
      barrier.wait();
      totals(out, nb, sl, sg);
    }
    if (id == 0) finish_config<T>(a, c, ptr, div);
  };
  if (nth == 1) {
    worker(0);
    return;
  }
  std::vector<std::thread> pool;
  for (int id = 1; id < nth; ++id) pool.emplace_back(worker, id);
  worker(0);
  for (auto& th : pool) th.join();
}

// The tuned stationary memory-1 kernel: three entries per eigenvalue, one coefficient row.
template <typename T, bool SHIFT, bool UNIT>
void run_config(const Args<T>& a, int c, int nth) {
  const long long n = a.n, nb = (n + kBlock - 1) / kBlock;
  const Coef<T> q = load_coef<T>(a.params + (a.par_pc ? (long long)c * kParams : 0));
  const T* lam = a.lam + (a.lam_pc ? c * n : 0);
  const T* w = a.wts + (a.wts_pc ? c * n : 0);
  T* X11 = a.entries + 3 * c * n;
  T* X12 = X11 + n;
  T* X22 = X12 + n;
  std::memcpy(X11, a.entries0 + (a.e0_pc ? 3 * c * n : 0), sizeof(T) * 3 * n);
  drive<T>(
      a, c, nth, q.thr,
      [&](double* out) {
        block_pass<T, SHIFT, UNIT, false>(q, n, lam, w, X11, X12, X22, T(0), 0, nb, out);
      },
      [&](long long, T G, long long b0, long long b1, double* out) {
        block_pass<T, SHIFT, UNIT, true>(q, n, lam, w, X11, X12, X22, G, b0, b1, out);
      });
}

int hardware_threads() {
  const char* env = std::getenv("JAXACCEL_NUM_THREADS");
  const int want = env ? std::atoi(env) : 0;
  return want > 0 ? want : (int)std::max(1u, std::thread::hardware_concurrency());
}

// Configurations are spread over the threads; with fewer configurations than threads, each
// run splits its eigenvalues (at least kPerThread per thread). one(a, c, nth) runs one.
template <typename T, typename One>
void run_configs(const Args<T>& a, One one) {
  const int hw = hardware_threads();
  if (a.C < hw) {
    const long long by_size = std::max(1LL, a.n / kPerThread);
    const int nth = (int)std::min<long long>(hw / a.C, by_size);
    for (int c = 0; c < a.C; ++c) one(a, c, std::max(1, nth));
    return;
  }
  std::vector<std::thread> pool;
  for (int id = 0; id < hw; ++id)
    pool.emplace_back([&, id] {
      for (int c = id; c < a.C; c += hw) one(a, c, 1);
    });
  for (auto& th : pool) th.join();
}

template <typename T>
void run_all(const Args<T>& a, bool shift, bool unit) {
  run_configs(a, shift ? (unit ? &run_config<T, true, true> : &run_config<T, true, false>)
                       : (unit ? &run_config<T, false, true> : &run_config<T, false, false>));
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

// The general memory-M kernel with per-step parameters (schedules), sharing the helpers above.
#include "memory_m_cpu.h"
