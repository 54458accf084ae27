"""Propagator sequences: the signal and noise propagators (17)-(18) at given times.

Theory: ``docs/theory/sgd_memory.md`` §4.2 (and Algorithm B). For ``n >= 1``, with node
weights ``m_k``,

.. math::
    V_n = \\sum_k \\lambda_k c_k^2\\langle E_{11},\\mathcal A^{n-1}_{\\lambda_k}E_{11}\\rangle,\\quad
    U_n = \\frac{\\tau_1}{b}\\sum_k m_k\\lambda_k^2
          \\langle E_{11},\\mathcal A^{n-1}_{\\lambda_k}(vv^T)\\rangle  \\tag{17-18}

(tildes: :math:`\\bar w\\bar w^T` on the left). :func:`propagator_sequences` gives them for
``n = 1..T+1`` by evolving two packets (Algorithm B, ``method="packets"``) or from an
eigen-decomposition of :math:`\\mathcal A_\\lambda` summed in compressed form
(``method="eigen"``); :func:`propagators_at` evaluates them at arbitrary times from the
eigen-decomposition, with no stepping.
"""

from __future__ import annotations

import functools

from typing import NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp

from jaxaccel import _validation as V
from jaxaccel._typing import ArrayLike, Int, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments.engine import pairwise_sum
from jaxaccel.noise import NoiseModel
from jaxaccel.propagators.operator import (apply_A, chunk_size, packet_vectors, prepare,
                                           shifted_matrix)
from jaxaccel.spectra.spectrum import Spectrum

# eigenvector-matrix condition number above which a node is treated as (near-)defective
_KAPPA_MAX = 1e5


class Propagators(NamedTuple):
    """Propagator sequences (eqs. 17-18) at times ``n`` (``n >= 1``).

    Attributes:
        times: ``(R,)`` int, the ``n`` of each entry (``1..T+1`` from :func:`propagator_sequences`).
        U, U_tilde, V, V_tilde: ``(R,)`` values :math:`U_n,\\tilde U_n,V_n,\\tilde V_n`.
    """

    times: jax.Array
    U: jax.Array
    U_tilde: jax.Array
    V: jax.Array
    V_tilde: jax.Array


def _as_propagators(times, vals) -> Propagators:
    vals = jnp.asarray(vals)
    return Propagators(jnp.asarray(times), vals[:, 0], vals[:, 1], vals[:, 2], vals[:, 3])


def _packets_chunk(lam, m, c2, S0, v, w, eps, noise_scale, length):
    """Algorithm B on one chunk of nodes: ``(length, 4)`` partial sums of ``U, U~, V, V~`` at
    ``n = 1..length``."""
    K = v.shape[0]
    n = lam.shape[0]
    Zs = jnp.zeros((n, K, K), lam.dtype).at[:, 0, 0].set(1.0)
    Zn = jnp.broadcast_to(v[:, None] * v[None, :], (n, K, K))
    sig = lam * c2
    noi = noise_scale * m * lam * lam

    def body(carry, _):
        Zs, Zn = carry
        gs = jnp.einsum("i,nij,j->n", w, Zs, w)
        gn = jnp.einsum("i,nij,j->n", w, Zn, w)
        out = jnp.stack([pairwise_sum(noi * Zn[:, 0, 0]), pairwise_sum(noi * gn),
                         pairwise_sum(sig * Zs[:, 0, 0]), pairwise_sum(sig * gs)])
        return (apply_A(Zs, lam, S0, v, w, eps), apply_A(Zn, lam, S0, v, w, eps)), out

    _, out = jax.lax.scan(body, (Zs, Zn), None, length=length)
    return out


