"""Predicted vs measured loss constants and exponents of stationary SGD with memory.

For a power-law problem (docs/theory/sgd_memory.md §1, (1)) in the signal-dominated (zeta < 2 - 1/nu)
and the noise-dominated (zeta > 2 - 1/nu) phase, and for algorithms with and without a gradient
shift ``a``, the late-time loss is predicted as ``L_t ~ C t^p`` (Theorems 3, 5, 8: eqs. 20, 21,
181, 182 with the propagator asymptotics 211, 221 and the sums of §5.3). The sim measures
``L_t`` by the SE simulation (Algorithm A) and prints, per run, the ratio of the measured loss to
the prediction over the last part of the horizon, the same ratio for the ``a = 0`` formula, the
fitted exponent with its uncertainty, and the ratios of the late propagators ``U_T, V_T`` to
(211), (221). The problem is the power law truncated at ``--n-max`` eigenvalues, represented by
:func:`jaxaccel.power_law_continuum` (exact head, quadrature tail).

    python sims/sgd_memory/propagator_constants.py            # --quick (default): T = 1e4
    python sims/sgd_memory/propagator_constants.py --full     # T = 1e5, finer quadrature
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import jaxaccel as ja

NAME = "propagator_constants"
ALGORITHMS = {
    "hb": ("Heavy Ball (alpha=0.4, beta=0.6), a=0", lambda: ja.heavy_ball(0.4, 0.6)),
    "nesterov": ("Nesterov (alpha=0.3, beta=0.7), a=0.7", lambda: ja.nesterov(0.3, 0.7)),
    "shift": ("memory-1 (alpha=0.5, a=0.8, b=0.3, c=-0.5, D=0.5)",
              lambda: ja.MemoryAlgorithm(0.5, [0.8], [0.3], [-0.5], [[0.5]])),
}


def run_one(spectrum, algorithm, steps, batch, tau, late_from):
    """Prediction and measurement for one problem and algorithm (one jitted scan)."""
    pred = ja.predict_loss(spectrum, algorithm, batch_size=batch, tau=tau)
    t0 = time.perf_counter()
    res = ja.simulate(spectrum, algorithm, steps, batch_size=batch, tau=tau,
                      record=ja.log_steps(steps, 120), unroll=1)
    wall = time.perf_counter() - t0
    t = np.asarray(res.steps)
    L = np.asarray(res.loss)
    late = t >= late_from
    shape = t[late].astype(float) ** pred.exponent
    ratio = L[late] / (float(pred.constant) * shape)
    ratio0 = L[late] / (float(pred.constant_a0) * shape)
    fit = ja.fit_power_law(t, L, (late_from, steps)) if not bool(res.diverged) else None
    pa = pred.propagators
    props = ja.propagators_at(spectrum, algorithm, [steps], batch_size=batch, tau=tau)
    v_ratio = float(props.V[0]) / (float(pa.C_V) * steps ** -pa.xi_V)
    u_ratio = float(props.U[0]) / (float(pa.C_U) * steps ** -pa.xi_U)
    row = {
        "phase": pred.phase, "U_sum": float(pred.sums.U), "U_tilde_sum": float(pred.sums.U_tilde),
        "predicted_exponent": float(pred.exponent), "predicted_constant": float(pred.constant),
        "constant_a0_formula": float(pred.constant_a0),
        "ratio_min": float(ratio.min()), "ratio_max": float(ratio.max()),
        "ratio_last": float(ratio[-1]), "ratio_a0_last": float(ratio0[-1]),
        "fitted_exponent": None if fit is None else fit.exponent,
        "fit_uncertainty": None if fit is None else fit.uncertainty,
        "V_T_ratio": v_ratio, "U_T_ratio": u_ratio,
        "diverged": bool(res.diverged), "wall_s": wall,
    }
    return row, t, L


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="T = 1e4, 8 panels/decade (default)")
    g.add_argument("--full", action="store_true", help="T = 1e5, 16 panels/decade, 2000 exact")
    p.add_argument("--out", default=os.path.join("results", NAME))
    p.add_argument("--steps", type=int, default=None, help="horizon T")
    p.add_argument("--n-max", type=float, default=1e8, help="eigenvalues represented")
    p.add_argument("--nu", type=float, default=1.5)
    p.add_argument("--zetas", type=float, nargs="+", default=[0.5, 2.0])
    p.add_argument("--batch", type=float, default=3.0)
    p.add_argument("--algorithms", nargs="+", default=list(ALGORITHMS), choices=list(ALGORITHMS))
    args = p.parse_args(argv)
    full = args.full
    steps = args.steps or (100_000 if full else 10_000)
    if steps < 100:
        raise SystemExit("--steps must be >= 100")
    n_head, ppd = (2000, 16) if full else (1000, 8)
    tau = (1.0, -1.0)
    late_from = steps // 3

    print(f"{NAME}: nu={args.nu}, n_max={args.n_max:.0e} (continuum), batch={args.batch}, "
          f"tau={tau}, T={steps}; ratios over t in [{late_from}, {steps}]")
    header = (f"{'algorithm':8s} {'zeta':>5s} {'phase':>6s} {'U':>6s} {'U~':>6s} {'C pred':>10s} "
              f"{'L/pred':>15s} {'a=0 form.':>9s} {'p pred':>7s} {'p fit':>15s} {'V_T/211':>8s} "
              f"{'U_T/221':>8s}")
    print(header)
    print("-" * len(header))
    table, curves, steps_rec = [], [], None
    for zeta in args.zetas:
        spectrum = ja.power_law_continuum(args.nu, zeta, n_max=args.n_max, n_head=n_head,
                                          panels_per_decade=ppd)
        for key in args.algorithms:
            label, make = ALGORITHMS[key]
            row, t, L = run_one(spectrum, make(), steps, args.batch, tau, late_from)
            row.update(algorithm=key, label=label, zeta=zeta, nu=args.nu)
            table.append(row)
            curves.append(L)
            steps_rec = t
            fit = ("diverged" if row["fitted_exponent"] is None
                   else f"{row['fitted_exponent']:.4f}+-{row['fit_uncertainty']:.4f}")
            print(f"{key:8s} {zeta:5.2f} {row['phase']:>6s} {row['U_sum']:6.3f} "
                  f"{row['U_tilde_sum']:6.3f} {row['predicted_constant']:10.4e} "
                  f"{row['ratio_min']:7.4f}-{row['ratio_max']:7.4f} {row['ratio_a0_last']:9.3f} "
                  f"{row['predicted_exponent']:7.4f} {fit:>15s} {row['V_T_ratio']:8.4f} "
                  f"{row['U_T_ratio']:8.4f}")

    worst = max(abs(r["ratio_min"] - 1) for r in table) if table else float("nan")
    worst = max(worst, max(abs(r["ratio_max"] - 1) for r in table))
    print(f"largest |L_t / prediction - 1| over the late window: {worst:.4f} (issue 3: < 0.05)")

    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, NAME)
    ja.io.save_npz(base + ".npz", steps=steps_rec, loss=np.asarray(curves),
                   predicted_constant=np.array([r["predicted_constant"] for r in table]),
                   predicted_exponent=np.array([r["predicted_exponent"] for r in table]))
    meta = {"nu": args.nu, "zetas": args.zetas, "batch": args.batch, "tau": tau, "steps": steps,
            "n_max": args.n_max, "n_head": n_head, "panels_per_decade": ppd,
            "late_from": late_from, "table": table, "max_relative_deviation": worst}
    ja.io.save_json(base + ".json", meta)

    import matplotlib

    matplotlib.use("Agg")
    from jaxaccel import plotting

    fig, ax = plotting.new_figure(size=(5.6, 4.0))
    with plotting.style():
        for r, L in zip(table, curves):
            t = steps_rec[1:].astype(float)
            comp = L[1:] / (r["predicted_constant"] * t ** r["predicted_exponent"])
            ax.semilogx(t, comp, label=f"{r['algorithm']}, zeta={r['zeta']:g} ({r['phase']})")
        ax.axhline(1.0, color="0.3", lw=0.8, ls="--")
        ax.set_ylim(0.8, 1.2)
        ax.set_xlabel("step $t$")
        ax.set_ylabel(r"$L_t / (C\,t^{p})$ (prediction = 1)")
        ax.set_title(f"loss constants, nu={args.nu:g}, b={args.batch:g}")
        ax.legend(fontsize=7)
    ja.io.save_figure(base + ".png", fig)
    return {"table": table, "max_relative_deviation": worst}


if __name__ == "__main__":
    main()
