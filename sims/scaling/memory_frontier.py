"""Does memory change the compute-optimal exponent? SGD vs Heavy Ball vs AM1 on PLRF.

Theory: ``docs/theory/sgd_memory.md`` §17 (random features, frontiers), §7 (AM1), §5.4
(propagator asymptotics: a stationary memory-M method acts through its effective learning
rate). On one point of PLRF phase II and one of phase III (deterministic-equivalent spectra,
``v = 1e8``, batch 1, label noise from the approximation residual), the compute-optimal frontier
of each method is measured with :func:`jaxaccel.compute_frontier`:

* SGD at learning rate 0.25;
* Heavy Ball with the same effective learning rate (``alpha = 0.05, beta = 0.8``) and with twice
  it (``alpha = 0.1``): a stationary method only rescales time, so the exponents should not move;
* AM1 (``delta0 = 0.5, kappa = 0.9, alpha0 = 0.25, eta' = 0.1, t0 = 1``) at ``theta = 0.4``,
  inside the stability range ``theta <= kappa (1 - 1/nu) = 0.45`` for ``nu = 2 alpha = 2``: its
  effective learning rate grows like ``t^theta``.

Printed: fitted exponents of ``P*(f)`` and ``d*(f)`` with 95% intervals, the SGD formula, and
the change that memory brings. For AM1 in phases Ia and II (where ``F_pp`` sets the frontier)
the sim also prints a heuristic of ours: AM1 runs the SGD dynamics in the time
``tau ~ t^(1 + theta)`` (the rate ``t^-zeta (1 + theta)`` of §7.2), so the balance of §17.4
taken in ``tau`` gives ``P* ~ f^-eta_AM1`` with
``eta_AM1 = ((2a + 2b - 1)/(2b)) / (1 + a/(b (1 + theta)))`` (II) and
``(2a + 2b - 1) / (1 + 2a/(1 + theta))`` (Ia), ``d* ~ f^xi_AM1`` with ``xi_AM1 = 1/(1 + a/(b(1+theta)))``
(II) and ``1/(1 + 2a/(1 + theta))`` (Ia). No such time change is claimed for phase III.

    python sims/scaling/memory_frontier.py            # --quick (default)
    python sims/scaling/memory_frontier.py --full     # wider d-grid, longer horizon
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np

import jaxaccel as ja

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _scaling_common as C  # noqa: E402

NAME = "memory_frontier"
POINTS = [(1.0, 0.7), (1.0, 1.5)]
CONFIG = {"quick": dict(d_min=50, d_max=1600, n_d=8, steps=100_000, n_nodes=300),
          "full": dict(d_min=30, d_max=10000, n_d=16, steps=1_000_000, n_nodes=400)}
V_DATA = C.V_DATA
AM1 = dict(delta0=0.5, kappa=0.9, alpha0=0.25, eta_kick=0.1, t0=1.0)


THETA = 0.4


def am1_heuristic(phase, a, b, theta=THETA):
    """``(P* exponent, d* exponent)`` of AM1 by the time change ``tau ~ t^(1+theta)`` (ours)."""
    if phase == "II":
        k = a / (b * (1 + theta))
        return -((2 * a + 2 * b - 1) / (2 * b)) / (1 + k), 1 / (1 + k)
    if phase == "Ia":
        k = 2 * a / (1 + theta)
        return -(2 * a + 2 * b - 1) / (1 + k), 1 / (1 + k)
    return None


def methods(steps):
    return {
        "SGD": ja.gd(0.25),
        "HB (same alpha_eff)": ja.heavy_ball(0.05, 0.8),
        "HB (2x alpha_eff)": ja.heavy_ball(0.1, 0.8),
        "AM1 theta=0.4": ja.am1(AM1["delta0"], AM1["kappa"], AM1["alpha0"], THETA,
                                AM1["eta_kick"], AM1["t0"], steps),
    }


def main(argv=None):
    args, cfg, ds = C.frontier_args(__doc__, NAME, CONFIG, argv, "8 sizes up to 1600, T = 1e5",
                                    "16 sizes up to 1e4, T = 1e6")
    T = cfg["steps"]
    print(f"{NAME}: PLRF, v={V_DATA:.0e}, batch 1, d in [{ds[0]}, {ds[-1]}] ({ds.size} sizes), "
          f"T={T}")
    head = (f"{'phase':>5s} {'(a, b)':>10s} {'method':>20s} {'P* exponent':>22s} "
            f"{'d* exponent':>22s} {'diverged':>8s}")
    print(head)
    print("-" * len(head))
    rows, curves = [], []
    t_all = time.perf_counter()
    for alpha, beta in POINTS:
        pred = ja.plrf_compute_optimal(alpha, beta)
        probs = C.equivalent_problems(alpha, beta, ds, cfg["n_nodes"])
        print(f"{pred.phase:>5s} {f'({alpha:g}, {beta:g})':>10s} {'SGD formula':>20s} "
              f"{pred.loss_exponent:22.3f} {pred.d_exponent:22.3f}")
        heur = am1_heuristic(pred.phase, alpha, beta)
        if heur is not None:
            print(f"{'':>5s} {'':>10s} {'AM1 heuristic':>20s} {heur[0]:22.3f} {heur[1]:22.3f}")
        for name, alg in methods(T).items():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                fr = ja.compute_frontier(lambda d: probs[d], alg, ds, T, 1.0,
                                         record=ja.log_steps(T, 100), f_points=40)
            fmt = C.exponent_text
            row = dict(phase=pred.phase, alpha=alpha, beta=beta, method=name,
                       loss_exponent=None if fr.loss_fit is None else fr.loss_fit.exponent,
                       loss_exponent_ci=None if fr.loss_fit is None else list(fr.loss_fit.ci),
                       d_exponent=None if fr.d_fit is None else fr.d_fit.exponent,
                       d_exponent_ci=None if fr.d_fit is None else list(fr.d_fit.ci),
                       diverged=int(fr.diverged.sum()),
                       sgd_formula=[pred.loss_exponent, pred.d_exponent],
                       am1_heuristic=None if heur is None or not name.startswith("AM1")
                       else list(heur))
            rows.append(row)
            curves.append((fr.f, fr.envelope))
            print(f"{'':>5s} {'':>10s} {name:>20s} {fmt(fr.loss_fit):>22s} {fmt(fr.d_fit):>22s} "
                  f"{row['diverged']:>8d}")
    # the answer
    print("answer:")
    for alpha, beta in POINTS:
        sel = {r["method"]: r for r in rows if (r["alpha"], r["beta"]) == (alpha, beta)}
        base = sel["SGD"]["loss_exponent"]
        for name, r in sel.items():
            if name == "SGD" or r["loss_exponent"] is None or base is None:
                continue
            print(f"  ({alpha:g}, {beta:g}) {name}: P* exponent {r['loss_exponent']:.3f} vs SGD "
                  f"{base:.3f} (change {r['loss_exponent'] - base:+.3f})")
    print(f"({time.perf_counter() - t_all:.0f} s)")

    os.makedirs(args.out, exist_ok=True)
    out = os.path.join(args.out, NAME)
    ja.io.save_npz(out + ".npz", d=ds, f=np.array([c[0] for c in curves]),
                   envelope=np.array([c[1] for c in curves]))
    ja.io.save_json(out + ".json", {"config": cfg, "v": V_DATA, "am1": AM1, "table": rows})
    import matplotlib

    matplotlib.use("Agg")
    from jaxaccel import plotting

    fig, axes = plotting.new_figure(1, len(POINTS), size=(5.0, 4.0))
    with plotting.style():
        for k, (alpha, beta) in enumerate(POINTS):
            ax = axes[k]
            for r, (f, env) in zip(rows, curves):
                if (r["alpha"], r["beta"]) == (alpha, beta):
                    ax.loglog(f, env, label=r["method"])
            ax.set_xlabel("compute $f = d\\,b\\,t$")
            ax.set_ylabel("$P^*(f)$")
            ax.set_title(f"PLRF alpha={alpha:g}, beta={beta:g}")
            ax.legend(fontsize=7)
    ja.io.save_figure(out + ".png", fig)
    return {"table": rows}


if __name__ == "__main__":
    main()
