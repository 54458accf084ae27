"""The accelerated SGD methods of the literature side by side, each tuned, under one exact engine.

Every rival (theory §14: DANA-constant, DANA-decay, AccSGD, Varre & Flammarion, Flammarion &
Bach, schedule-free SGD) and the engine's own methods (SGD, Heavy Ball, AM1 of §7, Jacobi HB of
§8) run on the same power-law problems (a signal-phase and a noise-phase one, theory §5.2) and,
when scikit-learn is installed, on the digits NTK spectrum (§9), all with the same mini-batch
noise (SE model (15), Gaussian data). Each method is tuned over a grid of its hyperparameters
by one vmapped ``simulate_grid`` call (the smallest final loss among the non-diverged runs); its
tuned loss curve gives the exponent fitted over the last decade, compared with the plain-SGD
exponent ``-zeta`` and the accelerated one ``-zeta(2 - 1/nu)`` (AM1's ``-zeta(1+theta)`` at the
edge ``theta = 1 - 1/nu``). The tuned configuration is then run at several batch sizes: the
table says at which it diverges and when ("GROWING": a positive fitted slope, a blow-up that the
engine's divergence rule has not flagged yet).

    python sims/sgd_memory/rivals.py            # --quick (default): N = 2000, T = 2000
    python sims/sgd_memory/rivals.py --full     # N = 1e4, T = 1e4, finer grids, 7 batch sizes
"""

from __future__ import annotations

import time

import numpy as np

import jaxaccel as ja
from jaxaccel import plotting

NAME = "rivals"
CONFIGS = {
    "quick": dict(n=2000, steps=2000, batch=10.0, points=5, batches=[1.0, 3.0, 10.0, 100.0],
                  digits_n=600),
    "full": dict(n=10_000, steps=10_000, batch=10.0, points=8,
                 batches=[1.0, 2.0, 5.0, 10.0, 30.0, 100.0, 1000.0], digits_n=1797),
}
TAU = (1.0, -1.0)
PROBLEMS = {"signal": (2.0, 0.5), "noise": (2.0, 2.0)}  # (nu, zeta): 2 - 1/nu = 1.5
AM1_KAPPA = 0.9


def _grid(lo, hi, n, log=True):
    return np.geomspace(lo, hi, n) if log else np.linspace(lo, hi, n)


def methods(spectrum, steps, nu, zeta, n):
    """``{name: (family(**params) -> MemoryAlgorithm, grid)}`` for one problem."""
    theta = ja.am1_theta_max(AM1_KAPPA, nu) * 0.95 if nu > 1 else 0.0
    zeta_j = max(min(zeta, 3.0), 0.1)
    lam_max = float(spectrum.lambda_max)
    g = {
        "SGD": (lambda alpha: ja.gd(alpha), {"alpha": _grid(0.05, 1.9, 2 * n) / lam_max}),
        "HB": (lambda alpha, beta: ja.heavy_ball(alpha, beta),
               {"alpha": _grid(0.05, 1.9, n) / lam_max,
                "beta": np.array([0.0, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99])}),
        "AM1": (lambda alpha0, eta_kick: ja.am1(0.5, AM1_KAPPA, alpha0, theta, eta_kick, 1.0, steps),
                {"alpha0": _grid(0.3, 30.0, n), "eta_kick": _grid(0.03, 1.0, n)}),
        "Jacobi HB": (lambda L: ja.jacobi_heavy_ball(zeta_j, 0.0, L, steps),
                      {"L": _grid(1.0, 100.0, 2 * n) * lam_max}),
        "DANA-constant": (lambda gamma2, gamma3: ja.dana_constant(gamma2, gamma3, 1.0, steps,
                                                                  spectrum=spectrum),
                          {"gamma2": _grid(0.05, 1.5, n), "gamma3": _grid(0.1, 1000.0, n)}),
        "DANA-decay": (lambda gamma2, gamma3: ja.dana_decay(gamma2, gamma3, 1.0, steps,
                                                            exponent=1.0 / nu),
                       {"gamma2": _grid(0.05, 1.5, n), "gamma3": _grid(0.001, 3.0, n)}),
        "AccSGD": (lambda lr, kappa: ja.accsgd_torch(lr, kappa, 10.0, 0.7),
                   {"lr": _grid(0.02, 1.5, n) / lam_max, "kappa": _grid(5.0, 1e5, n)}),
        "Varre-Flammarion": (lambda alpha, beta: ja.varre_flammarion(alpha, beta, steps),
                             {"alpha": _grid(1e-4, 1.0, n), "beta": _grid(0.05, 1.5, n) / lam_max}),
        "Flammarion-Bach": (lambda alpha, beta, gamma: ja.flammarion_bach(alpha, beta, gamma),
                            {"alpha": _grid(0.001, 0.5, n), "beta": _grid(0.05, 0.5, n) / lam_max,
                             "gamma": np.array([0.0, 0.5, 1.0, 2.0])}),
        "schedule-free": (lambda lr, beta: ja.schedule_free_sgd(lr, beta, steps),
                          {"lr": _grid(0.05, 10.0, n) / lam_max,
                           "beta": np.array([0.0, 0.5, 0.9, 0.98])}),
    }
    return g, theta