@functools.partial(jax.jit, static_argnames=("length", "chunk"))
def _packets_kernel(lam, m, c2, parts, eps, noise_scale, *, length, chunk):
    S0, v, w = parts
    n = lam.shape[0]
    pad = (-n) % chunk
    arr = lambda x: jnp.pad(x, (0, pad)).reshape(-1, chunk)  # noqa: E731  (zero nodes are inert)
    out = jax.lax.map(lambda xs: _packets_chunk(*xs, S0, v, w, eps, noise_scale, length),
                      (arr(lam), arr(m), arr(c2)))
    return pairwise_sum(jnp.moveaxis(out, 0, -1))  # (length, 4)



def propagator_sequences(spectrum: Spectrum, algorithm: MemoryAlgorithm, steps: int,
                batch_size: Union[None, Scalar, NoiseModel] = None, tau: Optional[Tuple[Scalar, Scalar]] = None, method: str = "auto", chunk: Optional[int] = None) -> Propagators:
    """Propagators :math:`U_n,\\tilde U_n,V_n,\\tilde V_n` (eqs. 17-18) for ``n = 1..steps+1``.

    ``steps + 1`` values are what the renewal equations need for the loss at ``t = 0..steps``.

    Methods:

    * ``"packets"`` (Algorithm B, theory §4.4): evolve the signal packet :math:`E_{11}` and the
      noise packet :math:`vv^T` of every node under :math:`\\mathcal A_\\lambda` and reduce over
      the nodes at each step; ``O(steps * N)``, nodes in ``lax.map`` chunks.
    * ``"eigen"``: eigen-decompose :math:`\\mathcal A_\\lambda` per node (as :func:`propagators_at`)
      and sum the exponentials :math:`\\mu^{n-1}` of all modes in compressed form: modes are
      grouped in clusters of nearby :math:`\\log\\mu`, each cluster is a Taylor series around its
      centre, valid until the cluster has decayed below :math:`e^{-69}` of its initial size;
      cost ``O(N) + O(steps * clusters)``. Near-defective nodes are stepped with packets.
      Agrees with ``"packets"`` to ~1e-12 relative (tested to 1e-10).
    * ``"auto"``: ``"packets"`` for ``steps < 4096`` and ``"eigen"`` beyond.

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm (a schedule raises ``ValueError``).
        steps: non-negative int, ``T``.
        batch_size: positive scalar or ``None`` (full batch: ``U = U~ = 0``).
        tau: ``(tau1, tau2)``.
        method: ``"auto"``, ``"packets"`` or ``"eigen"``.
        chunk: nodes per vectorised chunk (default from a memory budget).

    Returns:
        :class:`Propagators` with ``times = 1..steps+1``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([0.5], [2.0])
        >>> p = propagator_sequences(s, ja.gd(1.0), steps=2)        # V_n = lam c2 (1 - alpha lam)^(2n-2)
        >>> [float(x) for x in p.V]
        [1.0, 0.25, 0.0625]
    """
    alg, eps, noise_scale = prepare(spectrum, algorithm, batch_size, tau)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
        raise ValueError(f"steps must be a non-negative integer, got {steps!r}")
    steps = int(steps)
    if method not in ("auto", "packets", "eigen"):
        raise ValueError(f"method must be 'auto', 'packets' or 'eigen', got {method!r}")
    if method == "auto":
        method = "packets" if steps < 4096 else "eigen"
    n = spectrum.size
    K = alg.memory + 1
    if chunk is not None:
        chunk = V.check_positive_int(chunk, "chunk")
    times = np.arange(1, steps + 2)
    if method == "packets":
        c = chunk or chunk_size(n, 8 * K * K)
        vals = _packets_kernel(spectrum.eigenvalues, spectrum.weights, spectrum.c2,
                               alg.transition_parts(), eps, noise_scale, length=steps + 1,
                               chunk=min(c, n))
        return _as_propagators(times, vals)
    return _as_propagators(times, _eigen_all_times(spectrum, alg, eps, noise_scale, steps + 1, chunk))


