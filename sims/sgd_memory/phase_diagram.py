"""Stationary loss exponents across (nu, zeta): signal vs noise phase (theory §1, §5.2, Fig. 2).

Theory: ``docs/theory/sgd_memory.md`` §1 (rates: ``t^{-zeta}`` in the signal-dominated phase
``zeta < 2 - 1/nu``, ``t^{-(2 - 1/nu)}`` in the noise-dominated phase), §5.2 (Theorems 3 / 8:
the constants (20) / (21)), §5.4 (the noise exponent ``xi_U = 2 - 1/nu``), §9.1 (Fig. 2 left,
the ``(zeta, 1/nu)`` phase diagram).

For every point of a ``(nu, zeta)`` grid the Gaussian power-law problem (represented up to
``--n-max`` eigenvalues by :func:`jaxaccel.power_law_continuum`) is trained with two stationary
algorithms at batch size 10, ``tau = (1, -1)``: plain SGD (``alpha = 1``, run as Heavy Ball
with ``beta = 0``) and Heavy Ball (``alpha = 0.5, beta = 0.5``, the same ``alpha_eff = 1``),
all in one compiled ``simulate`` vmapped over the grid and the two algorithms. Stationary
memory changes the constant, not the exponent. The script prints the slope fitted over ``[T/10, T]`` against the
phase-diagram exponent (:func:`jaxaccel.phase_diagram`), and the measured ``L_T`` against the
asymptotic prediction ``C T^{-xi}`` of :func:`jaxaccel.predict_loss`. Near the phase boundary
the two competing power laws have close exponents (log corrections on the line), so the
finite-horizon slope there is expected to lie between them; the table marks those points.

Usage::

    python sims/sgd_memory/phase_diagram.py            # --quick (default): 3 x 5 grid, T = 2e4
    python sims/sgd_memory/phase_diagram.py --full     # 6 x 9 grid, T = 1e6, N = 1e10

Outputs in ``--out`` (default ``results/phase_diagram/``): ``phase_diagram.npz`` (grid, loss
curves, measured and predicted exponents), ``phase_diagram.json`` (configuration and table),
``phase_diagram.png`` (predicted phase diagram with the measured SGD exponents; measured vs
predicted exponent).
"""

from __future__ import annotations

import os
import time

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja
from jaxaccel import plotting

NAME = "phase_diagram"
CONFIGS = {
    "quick": dict(steps=20_000, n_max=1e8, nu=[1.5, 2.0, 3.0], zeta=[0.25, 0.5, 1.0, 2.0, 3.0]),
    "full": dict(steps=1_000_000, n_max=1e10, nu=[1.25, 1.5, 2.0, 2.5, 3.0, 4.0],
                 zeta=[0.25, 0.5, 0.75, 1.0, 1.25, 1.75, 2.0, 2.5, 3.0]),
}
TAU = (1.0, -1.0)  # Gaussian data
BATCH = 10
# plain SGD is Heavy Ball with beta = 0 (the same iteration); both as memory-1 algorithms so that
# the whole grid is one compiled, vmapped simulation
ALGORITHMS = {"SGD": dict(alpha=1.0, beta=0.0), "HB": dict(alpha=0.5, beta=0.5)}
NEAR = 0.35  # |zeta - (2 - 1/nu)| below which a point counts as near the boundary
TOL = 0.05  # slope tolerance away from the boundary


