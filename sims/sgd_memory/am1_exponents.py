"""AM1 exponent sweep: measured vs predicted loss slopes and stability (Figure 4 claim; theory §7.2).

Theory: ``docs/theory/sgd_memory.md`` §7.2 (AM1 schedule ``delta_t = delta0 (t+t0)^-kappa``,
``alpha_eff,t = alpha0 (t+t0)^theta``, constant kick ``eta'``; allowed range
``0 <= theta <= kappa (1 - 1/nu)``; heuristic rate (27) ``t^{-zeta (1 + theta)}``; adiabatic
sum (249); the momentary ``U_Sigma(t)`` monitor), §9.1 (Fig. 4: rates follow
``t^{-zeta(1+theta)}``, divergence past the allowed range).

On the Gaussian power-law problem ``nu = 2, zeta = 0.5`` (represented up to ``--n-max``
eigenvalues by :func:`jaxaccel.power_law_continuum`), batch size 10, ``tau = (1, -1)``, the
AM1 schedule ``kappa = 0.9, delta0 = 0.5, alpha0 = 1, eta' = 0.5, t0 = 1`` is run for a sweep of
``theta`` (one compiled ``simulate`` vmapped over ``theta``). For each ``theta`` the script prints

* the local slopes over the last three decades of the horizon, the heuristic prediction (27)
  ``-zeta (1 + theta)``, the slope of the adiabatic sum (249) evaluated on the same spectrum
  and schedule, and the slope of (249) with the cumulative learning rate replaced by the rate
  the momentum buffer has actually applied (``V_applied`` of :func:`jaxaccel.adiabatic_loss`);
* whether :func:`jaxaccel.check_am1_exponents` flags ``theta``, the largest momentary
  ``U~_Sigma(t)`` (:func:`jaxaccel.running_noise_sum`), its predicted divergence onset, the
  step of the loss minimum and the step at which the run is flagged as diverged.

Usage::

    python sims/sgd_memory/am1_exponents.py            # --quick (default): T = 1e5, 8 thetas
    python sims/sgd_memory/am1_exponents.py --full     # T = 1e6, N = 1e10, 18 thetas

Both modes then measure the slopes per decade up to a long horizon (1e7 quick, 1e8 full) with
``loss_curve(..., method="piecewise")`` for theta = 0, 0.2, 0.4, 0.45, 0.6 and print the gap to
(27) per decade and whether it closes as the horizon grows.

Outputs in ``--out`` (default ``results/am1_exponents/``): ``am1_exponents.npz`` (steps, loss
curves, adiabatic predictions, running U), ``am1_exponents.json`` (configuration and tables),
``am1_exponents.png`` (loss curves; measured vs predicted slope against theta).
"""

from __future__ import annotations

import os
import time
import warnings

import numpy as np
import jax
import jax.numpy as jnp

import jaxaccel as ja
from jaxaccel import plotting

NAME = "am1_exponents"
CONFIGS = {
    "quick": dict(steps=100_000, n_max=1e8, thetas=[0.0, 0.1, 0.2, 0.3, 0.4, 0.45, 0.6, 0.8],
                  long_steps=10_000_000),
    "full": dict(steps=1_000_000, n_max=1e10,
                 thetas=[round(x, 2) for x in np.arange(0.0, 0.85, 0.05)] + [1.0],
                 long_steps=100_000_000),
}
#: the long-horizon sweep (loss_curve(..., method="piecewise"), theory §7.2 rate (27))
LONG_THETAS = [0.0, 0.2, 0.4, 0.45, 0.6]
NU, ZETA = 2.0, 0.5
TAU = (1.0, -1.0)  # Gaussian data
BATCH = 10
AM1 = dict(delta0=0.5, kappa=0.9, alpha0=1.0, eta_kick=0.5, t0=1.0)
BAND = 0.06  # allowed excess steepness of the finite-horizon slope over (27)


def _parse(argv):
    p = ja.io.sim_parser(NAME, __doc__)
    p.add_argument("--steps", type=int, help="horizon T (slopes over its last three decades)")
    p.add_argument("--n-max", type=float, help="number of eigenvalues represented")
    p.add_argument("--thetas", type=float, nargs="+", help="AM1 exponents to sweep")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    if cfg["steps"] < 1000:
        p.error("--steps must be >= 1000 (three decades)")
    if not cfg["n_max"] >= 1000:
        p.error("--n-max must be >= 1000")
    if min(cfg["thetas"]) < -0.5 or max(cfg["thetas"]) > 2:
        p.error("--thetas must lie in [-0.5, 2]")
    cfg["thetas"] = sorted(set(float(x) for x in cfg["thetas"]))
    return cfg, args.out


