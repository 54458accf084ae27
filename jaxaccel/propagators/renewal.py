"""The renewal (Volterra) form of the loss: solvers, the loss curve, the non-stationary case.

Theory: ``docs/theory/sgd_memory.md`` §4.3-§4.4. The loss is built from the propagators through

.. math::  \\tilde L_t = \\tfrac12\\tilde V_{t+1} + \\sum_{s<t}\\tilde U_{t-s}\\tilde L_s,\\qquad
           L_t = \\tfrac12 V_{t+1} + \\sum_{s<t} U_{t-s}\\tilde L_s .

:func:`renewal` solves these directly (``O(T^2)``) or by banded FFT convolutions
(``O(T log^2 T)``); :func:`loss_curve` chains :func:`~jaxaccel.propagator_sequences` and
:func:`renewal` into a loss curve; :func:`renewal_nonstationary` solves the two-time version
for schedules (validation of the direct simulation, ``O(T^2 N)``).
"""

from __future__ import annotations

import functools
from typing import Any, Callable, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm, check_algorithm
from jaxaccel.moments.engine import SimulationResult, make_result, pairwise_sum
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.propagators.horizon import loss_curve_piecewise
from jaxaccel.propagators.operator import apply_A
from jaxaccel.propagators.sequences import Propagators, propagator_sequences
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum


class RenewalResult(NamedTuple):
    """Solution of the renewal equations for ``t = 0..T``.

    Attributes:
        loss: ``(T+1,)`` :math:`L_t`.
        loss_at_gradient_point: ``(T+1,)`` :math:`\\tilde L_t`.
    """

    loss: np.ndarray
    loss_at_gradient_point: np.ndarray



# ========================================================================= renewal solvers
@jax.jit
def _renewal_direct_kernel(f_t, k_t, f, k):
    """``x_t = f_t[t] + sum_{s<t} k_t[t-s-1] x_s`` and ``y_t = f[t] + sum_{s<t} k[t-s-1] x_s``."""
    T1 = f.shape[0]
    z = jnp.zeros(T1, f.dtype)
    kr_t = jnp.concatenate([k_t[: T1 - 1][::-1], z])
    kr = jnp.concatenate([k[: T1 - 1][::-1], z])

    def body(t, carry):
        x, y = carry
        x = x.at[t].set(f_t[t] + jax.lax.dynamic_slice(kr_t, (T1 - 1 - t,), (T1,)) @ x)
        y = y.at[t].set(f[t] + jax.lax.dynamic_slice(kr, (T1 - 1 - t,), (T1,)) @ x)
        return x, y

    return jax.lax.fori_loop(0, T1, body, (z, z))


class _BandedConvolution:
    """Causal convolution ``y_t = f_t + sum_{s<t} k_{t-s} x_s`` (``k_n`` for ``n >= 1``),
    solved online (``x = y``) or for a given ``x``, in ``O(T log^2 T)``.

    Lags below the base block ``B`` are handled with dense ``B x B`` Toeplitz blocks (a
    precomputed inverse in the online solve). Lags in ``[2^j, 2^(j+1))``, ``2^j >= B``, are
    added by FFT convolutions of aligned source chunks of length ``2^j``, fired as soon as a
    chunk is complete. Each FFT sees a kernel band whose values vary by a bounded factor and a
    source chunk whose values vary by a bounded factor (except the first chunk), which keeps
    the FFT rounding error relative to the (non-negative) sums instead of relative to the
    largest value of the whole sequence.
    """

    def __init__(self, k, T1, base=256):
        from scipy.linalg import solve_triangular  # jax depends on scipy

        self.T1, self.B = T1, base
        n = max(2 * T1, 4 * base)
        kk = np.zeros(n + 1)
        kk[1: min(n, len(k)) + 1] = k[: n]
        self.kk = kk
        B = base
        i, j = np.meshgrid(np.arange(B), np.arange(B), indexing="ij")
        self.Kin = np.where(i > j, kk[np.clip(i - j, 0, n)], 0.0)
        self.Kprev = np.where(i < j, kk[np.clip(B + i - j, 0, n)], 0.0)
        self.Rin = solve_triangular(np.eye(B) - self.Kin, np.eye(B), lower=True, unit_diagonal=True)
        self.bands = {}

    def _band(self, L):
        if L not in self.bands:
            self.bands[L] = np.fft.rfft(self.kk[L: 2 * L], 2 * L)
        return self.bands[L]

    def run(self, f, x=None):
        T1, B = self.T1, self.B
        solve = x is None
        xs = np.zeros(T1) if solve else np.asarray(x, dtype=np.float64)
        y = np.zeros(T1)
        acc = np.zeros(T1 + 2 * T1)
        for a in range(0, T1, B):
            b = min(a + B, T1)
            nb = b - a
            rhs = f[a:b] + acc[a:b]
            if a > 0:
                rhs = rhs + (self.Kprev @ xs[a - B: a])[:nb]
            if solve:
                xs[a:b] = self.Rin[:nb, :nb] @ rhs
                y[a:b] = xs[a:b]
            else:
                y[a:b] = rhs + self.Kin[:nb, :nb] @ xs[a:b]
            if b >= T1 or not np.all(np.isfinite(xs[a:b])):
                if b < T1:  # diverged to inf/nan: the rest is not defined
                    y[b:] = np.nan
                    if solve:
                        xs[b:] = np.nan
                    break
                continue
            L = B
            while b % L == 0:
                conv = np.fft.irfft(np.fft.rfft(xs[b - L: b], 2 * L) * self._band(L), 2 * L)
                acc[b: b + 2 * L - 1] += conv[: 2 * L - 1]
                L *= 2
        return y


