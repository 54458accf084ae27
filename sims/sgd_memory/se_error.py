"""Where does the SE approximation hold? Exact finite-dataset dynamics vs SE (theory §18).

Theory: ``docs/theory/sgd_memory.md`` §3.2 (SE (15), Proposition 2), §18.1 (the exact batch-averaged
recursion on a finite dataset), §18.3 (the diagnostic).

For each dataset (all scaled to ``Tr H = 1``) and each (algorithm, batch size), the exact loss
(:func:`jaxaccel.simulate_dataset`, batches drawn without replacement) is compared with the SE
prediction (:func:`jaxaccel.se_error`) for the Gaussian ``tau = (1, -1)``, the
translation-invariant ``tau = (1, 1)`` and the fitted pair, and the Proposition-2 bracket
``tau1_lower <= tau1 <= tau1_upper`` (at ``tau2 = -1``) is measured on the data and its SE
curves checked to enclose the exact loss. Datasets:

* ``digits-ntk``: kernel regression on the ReLU NTK of the first ``n`` scikit-learn digits,
  one-hot targets (the linearised network of §9);
* ``gaussian``: ``n`` samples of ``N(0, diag(k^-1.5))`` in ``d`` dimensions (SE nearly exact);
* ``student-t``: the same covariance with independent Student-t(3) coordinates (heavy tails).

A row says ``SE holds`` when the Gaussian or translation-invariant pair is within 5% at every
recorded step, ``SE breaks (fitted pair fits)`` when only a fitted pair is, and ``SE breaks``
otherwise.

Usage::

    python sims/sgd_memory/se_error.py            # --quick (default): n = 120, T = 200
    python sims/sgd_memory/se_error.py --full     # n = 500, d = 200, T = 1000

Outputs in ``--out`` (default ``results/se_error/``): ``se_error.{npz,json,png}``.
"""

from __future__ import annotations

import time
import warnings

import numpy as np

import jaxaccel as ja

CONFIGS = {
    "quick": dict(n=120, d=30, steps=200, batches=[2, 16]),
    "full": dict(n=500, d=200, steps=1000, batches=[2, 8, 32]),
}
ALGORITHMS = {  # on data with Tr H = 1
    "SGD": ja.heavy_ball(0.5, 0.0),
    "Heavy Ball": ja.heavy_ball(0.25, 0.6),
}
TOL = 0.05


def datasets(n, d, seed=0):
    """``{name: (points (n, r), initial_error (r, outputs))}``, every dataset with ``Tr H = 1``."""
    rng = np.random.default_rng(seed)
    out = {}
    X, Y = ja.load_digits(n)
    data, e0 = ja.kernel_regression_data(ja.relu_ntk(X), Y, replace=False)
    out["digits-ntk"] = (np.asarray(data.points), np.asarray(e0))
    scale = np.arange(1, d + 1) ** -0.75
    w = rng.normal(size=(d, 1)) * np.arange(1, d + 1)[:, None] ** -0.25
    out["gaussian"] = (rng.normal(size=(n, d)) * scale, w)
    out["student-t"] = (rng.standard_t(3, size=(n, d)) / np.sqrt(3.0) * scale, w)
    for name, (P, e) in out.items():
        s = np.sqrt(np.sum(P**2) / P.shape[0])  # Tr H
        out[name] = (P / s, e * s)  # the same function, loss unchanged
    return out


def verdict(err_gauss, err_ti, err_fit):
    if min(err_gauss, err_ti) < TOL:
        return "SE holds"
    return "SE breaks (fitted pair fits)" if err_fit < TOL else "SE breaks"