def _slopes(steps, curve, windows):
    curve = np.asarray(curve)
    out = []
    for lo, hi in windows:
        sel = (steps >= lo) & (steps <= hi)
        if np.all(np.isfinite(curve[sel])) and np.all(curve[sel] > 0):
            out.append(float(ja.fit_power_law(steps, curve, (lo, hi)).exponent))
        else:
            out.append(float("nan"))
    return out


def main(argv=None):
    """Run the sweep, write ``am1_exponents.{npz,json,png}``; returns the summary dict."""
    cfg, out = _parse(argv)
    T, thetas = cfg["steps"], cfg["thetas"]
    t_start = time.perf_counter()
    spec = ja.power_law_continuum(NU, ZETA, n_max=cfg["n_max"])
    rec = ja.log_steps(T, 300)
    windows = [(T / 1000, T / 100), (T / 100, T / 10), (T / 10, T)]
    theta_max = ja.am1_theta_max(AM1["kappa"], NU)
    args = (AM1["delta0"], AM1["kappa"], AM1["alpha0"])

    def algorithm(theta):
        return ja.am1(*args, theta, AM1["eta_kick"], AM1["t0"], T)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # diverging thetas
        res = jax.jit(jax.vmap(lambda th: ja.simulate(spec, algorithm(th), T, batch_size=BATCH,
                                                      tau=TAU, record=rec)))(
            jnp.asarray(thetas, jnp.float64))

    steps_U = ja.log_steps(T - 1, 80)
    rows, adiabatic, U_curves = [], [], []
    for i, th in enumerate(thetas):
        alg = algorithm(th)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ja.AM1ExponentWarning)
            allowed = ja.check_am1_exponents(th, AM1["kappa"], NU)
        flagged = any(issubclass(w.category, ja.AM1ExponentWarning) for w in caught)
        pred = ja.adiabatic_loss(spec, alg, rec)
        run = ja.running_noise_sum(spec, alg, BATCH, TAU, steps=steps_U)
        loss = np.asarray(res.loss[i])
        finite = np.where(np.isfinite(loss), loss, np.nan)
        diverged = bool(res.diverged[i])
        delta_T = AM1["delta0"] * (T + AM1["t0"]) ** -AM1["kappa"]  # memory horizon 1/delta_T
        rows.append(dict(
            theta=th, allowed=bool(allowed), flagged=flagged,
            slopes=_slopes(rec, loss, windows), predicted=-ZETA * (1 + th),
            slopes_249=_slopes(rec, pred.V, windows),
            slopes_249_applied=_slopes(rec, pred.V_applied, windows),
            applied_over_cumulative=float(pred.applied_lr[-1] / pred.cumulative_lr[-1]),
            delta_T_times_T=delta_T * T,
            max_U=float(np.max(np.asarray(run.U_tilde))),
            onset_predicted=int(run.onset) if int(run.onset) >= 0 else None,
            loss_min_at=int(rec[np.nanargmin(finite)]),
            diverged=diverged, diverged_at=int(res.diverged_at[i]) if diverged else None,
        ))
        adiabatic.append((np.asarray(pred.V), np.asarray(pred.V_applied)))
        U_curves.append(np.asarray(run.U_tilde))
    wall = time.perf_counter() - t_start

    # ----- tables
    print(f"{NAME} ({cfg['mode']}): nu={NU}, zeta={ZETA}, N={cfg['n_max']:.3g} ({spec.size} "
          f"nodes), b={BATCH}, tau={TAU}, T={T}; AM1 {AM1}; allowed theta <= kappa(1-1/nu) = "
          f"{theta_max:.3g}")
    dec = "  ".join(f"[{lo:.0e},{hi:.0e}]" for lo, hi in windows)
    print(f"\nlocal slopes over {dec} (measured) vs (27) -zeta(1+theta) and the (249) sums, "
          "last decade")
    head = (f"{'theta':>5s} {'measured (3 decades)':>24s} {'(27)':>7s} {'(249)':>7s} "
            f"{'(249)app':>8s} {'meas-(27)':>9s}")
    print(head + "\n" + "-" * len(head))

    def num(x, fmt):
        if x is None or not np.isfinite(x):
            return "-".rjust(len(format(0.0, fmt)))
        return format(x, fmt)

    for r in rows:
        m = " ".join(num(x, "7.3f") for x in r["slopes"])
        print(f"{r['theta']:5.2f} {m:>24s} {r['predicted']:7.3f} "
              f"{num(r['slopes_249'][-1], '7.3f')} "
              f"{num(r['slopes_249_applied'][-1], '8.3f')} "
              f"{num(r['slopes'][-1] - r['predicted'], '9.3f')}")
    print(f"\nstability (momentary U~_Sigma(t) of running_noise_sum on {steps_U.size} log-spaced "
          "steps; divergence expected once it reaches 1)")
    head2 = (f"{'theta':>5s} {'allowed':>7s} {'flagged':>7s} {'max U~':>8s} {'U~=1 at':>8s} "
             f"{'loss min':>9s} {'diverged at':>11s}")
    print(head2 + "\n" + "-" * len(head2))
    for r in rows:
        onset = str(r["onset_predicted"]) if r["onset_predicted"] is not None else "-"
        div = str(r["diverged_at"]) if r["diverged"] else "no"
        print(f"{r['theta']:5.2f} {str(r['allowed']):>7s} {str(r['flagged']):>7s} "
              f"{r['max_U']:8.3g} {onset:>8s} {r['loss_min_at']:9d} {div:>11s}")

    inside = [r for r in rows if r["allowed"]]
    if inside:
        worst = max(inside, key=lambda r: r["predicted"] - r["slopes"][-1])
        share = ((worst["slopes_249_applied"][-1] - worst["predicted"])
                 / (worst["slopes"][-1] - worst["predicted"]))
        worst["gap_share_explained_by_applied_rate"] = share
        print(
            f"\nWhy the finite-horizon slope is steeper than (27) (theta={worst['theta']:.2f}: "
            f"{worst['slopes'][-1]:.3f} vs {worst['predicted']:.3f}): (27) and (249) are "
            "adiabatic, they assume that each mode relaxes at the momentary rate "
            "alpha_eff,t lambda, i.e. that the cumulative rate A_t = sum_{s<t} alpha_eff,s has "
            "been applied. The (249) sum on the same spectrum gives "
            f"{worst['slopes_249'][-1]:.3f}, "
            "so the gap is not a truncation effect. The momentum buffer, however, spreads "
            "each gradient over the next ~1/delta_t steps, and 1/delta_t = (t+t0)^kappa/delta0 "
            f"is comparable to t itself here (delta_T T = {worst['delta_T_times_T']:.2f} at "
            f"T={T}): at T the buffer has applied only A^app_T / A_T = "
            f"{worst['applied_over_cumulative']:.2f} of the cumulative rate. The missing "
            "fraction shrinks like 1/(delta_t t) ~ t^{-(1-kappa)}, so the applied rate grows "
            "faster than t^{1+theta}; (249) evaluated with A^app_t gives "
            f"{worst['slopes_249_applied'][-1]:.3f}, accounting for {share:.0%} of the gap. The "
            f"excess decays only like t^{{-(1-kappa)}} = t^{{-{1 - AM1['kappa']:.2g}}}, so the "
            "slope approaches (27) very slowly.")
    checks = {
        f"allowed theta: no divergence, last-decade slope in [(27) - {BAND}, (27)]": all(
            (not r["diverged"]) and r["predicted"] - BAND <= r["slopes"][-1] <= r["predicted"]
            for r in inside),
        "theta above the range flagged by check_am1_exponents": all(
            r["flagged"] for r in rows if r["theta"] > theta_max * (1 + 1e-12)),
        "theta >= 0.8 diverges (flagged by simulate) within T": all(
            r["diverged"] for r in rows if r["theta"] >= 0.8),
    }
    for claim, ok in checks.items():
        print(f"  [{'ok' if ok else 'MISMATCH'}] {claim}")
    long_rows, long_windows = _long_horizon(spec, cfg["long_steps"], theta_max)
    wall = time.perf_counter() - t_start
    print(f"wall time {wall:.1f} s")

    # ----- files
    os.makedirs(out, exist_ok=True)
    ja.io.save_npz(os.path.join(out, NAME + ".npz"), steps=rec, thetas=np.asarray(thetas),
                   loss=np.asarray(res.loss), V_249=np.stack([a for a, _ in adiabatic]),
                   V_249_applied=np.stack([b for _, b in adiabatic]), U_steps=steps_U,
                   U=np.stack(U_curves))
    summary = dict(config=cfg, nu=NU, zeta=ZETA, tau=list(TAU), batch=BATCH, am1=AM1,
                   theta_max=theta_max, windows=windows, nodes=int(spec.size), table=rows,
                   checks=checks, long_horizon=dict(steps=cfg["long_steps"],
                                                    windows=long_windows, table=long_rows),
                   wall_seconds=wall)
    ja.io.save_json(os.path.join(out, NAME + ".json"), summary)
    _figure(out, rec, res, rows, theta_max)
    print(f"wrote {out}/{NAME}.{{npz,json,png}}")
    return summary


