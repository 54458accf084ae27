"""Memory M >= 2 design: memory-2 stability maps and a search for a larger effective learning rate.

Two parts (theory §16):

1. **Maps.** ``stability_map(spectrum, "memory2", ...)`` over two chosen coordinates of the
   memory-2 family ``P = (mu - 1)(mu - r1)(mu - r2)``, ``Q = q0 + q1 mu + q2 mu^2`` (here
   ``(q1, alpha_eff)`` at fixed ``r1 = 1 - delta, r2, q0``), checked at spot points against the
   brute-force spectral radius of ``S_lambda`` on a dense ``lambda`` grid (NumPy ``eig``), the
   noise sum ``U_Sigma`` from a discrete Lyapunov solve per node (SciPy, ``tau2 = 0``) and long
   SE simulations (bounded where the map says stable, diverged where it says ``U_Sigma > 1``).
2. **Search.** At a fixed memory scale ``delta`` and a noisy stability margin
   (``U~_Sigma <= 1 - margin``), the largest ``alpha_eff`` of memory-1 methods (over ``q0``) and
   of memory-2 methods (over ``r2, q0, q1``; the grid contains the memory-1 slice
   ``r2 = q0 = 0``), by bisection in ``alpha_eff`` (``jaxaccel.memory2_search``), reported with
   the characteristic polynomials of the winners.

    python sims/memory2_design.py            # --quick (default)
    python sims/memory2_design.py --full     # finer grids, more deltas, longer simulations
"""

from __future__ import annotations

import time

import numpy as np
import scipy.linalg

import jaxaccel as ja
from jaxaccel import plotting

NAME = "memory2_design"
CONFIGS = {
    "quick": dict(n_grid=10, steps=3000, deltas=[0.02], r2=[-0.5, 0.0, 0.5], q0=[-0.2, 0.0, 0.2],
                  q1=list(np.geomspace(0.02, 3.0, 6)), m1_q0=list(np.geomspace(0.02, 3.0, 32)),
                  iters=12, refine=2, samples=16, n_max=1e5),
    "full": dict(n_grid=40, steps=30_000, deltas=[0.1, 0.03, 0.01], r2=list(np.linspace(-0.8, 0.8, 9)),
                 q0=list(np.linspace(-0.4, 0.4, 9)), q1=list(np.geomspace(0.01, 5.0, 16)),
                 m1_q0=list(np.geomspace(0.01, 5.0, 64)), iters=16, refine=8, samples=64,
                 n_max=1e6),
}
NU, ZETA, BATCH = 2.0, 0.5, 10.0
MAP_FIXED = dict(r1=0.98, r2=0.5, q0=0.1)