def tune(spectrum, family, grid, steps, batch, batches, rec):
    """Tune over ``grid`` x ``batches`` in one vmapped ``simulate_grid`` call.

    Returns the best non-diverged point at batch size ``batch`` (by the final loss; if every
    point diverges, the one that diverges last), its loss curve, whether it diverged and where,
    and the divergence step of that configuration at each of ``batches`` (-1: stable).
    """
    bs = sorted(set(float(x) for x in batches) | {float(batch)})
    full = dict(grid, batch_size=np.asarray(bs))
    res = ja.simulate_grid(spectrum, family, full, steps, tau=TAU, record=rec, memory_budget=2**27)
    nb = len(bs)
    loss = np.asarray(res.loss).reshape(-1, nb, len(rec))
    div = np.asarray(res.diverged).reshape(-1, nb)
    at = np.asarray(res.diverged_at).reshape(-1, nb)
    j = bs.index(float(batch))
    final = np.where(div[:, j] | ~np.isfinite(loss[:, j, -1]), np.inf, loss[:, j, -1])
    stable = np.isfinite(final)
    i = int(np.argmin(final)) if stable.any() else int(np.argmax(at[:, j]))
    idx = np.unravel_index(i, tuple(len(v) for v in grid.values()))
    params = {k: float(v[q]) for (k, v), q in zip(grid.items(), idx)}
    sweep = {f"{b:g}": (int(at[i, q]) if div[i, q] else -1) for q, b in enumerate(bs)
             if b in [float(x) for x in batches]}
    # axes (of > 2 values) on which the optimum sits at the end of the grid: "at its best"
    # only up to the grid
    edge = [k for (k, v), q in zip(grid.items(), idx) if len(v) > 2 and q in (0, len(v) - 1)]
    return (params, loss[i, j], bool(not stable.any()), int(at[i, j]) if not stable.any() else -1,
            sweep, edge)


