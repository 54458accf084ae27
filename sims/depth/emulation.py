"""Emulation: a trained depth-N linear network versus the end-to-end update rule.

Theory (docs/theory/depth_stacking.md) §A3 (check 1), §A1.4 and §A9.2 E2.

Part 1 (spec check 1): N = 3, k = 3 outputs, d = 5 inputs, hidden widths (4, 7), balanced init
of spectral scale 0.5, multi-output squared loss, fixed horizon eta * steps = 2. The relative
difference ||W_e^net - W_e^rule|| / ||W_e^net|| at the horizon shrinks linearly with eta
(spec: 3.9e-2 at eta = 0.04 down to 2.1e-3 at 0.0025; the data are not given in the spec, so
only the O(eta) law and the order of magnitude are comparable). Hidden widths (3, 3) and
(10, 20) from the same balanced W_e(0) give identical trajectories.

Part 2 (E2): l_p regression on scikit-learn's diabetes data (the paper's UCI ethanol data are
not available offline), depth-2 and depth-3 networks (hidden width d) trained by GD, against
the end-to-end rule started from the same W_e(0). From a balanced init the two agree; from a
small i.i.d. Gaussian init (std 0.01) they do not early on, because the imbalance ~ s^2 is large
relative to ||W_e||^(2/N) ~ s^2 (theory §A1.4: 265 vs 586 iterations, balanced 122 vs 124).

    python sims/depth/emulation.py            # --quick (default), about 20 s on 2 cores
    python sims/depth/emulation.py --full     # longer Part-2 runs, l2 and l4
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _depth_common as C  # noqa: E402

import jaxaccel.depth as jd  # noqa: E402

NAME = "emulation"
SPEC_GAP = {0.04: 3.9e-2, 0.02: 1.8e-2, 0.01: 8.6e-3, 0.005: 4.2e-3, 0.0025: 2.1e-3}
SPEC_GAP_WD = {0.04: 2.9e-2, 0.0025: 1.4e-3}


def check1_problem():
    """The shapes of spec check 1 with a fixed synthetic teacher (the spec gives no data)."""
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, 5))
    Y = X @ (1.5 * rng.normal(size=(3, 5))).T
    return jd.lp_regression(X, Y, p=2), jd.init_balanced(jax.random.PRNGKey(2), (5, 4, 7, 3), scale=0.5)


def emulation_gap(loss, layers, lr, depth, weight_decay=0.0, horizon=2.0):
    T = int(round(horizon / lr))
    net = jd.train_network(layers, loss, lr, T, weight_decay=weight_decay, record=[T])
    rule = jd.train_end_to_end(jd.end_to_end_matrix(layers), loss, lr, depth, T,
                               weight_decay=weight_decay, record=[T])
    We = np.asarray(jd.end_to_end_matrix(net.params))
    return float(np.linalg.norm(We - np.asarray(rule.params)) / np.linalg.norm(We))


def part2(loss, depth, init, lr, steps, scale, tol):
    """Network vs rule from the same W_e(0): loss curves, iterations to L* (1 + tol), gap."""
    d = loss.in_dim
    widths = jd.make_widths(d, 1, depth, width=d)
    key = jax.random.PRNGKey(depth)
    layers = (jd.init_balanced(key, widths, scale=scale) if init == "balanced"
              else jd.init_gaussian(key, widths, scale=scale))
    _, L_star = jd.lp_minimum(loss)
    thr = [L_star * (1 + tol)]
    rec = ("log", 40)
    net = jd.train_network(layers, loss, lr, steps, record=rec, thresholds=thr, record_params=True)
    rule = jd.train_end_to_end(jd.end_to_end_matrix(layers), loss, lr, depth, steps, record=rec,
                               thresholds=thr, record_params=True)
    Wn = jax.vmap(jd.end_to_end_matrix)(net.recorded)
    gap = np.linalg.norm(np.asarray(Wn - rule.recorded).reshape(len(net.steps), -1), axis=1)
    gap = gap / np.maximum(np.linalg.norm(np.asarray(Wn).reshape(len(net.steps), -1), axis=1), 1e-300)
    rel_imb = float(jd.imbalance(layers, relative=True).max())
    return dict(steps=np.asarray(net.steps), net_loss=np.asarray(net.loss),
                rule_loss=np.asarray(rule.loss), gap=gap, L_star=L_star,
                hit_net=int(net.hit_at[0]), hit_rule=int(rule.hit_at[0]), rel_imbalance0=rel_imb,
                diverged=bool(net.diverged) or bool(rule.diverged))


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    ap.add_argument("--steps", type=int, default=None, help="Part-2 iterations")
    ap.add_argument("--lrs", type=float, nargs="+", default=None, help="Part-1 step sizes")
    ap.add_argument("--depths", type=int, nargs="+", default=[2, 3], help="Part-2 depths")
    args = ap.parse_args(argv)
    timer = C.Timer()
    lrs1 = args.lrs or [0.04, 0.02, 0.01, 0.005, 0.0025]
    steps2 = C.pick(args, "steps", 3000, 30_000)
    ps = (4,) if not args.full else (2, 4)

    # ---------------------------------------------------------------- part 1
    loss1, layers1 = check1_problem()
    gaps = [emulation_gap(loss1, layers1, lr, 3) for lr in lrs1]
    lr_wd = [lrs1[0], lrs1[-1]]
    gaps_wd = [emulation_gap(loss1, layers1, lr, 3, weight_decay=0.05) for lr in lr_wd]
    slope = float(np.polyfit(np.log(lrs1), np.log(gaps), 1)[0]) if len(lrs1) > 1 else float("nan")
    A = jd.end_to_end_matrix(layers1)
    traj = []
    for k, widths in enumerate(((5, 3, 3, 3), (5, 10, 20, 3))):
        ls = jd.init_balanced(jax.random.PRNGKey(10 + k), widths, target=A)
        run = jd.train_network(ls, loss1, 0.02, 100, record=10, record_params=True)
        traj.append(np.asarray(jax.vmap(jd.end_to_end_matrix)(run.recorded)))
    width_diff = float(np.max(np.abs(traj[0] - traj[1])))

    print(f"{NAME} ({'full' if args.full else 'quick'})")
    print("Part 1: depth-3 net vs end-to-end rule, horizon eta * steps = 2 (spec check 1)")
    rows = [(lr, g, SPEC_GAP.get(lr, float("nan")), g / lr) for lr, g in zip(lrs1, gaps)]
    t1 = C.table(["eta", "rel. gap", "spec", "gap / eta"], rows)
    rows_wd = [(lr, g, SPEC_GAP_WD.get(lr, float("nan"))) for lr, g in zip(lr_wd, gaps_wd)]
    t1wd = C.table(["eta (lambda=0.05)", "rel. gap", "spec"], rows_wd)
    print(f"log-log slope of gap vs eta: {slope:.3f} (predicted 1: the rule is exact to O(eta))")
    print(f"widths (3,3) vs (10,20) from the same balanced W_e(0), 100 steps: max |diff| = "
          f"{width_diff:.1e} (predicted 0 up to rounding)")

    # ---------------------------------------------------------------- part 2
    print("Part 2: diabetes l_p regression, net vs rule from the same W_e(0); "
          "it = iterations to L < L* (1 + 0.1)")
    print(jd.OFFLINE_NOTE)
    part2_res, rows2 = {}, []
    for p in ps:
        loss = jd.diabetes_regression(p=p)
        for depth in args.depths:
            for init, scale in (("balanced", 0.05), ("gaussian", 0.01)):
                r = part2(loss, depth, init, 0.05, steps2, scale, 0.1)
                part2_res[(p, depth, init)] = r
                rows2.append((p, depth, init, scale, r["rel_imbalance0"], r["hit_net"],
                              r["hit_rule"], float(r["gap"][len(r["gap"]) // 2]), float(r["gap"][-1])))
    t2 = C.table(["p", "N", "init", "scale", "imbalance/|W_e|^(2/N)", "it net", "it rule",
                  "gap mid", "gap end"], rows2)
    print("predicted: balanced -> it net ~ it rule and small gaps; gaussian -> imbalance >> 1, "
          "the net and the rule differ early on")

    # ---------------------------------------------------------------- output
    plt = C.pyplot()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.2))
    ax = axes[0]
    ax.loglog(lrs1, gaps, "o-", label=r"measured, $\lambda=0$")
    ax.loglog(list(SPEC_GAP), list(SPEC_GAP.values()), "k--", alpha=0.5, label="spec check 1")
    ax.loglog(lr_wd, gaps_wd, "s", label=r"measured, $\lambda=0.05$")
    ax.set_xlabel(r"step size $\eta$")
    ax.set_ylabel(r"$\|W_e^{net}-W_e^{rule}\|/\|W_e^{net}\|$ at $\eta t=2$")
    ax.set_title("depth 3: O(eta) emulation error")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    p_show = ps[-1]
    for depth, ax in zip(args.depths[-2:], axes[1:]):
        for init, style in (("balanced", "-"), ("gaussian", ":")):
            r = part2_res[(p_show, depth, init)]
            ok = r["steps"] > 0
            ax.loglog(r["steps"][ok], r["net_loss"][ok] - r["L_star"], style, label=f"net, {init}")
            ax.loglog(r["steps"][ok], r["rule_loss"][ok] - r["L_star"], style, alpha=0.6,
                      label=f"rule, {init}")
        ax.set_title(f"diabetes $\\ell_{p_show}$, depth {depth}")
        ax.set_xlabel("iteration")
        ax.set_ylabel(r"$L-L^*$")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    arrays = dict(lrs=np.array(lrs1), gaps=np.array(gaps), lrs_wd=np.array(lr_wd),
                  gaps_wd=np.array(gaps_wd), width_traj_narrow=traj[0], width_traj_wide=traj[1])
    for (p, depth, init), r in part2_res.items():
        for k in ("steps", "net_loss", "rule_loss", "gap"):
            arrays[f"l{p}_N{depth}_{init}_{k}"] = r[k]
    meta = dict(
        part1=dict(lrs=lrs1, gaps=gaps, gaps_weight_decay=dict(zip(map(str, lr_wd), gaps_wd)),
                   loglog_slope=slope, width_max_diff=width_diff, spec=SPEC_GAP,
                   setup="N=3, k=3, d=5, widths (4,7), balanced scale 0.5, 20 Gaussian inputs, "
                         "teacher 1.5*Gaussian, horizon 2"),
        part2={f"l{p}_N{depth}_{init}": {k: v for k, v in r.items()
                                          if k not in ("steps", "net_loss", "rule_loss", "gap")}
               for (p, depth, init), r in part2_res.items()},
        tables=[t1, t1wd, t2], steps_part2=steps2, offline_note=jd.OFFLINE_NOTE, runtime_s=timer())
    return C.finish(args, NAME, fig, arrays, meta, timer)


if __name__ == "__main__":
    main()