# ======================================================================= eigen route
def _log1m(y):
    """``log(1 - y)`` for complex ``y`` without cancellation at small ``|y|`` (real, imag)."""
    x, z = y.real, y.imag
    return 0.5 * jnp.log1p(x * (x - 2.0) + z * z), jnp.arctan2(-z, 1.0 - x)


def _pow(re, im, n1):
    """``mu^n1`` from ``log mu = re + i im`` (``mu^0 = 1`` also for ``mu = 0``)."""
    mag = jnp.where(n1 == 0, 1.0, jnp.exp(n1 * re))
    ph = n1 * im
    return mag * jnp.cos(ph), mag * jnp.sin(ph)


def _eigen_node(lam, m, c2, S0, v, w, eps, noise_scale):
    """Eigen-decomposition ``I - A = R diag(y) R^{-1}`` of one node.

    Returns ``y (P,)``, the weighted mode coefficients ``coef (4, P)`` (so that
    ``(U, U~, V, V~)_n = sum_j coef[:, j] (1 - y_j)^(n-1)`` for this node), the condition
    number ``kappa`` of ``R`` and ``B = I - A``.
    """
    B = shifted_matrix(lam, S0, v, w, eps)
    y, R = jnp.linalg.eig(B)
    Rinv = jnp.linalg.inv(R)
    kappa = jnp.linalg.norm(R) * jnp.linalg.norm(Rinv)
    rE, rV, lE, lW = packet_vectors(v, w)
    cr = Rinv @ jnp.stack([rE, rV], axis=-1).astype(R.dtype)  # (P, 2)
    lr = jnp.stack([lE, lW]).astype(R.dtype) @ R  # (2, P)
    noi = noise_scale * m * lam * lam
    sig = lam * c2
    coef = jnp.stack([noi * lr[0] * cr[:, 1], noi * lr[1] * cr[:, 1],
                      sig * lr[0] * cr[:, 0], sig * lr[1] * cr[:, 0]])
    return y, coef, kappa, B


def _flagged(kappa, coef):
    """Nodes whose eigenvector basis is too ill-conditioned to be trusted (or not finite)."""
    finite = jnp.all(jnp.isfinite(coef.real) & jnp.isfinite(coef.imag), axis=(-2, -1))
    return ~(kappa <= _KAPPA_MAX) | ~finite


@jax.jit
def _at_chunks(lam, m, c2, valid, parts, eps, noise_scale, n1):
    """Sums over nodes of the eigen-expansion at times ``n1 + 1``; lam etc. are ``(chunks, C)``.

    Flagged nodes are left out (their coefficients are zeroed) and returned for the fallback.
    """
    S0, v, w = parts

    def chunk(xs):
        lam_c, m_c, c2_c, valid_c = xs
        y, coef, kappa, _ = jax.vmap(
            lambda a, b, c: _eigen_node(a, b, c, S0, v, w, eps, noise_scale))(lam_c, m_c, c2_c)
        bad = _flagged(kappa, coef) & valid_c
        keep = valid_c & ~bad
        coef = jnp.where(keep[:, None, None], coef, 0.0)
        y = jnp.where(keep[:, None], y, 0.0)
        re, im = _log1m(y)  # (C, P)
        pr, pi = _pow(re[..., None], im[..., None], n1)  # (C, P, R)
        vals = (jnp.einsum("cop,cpr->ro", coef.real, pr) - jnp.einsum("cop,cpr->ro", coef.imag, pi))
        return vals, bad

    vals, bad = jax.lax.map(chunk, (lam, m, c2, valid))
    return pairwise_sum(jnp.moveaxis(vals, 0, -1)), bad.reshape(-1)


def _shifted_power(B, n1, nbits):
    """``X`` with ``A^n1 = I - X`` (``A = I - B``) by binary powering kept in the shifted form
    (``(I - X)(I - Y) = I - (X + Y - XY)``), accurate when ``A^n1`` is close to ``I``."""
    P = B.shape[-1]

    def body(_, carry):
        X, Bk, k = carry
        bit = (k & 1) == 1
        X = jnp.where(bit, X + Bk - X @ Bk, X)
        return X, 2.0 * Bk - Bk @ Bk, k >> 1

    X, _, _ = jax.lax.fori_loop(0, nbits, body, (jnp.zeros((P, P), B.dtype), B, n1))
    return X