def digits_spectrum(n):
    """The digits NTK spectrum (theory §9) with fitted exponents, or ``None`` without sklearn."""
    try:
        X, Y = ja.load_digits(n)
    except (ImportError, ModuleNotFoundError, ValueError) as err:
        print(f"digits NTK spectrum skipped: {err}")
        return None
    s = ja.Spectrum.from_kernel(ja.relu_ntk(X), Y[:, 0])
    fit = ja.fit_spectrum_exponents(s, k_range=(max(3, n // 100), n // 5))
    return s, fit.nu, fit.zeta


def run_problem(label, spectrum, nu, zeta, cfg, rec):
    T, b = cfg["steps"], cfg["batch"]
    fams, theta = methods(spectrum, T, nu, zeta, cfg["points"])
    rows, curves = [], {}
    for name, (family, grid) in fams.items():
        t0 = time.perf_counter()
        params, curve, diverged, at, sweep, edge = tune(spectrum, family, grid, T, b,
                                                        cfg["batches"], rec)
        slope = np.nan
        if not diverged:
            slope = float(ja.fit_power_law(rec, curve, (T / 10, T)).exponent)
        curves[name] = curve
        rows.append(dict(problem=label, method=name, params=params, final_loss=float(curve[-1]),
                         slope=slope, diverged=diverged, diverged_at=at,
                         batch_divergence=sweep, grid_edge=edge,
                         seconds=time.perf_counter() - t0))
    return rows, curves, theta


def main(argv=None):
    p = ja.io.sim_parser(NAME, __doc__)
    p.add_argument("--steps", type=int, help="horizon T")
    p.add_argument("--n", type=int, help="number of eigenvalues")
    p.add_argument("--no-digits", action="store_true", help="skip the digits NTK spectrum")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    if cfg["steps"] < 100:
        p.error("--steps must be >= 100")
    t_start = time.perf_counter()
    T = cfg["steps"]
    rec = ja.log_steps(T, 60)
    problems = {k: (ja.power_law_spectrum(cfg["n"], nu, z), nu, z) for k, (nu, z) in PROBLEMS.items()}
    if not args.no_digits:
        d = digits_spectrum(cfg["digits_n"])
        if d is not None:
            problems["digits NTK"] = d
    all_rows, all_curves, thetas = [], {}, {}
    for label, (spec, nu, zeta) in problems.items():
        rows, curves, theta = run_problem(label, spec, nu, zeta, cfg, rec)
        all_rows += rows
        all_curves[label] = curves
        thetas[label] = dict(nu=nu, zeta=zeta, theta_am1=theta,
                             sgd=-zeta if zeta < 2 - 1 / nu else -(2 - 1 / nu),
                             # the accelerated exponent -zeta(1+theta) at theta = 1 - 1/nu is a
                             # signal-phase prediction (theory §7.2); none in the noise phase
                             accelerated=-zeta * (2 - 1 / nu) if zeta < 2 - 1 / nu else float("nan"))
    # ----- table
    print(f"\nrivals, T = {T}, b = {cfg['batch']}, tau = {TAU}; slopes fitted on [T/10, T]; "
          f"'div@b' = divergence step of the tuned configuration at batch size b (- = stable)")
    header = ["problem", "method", "final loss", "slope", "pred SGD", "pred acc"] + \
        [f"div@{b:g}" for b in cfg["batches"]] + ["optimum at grid edge"]
    table = []
    for r in all_rows:
        th = thetas[r["problem"]]
        table.append([r["problem"], r["method"],
                      "DIVERGED@%d" % r["diverged_at"] if r["diverged"] else
                      (f"{r['final_loss']:.3e}" + (" GROWING" if r["slope"] > 0 else "")),
                      f"{r['slope']:.3f}", f"{th['sgd']:.2f}", f"{th['accelerated']:.2f}"]
                     + ["-" if v < 0 else str(v) for v in r["batch_divergence"].values()]
                     + [",".join(r["grid_edge"]) or "-"])
    text = ja.io.print_table(header, table)
    accel = {lab: [r["method"] for r in all_rows if r["problem"] == lab and not r["diverged"]
                   and r["slope"] < th["sgd"] - 0.5 * (th["sgd"] - th["accelerated"])]
             for lab, th in thetas.items() if np.isfinite(th["accelerated"])}
    for lab, names in accel.items():
        print(f"{lab}: beyond half-way from the SGD to the accelerated exponent: "
              f"{', '.join(names) if names else 'none'}")
    seconds = time.perf_counter() - t_start
    print(f"total {seconds:.1f} s")
    # ----- figure
    fig, axes = plotting.new_figure(1, len(all_curves), size=(4.6, 3.8))
    axes = np.atleast_1d(axes)
    for ax, (lab, curves) in zip(axes, all_curves.items()):
        plotting.plot_loss_curves({k: (rec, v) for k, v in curves.items()}, ax=ax,
                                  title=f"{lab} (nu={thetas[lab]['nu']:.2f}, zeta={thetas[lab]['zeta']:.2f})")
    arrays = {"steps": rec}
    for lab, curves in all_curves.items():
        for k, v in curves.items():
            arrays[f"{lab}/{k}".replace(" ", "_")] = v
    meta = dict(config=cfg, tau=list(TAU), problems=thetas, rows=all_rows, table=text,
                accelerated=accel, seconds=seconds)
    ja.io.write_results(args.out, NAME, fig, arrays, meta)
    return meta


if __name__ == "__main__":
    main()
