"""Real data without downloads: scikit-learn's 8x8 digits as an MNIST stand-in (theory §9, App. M.2).

Theory: ``docs/theory/sgd_memory.md`` §9.1 (MNIST: one-hidden-layer ReLU network, quadratic loss on one-hot
targets, width 1000, NTK exponents), §3.2 (SE approximation, finite-dataset batch factor),
§7.1-7.2 (AM1 and its exponent range, rate (27)).

Three parts, all on the first ``n`` digits (the training set):

1. **Spectrum.** The infinite-width NTK of the network (:func:`jaxaccel.relu_ntk`) and the
   one-hot targets give a :class:`jaxaccel.Spectrum` (kernel regression started from ``f = 0``);
   ``nu`` and ``zeta`` of the power-law assumption (1) are fitted with
   :func:`jaxaccel.fit_spectrum_exponents` over the eigenvalue window
   ``k in [k_min, n / 5]``.
2. **Linearised model.** Kernel regression on that kernel is a finite dataset
   (:func:`jaxaccel.kernel_regression_data`); Monte-Carlo mini-batch SGD (batches
   without replacement) driven by the optax transforms of :mod:`jaxaccel.algorithms.optim` is compared
   with the SE prediction (Algorithm A) on the same spectrum with the batch factor
   ``(n - b) / ((n - 1) b)``, for the translation-invariant ``tau = (1, 1)`` and the Gaussian
   ``tau = (1, -1)``. Real data are only approximately SE: the table reports the largest
   relative deviation after ``t = T / 10``.
3. **Network.** The one-hidden-layer ReLU network of :func:`jaxaccel.ntk_mlp_apply` (NTK
   parametrisation, antisymmetric initialisation so ``f_0 = 0``) trained with the quadratic loss
   ``L = |f(X) - Y|^2 / (2n)`` by mini-batch SGD, Heavy Ball and AM1, each as a
   ``jaxaccel.optim`` transform: one jitted ``lax.scan``, ``vmap``-ed over the three optimizers
   (one memory-1 structure, :func:`optimizer_schedules`) and the seeds.
   The training loss on all ``n`` points is recorded at log-spaced steps; the slopes over the
   last decade are compared with ``-zeta`` (SGD, Heavy Ball) and ``-zeta (1 + theta)`` (AM1,
   rate (27)), and with the slopes of the SE prediction on the NTK spectrum.

Usage::

    python sims/sgd_memory/digits.py            # --quick (default): n = 1000, T = 2000
    python sims/sgd_memory/digits.py --full     # all 1797 digits, T = 10000, more seeds

Outputs in ``--out`` (default ``results/digits/``): ``digits.npz`` (spectrum, loss curves),
``digits.json`` (configuration, fitted exponents, final losses and slopes), ``digits.png``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja
from jaxaccel import plotting

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _network_common import (DIVERGENCE_FACTOR, initial_networks, slope as _slope,  # noqa: E402,F401
                             stack_algorithms, train_network)

CONFIGS = {
    # n digits, hidden width, steps, network seeds, linearised-model Monte-Carlo seeds
    "quick": dict(n=1000, width=1000, steps=2000, seeds=2, mc_seeds=16),
    "full": dict(n=1797, width=1000, steps=10_000, seeds=8, mc_seeds=64),
}

# optimizer hyperparameters (shared by the network, the linearised MC and the SE prediction)
BATCH = 32
SGD_LR = 1.0
HB_LR, HB_MOMENTUM = 0.5, 0.8  # alpha_eff = 2.5
AM1 = dict(delta0=0.5, kappa=0.9, alpha0=1.0, eta_kick=0.5, t0=1.0)  # theta from the fitted nu


# ----------------------------------------------------------------------------- optimizers
def optimizer_schedules(theta: float, steps: int):
    """``{name: MemoryAlgorithm}``: SGD, Heavy Ball and AM1 as memory-1 schedules of form (250).

    All three are the decoupled momentum ``v <- beta_t v + g;  w <- w - eta_t v - eta'_t g``
    (theory §7.1, :func:`jaxaccel.am1_form`), with ``steps + 1`` entries:

    * SGD: ``eta = 0, eta' = lr, beta = 0`` -- exactly ``w <- w - lr g``;
    * Heavy Ball (4) with ``(alpha, beta)``: ``eta = alpha, eta' = 0`` -- PyTorch momentum, whose
      weights follow the Heavy Ball recurrence exactly;
    * AM1: the schedule of theory §7.2, :func:`jaxaccel.am1`.

    One structure for all three lets every run ``vmap`` over the optimizers (one compilation);
    each runs as its optax transform :func:`jaxaccel.optim.from_algorithm`, whose weights follow
    those of ``optim.sgd``, ``optim.heavy_ball`` and ``optim.am1`` to 1e-12 relative
    (``tests/test_optim.py``).
    """
    n = steps + 1
    zero, one = jnp.zeros(n), jnp.ones(n)
    return {
        "SGD": ja.am1_form(zero, SGD_LR * one, zero),
        "Heavy Ball": ja.am1_form(HB_LR * one, zero, HB_MOMENTUM * one),
        "AM1": ja.am1(AM1["delta0"], AM1["kappa"], AM1["alpha0"], theta, AM1["eta_kick"],
                      AM1["t0"], steps=n),
    }


def predicted_slope(name: str, zeta: float, theta: float) -> float:
    """Signal-dominated rates: ``-zeta`` at constant ``alpha_eff``; ``-zeta (1 + theta)`` for
    AM1, rate (27)."""
    return -zeta * (1.0 + theta) if name == "AM1" else -zeta


# ----------------------------------------------------------------------------- helpers
def _max_rel_dev(steps, got, ref, t_from):
    sel = np.asarray(steps) >= t_from
    return float(np.max(np.abs(np.asarray(got)[sel] / np.asarray(ref)[sel] - 1.0)))


def _parse(argv):
    p = argparse.ArgumentParser(
        description="Digits (MNIST stand-in): NTK spectrum, linearised-model Monte Carlo vs SE, "
                    "and a 1-hidden-layer network trained by SGD, Heavy Ball and AM1.")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="small run, < 1 min on CPU (default)")
    mode.add_argument("--full", action="store_true", help="paper-scale run")
    p.add_argument("--out", default=os.path.join("results", "digits"), help="output directory")
    p.add_argument("--n", type=int, help="number of digits (training points)")
    p.add_argument("--width", type=int, help="hidden width (even)")
    p.add_argument("--steps", type=int, help="training steps (network and linearised model)")
    p.add_argument("--seeds", type=int, help="network seeds")
    p.add_argument("--mc-seeds", type=int, help="linearised-model Monte-Carlo seeds")
    p.add_argument("--batch", type=int, default=BATCH, help=f"batch size (default {BATCH})")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    for name in ("n", "width", "steps", "seeds", "mc_seeds"):
        if cfg[name] < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if not 20 <= cfg["n"] <= 1797:
        p.error("--n must be between 20 and 1797")
    if not 1 <= args.batch <= cfg["n"]:
        p.error("--batch must be between 1 and n (batches are drawn without replacement)")
    if cfg["width"] % 2:
        p.error("--width must be even (antisymmetric initialisation)")
    if cfg["steps"] < 20:
        p.error("--steps must be >= 20 (slopes are fitted over the last decade)")
    cfg.update(batch=args.batch, seed=args.seed)
    return cfg, args.out


# ----------------------------------------------------------------------------- main
def main(argv=None):
    """Run the experiment and write ``digits.{npz,json,png}`` into ``--out``.

    Returns:
        The summary written to ``digits.json`` (configuration, fitted exponents, final losses
        and slopes).
    """
    cfg, out = _parse(argv)
    n, b, T = cfg["n"], cfg["batch"], cfg["steps"]
    t_start = time.perf_counter()
    key = jax.random.PRNGKey(cfg["seed"])

    # 1. NTK spectrum and exponents (one eigendecomposition serves the spectrum and the MC model)
    X, Y = ja.load_digits(n)
    data, e0 = ja.kernel_regression_data(ja.relu_ntk(X), Y, replace=False)
    spectrum = data.spectrum(e0)
    k_range = (max(3, n // 100), n // 5)
    fit = ja.fit_spectrum_exponents(spectrum, k_range=k_range)
    nu, zeta = fit.nu, fit.zeta
    theta = ja.am1_theta_max(AM1["kappa"], nu) if nu > 1 else 0.0  # the edge of the allowed range
    print(f"digits: n={n}, NTK spectrum: nu = {nu:.3f}, zeta = {zeta:.3f} "
          f"(fit over k in {list(k_range)}); AM1 theta = kappa (1 - 1/nu) = {theta:.3f}")
    algs = optimizer_schedules(theta, T)
    names = list(algs)
    rec = ja.log_steps(T, 40)

    # 2. SE predictions on the NTK spectrum (batch factor (n - b)/((n - 1) b)), both noise models
    se = {name: {tau: ja.predict_se(data, alg, e0, T, b, tau=tau, record=rec)
                 for tau in ((1.0, 1.0), (1.0, -1.0))} for name, alg in algs.items()}

    # 3. linearised model: Monte Carlo of the kernel regression, driven by the optax transforms
    lin = {}
    for name, alg in algs.items():
        key, sub = jax.random.split(key)
        lin[name] = ja.monte_carlo_sgd(data, alg, e0, T, b, n_seeds=cfg["mc_seeds"], key=sub,
                                       record=rec, chunk=min(cfg["mc_seeds"], 64))

    # 4. the network, every optimizer and seed in one program
    key, k_init, k_batches = jax.random.split(key, 3)
    params0 = initial_networks(k_init, X.shape[1], cfg["width"], Y.shape[1], cfg["seeds"])
    t0 = time.perf_counter()
    losses, bad, bad_at = train_network(stack_algorithms([algs[k] for k in names]), X, Y, params0,
                                        b, rec, k_batches)
    net_seconds = time.perf_counter() - t0

    # ----- tables
    summary = dict(config=cfg, nu=nu, zeta=zeta, k_range=list(k_range), theta=theta,
                   L0=float(0.5 * (Y**2).sum() / n),
                   hyperparameters=dict(batch=b, sgd_lr=SGD_LR, hb_lr=HB_LR,
                                        hb_momentum=HB_MOMENTUM, am1=AM1),
                   linearised={}, network={})
    ti, ga = (1.0, 1.0), (1.0, -1.0)
    print(f"\nlinearised model (kernel regression on the NTK): Monte Carlo over {cfg['mc_seeds']} "
          f"seeds vs SE, T = {T}, b = {b}; deviations over t >= {T // 10}")
    head = (f"{'optimizer':11s} {'MC loss':>10s} {'s.e.':>9s} {'SE tau=(1,1)':>12s} "
            f"{'SE tau=(1,-1)':>13s} {'max|MC/SE-1| (1,1)':>18s} {'(1,-1)':>7s}")
    print(head + "\n" + "-" * len(head))
    for name in names:
        r = lin[name]
        dev_ti = _max_rel_dev(rec, r.loss, se[name][ti].loss, T / 10)
        dev_g = _max_rel_dev(rec, r.loss, se[name][ga].loss, T / 10)
        summary["linearised"][name] = dict(
            final_mc=float(r.loss[-1]), final_mc_sem=float(r.loss_sem[-1]),
            final_se_ti=float(se[name][ti].loss[-1]), final_se_gauss=float(se[name][ga].loss[-1]),
            max_rel_dev_ti=dev_ti, max_rel_dev_gauss=dev_g, slope_mc=_slope(rec, r.loss, T),
            diverged=bool(r.diverged))
        print(f"{name:11s} {float(r.loss[-1]):10.4e} {float(r.loss_sem[-1]):9.2e} "
              f"{float(se[name][ti].loss[-1]):12.4e} {float(se[name][ga].loss[-1]):13.4e} "
              f"{dev_ti:18.3f} {dev_g:7.3f}" + ("  DIVERGED" if bool(r.diverged) else ""))

    print(f"\nnetwork (width {cfg['width']}, mean of {cfg['seeds']} seeds), T = {T}, b = {b}: "
          f"final training loss; slopes over [{T // 10}, {T}] ({net_seconds:.1f} s)")
    head = (f"{'optimizer':11s} {'final loss':>10s} {'SE (NTK)':>10s} {'slope':>7s} "
            f"{'SE slope':>8s} {'predicted':>9s}")
    print(head + "\n" + "-" * len(head))
    for i, name in enumerate(names):
        mean = losses[i].mean(axis=0)
        slope = _slope(rec, mean, T)
        se_slope = _slope(rec, np.asarray(se[name][ti].loss), T)
        pred = predicted_slope(name, zeta, theta)
        div = bool(bad[i].any())
        div_at = int(bad_at[i][bad[i]].min()) if div else -1
        summary["network"][name] = dict(
            final_loss=float(mean[-1]), final_loss_seeds=losses[i][:, -1], slope=slope,
            se_final_loss=float(se[name][ti].loss[-1]), se_slope=se_slope, predicted_slope=pred,
            diverged=div, diverged_at=div_at)
        print(f"{name:11s} {mean[-1]:10.4e} {float(se[name][ti].loss[-1]):10.4e} {slope:7.3f} "
              f"{se_slope:8.3f} {pred:9.3f}" + (f"  DIVERGED at t={div_at}" if div else ""))
    print("predicted: -zeta (SGD, Heavy Ball), -zeta (1 + theta) (AM1, rate (27)); SE slope: the "
          "SE dynamics on the NTK spectrum (tau = (1, 1)) over the same window")
    summary["seconds"] = time.perf_counter() - t_start

    # ----- files
    arrays = dict(eigenvalues=np.asarray(spectrum.eigenvalues), c2=np.asarray(spectrum.c2),
                  steps=rec, optimizers=np.array(names), net_loss=losses,
                  mc_loss=np.stack([np.asarray(lin[k].loss) for k in names]),
                  mc_sem=np.stack([np.asarray(lin[k].loss_sem) for k in names]),
                  se_ti=np.stack([np.asarray(se[k][ti].loss) for k in names]),
                  se_gauss=np.stack([np.asarray(se[k][ga].loss) for k in names]))
    ja.io.save_npz(os.path.join(out, "digits.npz"), **arrays)
    ja.io.save_json(os.path.join(out, "digits.json"), summary)
    fig = _figure(spectrum, fit, names, arrays, zeta, theta, cfg)
    ja.io.save_figure(os.path.join(out, "digits.png"), fig)
    print(f"\nwrote {out}/digits.npz, digits.json, digits.png ({summary['seconds']:.1f} s)")
    return summary


def _figure(spectrum, fit, names, arrays, zeta, theta, cfg):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plotting.new_figure(1, 3, size=(4.6, 3.8))
    lam = np.asarray(spectrum.eigenvalues)
    tail = np.cumsum((lam * np.asarray(spectrum.c2))[::-1])[::-1]
    k = np.arange(1, lam.size + 1)
    plotting.plot_loglog(
        {r"$\lambda_k$": (k, lam), r"$\sum_{j\geq k}\lambda_jc_j^2$": (k, tail)}, axes[0],
        xlabel="k", ylabel="", title=rf"NTK spectrum: $\nu$={fit.nu:.2f}, $\zeta$={fit.zeta:.2f}")
    axes[0].axvspan(*fit.k_range, color="0.9")
    steps = arrays["steps"]
    t = steps[1:]
    colors = ["C0", "C1", "C2"]
    with plotting.style():
        for i, name in enumerate(names):
            axes[1].loglog(t, arrays["se_ti"][i, 1:], "-", color=colors[i], label=f"{name} SE")
            axes[1].loglog(t, arrays["mc_loss"][i, 1:], "o", ms=2.5, color=colors[i],
                           label=f"{name} MC")
            axes[2].loglog(t, arrays["net_loss"][i].mean(axis=0)[1:], "-", color=colors[i],
                           label=name)
            axes[2].loglog(t, arrays["se_ti"][i, 1:], ":", color=colors[i], lw=1.0)
        T = steps[-1]
        tt = np.array([T / 10.0, T])
        for i, p in ((0, zeta), (2, zeta * (1 + theta))):
            final = arrays["net_loss"][i].mean(axis=0)[-1]
            axes[2].loglog(tt, 1.5 * final * (tt / T) ** -p, "--", color="0.3", lw=1.0)
        axes[2].plot([], [], ":", color="0.3", label="SE on the NTK spectrum")
        ref_label = rf"$t^{{-\zeta}}$, $t^{{-\zeta(1+\vartheta)}}$ ($\vartheta$={theta:.2f})"
        axes[2].plot([], [], "--", color="0.3", label=ref_label)
        axes[1].set_title(r"linearised model: MC (dots) vs SE, $\tau=(1,1)$")
        axes[2].set_title(f"network, width {cfg['width']}, b={cfg['batch']}")
        for ax in axes[1:]:
            ax.set_xlabel("step $t$")
            ax.set_ylabel("loss $L_t$")
            ax.legend(fontsize=7)
    plt.close(fig)
    return fig


if __name__ == "__main__":
    main()