def renewal(props: Propagators, method: str = "auto",
            label_noise: Optional[Tuple[Any, Any]] = None) -> RenewalResult:
    """Solve the renewal (Volterra) equations of theory §4.4 for ``t = 0..T``.

    .. math::  \\tilde L_t = \\tfrac12\\tilde V_{t+1} + \\sum_{s=0}^{t-1}\\tilde U_{t-s}\\tilde L_s,
               \\qquad L_t = \\tfrac12 V_{t+1} + \\sum_{s=0}^{t-1} U_{t-s}\\tilde L_s .

    With label noise (theory §3.5) both equations gain the forcing
    ``sigma2/2 sum_{n=1}^{t} Ubar~_n`` and ``sigma2/2 sum_{n=1}^{t} Ubar_n``, where ``Ubar`` are
    the noise propagators with ``tau1 = 1``: pass ``label_noise=(sigma2, unit_props)``
    (``unit_props`` the :class:`Propagators` computed with ``tau1 = 1``; :func:`loss_curve`
    does this).

    Methods: ``"direct"`` (``O(T^2)``, jitted ``fori_loop`` of dot products), ``"fft"``
    (banded FFT online convolution, ``O(T log^2 T)``, NumPy; agrees with ``"direct"`` to
    ~1e-13 relative on non-negative propagators, tested to 1e-10), ``"auto"`` (direct for
    ``T < 4096``). In a diverging run the FFT path keeps this accuracy up to the divergence
    threshold (``1e10 L_0``); far beyond it (``~1e100 L_0``) its relative accuracy degrades.

    Args:
        props: :class:`Propagators` at ``times = 1..T+1`` (e.g. from :func:`propagator_sequences`).
        method: ``"auto"``, ``"direct"`` or ``"fft"``.

    Returns:
        :class:`RenewalResult` (NumPy arrays of length ``T + 1``; a divergent run gives
        ``inf``/``nan`` after the blow-up). Host-side (NumPy) solver: not traceable by
        ``jax.jit``/``jax.vmap``; :func:`loss_curve` flags divergence with its step.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(200, nu=1.5, zeta=0.5)
        >>> alg = ja.heavy_ball(0.5, 0.5)
        >>> r = renewal(ja.propagator_sequences(s, alg, 50, batch_size=5))
        >>> sim = ja.simulate(s, alg, 50, batch_size=5)
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    if not isinstance(props, Propagators):
        raise ValueError(f"props must be Propagators, got {type(props).__name__}")
    times = np.asarray(props.times)
    T1 = times.shape[0]
    if T1 == 0 or not np.array_equal(times, np.arange(1, T1 + 1)):
        raise ValueError("props.times must be 1..T+1 (consecutive, from propagators())")
    if method not in ("auto", "direct", "fft"):
        raise ValueError(f"method must be 'auto', 'direct' or 'fft', got {method!r}")
    if method == "auto":
        method = "direct" if T1 < 4096 else "fft"
    U, Ut, Vv, Vt = (np.asarray(x, dtype=np.float64) for x in props[1:])
    f_t, f = 0.5 * Vt, 0.5 * Vv
    if label_noise is not None:
        sigma2, unit = label_noise
        sigma2 = float(sigma2)
        if not (np.isfinite(sigma2) and sigma2 >= 0):
            raise ValueError(f"sigma2 must be a finite number >= 0, got {sigma2}")
        if not (isinstance(unit, Propagators) and np.array_equal(np.asarray(unit.times), times)):
            raise ValueError("label_noise must be (sigma2, Propagators at the same times)")
        # sum_{s<t} Ubar_{t-s} = sum_{n=1}^{t} Ubar_n; the entry for lag n is at index n - 1
        cum = lambda x: np.concatenate([[0.0], np.cumsum(np.asarray(x, np.float64))[:-1]])  # noqa: E731
        f_t = f_t + 0.5 * sigma2 * cum(unit.U_tilde)
        f = f + 0.5 * sigma2 * cum(unit.U)
    if method == "direct":
        lt, l = _renewal_direct_kernel(jnp.asarray(f_t), jnp.asarray(Ut),
                                       jnp.asarray(f), jnp.asarray(U))
        return RenewalResult(np.asarray(l), np.asarray(lt))
    bc = _BandedConvolution(Ut, T1)
    with np.errstate(over="ignore", invalid="ignore"):
        lt = bc.run(f_t)
        if np.array_equal(U, Ut) and np.array_equal(f, f_t):
            return RenewalResult(lt.copy(), lt)
        l = _BandedConvolution(U, T1).run(f, lt)
    return RenewalResult(l, lt)


def loss_curve(spectrum: Spectrum, algorithm: Union[MemoryAlgorithm, Callable[..., MemoryAlgorithm]],
               steps: int, batch_size: Union[None, Scalar, NoiseModel, Callable] = None,
               tau: Optional[Tuple[Scalar, Scalar]] = None, record: RecordSpec = "all", *,
               propagator_method: str = "auto", renewal_method: str = "auto",
               divergence_threshold: float = 1e10, method: str = "renewal",
               **piecewise_options: Any) -> SimulationResult:
    """Loss curve of a stationary algorithm from its propagators and the renewal equations,
    or (``method="piecewise"``) of a slowly varying schedule over long horizons.

    ``method="piecewise"`` (:mod:`jaxaccel.propagators.horizon`): ``algorithm`` is a callable
    ``t -> MemoryAlgorithm`` (e.g. ``ja.am1_schedule(...).algorithm``) and ``batch_size`` a
    number or a callable ``t -> b_t``; the first ``direct_steps`` (default 1000) steps are
    simulated exactly, then the parameters are frozen on pieces whose lengths grow by ``ratio``
    (default 1.01) and the stationary map of each piece is applied in closed form, so the cost
    grows like ``log T``, not ``T``. ``max_variation`` (default 0.05): a schedule that changes
    more than that (relative) across a piece is refused with ``ValueError``. At most 1e5
    recorded steps (use ``record="log"``). Measured against the exact run
    (``tests/test_horizon.py``): AM1 within 3e-4 to T = 1e5 and 1e-3 to 1e6, Jacobi Heavy Ball
    within 1e-5; AM1 to T = 1e8 in ~4 s on two cores.

    The same quantity as :func:`jaxaccel.simulate` (Algorithm A), computed as
    :func:`propagator_sequences` + :func:`renewal` (theory §4.4). With ``propagator_method="eigen"`` and
    ``renewal_method="fft"`` the cost is ``O(N) + O(T (clusters + log^2 T))`` instead of
    ``O(N T)``, which pays off for long horizons (see ``benchmarks/bench_propagators.py``).

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm.
        steps: horizon ``T`` (positive int).
        batch_size: positive scalar, ``None`` or a :class:`~jaxaccel.NoiseModel` (its
            ``sigma2`` adds the label-noise forcing of theory §3.5; ``loss`` is then the
            excess risk).
        tau: ``(tau1, tau2)``.
        record: steps to return, as in :func:`~jaxaccel.simulate`.
        propagator_method: see :func:`propagator_sequences`.
        renewal_method: see :func:`renewal`.
        divergence_threshold: as in :func:`~jaxaccel.simulate`: flagged when ``L_t``
            or ``L~_t`` is not finite or exceeds ``divergence_threshold * L_0``.

    Returns:
        :class:`~jaxaccel.moments.SimulationResult` (``state`` is ``None``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)
        >>> r = loss_curve(s, ja.nesterov(0.3, 0.6), 100, batch_size=5, record=[10, 100])
        >>> sim = ja.simulate(s, ja.nesterov(0.3, 0.6), 100, batch_size=5, record=[10, 100])
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    if method == "piecewise":
        return loss_curve_piecewise(spectrum, algorithm, steps, batch_size, tau, record,
                                    divergence_threshold=divergence_threshold,
                                    **piecewise_options)
    if method != "renewal":
        raise ValueError(f"method must be 'renewal' or 'piecewise', got {method!r}")
    if piecewise_options:
        raise ValueError(f"unknown arguments {sorted(piecewise_options)} (options of "
                         "method='piecewise' only)")
    steps = V.check_positive_int(steps, "steps")
    if not (np.isfinite(divergence_threshold) and divergence_threshold > 0):
        raise ValueError("divergence_threshold must be finite and > 0")
    rec = record_steps(record, steps)
    noise = as_noise_model(batch_size, tau)
    props = propagator_sequences(spectrum, algorithm, steps, noise, method=propagator_method)
    label = None
    if noise.has_label_noise and not noise.is_full_batch:
        # the noise propagators are linear in tau1: divide, unless tau1 = 0 (then recompute)
        t1 = float(noise.tau1) if V.is_concrete(noise.tau1) else None
        if t1:
            unit = props._replace(U=props.U / t1, U_tilde=props.U_tilde / t1)
        else:
            unit = propagator_sequences(spectrum, algorithm, steps,
                                        NoiseModel(noise.batch_size, 1.0, noise.tau2),
                                        method=propagator_method)
        label = (noise.sigma2, unit)
    res = renewal(props, method=renewal_method, label_noise=label)
    L, Lt = res.loss, res.loss_at_gradient_point
    thr = divergence_threshold * max(float(spectrum.initial_loss), np.finfo(np.float64).tiny)
    with np.errstate(invalid="ignore"):
        bad = ~(np.isfinite(L) & np.isfinite(Lt)) | (np.maximum(L, Lt) > thr)
    div_at = int(np.argmax(bad)) if bad.any() else -1
    after = (rec > div_at) if div_at >= 0 else np.zeros(rec.shape, bool)
    loss = np.where(after | ~np.isfinite(L[rec]), np.inf, L[rec])
    lossg = np.where(after | ~np.isfinite(Lt[rec]), np.inf, Lt[rec])
    return make_result(rec, jnp.asarray(loss), jnp.asarray(lossg), jnp.asarray(div_at >= 0),
                   jnp.asarray(div_at, jnp.int32), None)