def main(argv=None):
    """Run the diagnostic and write ``se_error.{npz,json,png}``; returns the summary."""
    p = ja.io.sim_parser("se_error", __doc__)
    p.add_argument("--n", type=int, help="points per dataset")
    p.add_argument("--d", type=int, help="dimension of the synthetic datasets")
    p.add_argument("--steps", type=int, help="SGD steps")
    p.add_argument("--batches", type=int, nargs="+", help="batch sizes")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    n, d, T = cfg["n"], cfg["d"], cfg["steps"]
    if not 20 <= n <= 1797 or d < 2 or T < 10 or min(cfg["batches"]) < 1 or max(cfg["batches"]) >= n:
        p.error("need 20 <= n <= 1797, d >= 2, steps >= 10, 1 <= batch < n")
    t0 = time.perf_counter()
    rows, table, curves = [], [], {}
    for dname, (P, e0) in datasets(n, d).items():
        bnd = ja.se_bounds(P)  # one bracket per dataset (tau2 = -1)
        for aname, alg in ALGORITHMS.items():
            for b in cfg["batches"]:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)  # divergent SE curves
                    try:
                        r = ja.se_error(P, alg, e0, T, b, replace=False, record=("log", 40),
                                        bounds=bnd)
                    except ValueError as err:  # the exact dynamics diverge
                        print(f"{dname} {aname} b={b}: {err}")
                        table.append([dname, aname, b] + ["-"] * 7 + ["exact diverges"])
                        continue
                    ti = np.asarray(ja.simulate(r.spectrum, alg, T, batch_size=r.se_batch_size,
                                                tau=(1.0, 1.0), record=r.steps,
                                                divergence_growth=None).loss)
                err_g, err_fit = r.max_rel_error, r.max_rel_error_fit
                err_ti = float(np.max(np.abs(ti / r.exact - 1.0)))
                v = verdict(err_g, err_ti, err_fit)
                rows.append(dict(dataset=dname, algorithm=aname, batch=b, rank=P.shape[1],
                                 max_rel_error_gauss=err_g, max_rel_error_ti=err_ti,
                                 tau_fit=list(r.tau_fit), max_rel_error_fit=err_fit,
                                 tau1_lower=bnd.tau1_lower, tau1_upper=bnd.tau1_upper,
                                 lower_monotone=bnd.lower_is_monotone,
                                 upper_holds=r.upper_holds, lower_holds=r.lower_holds,
                                 final_exact=float(r.exact[-1]), verdict=v))
                curves[f"{dname}|{aname}|{b}"] = (r.steps, r.exact, r.se, ti, r.se_fit)
                table.append([dname, aname, b, f"{err_g:.3g}", f"{err_ti:.3g}",
                              f"({r.tau_fit[0]:.2f}, {r.tau_fit[1]:.2f})", f"{err_fit:.3g}",
                              f"[{bnd.tau1_lower:.2f}, {bnd.tau1_upper:.1f}]",
                              "yes" if r.upper_holds else "NO",
                              ("yes" if r.lower_holds else "NO") if bnd.lower_is_monotone
                              else "n/a", v])
    print(f"SE error: exact finite-dataset loss vs SE, n = {n}, T = {T}, batches without "
          f"replacement; max_t |L_SE / L - 1| over the recorded steps")
    text = ja.io.print_table(
        ["dataset", "algorithm", "b", "err (1,-1)", "err (1,1)", "tau fit", "err fit",
         "tau1 bracket", "upper", "lower", "verdict"], table)
    print("tau1 bracket: Sigma_SE(tau1_lower, -1) <= Sigma <= Sigma_SE(tau1_upper, -1) on the data "
          "(Proposition 2); upper/lower: the SE curves at the bracket enclose the exact loss "
          "(n/a: tau1_lower < 0, the lower SE map is not monotone)")
    seconds = time.perf_counter() - t0
    summary = dict(config=cfg, rows=rows, table=text, seconds=seconds)
    keys = list(curves)
    arrays = dict(keys=np.array(keys), steps=np.stack([curves[k][0] for k in keys]),
                  exact=np.stack([curves[k][1] for k in keys]),
                  se_gauss=np.stack([curves[k][2] for k in keys]),
                  se_ti=np.stack([curves[k][3] for k in keys]),
                  se_fit=np.stack([curves[k][4] for k in keys]))
    ja.io.write_results(args.out, "se_error", _figure(arrays, cfg), arrays, summary)
    print(f"({seconds:.1f} s)")
    return summary


def _figure(arrays, cfg):
    plt = ja.io.pyplot()
    names = sorted({k.split("|")[0] for k in arrays["keys"]})
    fig, axes = plt.subplots(1, len(names), figsize=(4.2 * len(names), 3.4), squeeze=False)
    b = min(cfg["batches"])
    for ax, name in zip(axes[0], names):
        for i, key in enumerate(arrays["keys"]):
            dname, aname, bb = key.split("|")
            if dname != name or int(bb) != b:
                continue
            t = arrays["steps"][i][1:]
            c = "C0" if aname == "SGD" else "C1"
            ax.loglog(t, arrays["exact"][i][1:], "-", color=c, lw=2, label=f"{aname} exact")
            ax.loglog(t, arrays["se_gauss"][i][1:], "--", color=c, label="SE (1,-1)")
            ax.loglog(t, arrays["se_ti"][i][1:], ":", color=c, label="SE (1,1)")
        ax.set_title(f"{name}, b = {b}")
        ax.set_xlabel("step $t$")
        ax.set_ylabel("loss")
        ax.legend(fontsize=7)
    fig.tight_layout()
    plt.close(fig)
    return fig


if __name__ == "__main__":
    main()
