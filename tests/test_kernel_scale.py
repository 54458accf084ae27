"""Kernels at scale (theory §18.4): ``ja.blocked_kernel_spectrum``, ``relu_ntk`` blocks and
``ja.empirical_ntk``.

References: the dense eigendecomposition (``numpy.linalg.eigh``) of the full kernel; the
per-output autodiff Jacobians of the network (empirical NTK); the chord formula for the angle
(accurate to rounding) on nearly parallel inputs.
"""

import numpy as np
import jax
import jax.numpy as jnp
import pytest

import jaxaccel as ja


def test_blocked_spectrum_equals_dense_and_stays_below_the_kernel_memory():
    rng = np.random.default_rng(0)
    n = 600
    X = rng.normal(size=(n, 8)) * np.arange(1, 9) ** -1.0
    Y = np.sign(X[:, :2])
    K = ja.relu_ntk(X)
    dense = ja.Spectrum.from_kernel(K, Y)
    order = np.argsort(-np.asarray(dense.eigenvalues))
    lam_d, c2_d = np.asarray(dense.eigenvalues)[order], np.asarray(dense.c2)[order]
    ks = ja.blocked_kernel_spectrum(lambda s, e: ja.relu_ntk(X[s:e], X2=X), n, Y, 40, block=16)
    lam, c2 = np.asarray(ks.spectrum.eigenvalues), np.asarray(ks.spectrum.c2)
    np.testing.assert_allclose(lam[:10], lam_d[:10], rtol=1e-9)
    np.testing.assert_allclose(lam[:20], lam_d[:20], rtol=1e-6)
    np.testing.assert_allclose(c2[:5], c2_d[:5], rtol=1e-6)
    np.testing.assert_allclose(c2[:10], c2_d[:10], rtol=1e-4)
    # the tail node keeps the initial loss |y|^2 / (2n) and the trace
    assert abs(float(ks.spectrum.initial_loss) - 0.5 * (Y**2).sum() / n) < 1e-12
    assert abs(lam[:40].sum() + (n - 40) * lam[40] - np.trace(K) / n) < 1e-10 * lam.sum()
    assert ks.peak_bytes < 8 * n * n / 2, ks.peak_bytes  # never held the kernel
    assert 0.0 < ks.target_fraction < 1.0 and ks.kernel_passes == 5


def test_relu_ntk_blocks_and_nearly_parallel_inputs():
    X, _ = ja.load_digits(60) if _has_sklearn() else (np.random.default_rng(1).normal(size=(60, 5)), None)
    K = ja.relu_ntk(X)
    np.testing.assert_allclose(ja.relu_ntk(X[10:20], X2=X), K[10:20], rtol=1e-14)
    # nearly parallel pairs: exact diagonal |x~|^2 and a smooth kernel at angle 1e-9
    u = np.array([[1.0, 0.0], [1.0, 1e-9]])
    Kp = ja.relu_ntk(u, bias=0.0)
    assert Kp[0, 0] == 1.0
    phi = np.arctan(1e-9)
    ref = (np.sqrt(1 + 1e-18) * (np.sin(phi) + (np.pi - phi) * np.cos(phi))
           + np.cos(phi) * np.sqrt(1 + 1e-18) * (np.pi - phi)) / (2 * np.pi)
    assert abs(Kp[0, 1] - ref) < 1e-15
    with pytest.raises(ValueError, match="X2"):
        ja.relu_ntk(X, X2=np.ones((3, 2)))


def _has_sklearn():
    try:
        import sklearn  # noqa: F401
        return True
    except ModuleNotFoundError:
        return False


def test_empirical_ntk_equals_autodiff_and_blocks():
    p = ja.ntk_mlp_init(jax.random.PRNGKey(0), 4, 10, 3)
    X = np.random.default_rng(0).normal(size=(7, 4))
    K = ja.empirical_ntk(p, X)
    Ks = []
    for o in range(3):
        J = jax.vmap(lambda x: jax.grad(lambda q: ja.ntk_mlp_apply(q, x[None])[0, o])(p))(
            jnp.asarray(X))
        Jf = np.concatenate([np.asarray(J[name]).reshape(7, -1) for name in ("W", "c", "a")], 1)
        Ks.append(Jf @ Jf.T)
    np.testing.assert_allclose(K, np.mean(Ks, axis=0), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(ja.empirical_ntk(p, X[2:5], X), K[2:5], rtol=1e-14)
    with pytest.raises(ValueError, match="X"):
        ja.empirical_ntk(p, np.ones((3, 5)))


def test_blocked_spectrum_rejects_bad_input():
    X = np.random.default_rng(0).normal(size=(50, 3))
    rows = lambda s, e: ja.relu_ntk(X[s:e], X2=X)  # noqa: E731
    y = X[:, 0].copy()
    y[3] = np.nan
    with pytest.raises(ValueError, match="targets"):
        ja.blocked_kernel_spectrum(rows, 50, y, 5)
    with pytest.raises(ValueError, match="targets"):
        ja.blocked_kernel_spectrum(rows, 50, np.ones(49), 5)
    with pytest.raises(ValueError, match="kernel_rows"):
        ja.blocked_kernel_spectrum(lambda s, e: np.ones((e - s, 49)), 50, np.ones(50), 5)
    with pytest.raises(ValueError, match="k"):
        ja.blocked_kernel_spectrum(rows, 50, np.ones(50), 0)