def brute_force_radius(alg, lam_max, n=4000):
    """``max_lambda rho(S_lambda)`` over a dense grid of ``(0, lambda_max]`` (NumPy eig)."""
    lam = np.concatenate([np.geomspace(1e-8, 1e-2, n // 4), np.linspace(1e-2, 1, n)]) * lam_max
    S = np.asarray(alg.transition_matrix(lam))
    return float(np.max(np.abs(np.linalg.eigvals(S))))


def lyapunov_U(alg, spectrum, b, tau1=1.0):
    """``U_Sigma = tau1/b sum_k m_k lambda_k^2 <E11, X_k>`` with ``X = S X S^T + v v^T`` (``tau2 = 0``)."""
    lam, m = np.asarray(spectrum.eigenvalues), np.asarray(spectrum.weights)
    S0, v, wbar = (np.asarray(x) for x in alg.transition_parts())
    total = 0.0
    for lk, mk in zip(lam, m):
        S = S0 + lk * np.outer(v, wbar)
        X = scipy.linalg.solve_discrete_lyapunov(S, np.outer(v, v))
        total += mk * lk**2 * X[0, 0]
    return tau1 / b * total


def spot_checks(spec, smap, steps, k=3):
    """Map vs brute force / Lyapunov / simulate at ``k`` stable and ``k`` noise-unstable points."""
    U = np.asarray(smap.U)
    strict = np.asarray(smap.strictly_stable)
    ax = list(smap.axes.items())
    rows = []
    rng = np.random.default_rng(0)
    for kind, mask in (("stable", strict & (U < 0.8)), ("noise-unstable", strict & (U > 1.2) & np.isfinite(U)),
                       ("strictly unstable", ~strict)):
        idx = np.argwhere(mask)
        for i in idx[rng.permutation(len(idx))[:k]]:
            p = dict(MAP_FIXED, **{name: float(vals[j]) for (name, vals), j in zip(ax, i)})
            alg = ja.memory2(*_coeffs(p))
            rho = brute_force_radius(alg, float(spec.lambda_max))
            U_ly = lyapunov_U(alg, spec, BATCH) if rho < 1 else np.inf
            r = ja.simulate(spec, alg, steps, batch_size=BATCH, tau=(1.0, 0.0), record=np.array([steps]))
            rows.append(dict(kind=kind, params=p, map_U=float(U[tuple(i)]), lyapunov_U=float(U_ly),
                             map_strict=bool(strict[tuple(i)]), brute_rho=rho,
                             diverged=bool(r.diverged), diverged_at=int(r.diverged_at)))
    return rows


def _coeffs(p):
    s, q = p["r1"] + p["r2"], p["r1"] * p["r2"]
    q2 = -p["alpha_eff"] * (1 - s + q) - p["q0"] - p["q1"]
    return s, q, p["q0"], p["q1"], q2


def main(argv=None):
    p = ja.io.sim_parser(NAME, __doc__)
    p.add_argument("--steps", type=int, help="simulation steps of the spot checks")
    args = p.parse_args(argv)
    cfg = ja.io.sim_config(args, CONFIGS)
    t_start = time.perf_counter()
    spec = ja.power_law_continuum(NU, ZETA, n_max=cfg["n_max"], n_head=100)
    n = cfg["n_grid"]
    grid = {"q1": np.linspace(-0.5, 1.5, n), "alpha_eff": np.geomspace(0.3, 300.0, n)}
    # tau2 = 0 so that the brute-force S radius and the Lyapunov U are the whole story
    smap = ja.stability_map(spec, "memory2", grid, BATCH, (1.0, 0.0),
                            fixed={k: MAP_FIXED[k] for k in ("r1", "r2", "q0")})
    spots = spot_checks(spec, smap, cfg["steps"])
    print(f"memory-2 map over (q1, alpha_eff) at r1={MAP_FIXED['r1']}, r2={MAP_FIXED['r2']}, "
          f"q0={MAP_FIXED['q0']}; nu={NU}, zeta={ZETA}, b={BATCH}, tau=(1,0); "
          f"{int(np.sum(smap.stable))}/{smap.stable.size} points noisily stable")
    header = ["kind", "q1", "alpha_eff", "map strict", "brute rho", "map U", "Lyapunov U", "simulate"]
    rows = [[r["kind"], f"{r['params']['q1']:.3f}", f"{r['params']['alpha_eff']:.3g}",
             str(r["map_strict"]), f"{r['brute_rho']:.6f}", f"{r['map_U']:.6g}", f"{r['lyapunov_U']:.6g}",
             f"diverged@{r['diverged_at']}" if r["diverged"] else "bounded"] for r in spots]
    spot_text = ja.io.print_table(header, rows)
    agree = [(r["map_strict"] == (r["brute_rho"] < 1)) and
             (not np.isfinite(r["lyapunov_U"]) or abs(r["map_U"] / r["lyapunov_U"] - 1) < 1e-8) and
             (r["diverged"] == (r["kind"] != "stable")) for r in spots]
    print(f"spot checks agreeing with brute force, Lyapunov and simulate: {sum(agree)}/{len(agree)}")
    designs = []
    for delta in cfg["deltas"]:
        d = ja.memory2_search(spec, delta, BATCH, (1.0, -1.0), margin=0.1, r2=cfg["r2"],
                              q0=cfg["q0"], q1=cfg["q1"], m1_q0=cfg["m1_q0"], iters=cfg["iters"],
                              refine=cfg["refine"], samples=cfg["samples"])
        designs.append(d)
    header = ["delta", "mem-1 alpha_eff", "mem-1 q0", "mem-2 alpha_eff", "gain", "mem-2 P (ascending)",
              "mem-2 Q (ascending)"]
    rows = [[f"{d.delta:g}", f"{d.memory1['alpha_eff']:.4g}", f"{d.memory1['q0']:.3g}",
             f"{d.memory2['alpha_eff']:.4g}", f"{d.gain:.4f}",
             "[" + ", ".join(f"{x:.4g}" for x in d.P2) + "]",
             "[" + ", ".join(f"{x:.4g}" for x in d.Q2) + "]"] for d in designs]
    res = (1e4 / 1e-2) ** (2.0 ** -cfg["iters"]) - 1
    print(f"\nlargest alpha_eff at U~_Sigma <= 0.9 (tau=(1,-1), b={BATCH}), memory scale delta; "
          f"memory 1 over {len(cfg['m1_q0'])} q0 values, memory 2 over {len(cfg['r2'])} r2 x "
          f"{len(cfg['q0'])} q0 x {len(cfg['q1'])} q1 + {cfg['refine']} x {cfg['samples']} local samples; bisection resolution {100 * res:.2f}% "
          f"(gains within it are ties):")
    search_text = ja.io.print_table(header, rows)
    seconds = time.perf_counter() - t_start
    print(f"total {seconds:.1f} s")
    fig, (ax1, ax2) = plotting.new_figure(1, 2, size=(4.6, 3.8))
    plotting.plot_map(smap, "U", ax=ax1)
    for d in designs:
        c = d.candidates2
        ax2.scatter(np.arange(len(c)), c[:, -1], s=6, label=f"memory 2, delta={d.delta:g}")
        ax2.axhline(d.memory1["alpha_eff"], ls="--", lw=1, label=f"best memory 1, delta={d.delta:g}")
    ax2.set_yscale("log"); ax2.set_xlabel("candidate (r2, q0, q1)"); ax2.set_ylabel(r"max $\alpha_{\rm eff}$")
    ax2.legend(fontsize=7)
    arrays = {"U": np.asarray(smap.U), "margin": np.asarray(smap.margin), "q1": grid["q1"],
              "alpha_eff": grid["alpha_eff"]}
    for d in designs:
        arrays[f"candidates2_delta{d.delta:g}"] = d.candidates2
        arrays[f"candidates1_delta{d.delta:g}"] = d.candidates1
    meta = dict(config=cfg, spots=spots, spot_table=spot_text, spots_agree=int(sum(agree)),
                designs=[dict(delta=d.delta, memory1=d.memory1, memory2=d.memory2, gain=d.gain,
                              P1=d.P1.tolist(), Q1=d.Q1.tolist(), P2=d.P2.tolist(), Q2=d.Q2.tolist())
                         for d in designs], search_table=search_text, seconds=seconds)
    ja.io.write_results(args.out, NAME, fig, arrays, meta)
    return meta


if __name__ == "__main__":
    main()
