"""Benchmark: the native CPU kernel on one thread vs split over the cores, idle or loaded.

A single memory-1 run (Heavy Ball, b = 10, power law nu = 1.5, zeta = 0.5) with
``JAXACCEL_NUM_THREADS=1`` and with all hardware threads, first on an idle machine, then while
``--busy`` processes spin on the CPU (an oversubscribed machine, e.g. a parallel test run).
Best of ``--repeats`` after a compiling run.

    python benchmarks/bench_threads.py                   # N = 1e5, T = 2000, 2 busy processes
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time

import jaxaccel as ja


def _spin(stop):
    while not stop.is_set():
        pass


def _best(spec, steps, repeats):
    run = lambda: ja.simulate(spec, ja.heavy_ball(0.4, 0.9), steps, 10.0,  # noqa: E731
                              record=("log", 100), kernel="cpu").loss.block_until_ready()
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return min(times)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=100_000)
    p.add_argument("--steps", type=int, default=2000)
    p.add_argument("--busy", type=int, default=2, help="spinning processes in the loaded case")
    p.add_argument("--repeats", type=int, default=3)
    a = p.parse_args()
    spec = ja.power_law_spectrum(a.n, nu=1.5, zeta=0.5)
    hw = os.cpu_count() or 1
    ctx = mp.get_context("spawn")  # no fork of a process running JAX threads
    for loaded in (False, True):
        stop = ctx.Event()
        procs = [ctx.Process(target=_spin, args=(stop,)) for _ in range(a.busy if loaded else 0)]
        for pr in procs:
            pr.start()
        try:
            for nth in (1, hw):
                os.environ["JAXACCEL_NUM_THREADS"] = str(nth)
                t = _best(spec, a.steps, a.repeats)
                state = f"{a.busy} busy processes" if loaded else "idle"
                print(f"N={a.n} T={a.steps} {state:18s} threads={nth}: {t:.3f} s "
                      f"({a.n * a.steps / t:.3e} eigen-steps/s)", flush=True)
        finally:
            stop.set()
            for pr in procs:
                pr.join()
    os.environ.pop("JAXACCEL_NUM_THREADS", None)


if __name__ == "__main__":
    main()
