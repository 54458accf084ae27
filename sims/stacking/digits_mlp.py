"""Residual ReLU MLP on scikit-learn digits trained stagewise: zero / random / stacking / trainable beta.

Theory (docs/theory/depth_stacking.md) §B5 (E-B2: stacking with and without a trainable scalar beta on each new
block's output) and §C6.3 (d). The linear theory (§B2-§B4) says stacking f^0_{t+1} = beta f_t
accelerates; whether this carries over to a non-linear residual network, and whether a trainable
beta helps, is the paper's open question -- measured here. Stage 0 trains the embedding and
readout; every later stage appends one block z <- z + s relu(z U + c) V and trains only it (and
its scale s when beta is trainable) with full-batch Adam, older blocks frozen (``--train-old``
trains everything). Arms: zero init, random init (V = sigma0 xi), stacking with fixed beta = 0.5,
plain copying (beta = 1), trainable beta started at 1 and at 0.5. Every arm and seed reuses one
compiled kernel (``jaxaccel.stacking.train_residual_mlp``; arms are arrays).

Reported per arm (mean +- sd over seeds): final train / test cross-entropy and test accuracy,
the mean over stages of log10(train loss) (area under the stagewise curve), the loss jump when a
block is added, the realised beta (trained scales) and the ratio ||f_t|| / ||f_{t-1}|| of
consecutive trained blocks on the training set. Prediction from the linear theory: stacking with
beta < 1 at least matches zero init; beta = 1 is worse.

    python sims/stacking/digits_mlp.py           # --quick (default): 4 blocks, width 16, 2 seeds
    python sims/stacking/digits_mlp.py --full    # 8 blocks, width 32, 200 Adam steps, 5 seeds
"""

from __future__ import annotations

import os
import sys

import numpy as np
import jax
import jax.numpy as jnp

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _stacking_common as C  # noqa: E402

import jaxaccel.stacking as st  # noqa: E402

NAME = "digits_mlp"


def arms(beta=0.5, sigma0=0.05):
    return {"zero": st.block_init("zero"),
            "random": st.block_init("random", sigma0=sigma0),
            f"stack beta={beta:g}": st.block_init("stack", beta=beta),
            "copy beta=1": st.block_init("stack", beta=1.0),
            "trainable beta from 1": st.block_init("stack", beta=1.0, trainable_beta=True),
            f"trainable beta from {beta:g}": st.block_init("stack", beta=beta, trainable_beta=True)}


_stream = jax.jit(st.residual_stream)   # the number of active blocks is traced: one compilation


def block_ratio(res, x, blocks):
    """``||f_t|| / ||f_{t-1}||`` (rms over the training set) of the final blocks, t = 2..T."""
    p = res.params
    z = [np.asarray(_stream(p, x, jnp.asarray(t))) for t in range(blocks + 1)]
    f = [np.sqrt(np.mean((z[t] - z[t - 1]) ** 2)) for t in range(1, blocks + 1)]
    return np.array([f[t] / f[t - 1] if f[t - 1] > 0 else np.nan for t in range(1, blocks)])