@functools.partial(jax.jit, static_argnames=("nbits",))
def _at_fallback(lam, m, c2, parts, eps, noise_scale, n1, *, nbits):
    """Propagators of a few (near-defective) nodes at times ``n1 + 1`` by shifted powering."""
    S0, v, w = parts
    rE, rV, lE, lW = packet_vectors(v, w)

    def node(lam_k, m_k, c2_k):
        B = shifted_matrix(lam_k, S0, v, w, eps)
        noi = noise_scale * m_k * lam_k * lam_k
        sig = lam_k * c2_k

        def at(nn):
            X = _shifted_power(B, nn, nbits)
            xs, xn = rE - X @ rE, rV - X @ rV
            return jnp.stack([noi * (lE @ xn), noi * (lW @ xn), sig * (lE @ xs), sig * (lW @ xs)])

        return jax.vmap(at)(n1)

    return jnp.sum(jax.vmap(node)(lam, m, c2), axis=0)


def _pad_nodes(spectrum, chunk):
    n = spectrum.size
    pad = (-n) % chunk
    lam = jnp.concatenate([spectrum.eigenvalues, jnp.full((pad,), spectrum.eigenvalues[0])])
    z = jnp.zeros((pad,), spectrum.dtype)
    m = jnp.concatenate([spectrum.weights, z])
    c2 = jnp.concatenate([spectrum.c2, z])
    valid = jnp.arange(n + pad) < n
    r = lambda x: x.reshape(-1, chunk)  # noqa: E731
    return r(lam), r(m), r(c2), r(valid)


def propagators_at(spectrum: Spectrum, algorithm: MemoryAlgorithm, times: Int[ArrayLike, "R"],
                   batch_size: Union[None, Scalar, NoiseModel] = None, tau: Optional[Tuple[Scalar, Scalar]] = None, chunk: Optional[int] = None) -> Propagators:
    """Propagators at arbitrary times ``n >= 1`` without stepping, ``O(N)`` per time.

    Per node, :math:`I-\\mathcal A_\\lambda = R\\,\\mathrm{diag}(y)\\,R^{-1}` on symmetric
    matrices, so that

    .. math::  \\langle X,\\mathcal A_\\lambda^{n-1}Y\\rangle = \\sum_j (x^TR)_j\\,(R^{-1}y)_j\\,
               (1-y_j)^{n-1},

    with :math:`(1-y)^{n-1} = \\exp((n-1)\\log(1-y))` and the logarithm taken without
    cancellation (the slow eigenvalue is :math:`1-2\\alpha_{\\rm eff}\\lambda`). Nodes whose
    eigenvector matrix has condition number above ``1e5`` (defective or nearly so, e.g. at the
    edges :math:`\\lambda_\\pm` of the complex region of memory-1) are evaluated instead by
    binary powering of :math:`\\mathcal A_\\lambda` kept in the shifted form ``I - X``.
    Agrees with stepping (:func:`propagator_sequences`) to ~``1e-16 n`` relative.

    This is a host-side driver (the fallback nodes are picked on the host), so it is not
    traceable by ``jax.jit``/``jax.vmap``; the per-node kernels are jitted with the
    hyper-parameters as traced arguments, so new values do not recompile.

    Args:
        spectrum: the problem.
        algorithm: stationary algorithm.
        times: 1-D integers ``>= 1`` (any order, e.g. 200 log-spaced values up to ``1e9``).
        batch_size: positive scalar or ``None``.
        tau: ``(tau1, tau2)``.
        chunk: nodes per vectorised chunk (default from a memory budget).

    Returns:
        :class:`Propagators` at ``times``.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.Spectrum([0.5], [2.0])
        >>> p = propagators_at(s, ja.gd(1.0), [1, 3, 1_000])
        >>> [float(x) for x in p.V]                       # lam c2 (1 - alpha lam)^(2n-2)
        [1.0, 0.0625, 0.0]
    """
    alg, eps, noise_scale = prepare(spectrum, algorithm, batch_size, tau)
    t = np.asarray(times)
    if t.ndim != 1 or t.size == 0 or not np.issubdtype(t.dtype, np.integer):
        raise ValueError("times must be a non-empty 1-D array of integers")
    if t.min() < 1:
        raise ValueError(f"times must be >= 1, got min {t.min()}")
    n1 = jnp.asarray(t - 1, dtype=jnp.int64)
    P = (alg.memory + 1) * (alg.memory + 2) // 2
    if chunk is None:
        chunk = chunk_size(spectrum.size, 2 * P * (t.size + 8 * P))
    chunk = min(V.check_positive_int(chunk, "chunk"), spectrum.size)
    parts = alg.transition_parts()
    lam, m, c2, valid = _pad_nodes(spectrum, chunk)
    vals, bad = _at_chunks(lam, m, c2, valid, parts, eps, noise_scale,
                           n1.astype(spectrum.dtype))
    bad = np.flatnonzero(np.asarray(bad))
    if bad.size:
        nbits = max(1, int(t.max() - 1).bit_length())
        idx = jnp.asarray(bad)
        vals = vals + _at_fallback(lam.reshape(-1)[idx], m.reshape(-1)[idx],
                                   c2.reshape(-1)[idx], parts, eps, noise_scale, n1, nbits=nbits)
    return _as_propagators(t, vals)