def _long_horizon(spec, T, theta_max):
    """Slopes per decade up to ``T`` by the piecewise long-horizon method: does the gap to
    (27) close as the horizon grows?"""
    windows = [(T / 10 ** (k + 1), T / 10 ** k) for k in (2, 1, 0)]
    rec = ja.log_steps(T, 400)
    rows = []
    t0 = time.perf_counter()
    for th in LONG_THETAS:
        sch = ja.am1_schedule(AM1["delta0"], AM1["kappa"], AM1["alpha0"], th, AM1["eta_kick"],
                              AM1["t0"])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            res = ja.loss_curve(spec, sch.algorithm, T, BATCH, TAU, record=rec, method="piecewise")
        slopes = _slopes(rec, np.asarray(res.loss), windows)
        pred = -ZETA * (1 + th)
        rows.append(dict(theta=th, slopes=slopes, predicted=pred,
                         gaps=[x - pred for x in slopes], diverged=bool(res.diverged),
                         diverged_at=int(res.diverged_at) if bool(res.diverged) else None))
    dec = "  ".join(f"[{lo:.0e},{hi:.0e}]" for lo, hi in windows)
    print(f"\nlong horizon (method='piecewise', T = {T:.0e}, {time.perf_counter() - t0:.1f} s): "
          f"slopes over {dec} vs (27); gap = measured - (27) per decade")
    head = f"{'theta':>5s} {'measured':>23s} {'(27)':>7s} {'gap per decade':>23s} {'trend':>8s}"
    print(head + "\n" + "-" * len(head))
    for r in rows:
        fmt = lambda xs: " ".join("      -" if not np.isfinite(x) else f"{x:7.3f}" for x in xs)  # noqa: E731
        g = r["gaps"]
        trend = ("diverged" if r["diverged"] else
                 "closing" if abs(g[-1]) < abs(g[0]) else "not closing")
        r["trend"] = trend
        print(f"{r['theta']:5.2f} {fmt(r['slopes']):>23s} {r['predicted']:7.3f} "
              f"{fmt(g):>23s} {trend:>8s}")
    print(f"(allowed range theta <= {theta_max:.3g}; the accuracy of the piecewise method "
          "against the exact run is stated and tested in tests/test_horizon.py)")
    return rows, windows


