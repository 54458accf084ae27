"""Stability maps: Heavy Ball (alpha, beta) and memory-1 (q0, alpha_eff) at fixed delta.

For a power-law spectrum (``lambda_k = k^-nu``, theory §1) and a mini-batch SE noise model, two
maps of the strict-stability margin and the noise sum ``U_Sigma`` (theory §5, §6):

* Heavy Ball on an ``(alpha, beta)`` grid: strictly stable iff ``|beta| < 1`` and
  ``alpha lambda_max < 2 (1 + beta)`` (Theorem 6, theory §6.2), noisily stable iff
  ``U_Sigma < 1``; since ``U_Sigma >= tau1 alpha_eff sum_k lambda_k / (2b)`` (theory §5.3),
  ``alpha_eff = alpha / (1 - beta)`` is capped by the batch size.
* memory 1 on a ``(q0, alpha_eff)`` grid at a small fixed ``delta = 1 - beta``: the strict
  region is the band ``-delta < lambda_max q0`` and
  ``lambda_max (2 q0 + delta alpha_eff) < 2 (2 - delta)`` of (227), and with ``q0 > 0`` the
  noise sum (25) stays below 1 far beyond the Heavy Ball cap (Theorem 7, theory §6.5).

The printed tables compare, for both maps, the boundaries read off the computed margin with
Theorem 6, and, at a few grid points, the map's verdicts and predicted loss constants ``C_L``
with SE simulations (``jaxaccel.simulate``): measured ``L_T T^zeta / C_L`` and divergence.

    python sims/stability_maps.py            # --quick (default): N = 1e3, 36 x 36 grids
    python sims/stability_maps.py --full     # N = 1e5, 200 x 200 grids, longer checks

Writes ``stability_maps.npz`` (map arrays ``hb_<field>``, ``m1_<field>``, axes ``hb_axis_<name>``,
``m1_axis_<name>``),
``stability_maps.json`` (settings, tables, timings) and ``stability_maps.png`` to ``--out``
(default ``results/stability_maps/``).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import matplotlib

matplotlib.use("Agg")

import jaxaccel as ja  # noqa: E402
from jaxaccel import plotting  # noqa: E402

FIELDS = ("margin", "radius", "U", "U_tilde", "alpha_eff", "C_L", "stable", "strictly_stable")


def _settings(full: bool, n_grid=None, n_nodes=None, steps=None):
    s = dict(nu=2.0, zeta=0.5, batch_size=10.0, tau=(1.0, 0.0), delta=0.01,
             n_nodes=100_000 if full else 1_000, n_grid=200 if full else 36,
             steps=20_000 if full else 2_000)
    if n_grid is not None:
        s["n_grid"] = int(n_grid)
    if n_nodes is not None:
        s["n_nodes"] = int(n_nodes)
    if steps is not None:
        s["steps"] = int(steps)
    return s


def _bisect_boundary(stable_fn, lo, hi, iters=55):
    """Vectorised bisection of the ``x`` in ``[lo, hi]`` where ``stable_fn(x)`` turns False
    (``lo`` stable, ``hi`` unstable, elementwise); ``nan`` where not bracketed."""
    lo, hi = np.asarray(lo, dtype=float).copy(), np.asarray(hi, dtype=float).copy()
    ok = np.asarray(stable_fn(lo)) & ~np.asarray(stable_fn(hi))
    for _ in range(iters):
        mid = 0.5 * (lo + hi)
        s = np.asarray(stable_fn(mid))
        lo, hi = np.where(s, mid, lo), np.where(s, hi, mid)
    return np.where(ok, 0.5 * (lo + hi), np.nan)


def _map_diagonal(spec, family, names, fixed, b, tau):
    """``x -> strictly_stable`` at the points ``(x_i, y_i)``: the diagonal of a small map, so
    the boundary is the map's own decision (root locus + refined dense grid)."""
    def fn(x, y):
        m = ja.stability_map(spec, family, {names[0]: x, names[1]: y}, batch_size=b, tau=tau,
                             fixed=fixed)
        return np.diagonal(np.asarray(m.strictly_stable))
    return fn


def _boundary_rows(at, measured, predicted):
    return [{"at": float(a), "measured": float(m), "predicted": float(p),
             "rel_err": float(abs(m - p) / abs(p))} for a, m, p in zip(at, measured, predicted)]