# ------------------------------------------------- all times: compressed exponential sums
# Modes (one per node and eigenvalue of A) contribute coef * exp(-(n-1) s) with
# s = -log(mu). They are grouped in clusters of nearby s: log-spaced in Re s (ratio _RHO) and
# of width 2 _R Re(s_c) in Im s. A cluster is expanded around its centre,
# exp(-(n-1) s) = exp(-(n-1) s_c) sum_p (-(n-1) h)^p delta^p / p!,  delta = (s - s_c) / h,
# and used for n - 1 < _CUT / min Re s, after which every member is below exp(-_CUT) of its
# initial size. Then |(n-1) h| <= 2 and _TAYLOR terms give ~1e-19 truncation error.
_R = 0.02
_RHO = 1.0 + 2.0 * _R
_CUT = 69.0
_TAYLOR = 28
_TBLOCK = 2048


@jax.jit
def _eigen_chunks(lam, m, c2, valid, parts, eps, noise_scale):
    S0, v, w = parts

    def chunk(xs):
        lam_c, m_c, c2_c, valid_c = xs
        y, coef, kappa, _ = jax.vmap(
            lambda a, b, c: _eigen_node(a, b, c, S0, v, w, eps, noise_scale))(lam_c, m_c, c2_c)
        return y, coef, _flagged(kappa, coef) & valid_c

    return jax.lax.map(chunk, (lam, m, c2, valid))