def _parse(argv):
    p = ja.io.sim_parser(NAME, __doc__)
    p.add_argument("--steps", type=int, help="horizon T")
    p.add_argument("--n-max", type=float, help="number of eigenvalues represented")
    p.add_argument("--nu", type=float, nargs="+", help="spectral exponents (> 1)")
    p.add_argument("--zeta", type=float, nargs="+", help="target exponents (> 0)")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    if cfg["steps"] < 100:
        p.error("--steps must be >= 100 (slopes are fitted over the last decade)")
    if not cfg["n_max"] >= 1000:
        p.error("--n-max must be >= 1000")
    if min(cfg["nu"]) <= 1:
        p.error("--nu must be > 1 (nu <= 1: U_Sigma = inf, every batch size diverges)")
    if min(cfg["zeta"]) <= 0:
        p.error("--zeta must be > 0")
    cfg["nu"] = sorted(set(float(x) for x in cfg["nu"]))
    cfg["zeta"] = sorted(set(float(x) for x in cfg["zeta"]))
    return cfg, args.out


def _algorithm(name):
    return ja.heavy_ball(**ALGORITHMS[name])


def main(argv=None):
    """Run the grid, write ``phase_diagram.{npz,json,png}``; returns the summary dict."""
    cfg, out = _parse(argv)
    T, nus, zetas = cfg["steps"], cfg["nu"], cfg["zeta"]
    t_start = time.perf_counter()
    pd = ja.phase_diagram(nus, zetas)  # (len(zeta), len(nu))
    rec = ja.log_steps(T, 120)
    points = [(i, j) for i in range(len(zetas)) for j in range(len(nus))]
    spectra = [ja.power_law_continuum(nus[j], zetas[i], n_max=cfg["n_max"]) for i, j in points]
    # the same number of nodes everywhere: stack the arrays and vmap one compiled run over the
    # grid and the algorithms (the power-law metadata is only needed by predict_loss)
    names = list(ALGORITHMS)
    plain = [ja.Spectrum(s.eigenvalues, s.c2, s.weights) for s in spectra] * len(names)
    stacked = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *plain)
    algs = [_algorithm(name) for name in names for _ in points]
    stacked_algs = jax.tree_util.tree_map(lambda *x: jnp.stack(x), *algs)
    res = jax.jit(jax.vmap(lambda sp, alg: ja.simulate(sp, alg, T, batch_size=BATCH, tau=TAU,
                                                       record=rec)))(stacked, stacked_algs)
    all_loss = np.asarray(res.loss)
    losses, rows = {}, []
    for a, name in enumerate(names):
        alg = _algorithm(name)
        losses[name] = all_loss[a * len(points):(a + 1) * len(points)]
        for k, (i, j) in enumerate(points):
            nu, zeta = nus[j], zetas[i]
            pred = ja.predict_loss(spectra[k], alg, batch_size=BATCH, tau=TAU)
            xi = float(pd.sgd_exponent[i, j])
            diverged = bool(res.diverged[a * len(points) + k])
            slope = (float("nan") if diverged else
                     float(ja.fit_power_law(rec, losses[name][k], (T / 10, T)).exponent))
            const = float(pred.constant)
            ratio = (float(losses[name][k, -1] / (const * float(T) ** -xi))
                     if np.isfinite(const) and not diverged else float("nan"))
            rows.append(dict(algorithm=name, nu=nu, zeta=zeta, phase=pred.phase,
                             predicted=-xi, slope=slope, error=slope + xi,
                             near_boundary=abs(zeta - (2.0 - 1.0 / nu)) < NEAR,
                             constant=const, loss_T_over_prediction=ratio, diverged=diverged))
    wall = time.perf_counter() - t_start

    # ----- table
    print(f"{NAME} ({cfg['mode']}): N={cfg['n_max']:.3g} ({spectra[0].size} nodes), b={BATCH}, "
          f"tau={TAU}, T={T}; SGD alpha=1, HB alpha=0.5 beta=0.5 (alpha_eff = 1 for both)")
    head = (f"{'alg':4s} {'nu':>5s} {'zeta':>5s} {'phase':>6s} {'slope':>7s} {'predicted':>9s} "
            f"{'diff':>7s} {'L_T/(C T^-xi)':>13s}  note")
    print(head + "\n" + "-" * len(head))
    for r in rows:
        note = "near boundary" if r["near_boundary"] else ""
        if r["diverged"]:
            note = "DIVERGED"
        print(f"{r['algorithm']:4s} {r['nu']:5.2f} {r['zeta']:5.2f} {r['phase']:>6s} "
              f"{r['slope']:7.3f} {r['predicted']:9.3f} {r['error']:7.3f} "
              f"{r['loss_T_over_prediction']:13.3f}  {note}")
    away = [r for r in rows if not r["near_boundary"]]
    checks = {
        f"no divergence (U_Sigma < 1 everywhere at b={BATCH})":
            not any(r["diverged"] for r in rows),
        f"slope within {TOL} of the phase-diagram exponent away from the boundary": all(
            abs(r["error"]) < TOL for r in away),
        "SGD and HB (same alpha_eff) share the exponent (within 0.02)": all(
            abs(a["slope"] - b["slope"]) < 0.02 for a, b in zip(rows[:len(points)],
                                                                 rows[len(points):])),
    }
    for claim, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISMATCH'}] {claim}")
    worst = max(away, key=lambda r: abs(r["error"])) if away else None
    if worst is not None:
        print(f"largest |slope - predicted| away from the boundary: {abs(worst['error']):.3f} "
              f"({worst['algorithm']}, nu={worst['nu']}, zeta={worst['zeta']})")
    print(f"wall time {wall:.1f} s")

    # ----- files
    os.makedirs(out, exist_ok=True)
    shape = (len(zetas), len(nus))
    measured = {name: np.array([r["slope"] for r in rows if r["algorithm"] == name]).reshape(shape)
                for name in ALGORITHMS}
    ja.io.save_npz(os.path.join(out, NAME + ".npz"), nu=np.asarray(nus), zeta=np.asarray(zetas),
                   steps=rec, predicted=-pd.sgd_exponent, phase=pd.phase,
                   **{f"slope_{k}": v for k, v in measured.items()},
                   **{f"loss_{k}": v.reshape(shape + (rec.size,)) for k, v in losses.items()})
    summary = dict(config=cfg, tau=list(TAU), batch=BATCH,
                   algorithms={k: dict(constructor="heavy_ball", **kw)
                               for k, kw in ALGORITHMS.items()},
                   nodes=int(spectra[0].size), table=rows, checks=checks, wall_seconds=wall)
    ja.io.save_json(os.path.join(out, NAME + ".json"), summary)
    _figure(out, pd, rows, measured["SGD"], nus, zetas)
    print(f"wrote {out}/{NAME}.{{npz,json,png}}")
    return summary