def _pick(mask, score, k):
    """Indices (2-D) of up to ``k`` grid points of ``mask`` spread over the ``score`` range."""
    ii = np.argwhere(mask)
    if ii.size == 0:
        return []
    vals = score[mask]
    order = np.argsort(vals)
    sel = order[np.unique(np.linspace(0, order.size - 1, k).round().astype(int))]
    return [tuple(int(v) for v in ii[s]) for s in sel]


def _spot_checks(spec, smap, make, names, steps, batch, tau, zeta, k=3):
    """Simulate a few stable and unstable grid points; compare with the map."""
    margin, U, C, rad = (np.asarray(getattr(smap, f)) for f in ("margin", "U_tilde", "C_L", "radius"))
    stable = (margin > 1e-3) & (U < 0.6) & np.isfinite(C)
    unstable = (U > 1.5) | (margin < -1e-3)
    ax = [np.asarray(smap.axes[n]) for n in names]
    rows = []
    for kind, mask, score in (("stable", stable, U), ("unstable", unstable, np.where(np.isfinite(U), U, 1e9))):
        for i, j in _pick(mask, score, k):
            p = {names[0]: float(ax[0][i]), names[1]: float(ax[1][j])}
            r = ja.simulate(spec, make(**p), steps, batch_size=batch, tau=tau,
                            record=np.array([steps]), divergence_threshold=1e8)
            loss = float(r.loss[-1])
            row = dict(p, kind=kind, margin=float(margin[i, j]), U=float(U[i, j]),
                       radius=float(rad[i, j]),
                       diverged=bool(r.diverged), diverged_at=int(r.diverged_at))
            if kind == "stable":
                row["C_L"] = float(C[i, j])
                row["ratio"] = loss * steps**zeta / float(C[i, j]) if not r.diverged else float("nan")
            rows.append(row)
    return rows


def _print_boundaries(title, name, rows):
    print(f"\n{title}")
    print(f"  {name:>10s} {'measured':>12s} {'Theorem 6':>12s} {'rel.err':>9s}")
    for r in rows:
        print(f"  {r['at']:10.4g} {r['measured']:12.6g} {r['predicted']:12.6g} {r['rel_err']:9.2e}")


def _print_spots(title, names, rows):
    print(f"\n{title}")
    print(f"  {names[0]:>9s} {names[1]:>9s} {'map':>8s} {'U_Sigma':>9s} {'margin':>9s}"
          f" {'simulated':>14s} {'L_T T^z / C_L':>14s}")
    for r in rows:
        sim = f"diverged@{r['diverged_at']}" if r["diverged"] else "bounded"
        ratio = f"{r['ratio']:.4f}" if "ratio" in r and np.isfinite(r["ratio"]) else "-"
        print(f"  {r[names[0]]:9.4g} {r[names[1]]:9.4g} {r['kind']:>8s} {r['U']:9.3g}"
              f" {r['margin']:9.3g} {sim:>14s} {ratio:>14s}")