# ================================================================ non-stationary renewal
@functools.partial(jax.jit, static_argnames=("steps",))
def _nonstationary_kernel(lam, m, c2, parts, w_read, eps, noise_scale, *, steps):
    """Two-time propagators ``V(t,0), V~(t,0)`` and ``U(t,s), U~(t,s)`` (theory §4.4 (80)-(84))
    with one noise packet per injection time: ``O(T^2 N)`` (validation only)."""
    S0s, vs, ws = parts  # (steps, ...) per-step parameters
    K = vs.shape[-1]
    n, T1 = lam.shape[0], steps + 1
    sig = lam * c2
    noi = m * lam * lam
    Zs0 = jnp.zeros((n, K, K), lam.dtype).at[:, 0, 0].set(1.0)
    buf0 = jnp.zeros((T1, n, K, K), lam.dtype)

    def body(carry, xs):
        Zs, buf = carry
        t, S0, v, w, wr, e, ns = xs
        Vt0 = pairwise_sum(sig * Zs[:, 0, 0])
        Vtt = pairwise_sum(sig * jnp.einsum("i,nij,j->n", wr, Zs, wr))
        Us = pairwise_sum(noi * buf[:, :, 0, 0])  # (T1,) over injection times s
        Uts = pairwise_sum(noi * jnp.einsum("i,snij,j->sn", wr, buf, wr))
        Zs = apply_A(Zs, lam, S0, v, w, e)
        buf = apply_A(buf, jnp.broadcast_to(lam, (T1, n)), S0, v, w, e)
        buf = buf.at[jnp.minimum(t, T1 - 1)].set(ns * jnp.broadcast_to(v[:, None] * v[None, :], (n, K, K)))
        return (Zs, buf), (Vt0, Vtt, Us, Uts)

    ts = jnp.arange(T1)
    idx = jnp.minimum(ts, steps - 1)
    xs = (ts, S0s[idx], vs[idx], ws[idx], w_read, eps[idx], noise_scale[idx])
    _, out = jax.lax.scan(body, (Zs0, buf0), xs)
    return out


