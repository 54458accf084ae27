"""Going deeper (E6): depth up to 8 from a near-zero start and from identity layers.

Theory (docs/theory/depth_stacking.md) §A9.2 E6: the paper trains linear networks of depth up
to 8 and reports that from a near-zero random start the gradients nearly vanish, so progress is
slow at first, whereas identity layers (a linear residual network) make progress at once.

Protocol. l4 regression (default) on the ethanol-like stand-in of theory §A9.1; networks of
hidden width d = 128 trained by gradient descent (``jaxaccel.depth.sweep_network``), each depth
and init at its own tuned learning rate (nested log grid, median over seeds; theory §C6.1):
* near-zero: i.i.d. N(0, s^2) layers (s = 0.01; one draw per seed);
* identity: hidden layers and the first layer I (128 x 128), the last layer s * e_1^T
  (``jaxaccel.depth.init_identity``; deterministic, so one run).
Reported per depth: iterations until the loss first falls below half its initial value ("start
of progress"), iterations to the relative gap (L - L*)/L* < tol, and the final loss, as medians
over seeds.

    python sims/depth/deeper.py            # --quick: 600 examples, depths 1,2,4,8, 1500 steps, 7-point grid
    python sims/depth/deeper.py --full     # 2565 examples, depths 1,2,3,4,6,8, 10000 steps, 9-point grid, 3 seeds
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _depth_common as C  # noqa: E402

import jaxaccel.depth as jd  # noqa: E402

NAME = "deeper"
INITS = ("near-zero", "identity")


def init_layers(kind, keys, widths, s):
    if kind == "identity":
        return tuple(W[None] for W in jd.init_identity(widths, scale=s))
    return jax.vmap(lambda k: jd.init_gaussian(k, widths, s))(keys)


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    C.add_data_args(ap)
    ap.add_argument("--p", type=float, default=4.0)
    ap.add_argument("--depths", type=int, nargs="+", default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--num-lrs", type=int, default=None, help="n: coarse grid n, fine grid 2n-1")
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--init-scale", type=float, default=0.01)
    ap.add_argument("--tol", type=float, default=1.0, help="relative-gap target for tuning")
    args = ap.parse_args(argv)
    timer = C.Timer()
    steps = C.pick(args, "steps", 1500, 10_000)
    depths = C.pick(args, "depths", [1, 2, 4, 8], [1, 2, 3, 4, 6, 8])
    n_lr = C.pick(args, "num_lrs", 4, 5)
    seeds = C.pick(args, "seeds", 2, 3)
    loss = C.load_data(args, args.p)
    _, L_star = jd.lp_minimum(loss)
    d = loss.in_dim
    keys = jd.seed_keys(3, seeds)
    lrs, sub = jd.nested_lr_grids(1e-4, 3.0, n_lr)

    results, arrays, rows = {}, {"lrs": lrs}, []
    plt = C.pyplot()
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.4))
    for a, kind in enumerate(INITS):
        for N in depths:
            widths = jd.make_widths(d, 1, N, width=d)
            layers = init_layers(kind, keys, widths, args.init_scale)
            L0 = float(loss.value(jd.end_to_end_matrix(tuple(W[0] for W in layers))))
            thr = np.array([L_star * (1 + args.tol), 0.5 * L0])
            run = jd.sweep_network(layers, loss, lrs, steps, thresholds=thr, record=("log", 80))
            t, tc = jd.tuned(run, lrs), jd.tuned(run, lrs, sub)
            start = jd.hits_as_float(np.asarray(run.hit_at)[t.index][..., 1])
            res = dict(lr=t.lr, lr_coarse=tc.lr, L0=L0, median_start=float(np.median(start)),
                       median_hits=float(np.median(t.hits)), median_final=float(np.median(t.final)),
                       hits_coarse=float(np.median(tc.hits)), final_coarse=float(np.median(tc.final)),
                       at_edge=t.at_edge)
            results[f"{kind}/N{N}"] = res
            rows.append((kind, N, t.lr, L0, res["median_start"], res["median_hits"],
                         res["median_final"], "edge" if t.at_edge else ""))
            cur = np.median(np.asarray(run.loss[t.index]), axis=0)
            st = np.asarray(run.steps)
            arrays[f"{kind}_N{N}_loss"] = np.asarray(run.loss[t.index])
            arrays["steps"] = st
            ok = (st > 0) & np.isfinite(cur)
            axes[a].loglog(st[ok], cur[ok], label=f"N={N} (lr {t.lr:.2g})")
        axes[a].axhline(L_star, color="gray", ls=":")
        axes[a].set_title(f"{kind} init, $\\ell_{{{args.p:g}}}$, {args.data} (median over seeds)")
        axes[a].set_xlabel("iteration")
        axes[a].set_ylabel("loss")
        axes[a].grid(True, which="both", alpha=0.3)
        axes[a].legend(fontsize=8)

    print(f"{NAME} ({'full' if args.full else 'quick'}): {args.data} {loss.inputs.shape}, "
          f"l_{args.p:g}, width {d}, {steps} steps, {len(lrs)}-point lr grid, {seeds} seeds "
          f"(identity: 1 run); init scale {args.init_scale:g}; L* = {L_star:.6g}")
    print("start = iterations until L < L_0 / 2; it(tol) = iterations to (L - L*)/L* < "
          f"{args.tol:g}; medians over seeds at the tuned lr ('never' = not within the budget)")
    text = C.table(["init", "N", "tuned lr", "L_0", "start", "it(tol)", "final L", "grid"], rows)
    deep = [N for N in depths if N >= 4]
    claims = []
    for N in deep:
        nz, idn = results[f"near-zero/N{N}"], results[f"identity/N{N}"]
        claims.append(dict(depth=N, claim=f"N={N}: identity starts progressing before near-zero",
                           holds=bool(idn["median_start"] < nz["median_start"]),
                           identity_start=idn["median_start"], near_zero_start=nz["median_start"]))
    slow = [results[f"near-zero/N{N}"]["median_start"] for N in depths]
    claims.append(dict(claim="near-zero: the start of progress is later for deeper nets",
                       holds=bool(all(b >= a for a, b in zip(slow, slow[1:])))))
    for c in claims:
        print(f"[{'yes' if c['holds'] else 'no '}] {c['claim']} (paper: yes)")
    disagree = C.report_disagreements(
        [dict(c, measured=c["holds"], paper=True) for c in claims],
        f"{args.data} data {loss.inputs.shape}, l_{args.p:g}, width {d}, init scale "
        f"{args.init_scale:g}, budget {steps} iterations, {seeds} seeds",
        "the paper's depths, init scales and budget for this figure are not known (theory §A9.2)")
    fig.tight_layout()
    meta = dict(data=args.data, p=args.p, depths=depths, disagreements=disagree, steps=steps, seeds=seeds, L_star=L_star,
                init_scale=args.init_scale, tol=args.tol, results=results, claims=claims,
                table=text, runtime_s=timer())
    return C.finish(args, NAME, fig, arrays, meta, timer)


if __name__ == "__main__":
    main()
