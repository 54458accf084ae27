"""Label noise: the loss floor, the approach to it, and the batch-size trade-off at fixed samples.

Theory: ``docs/theory/sgd_memory.md`` §3.5. With labels ``y = <x, w*> + eps``,
``Var eps = sigma2``, the excess risk of mini-batch SGD with memory tends to the floor (LN2)
``L_inf = sigma2/2 * Ubar_Sigma / (1 - U~_Sigma)`` and approaches it as (LN3)
``L_t - L_inf ~ C t^-min(zeta, 1 - 1/nu)``; the total risk adds ``sigma2 / 2``.

Part 1 (floor): SGD and Heavy Ball on a power-law continuum (``nu = 2``; ``zeta = 2``, noise
phase, and ``zeta = 0.3``, signal phase), several ``sigma2``: the excess risk at ``T`` (exact SE
run) vs :func:`jaxaccel.predict_loss` (``floor`` and ``approach_constant``).

Part 2 (batch size at fixed samples ``n = b t``): SGD at a fixed learning rate for ``b`` from 1
to 1024; the excess and total risk after ``n`` samples, measured and predicted
(``floor(b) + approach(b) * t^p``), and the best batch size.

    python sims/scaling/label_noise.py            # --quick (default): T = 1e5, n = 2^17
    python sims/scaling/label_noise.py --full     # T = 1e6, n = 2^20
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import jaxaccel as ja

NAME = "label_noise"
CONFIG = {"quick": dict(steps=100_000, samples=2**17, n_max=1e9),
          "full": dict(steps=1_000_000, samples=2**20, n_max=1e10)}
NU = 2.0


def floor_table(steps, n_max):
    rows = []
    for zeta in (2.0, 0.3):
        spec = ja.power_law_continuum(NU, zeta, n_max)
        for name, alg in (("SGD lr=0.4", ja.gd(0.4)), ("HB (0.1, 0.75)", ja.heavy_ball(0.1, 0.75))):
            for s2 in (0.1, 1.0):
                nm = ja.NoiseModel(4.0, 1.0, -1.0, s2)
                pred = ja.predict_loss(spec, alg, nm)
                r = ja.simulate(spec, alg, steps, nm, record=[steps // 10, steps])
                L = np.asarray(r.loss)
                fl = float(pred.floor)
                ratio_c = (L - fl) / (float(pred.approach_constant)
                                      * np.array([steps // 10, steps], float) ** pred.approach_exponent)
                rows.append(dict(zeta=zeta, method=name, sigma2=s2, floor=fl,
                                 loss_T=float(L[-1]), floor_ratio=float(L[-1] / fl),
                                 approach_exponent=pred.approach_exponent,
                                 approach_constant=float(pred.approach_constant),
                                 approach_ratio_T10=float(ratio_c[0]),
                                 approach_ratio_T=float(ratio_c[1]),
                                 total_risk_T=float(L[-1]) + 0.5 * s2))
    return rows


def batch_tradeoff(samples, n_max, lr=0.4, sigma2=1.0, zeta=0.5):
    spec = ja.power_law_continuum(NU, zeta, n_max)
    rows = []
    for b in 2 ** np.arange(0, 11):
        t = int(samples // b)
        nm = ja.NoiseModel(float(b), 1.0, -1.0, sigma2)
        pred = ja.predict_loss(spec, ja.gd(lr), nm)
        r = ja.simulate(spec, ja.gd(lr), t, nm, record=[t])
        L = float(r.loss[0])
        p = float(pred.floor) + float(pred.approach_constant) * t ** pred.approach_exponent
        rows.append(dict(batch=int(b), steps=t, excess=L, predicted_excess=p,
                         total=L + 0.5 * sigma2, floor=float(pred.floor),
                         diverged=bool(r.diverged)))
    return rows, dict(lr=lr, sigma2=sigma2, zeta=zeta, nu=NU)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group()
    g.add_argument("--quick", action="store_true", help="T = 1e5, n = 2^17 (default)")
    g.add_argument("--full", action="store_true", help="T = 1e6, n = 2^20")
    ap.add_argument("--out", default=os.path.join("results", NAME))
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--samples", type=int, default=None)
    args = ap.parse_args(argv)
    cfg = dict(CONFIG["full" if args.full else "quick"])
    if args.steps is not None:
        cfg["steps"] = args.steps
    if args.samples is not None:
        cfg["samples"] = args.samples
    if cfg["steps"] < 100 or cfg["samples"] < 2048:
        raise SystemExit("need --steps >= 100 and --samples >= 2048")
    t0 = time.perf_counter()
    print(f"{NAME}: part 1, the floor (nu={NU}, b=4, tau=(1,-1), T={cfg['steps']}); loss = "
          "excess risk, total = excess + sigma2/2")
    head = (f"{'zeta':>5s} {'method':>15s} {'sigma2':>6s} {'floor (LN2)':>12s} {'L_T':>12s} "
            f"{'L_T/floor':>10s} {'approach p':>10s} {'(L-floor)/pred at T/10, T':>26s}")
    print(head)
    print("-" * len(head))
    rows = floor_table(cfg["steps"], cfg["n_max"])
    for r in rows:
        print(f"{r['zeta']:5.2f} {r['method']:>15s} {r['sigma2']:6.2f} {r['floor']:12.5e} "
              f"{r['loss_T']:12.5e} {r['floor_ratio']:10.5f} {r['approach_exponent']:10.3f} "
              f"{r['approach_ratio_T10']:12.4f} {r['approach_ratio_T']:12.4f}")
    worst = max(abs(r["floor_ratio"] - 1) for r in rows if r["zeta"] > 2 - 1 / NU - 1e-12)
    worst_c = max(abs(r["approach_ratio_T"] - 1) for r in rows)
    print(f"noise phase: largest |L_T / floor - 1| = {worst:.2e} (what is left is the approach "
          f"term); all rows: largest |approach ratio - 1| at T = {worst_c:.2e}")
    tr, meta = batch_tradeoff(cfg["samples"], cfg["n_max"])
    print(f"part 2, batch size at fixed samples n = {cfg['samples']} (SGD lr={meta['lr']}, "
          f"sigma2={meta['sigma2']}, zeta={meta['zeta']})")
    print(f"{'b':>5s} {'t':>8s} {'excess':>12s} {'predicted':>12s} {'ratio':>8s} {'total':>10s}")
    for r in tr:
        print(f"{r['batch']:5d} {r['steps']:8d} {r['excess']:12.5e} {r['predicted_excess']:12.5e} "
              f"{r['excess'] / r['predicted_excess']:8.4f} {r['total']:10.5f}")
    ok = [r for r in tr if not r["diverged"]]
    best = min(ok, key=lambda r: r["excess"])
    best_pred = min(ok, key=lambda r: r["predicted_excess"])
    print(f"best batch size: measured b = {best['batch']}, predicted b = {best_pred['batch']}  "
          f"({time.perf_counter() - t0:.0f} s)")

    os.makedirs(args.out, exist_ok=True)
    base = os.path.join(args.out, NAME)
    ja.io.save_npz(base + ".npz", batch=np.array([r["batch"] for r in tr]),
                   excess=np.array([r["excess"] for r in tr]),
                   predicted_excess=np.array([r["predicted_excess"] for r in tr]),
                   floor_ratio=np.array([r["floor_ratio"] for r in rows]))
    ja.io.save_json(base + ".json", {"config": cfg, "floor": rows, "batch": tr, "batch_meta": meta,
                                     "best_batch": best["batch"],
                                     "best_batch_predicted": best_pred["batch"]})
    import matplotlib

    matplotlib.use("Agg")
    from jaxaccel import plotting

    fig, ax = plotting.new_figure(size=(5.6, 4.0))
    with plotting.style():
        b = [r["batch"] for r in tr]
        ax.loglog(b, [r["excess"] for r in tr], "o-", label="excess risk (SE)")
        ax.loglog(b, [r["predicted_excess"] for r in tr], "--", label="floor + approach (LN2, LN3)")
        ax.loglog(b, [r["floor"] for r in tr], ":", label="floor (LN2)")
        ax.set_xlabel("batch size $b$ (fixed samples $b\\,t$)")
        ax.set_ylabel("excess risk")
        ax.set_title(f"label noise sigma2={meta['sigma2']:g}, n={cfg['samples']}")
        ax.legend(fontsize=7)
    ja.io.save_figure(base + ".png", fig)
    return {"floor": rows, "batch": tr, "best_batch": best["batch"],
            "best_batch_predicted": best_pred["batch"]}


if __name__ == "__main__":
    main()