def _figure(out, pd, rows, measured, nus, zetas):
    import matplotlib

    matplotlib.use("Agg")
    fig, (ax, ax2) = plotting.new_figure(1, 2, size=(5.2, 4.0))
    plotting.plot_phase_diagram(pd, ax=ax, title="predicted SGD exponent; numbers: measured")
    for i, zeta in enumerate(zetas):
        for j, nu in enumerate(nus):
            ax.text(zeta, 1.0 / nu, f"{-measured[i, j]:.2f}", ha="center", va="center",
                    fontsize=7, color="c")
    for name, marker in (("SGD", "o"), ("HB", "x")):
        sel = [r for r in rows if r["algorithm"] == name]
        ax2.plot([-r["predicted"] for r in sel], [-r["slope"] for r in sel], marker, ls="",
                 label=name)
    lim = [0, max(max(-r["predicted"] for r in rows), 1.0) * 1.1]
    ax2.plot(lim, lim, "k--", lw=1, label="measured = predicted")
    ax2.set_xlabel(r"predicted exponent $\xi$ (phase diagram)")
    ax2.set_ylabel(r"measured exponent over $[T/10, T]$")
    ax2.set_title("stationary exponents")
    ax2.legend()
    ja.io.save_figure(os.path.join(out, NAME + ".png"), fig)


if __name__ == "__main__":
    main()
