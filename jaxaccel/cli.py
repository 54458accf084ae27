"""The ``jaxaccel`` console script.

Subcommands (``jaxaccel COMMAND --help`` explains each):

* ``demo`` -- the default power-law problem (nu = 1.5, zeta = 0.5, N = 1e5) with mini-batch SGD,
  Heavy Ball and an accelerated memory-1 algorithm: a table (final loss, fitted slope, effective
  learning rate, wall time) and a log-log plot of the loss curves;
* ``simulate`` -- the SE dynamics of the algorithms of a JSON configuration file (see
  :data:`EXAMPLE_CONFIG`), writing ``.npz`` + JSON + PNG;
* ``map`` -- a 2-D stability map (strict margin, ``U_Sigma``, ``alpha_eff``, ``C_L``) of a
  family of algorithms on a power-law spectrum;
* ``sims list`` / ``sims run NAME [ARGS...]`` -- the reproduction scripts of ``sims/``.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np

import jaxaccel as ja
from jaxaccel import plotting


def _demo(args) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    spec = ja.power_law_spectrum(args.n, nu=args.nu, zeta=args.zeta)
    algs = {
        "SGD (alpha=1)": ja.gd(1.0),
        "Heavy Ball (alpha=0.4, beta=0.9)": ja.heavy_ball(0.4, 0.9),
        "memory-1 (delta=0.02, alpha_eff=10, q0=0.5)": ja.memory1_triplet(0.02, 0.5, -0.5 - 0.02 * 10),
    }
    print(f"jaxaccel demo: power law nu={args.nu}, zeta={args.zeta}, N={args.n}, "
          f"batch={args.batch}, steps={args.steps}, tau=(1,-1) (Gaussian data)")
    header = f"{'algorithm':46s} {'alpha_eff':>9s} {'final loss':>11s} {'slope':>7s} {'time[s]':>8s}"
    print(header)
    print("-" * len(header))
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    t_lo = max(args.steps // 10, 1)
    for name, alg in algs.items():
        t0 = time.perf_counter()
        res = ja.simulate(spec, alg, args.steps, batch_size=args.batch, record=("log", 200))
        loss = np.asarray(res.loss)
        dt = time.perf_counter() - t0
        steps = np.asarray(res.steps)
        if bool(res.diverged):
            slope = float("nan")
        else:
            slope = ja.fit_power_law(steps, loss, (t_lo, args.steps)).exponent
        aeff = float(ja.effective_learning_rate(alg))
        print(f"{name:46s} {aeff:9.3g} {loss[-1]:11.4e} {slope:7.3f} {dt:8.2f}"
              + ("  DIVERGED" if bool(res.diverged) else ""))
        ax.loglog(steps[1:], loss[1:], label=name)
    tt = np.array([t_lo, args.steps], float)
    ax.loglog(tt, 2 * loss[-1] * (tt / args.steps) ** -args.zeta, "k--", lw=1,
              label=rf"$t^{{-\zeta}}$, $\zeta$={args.zeta}")
    ax.set_xlabel("step t")
    ax.set_ylabel(r"loss $L_t$")
    ax.set_title(rf"SE dynamics, $\nu$={args.nu}, $\zeta$={args.zeta}, N={args.n}, b={args.batch}")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    ja.io.save_figure(args.out, fig)
    print(f"plot written to {args.out}")
    return 0


# ----------------------------------------------------------------------------- simulate
EXAMPLE_CONFIG = {
    "spectrum": {"kind": "power_law", "n": 100000, "nu": 1.5, "zeta": 0.5},
    "algorithms": {
        "SGD": {"kind": "gd", "alpha": 1.0},
        "Heavy Ball": {"kind": "heavy_ball", "alpha": 0.4, "beta": 0.9},
        "memory-1": {"kind": "memory1_triplet", "delta": 0.02, "q0": 0.5, "q1": -0.7},
        "AM1": {"kind": "am1", "delta0": 0.5, "kappa": 0.9, "alpha0": 1.0, "theta": 0.25,
                "eta_kick": 0.5, "t0": 1.0},
    },
    "steps": 10000,
    "batch_size": 10,
    "tau": [1.0, -1.0],
    "record": ["log", 200],
    "fit_window": [1000, 10000],
    "out": "results/simulate",
}
"""Example configuration of ``jaxaccel simulate`` (``jaxaccel simulate --example`` prints it).

