"""A convnet whose dense layers are factorised (E7): depth added without expressiveness.

Theory (docs/theory/depth_stacking.md) §A9.2 E7 and §A9.3: the paper replaces each dense layer
of the TensorFlow MNIST tutorial convnet by a product of two matrices (about +15% parameters)
and reports much faster training (minibatch loss about 0.05 against 1.6 after about 8 600
iterations; the curves cross near 500 iterations). MNIST is not available offline: here the
same construction on the scikit-learn 8x8 digits (``jaxaccel.depth.init_convnet``: conv 3x3x32,
max-pool, FC 512 -> 80 -> 10; 42 170 parameters, +15.4% factorised), trained as the tutorial
trains (momentum 0.9, lr 0.01 * 0.95^epoch, batch 64, dropout 0.5, 5e-4 L2 on the dense
factors and biases). Cross-entropy and the L2 penalty are reported separately (the penalty of a
factorised layer is not that of its product, theory §A9.3).

Reported: median over seeds of the minibatch cross-entropy (averaged over windows of 50
iterations) at checkpoints, the first window from which the factorised net's cross-entropy
stays below the plain net's, and the validation error.

    python sims/depth/convnet.py            # --quick: 800 iterations, 2 seeds, float32
    python sims/depth/convnet.py --full     # 8600 iterations (the tutorial's), 5 seeds, float32
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

NAME = "convnet"
WINDOW = 50


def smooth(x, w=WINDOW):
    """Means over consecutive windows of ``w`` iterations along the last axis."""
    x = np.asarray(x, float)
    n = x.shape[-1] // w
    return x[..., : n * w].reshape(*x.shape[:-1], n, w).mean(-1)


def main(argv=None):
    ap = C.parser(NAME, __doc__)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--factor-init", choices=["gaussian", "identity"], default="gaussian")
    ap.add_argument("--float64", action="store_true", help="train in float64 (slower)")
    args = ap.parse_args(argv)
    timer = C.Timer()
    steps = C.pick(args, "steps", 800, 8600)
    seeds = C.pick(args, "seeds", 2, 5)
    dtype = jnp.float64 if args.float64 else jnp.float32
    keys = jd.seed_keys(66478, seeds)
    curves, res = {}, {}
    for fac in (False, True):
        label = "factorised" if fac else "plain"
        ce, reg, err = [], [], []
        for k in keys:
            k_init, k_train = jax.random.split(k)
            params = jd.init_convnet(k_init, factorised=fac, factor_init=args.factor_init, dtype=dtype)
            run = jd.train_convnet(params, k_train, steps)
            ce.append(np.asarray(run.ce))
            reg.append(np.asarray(run.reg))
            err.append(float(run.val_error))
        size = jd.convnet_size(params)
        ce, reg = np.stack(ce), np.stack(reg)
        curves[label] = (ce, reg)
        res[label] = dict(params=size, val_error=err, median_val_error=float(np.median(err)),
                          reg_start=float(np.median(reg[:, 0])), reg_end=float(np.median(reg[:, -1])))
    plain_w, fac_w = (np.median(smooth(curves[k][0]), axis=0) for k in ("plain", "factorised"))
    below = fac_w < plain_w
    cross = next((i for i in range(len(below)) if below[i:].all()), None)
    cross_it = None if cross is None else int(cross * WINDOW)
    checkpoints = sorted({c for c in (1, 5, 10, 20, 40, 80, 120) if c < len(plain_w)} | {len(plain_w)})
    rows = [(c * WINDOW, plain_w[c - 1], fac_w[c - 1], fac_w[c - 1] / plain_w[c - 1]) for c in checkpoints]
    extra = res["factorised"]["params"] / res["plain"]["params"] - 1

    print(f"{NAME} ({'full' if args.full else 'quick'}): digits convnet, {steps} iterations, "
          f"{seeds} seeds, {jnp.dtype(dtype).name}; parameters {res['plain']['params']} plain, "
          f"{res['factorised']['params']} factorised (+{100 * extra:.1f}%), extra factors "
          f"init {args.factor_init}")
    print(f"minibatch cross-entropy, median over seeds of {WINDOW}-iteration means (the L2 "
          "penalty is not included)")
    text = C.table(["iterations", "plain CE", "factorised CE", "ratio"], rows)
    print(f"the factorised net's cross-entropy stays below the plain net's from iteration "
          f"{cross_it} on" if cross_it is not None else
          "the factorised net's cross-entropy does not stay below the plain net's")
    for lab in ("plain", "factorised"):
        r = res[lab]
        print(f"{lab}: validation error {100 * r['median_val_error']:.1f}% (median), L2 penalty "
              f"{r['reg_start']:.4g} -> {r['reg_end']:.4g}")
    faster = bool(fac_w[-1] < plain_w[-1])
    print(f"[{'yes' if faster else 'no '}] factorised net ends with the lower cross-entropy "
          f"(paper: yes, 'orders of magnitude'; here x{plain_w[-1] / fac_w[-1]:.2f})")

    disagree = C.report_disagreements(
        [dict(claim="the factorised net ends with the lower cross-entropy", paper=True,
              measured=faster)],
        f"8x8 digits, {steps} iterations, {seeds} seeds, extra factors init {args.factor_init}",
        "the paper used MNIST (28x28) and the full tutorial net (FC 3136 -> 512); the init of "
        "its extra factors is not known (theory §A9.2)")
    plt = C.pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.4))
    x = WINDOW * np.arange(1, len(plain_w) + 1)
    for lab, cur in (("plain", plain_w), ("factorised", fac_w)):
        ax.semilogy(x, cur, label=f"{lab} ({res[lab]['params']} params)")
    ax.set_xlabel("iteration")
    ax.set_ylabel("minibatch cross-entropy (median over seeds)")
    ax.set_title("digits convnet: plain vs factorised dense layers")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    arrays = dict(plain_ce=curves["plain"][0], plain_reg=curves["plain"][1],
                  factorised_ce=curves["factorised"][0], factorised_reg=curves["factorised"][1])
    meta = dict(steps=steps, seeds=seeds, dtype=jnp.dtype(dtype).name, results=res,
                crossing_iteration=cross_it, factorised_ends_lower=faster, disagreements=disagree, extra_params=extra,
                table=text, runtime_s=timer())
    return C.finish(args, NAME, fig, arrays, meta, timer)


if __name__ == "__main__":
    main()