@functools.partial(jax.jit, static_argnames=("tb", "real"))
def _cluster_block(x_c, th_c, h, M_re, M_im, nmax, n_start, *, tb, real):
    """Sum over clusters of ``Re[exp(-n1 s_c) sum_p (-n1 h)^p M_p]`` for ``n1`` in a block.

    Shapes: ``(C,)`` centres/scales/horizons, ``(C, _TAYLOR, O)`` moments; returns ``(tb, O)``.
    """
    n1 = (n_start + jnp.arange(tb)).astype(h.dtype)
    tau = -n1[None, :] * h[:, None]  # (C, tb), |tau| <= 2 where alive
    alive = n1[None, :] < nmax[:, None]
    tau = jnp.where(alive, tau, 0.0)
    acc_re = jnp.broadcast_to(M_re[:, -1, None, :], tau.shape + M_re.shape[-1:])
    acc_im = None if real else jnp.broadcast_to(M_im[:, -1, None, :], acc_re.shape)
    for p in range(_TAYLOR - 2, -1, -1):
        acc_re = acc_re * tau[..., None] + M_re[:, p, None, :]
        if not real:
            acc_im = acc_im * tau[..., None] + M_im[:, p, None, :]
    mag = jnp.where(alive, jnp.exp(-n1[None, :] * x_c[:, None]), 0.0)
    if real:
        val = acc_re * mag[..., None]
    else:
        ph = n1[None, :] * th_c[:, None]
        val = acc_re * (mag * jnp.cos(ph))[..., None] + acc_im * (mag * jnp.sin(ph))[..., None]
    return jnp.sum(val, axis=0)


def _bucket(c: int) -> int:
    return max(8, 1 << (int(c) - 1).bit_length())


def _eval_clusters(x_c, th_c, h, M, nmax, n_total, real):
    """Evaluate clusters (sorted by decreasing ``nmax``) at ``n1 = 0..n_total-1``."""
    n_out = M.shape[-1]
    out = np.zeros((n_total, n_out))
    if x_c.size == 0:
        return out
    for start in range(0, n_total, _TBLOCK):
        alive = int(np.searchsorted(-nmax, -start, side="left"))  # nmax > start
        if alive == 0:
            break
        C = _bucket(alive)
        sl = slice(0, alive)
        pad = lambda a: np.concatenate([a[sl], np.zeros((C - alive,) + a.shape[1:], a.dtype)])  # noqa: E731
        tb = min(_TBLOCK, n_total - start) if n_total - start < _TBLOCK else _TBLOCK
        tb_c = _TBLOCK if tb == _TBLOCK else _bucket(tb)
        res = _cluster_block(pad(x_c), pad(th_c), pad(h), pad(M.real), pad(M.imag), pad(nmax),
                             start, tb=tb_c, real=real)
        out[start:start + tb] = np.asarray(res)[:tb]
    return out