def _figure(out, rec, res, rows, theta_max):
    import matplotlib

    matplotlib.use("Agg")
    fig, (ax, ax2) = plotting.new_figure(1, 2, size=(5.2, 4.0))
    L0 = float(res.loss[0, 0])
    curves = {}
    for i, r in enumerate(rows):
        loss = np.asarray(res.loss[i])
        curves[rf"$\vartheta$={r['theta']:.2f}"] = (rec, np.where(loss < 1e3 * L0, loss, np.nan))
    plotting.plot_loss_curves(curves, ax=ax, title=rf"AM1, $\nu$={NU}, $\zeta$={ZETA}, b={BATCH}")
    th = np.array([r["theta"] for r in rows])
    for k, marker in zip(range(3), ("v", "s", "o")):
        ax2.plot(th, [r["slopes"][k] for r in rows], marker, ls="-", ms=4,
                 label=f"measured, decade {k + 1}")
    ax2.plot(th, [r["slopes_249"][-1] for r in rows], "k--", lw=1, label="(249), last decade")
    ax2.plot(th, [r["slopes_249_applied"][-1] for r in rows], "k:", lw=1.2,
             label="(249) with applied rate")
    ax2.plot(th, -ZETA * (1 + th), "r-", lw=1, label=r"(27) $-\zeta(1+\vartheta)$")
    ax2.axvline(theta_max, color="0.5", ls="-.", lw=1, label=r"$\kappa(1-1/\nu)$")
    ax2.set_ylim(-ZETA * (1 + th.max()) - 0.15, -0.6 * ZETA)  # diverging runs leave the frame
    ax2.set_xlabel(r"AM1 exponent $\vartheta$")
    ax2.set_ylabel("local slope of $L_t$")
    ax2.set_title("measured vs predicted slope")
    ax2.legend()
    ja.io.save_figure(os.path.join(out, NAME + ".png"), fig)


if __name__ == "__main__":
    main()
