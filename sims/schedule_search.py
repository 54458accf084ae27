"""Schedule search under a compute budget: free-form lr / momentum / batch schedules vs AM1.

``jaxaccel.optimize_schedule`` (theory §15) optimises piecewise-linear-in-log-time schedules of
the effective learning rate, the momentum and the batch size of the decoupled form (250) by
gradient through the exact SE engine, with the compute budget ``sum_t b_t = B`` built in and a
stability penalty on the running ``U_Sigma``. For each horizon ``T`` it is compared, at the same
budget (``b = B / T`` for the constant-batch methods), with

* the best constant memory-1 schedule (a grid over ``alpha_eff``, ``delta``, ``eta'`` of the
  AM1 form, one ``simulate_grid`` call),
* AM1 (``delta0 = 0.5, kappa = 0.9, alpha0 = 1, theta = 0.4, eta' = 0.5``, the schedule of
  ``sims/optimal_schedule.py``),
* Jacobi HB (``a = zeta, b = 0, L = 2``).

The search starts from the better of the two (both are exact points of the searched family), so
it can only improve on them. The table gives the final losses and the shape of the optimal schedules (learning rate and batch
size at the start, middle and end in log-time): does a warm-up / stable / decay shape appear?

    python sims/schedule_search.py            # --quick (default): T = 300, 3e3
    python sims/schedule_search.py --horizons 10000 --iters 12 --n-max 1e5 --n-head 1000  # T = 1e4
    python sims/schedule_search.py --full     # T = 1e3, 1e4, 1e5, more iterations
"""

from __future__ import annotations

import time

import numpy as np

import jaxaccel as ja
from jaxaccel import plotting

NAME = "schedule_search"
CONFIGS = {
    "quick": dict(horizons=[300, 3000], iters=8, knots=6, n_max=1e4, n_head=200, zeta=0.5),
    "full": dict(horizons=[1000, 10_000, 100_000], iters=60, knots=10, n_max=1e6, n_head=1000,
                 zeta=0.5),
}
NU, BATCH = 2.0, 10.0


def best_constant(spectrum, T, b):
    """Best stationary AM1-form point (decoupled momentum (250)) on a grid, by ``L_T``."""
    def family(a_eff, delta, kick_frac):
        kick = a_eff * kick_frac
        return ja.am1_form(delta * (a_eff - kick), kick, 1.0 - delta)

    grid = {"a_eff": np.geomspace(0.3, 300.0, 16),
            "delta": np.array([1.0, 0.3, 0.1, 0.03, 0.01, 3e-3, 1e-3, 3e-4, 1e-4]),
            "kick_frac": np.array([0.003, 0.01, 0.03, 0.1, 0.3, 0.6])}
    res = ja.simulate_grid(spectrum, family, grid, T, batch_size=b, record=np.array([T]),
                           memory_budget=2**27)
    final = np.where(np.asarray(res.diverged), np.inf, np.asarray(res.loss)[..., -1])
    idx = np.unravel_index(int(np.argmin(final)), final.shape)
    params = {k: float(v[i]) for (k, v), i in zip(grid.items(), idx)}
    edge = [k for (k, v), i in zip(grid.items(), idx) if len(v) > 2 and i in (0, len(v) - 1)
            and k != "kick_frac"]
    if edge:
        print(f"best constant schedule at the edge of the grid in {edge}: widen the grid")
    return params, float(final[idx])


def constant_knots(p, K):
    """Knot values of ``"am1_form"`` for the constant schedule ``p`` of :func:`best_constant`."""
    one = np.ones(K)
    return {"log_alpha_eff": np.log(p["a_eff"]) * one, "log_delta": np.log(p["delta"]) * one,
            "log_kick": np.log(p["a_eff"] * p["kick_frac"]) * one}


def shape(values, knots_at):
    """Values at the start, the middle (in log-time) and the end."""
    v = np.asarray(values)
    n = v.size
    return [float(v[0]), float(v[int(np.expm1(np.log1p(n - 1) / 2))]), float(v[-1])]