def _exp_sums(y, coef, n_total):
    """``sum_modes Re[coef * (1 - y)^(n-1)]`` for ``n = 1..n_total``; ``y (Nm,)``, ``coef (Nm, O)``."""
    n_out = coef.shape[-1]
    out = np.zeros((n_total, n_out))
    keep = np.any(coef != 0, axis=1)
    y, coef = y[keep], coef[keep]
    if y.size == 0:
        return out
    xr, zi = y.real, y.imag
    with np.errstate(divide="ignore", invalid="ignore"):
        x = -0.5 * np.log1p(xr * (xr - 2.0) + zi * zi)  # Re s, s = -log(1 - y)
    th = -np.arctan2(-zi, 1.0 - xr)  # Im s
    zero = np.isposinf(x)  # mu = 0: only n = 1
    out[0] += coef[zero].real.sum(axis=0)
    direct = ~zero & ~(x > 0)  # non-decaying (unstable / marginal) or NaN: exact evaluation
    if np.any(direct):
        s = x[direct] + 1j * th[direct]
        cd = coef[direct]
        for start in range(0, n_total, _TBLOCK):
            n1 = np.arange(start, min(n_total, start + _TBLOCK))
            with np.errstate(over="ignore", invalid="ignore"):
                pw = np.exp(-np.outer(n1, s))
            pw[n1 == 0] = 1.0
            out[start:start + n1.size] += (pw @ cd).real
    clus = ~zero & (x > 0)
    s = x[clus] + 1j * th[clus]
    cc = coef[clus]
    if s.size == 0:
        return out
    X0 = 1.5 / n_total  # everything slower than the horizon: one cluster around X0 / 2
    sup = (s.real <= X0) & (np.abs(s.imag) <= X0)
    lr = np.log(_RHO)
    ix = np.floor(np.log(s.real) / lr).astype(np.int64)
    xc = np.exp((ix + 0.5) * lr)
    it = np.round(s.imag / (2.0 * _R * xc)).astype(np.int64)
    realm = (s.imag == 0) & np.all(coef[clus].imag == 0, axis=1)
    ix = np.where(sup, np.iinfo(np.int64).min, ix)
    it = np.where(sup, 0, it)
    keys = np.stack([ix, it, realm.astype(np.int64)], axis=1)
    uniq, inv = np.unique(keys, axis=0, return_inverse=True)
    inv = inv.reshape(-1)
    n_cl = uniq.shape[0]
    is_sup = uniq[:, 0] == np.iinfo(np.int64).min
    x_lo = np.where(is_sup, 0.0, np.exp(uniq[:, 0] * lr))
    centre = np.where(is_sup, 0.5 * X0, np.exp((uniq[:, 0] + 0.5) * lr)) + 0j
    centre = centre + 1j * np.where(is_sup, 0.0, uniq[:, 1] * 2.0 * _R * centre.real)
    d = s - centre[inv]
    h = np.zeros(n_cl)
    np.maximum.at(h, inv, np.abs(d))
    h = np.where(h > 0, h, 1.0)
    with np.errstate(divide="ignore"):
        nmax = np.where(is_sup, n_total, np.minimum(n_total, np.floor(_CUT / x_lo) + 1.0))
    delta = d / h[inv]
    order = np.argsort(inv, kind="stable")
    starts = np.searchsorted(inv[order], np.arange(n_cl))
    M = np.zeros((n_cl, _TAYLOR, n_out), complex)
    term = cc[order].astype(complex)
    dl = delta[order]
    for p in range(_TAYLOR):
        M[:, p, :] = np.add.reduceat(term, starts, axis=0)
        term = term * (dl / (p + 1))[:, None]
    real_cl = uniq[:, 2] == 1
    for flag in (True, False):
        sel = np.flatnonzero(real_cl == flag)
        sel = sel[np.argsort(-nmax[sel], kind="stable")]
        out += _eval_clusters(centre[sel].real, centre[sel].imag, h[sel], M[sel], nmax[sel],
                              n_total, real=flag)
    return out


def _eigen_all_times(spectrum, alg, eps, noise_scale, n_total, chunk):
    P = (alg.memory + 1) * (alg.memory + 2) // 2
    chunk = min(chunk or chunk_size(spectrum.size, 16 * P * P), spectrum.size)
    parts = alg.transition_parts()
    lam, m, c2, valid = _pad_nodes(spectrum, chunk)
    y, coef, bad = _eigen_chunks(lam, m, c2, valid, parts, eps, noise_scale)
    y = np.asarray(y).reshape(-1, P)
    coef = np.asarray(coef).reshape(-1, 4, P)
    bad = np.asarray(bad).reshape(-1)
    good = np.asarray(valid).reshape(-1) & ~bad
    yg = y[good].reshape(-1)
    cg = np.moveaxis(coef[good], 1, 2).reshape(-1, 4)
    same = np.array_equal(cg[:, 0], cg[:, 1]) and np.array_equal(cg[:, 2], cg[:, 3])
    if same:  # a = 0: U~ = U, V~ = V; evaluate two outputs
        out = _exp_sums(yg, cg[:, [0, 2]], n_total)[:, [0, 0, 1, 1]]
    else:
        out = _exp_sums(yg, cg, n_total)
    if bad.any():  # near-defective nodes: stepped exactly
        idx = jnp.asarray(np.flatnonzero(bad))
        flat = lambda a: a.reshape(-1)[idx]  # noqa: E731
        nb = int(idx.shape[0])
        out = out + np.asarray(_packets_kernel(flat(lam), flat(m), flat(c2), parts, eps,
                                               noise_scale, length=n_total, chunk=nb))
    return out