def renewal_nonstationary(spectrum: Spectrum, algorithm: MemoryAlgorithm, steps: int,
                          batch_size: Union[None, Scalar, Float[ArrayLike, "T"], NoiseModel] = None,
                          tau: Optional[Tuple[Scalar, Scalar]] = None) -> RenewalResult:
    """Loss of a (possibly time-dependent) algorithm by the non-stationary renewal equations.

    .. math::  \\tilde L_t = \\tfrac12\\tilde V(t,0) + \\sum_{s<t}\\tilde U(t,s)\\tilde L_s,
               \\qquad L_t = \\tfrac12 V(t,0) + \\sum_{s<t}U(t,s)\\tilde L_s,

    with :math:`U(t,s) = \\frac{\\tau_1}{b_s}\\sum_k m_k\\lambda_k^2\\langle E_{11},
    \\mathcal A_{\\lambda_k,t-1}\\cdots\\mathcal A_{\\lambda_k,s+1}(v_sv_s^T)\\rangle` and
    :math:`V(t,0) = \\sum_k\\lambda_kc_k^2\\langle E_{11},\\mathcal A_{\\lambda_k,t-1}\\cdots
    \\mathcal A_{\\lambda_k,0}E_{11}\\rangle` (tildes: :math:`\\bar w_t\\bar w_t^T` on the left;
    theory §4.4, (80)-(84)). One noise packet per injection time: ``O(T^2 N)`` time and
    ``O(T N)`` memory, meant for validating small problems. The read-out vector at the final
    step ``T`` is that of step ``T - 1`` (as in :func:`~jaxaccel.simulate`).

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm or schedule covering ``steps`` steps.
        steps: positive int ``T``.
        batch_size: ``None``, a positive scalar or a ``(T,)`` array.
        tau: ``(tau1, tau2)``.

    Returns:
        :class:`RenewalResult` for ``t = 0..T``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(50, nu=1.5, zeta=0.5)
        >>> alg = ja.heavy_ball(np.linspace(0.2, 0.6, 30), 0.5)
        >>> r = renewal_nonstationary(s, alg, 30, batch_size=4)
        >>> sim = ja.simulate(s, alg, 30, batch_size=4)
        >>> bool(np.allclose(r.loss, sim.loss, rtol=1e-12, atol=0))
        True
    """
    check_spectrum(spectrum)
    check_algorithm(algorithm, finite=False)
    steps = V.check_positive_int(steps, "steps")
    dtype = spectrum.dtype
    alg = check_algorithm(algorithm.astype(dtype))
    if alg.is_stationary:
        alg = alg.map_leaves(lambda x: jnp.broadcast_to(x, (steps,) + x.shape))
    elif alg.num_steps < steps:
        raise ValueError(f"algorithm schedule has {alg.num_steps} steps, need >= steps={steps}")
    alg = alg.truncate(steps)
    noise = as_noise_model(batch_size, tau, schedule=True)
    inv_b = jnp.broadcast_to(noise.inverse_batch(dtype, steps), (steps,))
    t = noise.tau(dtype)
    parts = alg.transition_parts()
    w_read = jnp.concatenate([parts[2], parts[2][-1:]], axis=0)  # (T+1, K)
    Vt0, Vtt, Us, Uts = (np.asarray(x) for x in _nonstationary_kernel(
        spectrum.eigenvalues, spectrum.weights, spectrum.c2, parts, w_read, t[1] * inv_b,
        t[0] * inv_b, steps=steps))
    T1 = steps + 1
    Lt = np.zeros(T1)
    L = np.zeros(T1)
    for k in range(T1):  # rows t of the lower-triangular Volterra system
        Lt[k] = 0.5 * Vtt[k] + Uts[k, :k] @ Lt[:k]
        L[k] = 0.5 * Vt0[k] + Us[k, :k] @ Lt[:k]
    return RenewalResult(L, Lt)
