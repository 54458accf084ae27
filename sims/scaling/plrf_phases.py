"""Compute-optimal exponents of SGD on power-law random features, measured vs the PLRF phases.

Theory: ``docs/theory/sgd_memory.md`` §17. For one point in each PLRF phase above the
high-dimensional line (Ia: 2 beta < 1; II: 2 beta > 1, beta < alpha; III: beta > alpha) the
exact SE dynamics of one-pass SGD (batch 1, label noise from the approximation residual) run on
the deterministic-equivalent spectrum of ``K = W^T D W`` for a grid of model sizes ``d``
(``v = 1e8``); :func:`jaxaccel.compute_frontier` returns the envelope ``P*(f)`` over ``d`` and
``d*(f)``. The sim prints the fitted exponents with 95% intervals next to the formulas of
:func:`jaxaccel.plrf_compute_optimal` (source: Paquette, Paquette, Xiao & Pennington 2024, the
balance of their loss terms; see §17.4 for what was derived here).

``--check-equivalent`` adds the check of the deterministic equivalent against sampled
embeddings (``v = 4000``, ``d = 500, 2000``): loss curves over ``T = 1e4`` vs the seed average.

    python sims/scaling/plrf_phases.py            # --quick (default)
    python sims/scaling/plrf_phases.py --full     # two points per phase, a wider d-grid
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np

import jaxaccel as ja

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _scaling_common as C  # noqa: E402

NAME = "plrf_phases"
POINTS = {"quick": [(1.0, 0.3), (1.0, 0.7), (1.0, 1.5)],
          "full": [(1.0, 0.3), (0.8, 0.35), (1.0, 0.7), (1.5, 0.9), (1.0, 1.5), (0.8, 1.2)]}
CONFIG = {"quick": dict(d_min=50, d_max=3200, n_d=10, steps=2_000_000, n_nodes=300),
          "full": dict(d_min=20, d_max=20000, n_d=22, steps=20_000_000, n_nodes=400)}
V_DATA = C.V_DATA
LR = 0.25        # SGD learning rate (stable: tr K ~ zeta(2 alpha) <= 1.65 here)


def check_equivalent(seeds=(24, 8), steps=10_000):
    """The deterministic equivalent vs the average over sampled embeddings (theory §17.2)."""
    rec = np.unique(np.geomspace(1, steps, 20).astype(int))
    rows = []
    for d, n_seed in zip((500, 2000), seeds):
        eq = ja.power_law_features_equivalent(1.0, 0.8, 4000, d, n_nodes=2000)
        draws = [ja.power_law_features(1.0, 0.8, 4000, d, seed=s) for s in range(n_seed)]
        for bs in (None, 8.0):
            def curve(p):
                nm = None if bs is None else ja.NoiseModel(bs, 1.0, -1.0, p.label_noise())
                return (np.asarray(ja.simulate(p.spectrum, ja.gd(LR), steps, nm, record=rec).loss)
                        + p.irreducible)
            c = np.array([curve(p) for p in draws])
            mean, sem = c.mean(0), c.std(0, ddof=1) / np.sqrt(n_seed)
            e = curve(eq)
            rows.append(dict(d=d, batch=bs, seeds=n_seed,
                             max_rel_vs_mean=float(np.max(np.abs(e / mean - 1))),
                             max_dev_in_sem=float(np.max(np.abs(e - mean) / sem)),
                             single_draw_spread=float(np.max(c.std(0) / mean)),
                             max_rel_vs_one_draw=float(np.max(np.abs(e / c[0] - 1)))))
            r = rows[-1]
            print(f"  d={d:5d} batch={'full' if bs is None else int(bs):>4}: equivalent vs "
                  f"{n_seed}-draw mean: max rel {r['max_rel_vs_mean']:.4f} "
                  f"({r['max_dev_in_sem']:.2f} s.e.); vs one draw {r['max_rel_vs_one_draw']:.4f}; "
                  f"draw-to-draw spread {r['single_draw_spread']:.4f}")
    return rows


def main(argv=None):
    args, cfg, ds = C.frontier_args(
        __doc__, NAME, CONFIG, argv, "one point per phase", "two points per phase, d up to 2e4",
        extra=lambda p: p.add_argument("--check-equivalent", action="store_true",
                                       help="also compare the equivalent with sampled embeddings"))
    mode = "full" if args.full else "quick"
    print(f"{NAME}: SGD (lr {LR}, batch 1) on PLRF, v={V_DATA:.0e}, d in [{ds[0]}, {ds[-1]}] "
          f"({ds.size} sizes), T={cfg['steps']}")
    print("source of the formulas: Paquette, Paquette, Xiao & Pennington (2024), 4+3 phases of "
          "compute-optimal neural scaling laws; balance of their loss terms (theory §17.4)")
    head = (f"{'phase':>5s} {'alpha':>5s} {'beta':>5s} {'d* pred':>8s} {'d* measured':>20s} "
            f"{'P* pred':>8s} {'P* measured':>20s} {'ok':>3s}  formula")
    print(head)
    print("-" * len(head))
    rows, curves = [], []
    t_all = time.perf_counter()
    for alpha, beta in POINTS[mode]:
        pred = ja.plrf_compute_optimal(alpha, beta)
        probs = C.equivalent_problems(alpha, beta, ds, cfg["n_nodes"])
        t0 = time.perf_counter()
        fr = ja.compute_frontier(lambda d: probs[d], ja.gd(LR), ds, cfg["steps"], 1.0,
                                 record=ja.log_steps(cfg["steps"], 120), f_points=48)
        wall = time.perf_counter() - t0
        lf, dfit = fr.loss_fit, fr.d_fit
        ok = (lf is not None and dfit is not None and abs(lf.exponent - pred.loss_exponent) <= 0.05
              and abs(dfit.exponent - pred.d_exponent) <= 0.05)
        row = dict(phase=pred.phase, alpha=alpha, beta=beta, formula=pred.formula,
                   d_exponent_predicted=pred.d_exponent, loss_exponent_predicted=pred.loss_exponent,
                   d_exponent=None if dfit is None else dfit.exponent,
                   d_exponent_ci=None if dfit is None else list(dfit.ci),
                   loss_exponent=None if lf is None else lf.exponent,
                   loss_exponent_ci=None if lf is None else list(lf.ci),
                   within_0_05=bool(ok), fit_window=[float(x) for x in fr.window],
                   any_diverged=bool(fr.diverged.any()), wall_s=wall)
        rows.append(row)
        curves.append((fr.f, fr.envelope, fr.d_opt))
        fmt = C.exponent_text
        print(f"{pred.phase:>5s} {alpha:5.2f} {beta:5.2f} {pred.d_exponent:8.3f} {fmt(dfit):>20s} "
              f"{pred.loss_exponent:8.3f} {fmt(lf):>20s} {'yes' if ok else 'NO':>3s}  {pred.formula}")
    print(f"points within +-0.05 of both formulas: {sum(r['within_0_05'] for r in rows)}/{len(rows)}"
          f"  ({time.perf_counter() - t_all:.0f} s)")
    check = check_equivalent() if args.check_equivalent else None

    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, NAME)
    ja.io.save_npz(base + ".npz", d=ds, f=np.array([c[0] for c in curves]),
                   envelope=np.array([c[1] for c in curves]),
                   d_opt=np.array([c[2] for c in curves]))
    ja.io.save_json(base + ".json", {"config": cfg, "v": V_DATA, "lr": LR, "mode": mode,
                                     "table": rows, "equivalent_check": check})
    import matplotlib

    matplotlib.use("Agg")
    from jaxaccel import plotting

    fig, axes = plotting.new_figure(1, 2, size=(10, 4))
    with plotting.style():
        for r, (f, env, dopt) in zip(rows, curves):
            lab = f"{r['phase']} ({r['alpha']:g}, {r['beta']:g})"
            axes[0].loglog(f, env, label=lab)
            axes[1].loglog(f, dopt, label=lab)
        axes[0].set_xlabel("compute $f = d\\,b\\,t$")
        axes[0].set_ylabel("$P^*(f)$")
        axes[1].set_xlabel("compute $f$")
        axes[1].set_ylabel("$d^*(f)$")
        axes[0].legend(fontsize=7)
        axes[0].set_title("compute-optimal frontier (SGD)")
    ja.io.save_figure(base + ".png", fig)
    return {"table": rows, "equivalent_check": check}


if __name__ == "__main__":
    main()