def run(settings: dict, out: str) -> dict:
    """Compute both maps, the checks, and write the result files; returns the JSON metadata."""
    st = settings
    nu, zeta, b, tau, delta = st["nu"], st["zeta"], st["batch_size"], st["tau"], st["delta"]
    n = st["n_grid"]
    spec = ja.power_law_spectrum(st["n_nodes"], nu=nu, zeta=zeta)
    lmax = float(spec.lambda_max)
    lam_sum = float(np.sum(np.asarray(spec.weights) * np.asarray(spec.eigenvalues)))
    timings = {}

    # ---------------------------------------------------------------- Heavy Ball (alpha, beta)
    alpha = np.linspace(0.05, 4.2, n) / lmax
    beta = np.linspace(-0.95, 0.995, n)
    t0 = time.perf_counter()
    hb = ja.stability_map(spec, "heavy_ball", {"alpha": alpha, "beta": beta}, batch_size=b,
                          tau=tau)
    hb.margin.block_until_ready()
    timings["hb_map_s"] = time.perf_counter() - t0
    # Theorem 6 on the whole grid (independent closed form) and the boundary by bisection
    # on strict_stability (root locus + dense refinement) at a few beta
    A, B = np.meshgrid(alpha, beta, indexing="ij")
    hb_thm6 = np.asarray(ja.memory1_conditions(1.0 - B, 0.0, -A, lmax).stable)
    hb_mismatch = int(np.sum(np.asarray(hb.strictly_stable) != hb_thm6))
    hb_diag = _map_diagonal(spec, "heavy_ball", ("alpha", "beta"), None, b, tau)
    beta_rows = np.linspace(-0.9, 0.99, 4)
    hb_pred = 2.0 * (1.0 + beta_rows) / lmax
    hb_meas = _bisect_boundary(lambda x: hb_diag(x, beta_rows), 0.5 * hb_pred, 1.5 * hb_pred)
    hb_bound = _boundary_rows(beta_rows, hb_meas, hb_pred)
    hb_ok = np.asarray(hb.stable)
    hb_ae_max = float(np.max(np.where(hb_ok, np.asarray(hb.alpha_eff), -np.inf)))
    hb_cap = 2.0 * b / (tau[0] * lam_sum)

    # ---------------------------------------------------------------- memory 1 (q0, alpha_eff)
    q0 = np.linspace(-2.0 * delta, 1.0, n) / lmax
    ae = np.geomspace(1.0, 3.0 / (delta * lmax), n)
    t0 = time.perf_counter()
    m1 = ja.stability_map(spec, "memory1", {"q0": q0, "alpha_eff": ae}, batch_size=b, tau=tau,
                          fixed={"delta": delta})
    m1.margin.block_until_ready()
    timings["m1_map_s"] = time.perf_counter() - t0
    Q0, AE = np.meshgrid(q0, ae, indexing="ij")
    m1_thm6 = np.asarray(ja.memory1_conditions(delta, *ja.triplet_from_effective(delta, AE, Q0)[1:],
                                               lmax).stable)
    m1_mismatch = int(np.sum(np.asarray(m1.strictly_stable) != m1_thm6))
    # (227) at fixed delta: q0 > -delta / lmax and alpha_eff < (2(2 - delta) - 2 lmax q0)/(lmax delta)
    m1_diag = _map_diagonal(spec, "memory1", ("q0", "alpha_eff"), {"delta": delta}, b, tau)
    q0_rows = np.linspace(0.0, 0.9, 4) / lmax
    ae_pred = (2.0 * (2.0 - delta) - 2.0 * lmax * q0_rows) / (lmax * delta)
    ae_meas = _bisect_boundary(lambda x: m1_diag(q0_rows, x), 0.5 * ae_pred, 1.5 * ae_pred)
    m1_bound = _boundary_rows(q0_rows, ae_meas, ae_pred)
    # lower edge in q0 (at a moderate alpha_eff): stable above -delta / lmax
    ae_rows = np.array([2.0, 20.0, 100.0, 200.0])
    q0_low = -_bisect_boundary(lambda x: m1_diag(-x, ae_rows), np.zeros(4),
                               np.full(4, 3.0 * delta / lmax))
    lower = _boundary_rows(ae_rows, q0_low, np.full(4, -delta / lmax))
    m1_ok = np.asarray(m1.stable)
    m1_ae_max = float(np.max(np.where(m1_ok, np.asarray(m1.alpha_eff), -np.inf)))

    # ---------------------------------------------------------------- simulation spot checks
    t0 = time.perf_counter()
    hb_spots = _spot_checks(spec, hb, ja.heavy_ball, ("alpha", "beta"), st["steps"], b, tau, zeta)
    m1_spots = _spot_checks(spec, m1, lambda q0, alpha_eff: ja.memory1_triplet(
        *ja.triplet_from_effective(delta, alpha_eff, q0)), ("q0", "alpha_eff"), st["steps"], b,
        tau, zeta)
    timings["simulations_s"] = time.perf_counter() - t0

    # ---------------------------------------------------------------- tables
    print(f"power-law spectrum nu={nu}, zeta={zeta}, N={st['n_nodes']}, b={b}, tau={tau}; "
          f"grids {n} x {n}")
    _print_boundaries("Heavy Ball strict boundary alpha_max(beta): strict_stability vs Theorem 6",
                      "beta", hb_bound)
    _print_boundaries(f"memory-1 (delta={delta}) strict boundary alpha_eff_max(q0) vs (227)",
                      "q0", m1_bound)
    _print_boundaries(f"memory-1 (delta={delta}) lower edge q0_min(alpha_eff) vs (227)",
                      "alpha_eff", lower)
    print(f"\nstrictly-stable grid points that disagree with Theorem 6 (227): Heavy Ball "
          f"{hb_mismatch} / {hb_thm6.size}, memory 1 {m1_mismatch} / {m1_thm6.size}")
    print("\nlargest noisily stable alpha_eff on the grids (Theorem 7: HB is capped, q0 > 0 is not)")
    print(f"  Heavy Ball: {hb_ae_max:10.4g}   (cap 2b/(tau1 sum lambda) = {hb_cap:.4g})")
    print(f"  memory 1  : {m1_ae_max:10.4g}   (delta = {delta})")
    _print_spots(f"Heavy Ball map vs simulate (T = {st['steps']})", ("alpha", "beta"), hb_spots)
    _print_spots(f"memory-1 map vs simulate (T = {st['steps']})", ("q0", "alpha_eff"), m1_spots)

    # ---------------------------------------------------------------- files
    os.makedirs(out, exist_ok=True)
    arrays = {"hb_axis_alpha": alpha, "hb_axis_beta": beta, "m1_axis_q0": q0, "m1_axis_alpha_eff": ae,
              "eigenvalues": np.asarray(spec.eigenvalues)}
    for prefix, smap in (("hb", hb), ("m1", m1)):
        for f in FIELDS:
            arrays[f"{prefix}_{f}"] = np.asarray(getattr(smap, f))
    ja.io.save_npz(os.path.join(out, "stability_maps.npz"), **arrays)

    fig, axes = plotting.new_figure(2, 2, size=(4.6, 3.6))
    plotting.plot_map(hb, "margin", axes[0, 0], title="Heavy Ball: strict margin")
    plotting.plot_map(hb, "U", axes[0, 1], title=r"Heavy Ball: $U_\Sigma$")
    plotting.plot_map(m1, "margin", axes[1, 0], title=rf"memory 1, $\delta={delta}$: strict margin")
    plotting.plot_map(m1, "U", axes[1, 1], title=rf"memory 1, $\delta={delta}$: $U_\Sigma$")
    for a in axes[0]:
        a.plot(2.0 * (1.0 + beta) / lmax, beta, ":", color="orange", lw=1.5, label="Theorem 6")
        a.set_xlim(alpha.min(), alpha.max())
        a.legend(loc="lower right")
    for a in axes[1]:
        q = np.linspace(q0.min(), q0.max(), 200)
        a.plot(q, (2.0 * (2.0 - delta) - 2.0 * lmax * q) / (lmax * delta), ":", color="orange",
               lw=1.5, label="(227)")
        a.axvline(-delta / lmax, ls=":", color="orange", lw=1.5)
        a.set_ylim(ae.min(), ae.max())
        a.legend(loc="lower left")
    ja.io.save_figure(os.path.join(out, "stability_maps.png"), fig)
    matplotlib.pyplot.close(fig)

    meta = {
        "settings": dict(st, tau=list(tau)),
        "spectrum": {"lambda_max": lmax, "sum_lambda": lam_sum},
        "hb_boundary": hb_bound,
        "m1_boundary": m1_bound,
        "m1_lower_edge": lower,
        "hb_theorem6_mismatches": hb_mismatch,
        "m1_theorem6_mismatches": m1_mismatch,
        "hb_alpha_eff_max_stable": hb_ae_max,
        "hb_alpha_eff_cap": hb_cap,
        "m1_alpha_eff_max_stable": m1_ae_max,
        "hb_spot_checks": hb_spots,
        "m1_spot_checks": m1_spots,
        "phase": hb.phase,
        "loss_exponent": hb.loss_exponent,
        "timings_s": timings,
        "files": ["stability_maps.npz", "stability_maps.json", "stability_maps.png"],
    }
    ja.io.save_json(os.path.join(out, "stability_maps.json"), meta)
    return meta


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = p.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="small setting (default, < 1 min)")
    g.add_argument("--full", action="store_true", help="paper-scale setting")
    p.add_argument("--out", default=os.path.join("results", "stability_maps"),
                   help="output directory (default results/stability_maps/)")
    p.add_argument("--grid", type=int, default=None, help="points per grid axis (override)")
    p.add_argument("--nodes", type=int, default=None, help="spectrum size N (override)")
    p.add_argument("--steps", type=int, default=None, help="simulation steps of the spot checks")
    args = p.parse_args(argv)
    for name in ("grid", "nodes", "steps"):
        v = getattr(args, name)
        if v is not None and v < (2 if name == "grid" else 1):
            p.error(f"--{name} must be a positive integer (>= 2 for --grid)")
    t0 = time.perf_counter()
    meta = run(_settings(args.full, args.grid, args.nodes, args.steps), args.out)
    print(f"\nwrote {args.out}/stability_maps.{{npz,json,png}} in {time.perf_counter() - t0:.1f} s")
    return meta


if __name__ == "__main__":
    main()
