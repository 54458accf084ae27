"""The network leg of the SGD-with-memory paper (Fig. 1 right, Fig. 5) on the digits (theory §9).

Theory: ``docs/theory/sgd_memory.md`` §9.1 (MNIST: one-hidden-layer ReLU network, quadratic loss,
one-hot targets; Jacobi HB diverges under mini-batch noise, AM1 stays stable even with its
exponent above the theoretical limit; several batch sizes), §7.1-§7.2 (AM1, its limit
``theta <= kappa (1 - 1/nu)``, rate (27)), §8.1-§8.3 (Jacobi HB and why it diverges), §3.2 (SE).

The network of :func:`jaxaccel.ntk_mlp_apply` (NTK parametrisation, ``f_0 = 0``) is trained on the
first ``n`` scikit-learn digits by mini-batch SGD (batches of ``b`` distinct points) with

* SGD, Heavy Ball (stationary), Jacobi HB (``a = zeta``, ``b = 0``, ``L = 2 lambda_max``),
* AM1 with ``theta`` at the limit ``kappa (1 - 1/nu)`` and AM1 with ``theta`` above it,

each run as its optax transform (:func:`jaxaccel.optim.from_algorithm`), every optimizer and
seed in one jitted ``lax.scan`` per batch size. Next to each curve: the SE prediction
(Algorithm A, ``tau = (1, 1)``, batch factor ``(n - b)/((n - 1) b)``) on the spectrum of the
network's *empirical* NTK at initialisation (:func:`jaxaccel.empirical_ntk`, averaged over the
seeds), whose fitted ``nu, zeta`` set the AM1 limit and the Jacobi parameter. The tables say
where Jacobi HB diverges (network and SE) and whether AM1 above its limit stays stable.

Usage::

    python sims/sgd_memory/network.py            # --quick (default): n = 500, T = 1000, b in 8 32 128
    python sims/sgd_memory/network.py --full     # n = 1797, width 1000, T = 10^4, b in 8 .. 512

Outputs in ``--out`` (default ``results/network/``): ``network.{npz,json,png}``.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from _network_common import (blow_up_step, initial_networks, slope, stack_algorithms,  # noqa: E402
                             train_network)

CONFIGS = {
    "quick": dict(n=500, width=512, steps=1000, seeds=2, batches=[8, 32, 128]),
    "full": dict(n=1797, width=1000, steps=10_000, seeds=2, batches=[8, 32, 128, 512]),
}
SGD_LR = 1.0
HB_LR, HB_MOMENTUM = 0.5, 0.8
AM1 = dict(delta0=0.5, kappa=0.9, alpha0=1.0, eta_kick=0.5, t0=1.0)
THETA_ABOVE = 2.0  # AM1 "above the limit": theta = THETA_ABOVE x the limit
# a network run "diverges" where its loss stays above 3 x its running minimum up to the end: a
# ReLU network driven unstable does not reach inf, its units die and the loss returns to L_0
BLOW_UP = 3.0
TAU = (1.0, 1.0)  # SE pair of the predictions (the digits are near translation-invariant SE)


def optimizers(nu, zeta, lam_max, steps):
    """``{name: MemoryAlgorithm}``: memory-1 schedules of one structure (``steps + 1`` entries)."""
    n = steps + 1
    one = jnp.ones(n)
    theta_in = ja.am1_theta_max(AM1["kappa"], nu)
    theta_out = THETA_ABOVE * theta_in
    am1 = lambda th: ja.am1(AM1["delta0"], AM1["kappa"], AM1["alpha0"], th,  # noqa: E731
                            AM1["eta_kick"], AM1["t0"], steps=n)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the exponent above the limit is deliberate
        algs = {
            "SGD": ja.heavy_ball(SGD_LR * one, 0.0 * one),
            "Heavy Ball": ja.heavy_ball(HB_LR * one, HB_MOMENTUM * one),
            "Jacobi HB": ja.jacobi_heavy_ball(max(zeta, 0.05), 0.0, 2.0 * lam_max, n),
            f"AM1 theta={theta_in:.2f}": am1(theta_in),
            f"AM1 theta={theta_out:.2f} (above)": am1(theta_out),
        }
    return {k: a.with_shift_terms() for k, a in algs.items()}, theta_in, theta_out


def main(argv=None):
    """Run the sweep and write ``network.{npz,json,png}``; returns the summary."""
    p = ja.io.sim_parser("network", __doc__)
    p.add_argument("--n", type=int, help="number of digits (training points)")
    p.add_argument("--width", type=int, help="hidden width (even)")
    p.add_argument("--steps", type=int, help="training steps")
    p.add_argument("--seeds", type=int, help="network seeds")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes")
    p.add_argument("--seed", type=int, default=0, help="PRNG seed")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    n, T = cfg["n"], cfg["steps"]
    if not 20 <= n <= 1797 or cfg["width"] % 2 or T < 20 or cfg["seeds"] < 1:
        p.error("need 20 <= n <= 1797, an even width, steps >= 20, seeds >= 1")
    if min(cfg["batches"]) < 1 or max(cfg["batches"]) >= n:
        p.error("batch sizes must be in [1, n) (batches are drawn without replacement)")
    t_start = time.perf_counter()
    key = jax.random.PRNGKey(args.seed)
    k_init, k_batch = jax.random.split(key)

    # networks and their empirical NTK at initialisation (mean over the seeds)
    X, Y = ja.load_digits(n)
    params0 = initial_networks(k_init, X.shape[1], cfg["width"], Y.shape[1], cfg["seeds"])
    K = np.mean([ja.empirical_ntk(jax.tree_util.tree_map(lambda x: x[s], params0), X)
                 for s in range(cfg["seeds"])], axis=0)
    data, e0 = ja.kernel_regression_data(K, Y, replace=False)
    spectrum = data.spectrum(e0)
    fit = ja.fit_spectrum_exponents(spectrum, k_range=(max(3, n // 100), n // 5))
    lam_max = float(spectrum.eigenvalues.max())
    algs, theta_in, theta_out = optimizers(fit.nu, fit.zeta, lam_max, T)
    names = list(algs)
    print(f"digits n = {n}, width {cfg['width']}: empirical NTK nu = {fit.nu:.3f}, "
          f"zeta = {fit.zeta:.3f}, lambda_max = {lam_max:.3f}; AM1 limit theta = kappa (1 - 1/nu)"
          f" = {theta_in:.3f}, above: {theta_out:.3f}; Jacobi a = {max(fit.zeta, 0.05):.3f}, "
          f"L = {2 * lam_max:.3f}")
    rec = ja.log_steps(T, 40)
    stacked = stack_algorithms([algs[k] for k in names])

    rows, net, se_curves = [], {}, {}
    for b in cfg["batches"]:
        t0 = time.perf_counter()
        losses, bad, bad_at = train_network(stacked, X, Y, params0, b, rec,
                                            jax.random.fold_in(k_batch, b))
        secs = time.perf_counter() - t0
        net[b] = losses
        for i, name in enumerate(names):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                se = ja.predict_se(data, algs[name], e0, T, b, tau=TAU, record=rec)
            se_loss = np.asarray(se.loss)
            se_curves[(b, name)] = se_loss
            mean = losses[i].mean(axis=0)
            blow = blow_up_step(rec, mean, BLOW_UP)
            div = bool(bad[i].any()) or blow >= 0
            rows.append(dict(
                optimizer=name, batch=b, final_loss=float(mean[-1]), se_final_loss=float(se_loss[-1]),
                slope=slope(rec, mean, T), se_slope=slope(rec, se_loss, T), diverged=div,
                diverged_at=int(bad_at[i][bad[i]].min()) if bad[i].any() else blow,
                se_diverged=bool(se.diverged), se_diverged_at=int(se.diverged_at),
                min_loss_step=int(rec[np.argmin(np.where(np.isfinite(mean), mean, np.inf))]),
                train_seconds=secs))

    def cell(x):
        return f"{x:.4g}" if isinstance(x, float) else str(x)

    print(f"\nT = {T}, mean of {cfg['seeds']} seeds; slopes over [{T // 10}, {T}]; net div at: first "
          f"recorded step with a loss > 1e6 L_0 or staying above {BLOW_UP:g} x its running minimum; "
          f"SE div at: the divergence rule of simulate (-1: none)")
    text = ja.io.print_table(
        ["optimizer", "b", "net loss", "SE loss", "net slope", "SE slope", "net div at",
         "SE div at", "argmin t"],
        [[r["optimizer"], r["batch"], r["final_loss"], r["se_final_loss"], r["slope"],
          r["se_slope"], r["diverged_at"], r["se_diverged_at"], r["min_loss_step"]]
         for r in rows], fmt=cell)

    jac = [r for r in rows if r["optimizer"] == "Jacobi HB"]
    above = [r for r in rows if "(above)" in r["optimizer"]]
    print("\nJacobi HB: " + "; ".join(
        f"b={r['batch']}: " + (f"network diverges at t={r['diverged_at']}" if r["diverged"]
                               else "network does not diverge")
        + f" (loss minimum at t={r['min_loss_step']}), SE "
        + (f"diverges at t={r['se_diverged_at']}" if r["se_diverged"] else "stable")
        for r in jac))
    print(f"AM1 above the limit (theta = {theta_out:.3f} > {theta_in:.3f}): " + "; ".join(
        f"b={r['batch']}: " + ("DIVERGES" if r["diverged"] else "stable")
        + f" (slope {r['slope']:.3f}, SE " + ("diverges" if r["se_diverged"] else "stable") + ")"
        for r in above))
    seconds = time.perf_counter() - t_start
    summary = dict(config=cfg, nu=fit.nu, zeta=fit.zeta, lambda_max=lam_max, theta_limit=theta_in,
                   theta_above=theta_out, tau=list(TAU), rows=rows, table=text,
                   jacobi_diverges=[r["diverged"] for r in jac],
                   am1_above_stable=[not r["diverged"] for r in above], seconds=seconds)
    arrays = dict(steps=rec, optimizers=np.array(names), batches=np.array(cfg["batches"]),
                  eigenvalues=np.asarray(spectrum.eigenvalues), c2=np.asarray(spectrum.c2),
                  net_loss=np.stack([net[b] for b in cfg["batches"]]),
                  se_loss=np.stack([[se_curves[(b, k)] for k in names] for b in cfg["batches"]]))
    ja.io.write_results(args.out, "network", _figure(arrays, fit), arrays, summary)
    print(f"({seconds:.1f} s)")
    return summary


def _figure(arrays, fit):
    plt = ja.io.pyplot()
    batches = arrays["batches"]
    fig, axes = plt.subplots(1, len(batches), figsize=(4.2 * len(batches), 3.6), squeeze=False)
    t = arrays["steps"][1:]
    for j, (ax, b) in enumerate(zip(axes[0], batches)):
        for i, name in enumerate(arrays["optimizers"]):
            c = f"C{i}"
            mean = arrays["net_loss"][j, i].mean(axis=0)[1:]
            ax.loglog(t, np.where(np.isfinite(mean), mean, np.nan), "-", color=c, label=name)
            se = arrays["se_loss"][j, i][1:]
            ax.loglog(t, np.where(np.isfinite(se) & (se < 1e3), se, np.nan), ":", color=c)
        ax.set_ylim(1e-4, 10)
        ax.set_title(rf"b = {b} ($\nu$={fit.nu:.2f}, $\zeta$={fit.zeta:.2f}); dotted: SE")
        ax.set_xlabel("step $t$")
        ax.set_ylabel("training loss")
        ax.legend(fontsize=6)
    fig.tight_layout()
    plt.close(fig)
    return fig


if __name__ == "__main__":
    main()
