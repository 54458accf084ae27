"""NTK spectra at scale: blocked, memory-bounded eigenpairs of the ReLU NTK (theory §9, §18.4).

Theory: ``docs/theory/sgd_memory.md`` §9.1 (the NTK exponents ``nu``, ``zeta`` of real data),
§18.4 (blocked kernels and randomised subspace iteration).

The scikit-learn digits have 1797 images; to reach ``n = 2 x 10^4`` points the images are
augmented by shifts of one pixel on the 8x8 grid (9 shifts, zero fill) and light pixel noise,
keeping the labels (one-hot targets). The ReLU NTK (:func:`jaxaccel.relu_ntk`) of the
normalised images is never formed: :func:`jaxaccel.blocked_kernel_spectrum` evaluates it block
by block of rows and returns the ``k`` leading eigenpairs, ``c_k^2`` of the targets and the peak
memory of its arrays (against the ``8 n^2`` bytes of the full kernel). ``--quick`` also runs the
dense eigendecomposition at its ``n`` and prints the agreement; both modes fit ``nu`` and
``zeta`` over ``k in [10, k_fit]`` (``k_fit = k / 2``, where the blocked eigenvalues are
accurate).

Usage::

    python sims/sgd_memory/ntk_spectrum.py            # --quick (default): n = 2000, k = 200, dense check
    python sims/sgd_memory/ntk_spectrum.py --full     # n = 20000, k = 400

Outputs in ``--out`` (default ``results/ntk_spectrum/``): ``ntk_spectrum.{npz,json,png}``.
"""

from __future__ import annotations

import time

import numpy as np

import jaxaccel as ja

CONFIGS = {
    "quick": dict(n=2000, k=200, block=128, dense=True),
    "full": dict(n=20_000, k=400, block=256, dense=False),
}


def augmented_digits(n, seed=0, noise=0.5):
    """``n`` digit images (8x8, the originals first, then shifted by up to one pixel with
    Gaussian pixel noise of ``noise`` grey levels), normalised as :func:`jaxaccel.load_digits`;
    one-hot targets ``(n, 10)``."""
    X0, y0 = ja.reference.digits.digit_images()
    rng = np.random.default_rng(seed)
    imgs, labels = [X0], [y0]
    shifts = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)]
    total = X0.shape[0]
    while total < n:
        dy, dx = shifts[rng.integers(len(shifts))]
        im = np.roll(X0.reshape(-1, 8, 8), (dy, dx), axis=(1, 2))
        if dy:
            im[:, 0 if dy > 0 else -1, :] = 0.0
        if dx:
            im[:, :, 0 if dx > 0 else -1] = 0.0
        im = np.clip(im + noise * rng.normal(size=im.shape), 0.0, 16.0)
        imgs.append(im.reshape(-1, 64))
        labels.append(y0)
        total += X0.shape[0]
    X = np.concatenate(imgs)[:n] / 16.0
    y = np.concatenate(labels)[:n]
    X = X - X.mean(axis=0)
    X = X / np.sqrt((X**2).sum(axis=1).mean())
    return X, np.eye(10)[y]


def main(argv=None):
    """Compute the blocked spectrum (and, ``--quick``, the dense one); returns the summary."""
    p = ja.io.sim_parser("ntk_spectrum", __doc__)
    p.add_argument("--n", type=int, help="number of points")
    p.add_argument("--k", type=int, help="leading eigenpairs")
    p.add_argument("--block", type=int, help="rows per kernel block")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    n, k = cfg["n"], cfg["k"]
    if n < 50 or not 20 <= k < n:
        p.error("need n >= 50 and 20 <= k < n")
    X, Y = augmented_digits(n)
    t0 = time.perf_counter()
    ks = ja.blocked_kernel_spectrum(lambda s, e: ja.relu_ntk(X[s:e], X2=X), n, Y, k,
                                    block=cfg["block"])
    secs = time.perf_counter() - t0
    lam = np.asarray(ks.spectrum.eigenvalues)[:k]  # without the tail node
    k_fit = k // 2
    fit = ja.fit_spectrum_exponents(ks.spectrum, k_range=(10, k_fit))
    dense_bytes = 8 * n * n
    print(f"ReLU NTK of {n} (augmented) digits: {k} leading eigenpairs by blocked subspace "
          f"iteration ({ks.kernel_passes} kernel passes, blocks of {cfg['block']} rows) in "
          f"{secs:.1f} s; peak memory {ks.peak_bytes / 2**20:.1f} MiB vs {dense_bytes / 2**20:.1f}"
          f" MiB for the full kernel; targets in the span: {ks.target_fraction:.4f}")
    print(f"fit over k in [10, {k_fit}]: nu = {fit.nu:.3f}, zeta = {fit.zeta:.3f}")
    summary = dict(config=cfg, seconds=secs, peak_bytes=ks.peak_bytes, dense_bytes=dense_bytes,
                   kernel_passes=ks.kernel_passes, target_fraction=ks.target_fraction,
                   nu=fit.nu, zeta=fit.zeta, k_fit=k_fit)
    arrays = dict(eigenvalues=lam, c2=np.asarray(ks.spectrum.c2))
    if cfg["dense"]:
        t0 = time.perf_counter()
        dense = ja.Spectrum.from_kernel(ja.relu_ntk(X), Y)
        dsecs = time.perf_counter() - t0
        lam_d = np.sort(np.asarray(dense.eigenvalues))[::-1][:k]
        err = np.abs(lam / lam_d - 1.0)
        fit_d = ja.fit_spectrum_exponents(dense, k_range=(10, k_fit))
        print(f"dense check ({dsecs:.1f} s): max relative eigenvalue error over k <= {k // 6}: "
              f"{err[: k // 6].max():.2e}, k <= {k_fit}: {err[:k_fit].max():.2e}, k <= {k}: "
              f"{err.max():.2e}; dense fit nu = {fit_d.nu:.3f}, zeta = {fit_d.zeta:.3f}")
        summary.update(dense_seconds=dsecs, max_rel_error_k6=float(err[: k // 6].max()),
                       max_rel_error_fit=float(err[:k_fit].max()), max_rel_error=float(err.max()),
                       dense_nu=fit_d.nu, dense_zeta=fit_d.zeta)
        arrays["dense_eigenvalues"] = lam_d
    plt = ja.io.pyplot()
    fig, ax = plt.subplots(figsize=(4.6, 3.6))
    kk = np.arange(1, lam.size + 1)
    ax.loglog(kk, lam, "-", label=f"blocked, n = {n}")
    if "dense_eigenvalues" in arrays:
        ax.loglog(kk, arrays["dense_eigenvalues"], ":", label="dense")
    ax.axvspan(10, k_fit, color="0.9")
    ax.set_xlabel("k")
    ax.set_ylabel(r"$\lambda_k$")
    ax.set_title(rf"ReLU NTK: $\nu$ = {fit.nu:.2f}, $\zeta$ = {fit.zeta:.2f}")
    ax.legend(fontsize=7)
    plt.close(fig)
    ja.io.write_results(args.out, "ntk_spectrum", fig, arrays, summary)
    return summary


if __name__ == "__main__":
    main()