def main(argv=None):
    p = ja.io.sim_parser(NAME, __doc__)
    p.add_argument("--horizons", type=int, nargs="+", help="horizons T")
    p.add_argument("--iters", type=int, help="Adam steps per horizon")
    p.add_argument("--zeta", type=float, help="target exponent (0.5: signal phase; 2: noise phase)")
    p.add_argument("--n-max", type=float, dest="n_max", help="continuum truncation N")
    p.add_argument("--n-head", type=int, dest="n_head", help="exact head nodes of the continuum")
    p.add_argument("--knots", type=int, help="knots per schedule")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    t_start = time.perf_counter()
    zeta = cfg["zeta"]
    spec = ja.power_law_continuum(NU, zeta, n_max=cfg["n_max"], n_head=cfg["n_head"])
    rows, curves = [], {}
    for T in cfg["horizons"]:
        B = BATCH * T
        const_p, const_L = best_constant(spec, T, BATCH)
        am1 = ja.simulate(spec, ja.am1(0.5, 0.9, 1.0, 0.4, 0.5, 1.0, T), T, batch_size=BATCH,
                          record=np.array([T]))
        # warm start from the better baseline (both are exact points of the family)
        start = "AM1" if float(am1.loss[-1]) <= const_L else "best constant"
        kn = ja.schedule_knots(T, cfg["knots"])
        init = ja.am1_knots(kn) if start == "AM1" else constant_knots(const_p, cfg["knots"])
        t0 = time.perf_counter()
        res = ja.optimize_schedule(spec, "am1_form", T, budget=B, knots=cfg["knots"],
                                   iters=cfg["iters"], init=init)
        t_opt = time.perf_counter() - t0
        jac = ja.simulate(spec, ja.jacobi_heavy_ball(zeta, 0.0, 2.0, T), T, batch_size=BATCH,
                          record=np.array([T]))
        a_eff = np.asarray(ja.effective_learning_rate(res.algorithm))
        row = dict(T=T, budget=B, budget_used=res.budget_used, optimised=res.loss,
                   best_constant=const_L, best_constant_params=const_p,
                   am1=float(am1.loss[-1]), jacobi=float(jac.loss[-1]) if not bool(jac.diverged)
                   else float("inf"), jacobi_diverged_at=int(jac.diverged_at),
                   U_max=res.U_max, rejected=res.rejected, seconds=t_opt, start=start,
                   alpha_eff_shape=shape(a_eff, None), batch_shape=shape(res.batch_size, None),
                   beats_constant=bool(res.loss < const_L), beats_am1=bool(res.loss < float(am1.loss[-1])))
        rows.append(row)
        curves[T] = (a_eff, np.asarray(res.batch_size), np.asarray(res.history))
    header = ["T", "start", "sum b / B", "optimised", "best const", "AM1", "Jacobi HB", "U_max",
              "a_eff start/mid/end", "b start/mid/end", "s"]
    table = [[r["T"], r["start"], f"{r['budget_used'] / r['budget']:.15f}", f"{r['optimised']:.4e}",
              f"{r['best_constant']:.4e}", f"{r['am1']:.4e}",
              "DIV@%d" % r["jacobi_diverged_at"] if not np.isfinite(r["jacobi"]) else f"{r['jacobi']:.4e}",
              f"{r['U_max']:.3f}", "/".join(f"{x:.2g}" for x in r["alpha_eff_shape"]),
              "/".join(f"{x:.3g}" for x in r["batch_shape"]), f"{r['seconds']:.1f}"] for r in rows]
    print(f"schedule search: nu={NU}, zeta={zeta}, continuum n_max={cfg['n_max']:g}, budget "
          f"B = {BATCH:g} T, tau=(1,-1); final losses L_T")
    text = ja.io.print_table(header, table)
    for r in rows:
        print(f"T={r['T']}: optimised beats best constant: {r['beats_constant']} "
              f"(x{r['best_constant'] / r['optimised']:.3f}), beats AM1: {r['beats_am1']} "
              f"(x{r['am1'] / r['optimised']:.3f})")
    seconds = time.perf_counter() - t_start
    print(f"total {seconds:.1f} s")
    fig, (ax1, ax2) = plotting.new_figure(1, 2, size=(4.8, 3.8))
    for T, (a, b, _) in curves.items():
        t = np.arange(1, T + 1)
        ax1.loglog(t, a, label=f"T={T}")
        ax2.loglog(t, b, label=f"T={T}")
    ax1.set_xlabel("step t"); ax1.set_ylabel(r"$\alpha_{\rm eff}(t)$"); ax1.legend()
    ax2.set_xlabel("step t"); ax2.set_ylabel("batch size $b_t$"); ax2.legend()
    arrays = {f"alpha_eff_T{T}": a for T, (a, _, _) in curves.items()}
    arrays.update({f"batch_T{T}": b for T, (_, b, _) in curves.items()})
    arrays.update({f"history_T{T}": h for T, (_, _, h) in curves.items()})
    meta = dict(config=cfg, nu=NU, batch=BATCH, rows=rows, table=text, seconds=seconds)
    ja.io.write_results(args.out, NAME, fig, arrays, meta)
    return meta


if __name__ == "__main__":
    main()