def main(argv=None):
    p = C.parser(NAME, __doc__)
    p.add_argument("--blocks", type=int, default=None)
    p.add_argument("--width", type=int, default=None)
    p.add_argument("--hidden", type=int, default=None)
    p.add_argument("--steps", type=int, default=None, help="Adam steps per stage")
    p.add_argument("--seeds", type=int, default=None)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--train-size", type=int, default=None, help="use the first N training examples")
    p.add_argument("--test-size", type=int, default=None)
    p.add_argument("--train-old", action="store_true", help="also train older blocks (gradual stacking)")
    args = p.parse_args(argv)
    blocks = C.pick(args, "blocks", 4, 8)
    width = C.pick(args, "width", 16, 32)
    hidden = C.pick(args, "hidden", 16, 32)
    steps = C.pick(args, "steps", 50, 200)
    seeds = C.pick(args, "seeds", 2, 5)
    d = st.digits_split()
    n, m = args.train_size or len(d.y_train), args.test_size or len(d.y_test)
    data = st.DigitsData(d.x_train[:n], d.y_train[:n], d.x_test[:m], d.y_test[:m])
    policies = arms()
    timer = C.Timer()
    res = {a: [st.train_residual_mlp(data, init, jax.random.PRNGKey(s), blocks=blocks, width=width,
                                     hidden=hidden, steps_per_stage=steps, learning_rate=args.lr,
                                     train_old=args.train_old, record_stage_params=True)
               for s in range(seeds)] for a, init in policies.items()}
    get = {a: jax.tree.map(lambda *v: np.stack([np.asarray(x) for x in v]), *rs)
           for a, rs in res.items()}
    elapsed = timer()

    rows, summary = [], {}
    for a, r in get.items():
        logl = np.log10(np.maximum(r.train_loss, 1e-300)).mean(1)
        jump = (r.start_loss[:, 1:] - r.train_loss[:, :-1]).mean(1)
        ratio = np.array([block_ratio(x, data.x_train, blocks) for x in res[a]]) if blocks > 1 else np.full((seeds, 0), np.nan)
        trainable = bool(np.asarray(policies[a].train_scale) > 0)
        beta_real = r.scale.mean() if trainable else float("nan")
        summary[a] = {"train_loss": r.train_loss[:, -1], "test_loss": r.test_loss[:, -1],
                      "test_accuracy": r.test_accuracy[:, -1], "mean_log10_train_loss": logl,
                      "loss_jump": jump, "realised_beta": r.scale.tolist(),
                      "block_norm_ratio": ratio, "diverged": r.diverged}
        ms = lambda v: f"{np.mean(v):.3g} +- {np.std(v):.2g}"
        rows.append((a, ms(r.train_loss[:, -1]), ms(r.test_loss[:, -1]),
                     ms(r.test_accuracy[:, -1]), ms(logl), ms(jump), float(beta_real),
                     float(np.nanmean(ratio)) if ratio.size else float("nan"),
                     bool(r.diverged.any())))
    print(f"{NAME} ({'full' if args.full else 'quick'}): {blocks} blocks, width {width}, hidden "
          f"{hidden}, {steps} Adam steps/stage (lr {args.lr:g}), {seeds} seeds, n_train={n}, "
          f"{'all layers trained' if args.train_old else 'old blocks frozen'}; runs took {elapsed:.1f} s")
    text = C.table(["arm", "train loss", "test loss", "test acc", "mean log10 train loss",
                    "loss jump at new block", "realised beta", "||f_t||/||f_t-1||", "diverged"], rows)
    print("linear-theory prediction: stacking with beta < 1 >= zero init; copying (beta = 1) worse. "
          "Loss jump: 0 for zero init and the first block of every stacking arm.")

    plt = C.pyplot()
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(11, 4))
    for a, r in get.items():
        ax.semilogy(np.mean(r.curve, 0), label=a, lw=1)
        ax2.plot(np.arange(blocks + 1), np.mean(r.train_loss, 0), "o-", label=a, ms=3)
    for t in range(1, blocks + 1):
        ax.axvline(t * steps, color="0.85", lw=0.5)
    ax.set_xlabel("Adam step (stages separated by grey lines)")
    ax.set_ylabel("train cross-entropy")
    ax.legend(fontsize=7)
    ax2.set_yscale("log")
    ax2.set_xlabel("stage (blocks)")
    ax2.set_ylabel("train cross-entropy at the end of the stage")
    ax2.grid(True, alpha=0.3)
    fig.tight_layout()
    arrays = {}
    for i, (a, r) in enumerate(get.items()):
        for f in ("train_loss", "start_loss", "test_loss", "test_accuracy", "curve", "scale"):
            arrays[f"arm{i}_{f}"] = getattr(r, f)
    meta = {"arms": list(get), "blocks": blocks, "width": width, "hidden": hidden,
            "steps_per_stage": steps, "learning_rate": args.lr, "seeds": seeds,
            "train_old": args.train_old, "n_train": n, "n_test": m, "summary": summary,
            "table": text, "runtime_s": elapsed}
    C.write(args.out, NAME, fig, arrays, meta)
    return meta


if __name__ == "__main__":
    main()