``spectrum.kind`` is ``"power_law"`` (``n, nu, zeta`` and optional ``Lambda``) or
``"continuum"`` (``nu, zeta``, optional ``head, panels, per_panel``: a quadrature of the
N -> infinity power law). Each algorithm's ``kind`` names a constructor: ``gd``,
``heavy_ball``, ``nesterov``, ``torch_momentum``, ``memory1``, ``memory1_triplet``, ``am1_form``
(stationary) or the schedules ``am1``, ``jacobi_heavy_ball`` (which also take ``steps``); the
other keys are its keyword arguments. ``batch_size`` null means full batch (no noise)."""

_STATIONARY = ("gd", "heavy_ball", "nesterov", "torch_momentum", "memory1", "memory1_triplet",
               "am1_form")
_SCHEDULES = ("am1", "jacobi_heavy_ball")


def _build_spectrum(cfg):
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise ValueError("config 'spectrum' must be an object with a 'kind'")
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    if kind == "power_law":
        return _call(ja.power_law_spectrum, cfg, "config 'spectrum' (power_law)")
    if kind == "continuum":
        return _call(ja.power_law_continuum, cfg, "config 'spectrum' (continuum)")
    raise ValueError(f"config 'spectrum.kind' must be 'power_law' or 'continuum', got {kind!r}")


def _build_algorithm(name, cfg, steps):
    if not isinstance(cfg, dict) or "kind" not in cfg:
        raise ValueError(f"config algorithm {name!r} must be an object with a 'kind'")
    cfg = dict(cfg)
    kind = cfg.pop("kind")
    if kind in _SCHEDULES:
        cfg.setdefault("steps", steps)
    elif kind not in _STATIONARY:
        raise ValueError(f"config algorithm {name!r}: unknown kind {kind!r}; "
                     f"use one of {_STATIONARY + _SCHEDULES}")
    return _call(getattr(ja, kind), cfg, f"config algorithm {name!r} ({kind})")


def _call(f, kwargs, where):
    """``f(**kwargs)``, with a wrong or missing keyword reported as a ``ValueError``."""
    import inspect

    try:
        inspect.signature(f).bind(**kwargs)
    except TypeError as e:
        raise ValueError(f"{where}: {e}") from None
    return f(**kwargs)


def load_config(path: str) -> Dict[str, Any]:
    """Read a ``simulate`` configuration (JSON) and fill in the defaults of ``EXAMPLE_CONFIG``.

    Only the keys of :data:`EXAMPLE_CONFIG` are allowed; ``spectrum``, ``algorithms`` and
    ``steps`` are required. A malformed file raises ``ValueError``.

    Example:
        >>> import json, os, tempfile
        >>> path = os.path.join(tempfile.mkdtemp(), "cfg.json")
        >>> with open(path, "w") as f:
        ...     json.dump({"spectrum": {"kind": "power_law", "n": 100, "nu": 1.5, "zeta": 0.5},
        ...                "algorithms": {"SGD": {"kind": "gd", "alpha": 1.0}}, "steps": 10}, f)
        >>> cfg = load_config(path)
        >>> cfg["steps"], cfg["batch_size"], cfg["tau"], cfg["record"]
        (10, None, [1.0, -1.0], ['log', 200])
    """
    import json

    try:
        with open(path) as f:
            cfg = json.load(f)
    except OSError as err:
        raise ValueError(f"config {path}: cannot be read ({err.strerror or err})") from None
    except json.JSONDecodeError as err:
        raise ValueError(f"config {path}: not valid JSON ({err})") from None
    if not isinstance(cfg, dict):
        raise ValueError(f"config {path}: top level must be a JSON object")
    unknown = set(cfg) - set(EXAMPLE_CONFIG)
    if unknown:
        raise ValueError(f"config {path}: unknown keys {sorted(unknown)}")
    for key in ("spectrum", "algorithms", "steps"):
        if key not in cfg:
            raise ValueError(f"config {path}: missing '{key}'")
    steps = cfg["steps"]
    if isinstance(steps, bool) or not isinstance(steps, int) or steps <= 0:
        raise ValueError(f"config {path}: 'steps' must be a positive integer, got {steps!r}")
    if not isinstance(cfg["algorithms"], dict) or not cfg["algorithms"]:
        raise ValueError(f"config {path}: 'algorithms' must be a non-empty object")
    out = {"batch_size": None, "tau": [1.0, -1.0], "record": ["log", 200], "fit_window": None,
           "out": EXAMPLE_CONFIG["out"]}
    out.update(cfg)
    tau = out["tau"]
    if (not isinstance(tau, list) or len(tau) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in tau)):
        raise ValueError(f"config {path}: 'tau' must be a pair [tau1, tau2] of numbers, "
                         f"got {tau!r}")
    win = out["fit_window"]
    if win is not None and (
            not isinstance(win, list) or len(win) != 2
            or not all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in win)
            or not 0 < win[0] < win[1]):
        raise ValueError(f"config {path}: 'fit_window' must be [lo, hi] with 0 < lo < hi, "
                         f"got {win!r}")
    return out


def _simulate(args) -> int:
    import json

    if args.example:
        print(json.dumps(EXAMPLE_CONFIG, indent=2))
        return 0
    if not args.config:
        print("jaxaccel simulate: give a CONFIG file (or --example to print one)", file=sys.stderr)
        return 2
    cfg = load_config(args.config)
    out = args.out or cfg["out"]
    steps = int(cfg["steps"])
    spec = _build_spectrum(cfg["spectrum"])
    record = cfg["record"]
    record = tuple(record) if isinstance(record, list) else record
    window = cfg["fit_window"] or (max(steps // 10, 1), steps)
    results, table = {}, []
    for name, acfg in cfg["algorithms"].items():
        alg = _build_algorithm(name, acfg, steps)
        t0 = time.perf_counter()
        res = ja.simulate(spec, alg, steps, batch_size=cfg["batch_size"], tau=tuple(cfg["tau"]),
                          record=record)
        loss = np.asarray(res.loss)
        dt = time.perf_counter() - t0
        diverged = bool(res.diverged)
        slope = (float("nan") if diverged
                 else float(ja.fit_power_law(np.asarray(res.steps), loss, tuple(window)).exponent))
        results[name] = (np.asarray(res.steps), loss)
        table.append({"algorithm": name, "final_loss": float(loss[-1]), "slope": slope,
                      "kernel": kernel_used(spec, alg, steps, cfg["batch_size"],
                                            tuple(cfg["tau"])),
                      "diverged": diverged,
                      "diverged_at": int(res.diverged_at) if diverged else None,
                      "seconds": dt})
    _print_table(table)
    import os

    os.makedirs(out, exist_ok=True)
    arrays = {}
    for i, (name, (st, lo)) in enumerate(results.items()):
        arrays[f"steps_{i}"], arrays[f"loss_{i}"] = st, lo
    ja.io.save_npz(os.path.join(out, "simulate.npz"), **arrays)
    ja.io.save_json(os.path.join(out, "simulate.json"),
                    {"config": cfg, "names": list(results), "table": table,
                     "native_kernel": ja.native.status()._asdict(),
                     "dtype": str(spec.dtype)})
    fig = _loss_figure(results, f"SE dynamics ({args.config})")
    ja.io.save_figure(os.path.join(out, "simulate.png"), fig)
    print(f"results written to {out}/simulate.{{npz,json,png}}")
    return 0


def kernel_used(spectrum: Any, algorithm: Any, steps: int, batch_size: Any,
                tau: Tuple[float, float]) -> str:
    """Which kernel ``simulate(kernel="auto")`` runs for these arguments: ``"xla"`` (the scan)
    or ``"<platform>:<variant>"`` of :mod:`jaxaccel.moments.native`.

    Example:
        >>> kernel_used(ja.power_law_spectrum(10, nu=1.5, zeta=0.5), ja.gd(0.5), 5, 4.0,
        ...             (1.0, -1.0))
        'xla'
    """
    args, static, _ = ja.moments.engine.prepare(spectrum, algorithm, steps, batch_size, tau,
                                                "all", None, 1e10, None, False, None, 4)
    platform = ja.native.select("auto", static, args)
    if platform is None:
        return "xla"
    return f"{platform}:" + ja.native.variant(platform, args[2].memory, static["stationary"],
                                             args[3].ndim > 0, static["dense"])


def _print_table(rows):
    header = f"{'algorithm':28s} {'final loss':>11s} {'slope':>7s} {'time[s]':>8s}"
    print(header)
    print("-" * len(header))
    for r in rows:
        flag = f"  DIVERGED at step {r['diverged_at']}" if r["diverged"] else ""
        print(f"{r['algorithm']:28s} {r['final_loss']:11.4e} {r['slope']:7.3f} "
              f"{r['seconds']:8.2f}{flag}")


def _loss_figure(results, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for name, (st, lo) in results.items():
        keep = (st > 0) & np.isfinite(lo)
        ax.loglog(st[keep], lo[keep], label=name)
    ax.set_xlabel("step t")
    ax.set_ylabel(r"loss $L_t$")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    return fig


# ---------------------------------------------------------------------------------- map
def _axis(text: str):
    """``name:lo:hi:n[:log]`` -> (name, values)."""
    parts = text.split(":")
    if len(parts) not in (4, 5) or (len(parts) == 5 and parts[4] != "log"):
        raise ValueError(f"axis {text!r} must read name:lo:hi:n or name:lo:hi:n:log")
    name = parts[0]
    try:
        lo, hi = float(parts[1]), float(parts[2])
        n = int(parts[3])
    except ValueError:
        raise ValueError(f"axis {text!r}: lo and hi must be numbers and n an integer "
                         "(name:lo:hi:n or name:lo:hi:n:log)") from None
    if not name or not (np.isfinite(lo) and np.isfinite(hi)):
        raise ValueError(f"axis {text!r}: needs a name and finite bounds")
    if n < 2:
        raise ValueError(f"axis {text!r}: n must be >= 2")
    if len(parts) == 5:
        if lo <= 0 or hi <= 0:
            raise ValueError(f"axis {text!r}: a log axis needs positive bounds")
        return name, np.geomspace(lo, hi, n)
    return name, np.linspace(lo, hi, n)


def _map(args) -> int:
    import os

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x, y = _axis(args.x), _axis(args.y)
    fixed = {}
    for item in args.fixed or []:
        k, _, v = item.partition("=")
        if not _:
            raise ValueError(f"--fixed {item!r} must read name=value")
        fixed[k] = float(v)
    spec = ja.power_law_spectrum(args.n, nu=args.nu, zeta=args.zeta)
    t0 = time.perf_counter()
    smap = ja.stability_map(spec, args.family, {x[0]: x[1], y[0]: y[1]},
                            batch_size=args.batch, tau=(args.tau1, args.tau2), fixed=fixed)
    dt = time.perf_counter() - t0
    stable = np.asarray(smap.stable)
    C = np.where(stable, np.asarray(smap.C_L), np.inf)
    i, j = np.unravel_index(np.argmin(C), C.shape)
    print(f"stability map of {args.family} on {x[0]} x {y[0]} ({len(x[1])} x {len(y[1])}), "
          f"power law nu={args.nu}, zeta={args.zeta}, N={args.n}, batch={args.batch}: "
          f"{dt:.1f} s")
    print(f"stable points: {int(stable.sum())} of {stable.size}; phase: {smap.phase}")
    if np.isfinite(C[i, j]):
        print(f"smallest predicted loss constant C_L = {C[i, j]:.4g} at {x[0]} = {x[1][i]:.4g}, "
              f"{y[0]} = {y[1][j]:.4g} (alpha_eff = {float(smap.alpha_eff[i, j]):.4g}, "
              f"U_Sigma = {float(smap.U[i, j]):.4g})")
    os.makedirs(args.out, exist_ok=True)
    # axis values under "axis_<name>": an axis may be named like an output (alpha_eff, U, ...)
    ja.io.save_npz(os.path.join(args.out, "map.npz"), **{f"axis_{x[0]}": x[1], f"axis_{y[0]}": y[1]},
                   margin=np.asarray(smap.margin), U=np.asarray(smap.U),
                   U_tilde=np.asarray(smap.U_tilde), alpha_eff=np.asarray(smap.alpha_eff),
                   C_L=np.asarray(smap.C_L), stable=stable)
    ja.io.save_json(os.path.join(args.out, "map.json"),
                    {"family": args.family, "axes": [x[0], y[0]], "fixed": fixed, "nu": args.nu,
                     "zeta": args.zeta, "n": args.n, "batch_size": args.batch,
                     "tau": [args.tau1, args.tau2], "phase": smap.phase, "seconds": dt,
                     "axis_specs": [args.x, args.y],
                     "axis_values": {x[0]: x[1], y[0]: y[1]}})
    fig, axes = plt.subplots(1, 2, figsize=(11.5, 4.4), layout="constrained")
    plotting.plot_map(smap, "margin", ax=axes[0], title="strict-stability margin")
    plotting.plot_map(smap, "C_L", ax=axes[1], title=r"predicted loss constant $C_L$")
    ja.io.save_figure(os.path.join(args.out, "map.png"), fig)
    print(f"results written to {args.out}/map.{{npz,json,png}}")
    return 0


# --------------------------------------------------------------------------------- sims
def sims_dir() -> str:
    """The ``sims/`` folder of the source checkout (``jaxaccel`` installed with ``pip -e``).

    Example:
        >>> import os
        >>> os.path.basename(sims_dir())
        'sims'
    """
    import os

    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "sims")


def list_sims() -> List[Tuple[str, str]]:
    """``[(name, first docstring line)]`` of every script under ``sims/``.

    Names are paths relative to :func:`sims_dir` without ``.py`` (``/``-separated); scripts
    whose file name starts with ``_`` are skipped. Empty when there is no ``sims/`` folder.

    Example:
        >>> sims = list_sims()
        >>> all(isinstance(n, str) and not n.endswith(".py") for n, _ in sims)
        True
    """
    import ast
    import os

    root = sims_dir()
    found = []
    if not os.path.isdir(root):
        return found
    for dirpath, _, files in sorted(os.walk(root)):
        for f in sorted(files):
            if not f.endswith(".py") or f.startswith("_"):
                continue
            path = os.path.join(dirpath, f)
            with open(path) as fh:
                doc = ast.get_docstring(ast.parse(fh.read())) or ""
            name = os.path.relpath(path, root)[:-3].replace(os.sep, "/")
            found.append((name, doc.strip().splitlines()[0] if doc.strip() else ""))
    return found


def _sims(args) -> int:
    import os
    import runpy

    sims = dict(list_sims())
    if args.sims_command == "list" or args.sims_command is None:
        if not sims:
            print(f"no sims found under {sims_dir()} (they ship with the source checkout)")
            return 1
        width = max(len(n) for n in sims)
        for name, doc in sims.items():
            print(f"{name:{width}s}  {doc}")
        print("\nrun one with: jaxaccel sims run NAME [--quick | --full] [--out DIR]")
        return 0
    if args.name not in sims:
        print(f"unknown sim {args.name!r}; `jaxaccel sims list` shows them", file=sys.stderr)
        return 2
    path = os.path.join(sims_dir(), args.name + ".py")
    saved = sys.argv
    sys.argv = [path] + list(args.args)
    try:
        runpy.run_path(path, run_name="__main__")
    except SystemExit as e:  # the script's own exit status
        return int(e.code or 0) if not isinstance(e.code, str) else 1
    finally:
        sys.argv = saved
    return 0


# ------------------------------------------------------------------------------- parser
def build_parser() -> argparse.ArgumentParser:
    """The ``argparse`` parser of the ``jaxaccel`` console script.

    Subcommands ``demo``, ``simulate``, ``map`` and ``sims`` (``list`` / ``run``); each sets
    ``func`` (the handler that :func:`main` calls) on the parsed namespace.

    Example:
        >>> args = build_parser().parse_args(["map", "--family", "gd", "--x", "alpha:0.1:2:8"])
        >>> args.command, args.family, args.x, args.n, args.tau2
        ('map', 'gd', 'alpha:0.1:2:8', 10000, -1.0)
        >>> build_parser().parse_args(["sims", "run", "demo", "--full"]).args
        ['--full']
    """
    p = argparse.ArgumentParser(
        prog="jaxaccel",
        description="JAX simulation engine for accelerated first-order optimization: exact "
                    "SE second-moment dynamics of memory-M methods (SGD, Heavy Ball, Nesterov, "
                    "memory-1, AM1, Jacobi HB) on power-law quadratic problems.",
        epilog="Start with `jaxaccel demo`; `jaxaccel COMMAND --help` explains each command.",
    )
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    d = sub.add_parser("demo", help="simulate a default power-law problem, print a table, write a plot",
                       description="Simulate SGD, Heavy Ball and an accelerated memory-1 method on "
                                   "a power-law problem (SE dynamics) and plot the loss curves.")
    d.add_argument("--nu", type=float, default=1.5, help="spectral exponent (default 1.5)")
    d.add_argument("--zeta", type=float, default=0.5, help="target exponent (default 0.5)")
    d.add_argument("--n", type=int, default=100_000, help="number of eigenvalues (default 1e5)")
    d.add_argument("--steps", type=int, default=5000, help="number of steps (default 5000)")
    d.add_argument("--batch", type=float, default=10, help="batch size (default 10)")
    d.add_argument("--out", default="jaxaccel_demo.png", help="output PNG (default ./jaxaccel_demo.png)")
    d.set_defaults(func=_demo)

    s = sub.add_parser(
        "simulate", help="simulate the algorithms of a JSON config file",
        description="Run the SE dynamics of every algorithm of a JSON configuration on one "
                    "spectrum; print final loss, fitted slope and time; write simulate.npz "
                    "(steps_i, loss_i), simulate.json (config + table) and simulate.png. "
                    "`jaxaccel simulate --example > my.json` writes a starting config.",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("config", nargs="?", help="path of the JSON configuration")
    s.add_argument("--example", action="store_true", help="print an example configuration")
    s.add_argument("--out", help="output folder (default: the config's 'out')")
    s.set_defaults(func=_simulate)

    m = sub.add_parser(
        "map", help="2-D stability map of an algorithm family",
        description="Evaluate the strict-stability margin, the noise sum U_Sigma, alpha_eff and "
                    "the predicted loss constant C_L on a 2-D parameter grid (vectorised and "
                    "chunked), print the best point and write map.npz, map.json and map.png. "
                    "Axes read name:lo:hi:n (linear) or name:lo:hi:n:log.",
        epilog="examples:\n  jaxaccel map --family heavy_ball --x alpha:0.05:5:60:log "
               "--y beta:-0.9:0.999:60\n  jaxaccel map --family memory1 --x q0:-1:3:60 "
               "--y alpha_eff:0.5:50:60:log --fixed delta=0.05",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--family", default="heavy_ball",
                   help="gd, heavy_ball, nesterov, memory1 (delta, q0, q1, alpha_eff: give "
                        "three) or am1 (eta, eta_prime, beta); default heavy_ball")
    m.add_argument("--x", default="alpha:0.05:5:40:log", help="first axis (default alpha:0.05:5:40:log)")
    m.add_argument("--y", default="beta:-0.9:0.995:40", help="second axis (default beta:-0.9:0.995:40)")
    m.add_argument("--fixed", action="append", metavar="NAME=VALUE",
                   help="a parameter held fixed (repeatable)")
    m.add_argument("--nu", type=float, default=1.5, help="spectral exponent (default 1.5)")
    m.add_argument("--zeta", type=float, default=0.5, help="target exponent (default 0.5)")
    m.add_argument("--n", type=int, default=10_000, help="number of eigenvalues (default 1e4)")
    m.add_argument("--batch", type=float, default=10.0, help="batch size (default 10)")
    m.add_argument("--tau1", type=float, default=1.0, help="SE noise tau1 (default 1)")
    m.add_argument("--tau2", type=float, default=-1.0, help="SE noise tau2 (default -1: Gaussian data)")
    m.add_argument("--out", default="results/map", help="output folder (default results/map)")
    m.set_defaults(func=_map)

    sm = sub.add_parser("sims", help="list or run the reproduction scripts of sims/",
                        description="`jaxaccel sims list` lists the scripts of sims/ (each a CLI "
                                    "with --quick, the default, and --full); `jaxaccel sims run "
                                    "NAME [ARGS...]` runs one with its own arguments.")
    ssub = sm.add_subparsers(dest="sims_command", metavar="SUBCOMMAND")
    ssub.add_parser("list", help="list the sims with a one-line description",
                    description="List the sims with a one-line description.")
    r = ssub.add_parser("run", help="run one sim: jaxaccel sims run NAME [ARGS...]",
                        description="Run one sim; ARGS go to the script (e.g. --quick, --full, "
                                    "--out DIR, --help).")
    r.add_argument("name", help="name as printed by `jaxaccel sims list`")
    r.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the sim")
    sm.set_defaults(func=_sims)
    return p


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Entry point of the ``jaxaccel`` console script; returns the exit status.

    ``argv`` defaults to ``sys.argv[1:]``. Without a command the help is printed (status 0);
    a ``ValueError`` from bad input is reported as ``jaxaccel COMMAND: error: ...`` on stderr
    with status 2.

    Example:
        >>> import contextlib, io, json
        >>> buf = io.StringIO()
        >>> with contextlib.redirect_stdout(buf):
        ...     rc = main(["simulate", "--example"])
        >>> rc, json.loads(buf.getvalue())["steps"]
        (0, 10000)
        >>> err = io.StringIO()
        >>> with contextlib.redirect_stderr(err):
        ...     rc = main(["simulate"])                    # no CONFIG given
        >>> rc, err.getvalue().startswith("jaxaccel simulate: give a CONFIG file")
        (2, True)
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return args.func(args)
    except ValueError as e:  # bad input: a clear message, not a traceback
        print(f"jaxaccel {args.command}: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
