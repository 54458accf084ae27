"""Iterations-to-threshold tables on the two-point l4 problem (why p > 2 can accelerate).

Theory (docs/theory/depth_stacking.md) §A8 (check 6). Two training points (e_1, y_1 = 10) and (e_2, y_2 = 1),
loss (1/2) sum_i (w_i - y_i)^4 / 4. Plain GD from w = 0 is stable only for
eta < 2 m / y_1^{p-2} = 0.04, so the small coordinate crawls; the end-to-end rule of depth N
steps the small coordinate with eta ||w||^{2-2/N} once w_1 is large.

Reproduction protocol (recovered; the spec does not record its init or grids). Iterations =
first t with loss(w_t) < threshold, t = 0 the initial point (= number of updates); best eta =
fewest iterations on the grid, per threshold (the same eta wins both thresholds here); float64.

* GD: w_0 = 0, eta in np.geomspace(1e-4, 5e-2, 40)         -> 1355 / 13732 (spec 1355 / 13732)
* end-to-end rule N = 2, 3: w_0 = (1e-3, 1e-3), eta in np.geomspace(1e-5, 5e-2, 50)
                                                   -> N = 2: 74 / 1337, N = 3: 77 / 1043 (= spec)

The init is pinned independently by the spec's catapult remark: with eta = 0.021, N = 2 and
w_0 = (1e-3, 1e-3) the loss after 3 iterations is 0.00169 ("0.0017 at iteration 3"); other small
inits give 0.01-1e3. The end-to-end counts are knife-edge: the etas that give all four rule
numbers within 5% form windows only 0.03-0.3% wide (around 0.020966 and 0.0052193), so a
neighbouring grid (49 or 51 points) or init ((0.9e-3, 0.9e-3), (1.1e-3, 1.1e-3)) changes them by
25-99% (the printed sensitivity table). The HEADLINE is therefore the median over random inits of the
same norm (per-seed best eta), printed first; the spec table is printed as a sensitivity case.
GD is robust: most neighbouring log grids give it within
1-5%, though one common grid for all methods (1e-5..5e-2, 50 points) would give GD 1243 / 13956
(-8% / +2%), hence the two grids. Following the spec's advice, the robustness table gives the
median over random inits of the same norm (per-seed best eta on the rule grid) with the IQR.

    python sims/depth/two_point.py            # --quick (default), about 30 s on 2 cores
    python sims/depth/two_point.py --full     # 64 init directions, 3 init norms (110 s measured)
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _depth_common as C  # noqa: E402

import jaxaccel.depth as jd  # noqa: E402

NAME = "two_point"
THRESHOLDS = (1e-4, 1e-6)
SPEC = {1: (1355, 13732), 2: (74, 1337), 3: (77, 1043)}
#: The recovered protocol of the spec's numbers (see the module docstring).
GD_GRID = (1e-4, 5e-2, 40)
RULE_GRID = (1e-5, 5e-2, 50)
RULE_INIT = (1e-3, 1e-3)
CATAPULT = dict(lr=0.021, depth=2, steps=3, spec_loss=0.0017)
TOLERANCE = 0.05


def rel_err(got, ref):
    """Relative deviation ``(got - ref) / ref`` (``inf`` if ``got`` is not finite)."""
    got = np.asarray(got, float)
    ref = np.asarray(ref, float)
    return np.where(np.isfinite(got), (got - ref) / ref, np.inf)


def _pct(e):
    return f"{100 * e:+.1f}%" if np.isfinite(e) else "-"


def _n(x):
    """An iteration count for the tables (``never`` if the threshold was not reached)."""
    return int(x) if np.isfinite(x) else "never"


def best_hits(run, lrs, lr_axis=0):
    """Fewest iterations to each threshold over the learning-rate axis, and the winning etas."""
    h = jd.hits_as_float(run.hit_at)
    best = h.min(axis=lr_axis)
    idx = np.argmin(h, axis=lr_axis)
    return h, best, np.where(np.isfinite(best), np.asarray(lrs)[idx], np.nan)


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None,
                    help="random init directions of the robustness table")
    ap.add_argument("--init-scales", type=float, nargs="+", default=None,
                    help="robustness inits w0 = s*sqrt(2)*u, u a random unit vector (s = 1e-3: "
                         "the norm of the spec's init)")
    args = ap.parse_args(argv)
    for name in ("steps", "seeds"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1")
    if args.init_scales is not None and not all(s > 0 for s in args.init_scales):
        ap.error("--init-scales must be > 0")
    timer = C.Timer()
    steps = C.pick(args, "steps", 20_000, 20_000)
    seeds = C.pick(args, "seeds", 16, 64)
    scales = C.pick(args, "init_scales", [1e-3], [1e-3, 1e-2, 1e-1])
    loss = jd.two_point_problem(10.0, 1.0, 4)
    cap = jd.gd_stability_cap([10.0, 1.0], 4, 2)
    gd_lrs, rule_lrs = np.geomspace(*GD_GRID), np.geomspace(*RULE_GRID)
    depths = np.array([2.0, 3.0])
    rec = ("log", 80)
    res, arrays = {}, dict(gd_lrs=gd_lrs, rule_lrs=rule_lrs, thresholds=np.array(THRESHOLDS))

    # ---------------------------------------------------------------- 1. the reproduction
    gd = jd.sweep_end_to_end(jnp.zeros((1, 1, 2)), loss, gd_lrs, 1, steps, thresholds=THRESHOLDS,
                             record=rec)
    gd_h, gd_best, gd_lr = best_hits(gd, gd_lrs)               # (E, 1, 2), (1, 2), (1, 2)
    W0 = jnp.asarray(RULE_INIT, jnp.float64).reshape(1, 1, 2)
    rule = jd.sweep_end_to_end(W0, loss, rule_lrs, depths, steps, thresholds=THRESHOLDS, record=rec)
    rule_h, rule_best, rule_lr = best_hits(rule, rule_lrs, lr_axis=1)  # (D, E, 1, 2), (D, 1, 2)
    measured = {1: (gd_best[0], gd_lr[0])}
    for i, N in enumerate(depths.astype(int)):
        measured[int(N)] = (rule_best[i, 0], rule_lr[i, 0])
    rows, worst = [], 0.0
    for N, (got, lr) in measured.items():
        err = rel_err(got, SPEC[N])
        worst = max(worst, float(np.max(np.abs(err))))
        label = "GD, w0 = 0" if N == 1 else f"rule N={N}, w0 = (1e-3, 1e-3)"
        grid = GD_GRID if N == 1 else RULE_GRID
        rows.append((label, _n(got[0]), SPEC[N][0], _pct(err[0]), _n(got[1]), SPEC[N][1],
                     _pct(err[1]), f"{lr[0]:.5g}/{lr[1]:.5g}"))
        res["N1" if N == 1 else f"N{N}"] = dict(
            iterations=got.tolist(), spec=list(SPEC[N]), rel_err=err.tolist(), lr=lr.tolist(),
            grid=f"geomspace{grid}", init=[0.0, 0.0] if N == 1 else list(RULE_INIT))
    res["max_abs_rel_err"] = worst
    res["reproduced_within_5pct"] = bool(worst <= TOLERANCE)

    # ---------------------------------------------------------------- 2. the catapult remark
    cat = jd.train_end_to_end(W0[0], loss, CATAPULT["lr"], CATAPULT["depth"], CATAPULT["steps"],
                              record="all")
    cat_loss = float(np.asarray(cat.loss)[-1])
    res["catapult"] = dict(CATAPULT, loss=cat_loss, trajectory=np.asarray(cat.loss).tolist())

    # ---------------------------------------------------------------- 3. sensitivity
    sens, sens_dev = [], []

    def rule_variant(label, lrs, w0):
        r = jd.sweep_end_to_end(jnp.asarray(w0, jnp.float64).reshape(-1, 1, 2), loss, lrs, depths,
                                steps, thresholds=THRESHOLDS, record=[steps])
        b = jd.hits_as_float(r.hit_at).min(axis=1)             # (D, S, 2)
        for s in range(b.shape[1]):
            lab = label if b.shape[1] == 1 else f"{label[s]}"
            errs = [rel_err(b[i, s], SPEC[int(N)]) for i, N in enumerate(depths)]
            its = ["/".join(str(_n(x)) for x in b[i, s]) for i in range(len(depths))]
            dev = max(float(np.max(np.abs(e))) for e in errs)
            sens_dev.append(dev)
            sens.append((lab, *its, _pct(dev)))

    rule_variant(["rule grid, init (0.9e-3, 0.9e-3)", "rule grid, init (1.1e-3, 1.1e-3)",
                  "rule grid, init 1e-3 (1, 1)/sqrt(2)"], rule_lrs,
                 [[0.9e-3, 0.9e-3], [1.1e-3, 1.1e-3], [1e-3 / np.sqrt(2), 1e-3 / np.sqrt(2)]])
    for lab, g in (("geomspace(1e-5, 5e-2, 49)", (1e-5, 5e-2, 49)),
                   ("geomspace(1e-5, 5e-2, 51)", (1e-5, 5e-2, 51)),
                   ("geomspace(1e-4, 5e-2, 50)", (1e-4, 5e-2, 50))):
        rule_variant(lab + ", init (1e-3, 1e-3)", np.geomspace(*g), [list(RULE_INIT)])
    gd_common = jd.sweep_end_to_end(jnp.zeros((1, 1, 2)), loss, rule_lrs, 1, steps,
                                    thresholds=THRESHOLDS, record=[steps])
    gdc = jd.hits_as_float(gd_common.hit_at[:, 0]).min(axis=0)
    gd_cap = jd.sweep_end_to_end(jnp.zeros((1, 1, 2)), loss, [0.9 * cap], 1, steps,
                                 thresholds=THRESHOLDS, record=[steps])
    gdcap = jd.hits_as_float(gd_cap.hit_at[0, 0])
    res["gd_on_rule_grid"] = gdc.tolist()
    res["gd_at_0.9_cap"] = gdcap.tolist()
    res["sensitivity"] = [list(r) for r in sens]

    # ---------------------------------------------------------------- 4. robustness (medians)
    rob_rows = []
    g = jax.random.normal(jax.random.PRNGKey(0), (seeds, 1, 2), jnp.float64)
    U = g / jnp.linalg.norm(g, axis=-1, keepdims=True)
    for s in scales:
        run = jd.sweep_end_to_end(s * np.sqrt(2.0) * U, loss, rule_lrs, depths, steps,
                                  thresholds=THRESHOLDS, record=[steps])
        h = jd.hits_as_float(run.hit_at)                       # (D, E, S, 2)
        best = h.min(axis=1)                                   # per seed, best lr: (D, S, 2)
        arrays[f"robust_s{s:g}_hit_at"] = np.asarray(run.hit_at)
        for i, N in enumerate(depths.astype(int)):
            med, q1, q3 = jd.median_iqr(best[i], axis=0)
            res[f"robust_N{N}_s{s:g}"] = dict(median=med.tolist(), q25=q1.tolist(), q75=q3.tolist(),
                                              min=best[i].min(axis=0).tolist(),
                                              max=best[i].max(axis=0).tolist())
            dev = float(np.max(np.abs(rel_err(med, SPEC[N]))))
            rob_rows.append((f"rule N={N}, |w0| = {s:g} sqrt2", med[0], SPEC[N][0], med[1],
                             SPEC[N][1], f"{q1[1]:.0f}-{q3[1]:.0f}", _pct(dev)))

    # ---------------------------------------------------------------- report
    print(f"{NAME} ({'full' if args.full else 'quick'}): y = (10, 1), l4, mean over 2 points, "
          f"{steps} steps; iterations = first t with loss(w_t) < thr (t = 0 the init)")
    print(f"GD stability cap from w = 0: 2m / y1^(p-2) = {cap:.4g}")
    print(f"\nHEADLINE -- robust median over {seeds} random init directions (|w0| = s sqrt2, "
          "per-seed best eta on the rule grid); GD from w = 0 is robust (see 3.)")
    res["robust_table"] = C.table(["method", "med it(1e-4)", "spec", "med it(1e-6)", "spec",
                                   "IQR it(1e-6)", "max |rel.err|"], rob_rows)
    s0 = scales[0]
    for N in (2, 3):
        med = res[f"robust_N{N}_s{s0:g}"]["median"][1]
        q = res[f"robust_N{N}_s{s0:g}"]
        sp = measured[1][0][1] / med if np.isfinite(med) else np.nan
        res[f"robust_speedup_N{N}"] = sp
        print(f"robust speed-up of the rule N={N} over GD (loss < 1e-6, |w0| = {s0:g} sqrt2): "
              f"{sp:.1f}x (IQR {measured[1][0][1] / q['q75'][1]:.1f}x-{measured[1][0][1] / q['q25'][1]:.1f}x; "
              f"the spec table's single init gives {SPEC[1][1] / SPEC[N][1]:.1f}x)")
    print(f"\nSENSITIVITY CASE 1. The spec table of theory §A8, one init (GD grid geomspace{GD_GRID}, rule grid "
          f"geomspace{RULE_GRID}, best eta per threshold)")
    res["table"] = C.table(["method", "it(1e-4)", "spec", "rel.err", "it(1e-6)", "spec", "rel.err",
                            "best eta"], rows)
    verdict = "REPRODUCED" if worst <= TOLERANCE else "NOT reproduced"
    print(f"max |rel. err| = {100 * worst:.1f}% -> {verdict} within {100 * TOLERANCE:.0f}%")
    for N in (2, 3):
        sp = measured[1][0][1] / measured[N][0][1] if np.isfinite(measured[N][0][1]) else np.nan
        print(f"speed-up of the rule N={N} over GD (1e-6): {sp:.1f}x "
              f"(spec {SPEC[1][1] / SPEC[N][1]:.1f}x)")
    print(f"\n2. Catapult remark: eta = {CATAPULT['lr']}, N = 2, w0 = (1e-3, 1e-3): loss after "
          f"{CATAPULT['steps']} iterations = {cat_loss:.3g} (spec {CATAPULT['spec_loss']})")
    print("\n3. Sensitivity of the rule's numbers to neighbouring choices (best eta per threshold)")
    C.table(["variant", "N=2 it(1e-4/1e-6)", "N=3 it(1e-4/1e-6)", "max |rel.err|"], sens)
    print(f"GD on the rule grid: {_n(gdc[0])}/{_n(gdc[1])}; GD at eta = 0.9 cap: "
          f"{_n(gdcap[0])}/{_n(gdcap[1])} (spec {SPEC[1][0]}/{SPEC[1][1]})")
    finite = [d for d in sens_dev if np.isfinite(d)]
    res["sensitivity_max_dev"] = max(finite) if finite else None
    print(f"(the spec table is a knife-edge: the neighbouring inits and grids above move its rule "
          f"counts by {100 * min(finite):.0f}-{100 * max(finite):.0f}%; the robust median is the "
          "headline)" if finite else "")
    plt = C.pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(12, 4.3))
    ax.loglog(gd_lrs, gd_h[:, 0, 1], "k.-", label="GD (w0 = 0)")
    for i, N in enumerate(depths.astype(int)):
        ax.loglog(rule_lrs, rule_h[i, :, 0, 1], ".-", label=f"rule N={N}, w0 = (1e-3, 1e-3)")
    for N, (got, lr) in measured.items():
        ax.plot([lr[1]], [SPEC[N][1]], "x", color="red", ms=9)
    ax.axvline(cap, color="gray", ls=":", label="GD cap 0.04")
    ax.set_xlabel("learning rate")
    ax.set_ylabel("iterations to loss < 1e-6 (x: spec)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    st = np.asarray(gd.steps)
    ok = st > 0
    j = int(np.nanargmin(gd_h[:, 0, 1])) if np.isfinite(gd_h[:, 0, 1]).any() else 0
    ax2.loglog(st[ok], np.asarray(gd.loss[j, 0])[ok], "k", label=f"GD, eta {gd_lrs[j]:.4g}")
    for i, N in enumerate(depths.astype(int)):
        j = int(np.nanargmin(rule_h[i, :, 0, 1])) if np.isfinite(rule_h[i, :, 0, 1]).any() else 0
        ax2.loglog(np.asarray(rule.steps)[ok], np.asarray(rule.loss[i, j, 0])[ok],
                   label=f"rule N={N}, eta {rule_lrs[j]:.4g}")
    for t in THRESHOLDS:
        ax2.axhline(t, color="gray", ls=":")
    ax2.set_xlabel("iteration")
    ax2.set_ylabel("loss")
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    arrays.update(gd_hit_at=np.asarray(gd.hit_at[:, 0]), gd_loss=np.asarray(gd.loss[:, 0]),
                  gd_steps=np.asarray(gd.steps), rule_hit_at=np.asarray(rule.hit_at[:, :, 0]),
                  rule_loss=np.asarray(rule.loss[:, :, 0]), rule_steps=np.asarray(rule.steps))
    meta = dict(results=res, spec=SPEC, steps=steps, seeds=seeds, init_scales=scales,
                gd_grid=list(GD_GRID), rule_grid=list(RULE_GRID), rule_init=list(RULE_INIT),
                runtime_s=timer())
    return C.finish(args, NAME, fig, arrays, meta, timer)


if __name__ == "__main__":
    main()
