"""Count the array passes per time step of the compiled ``simulate`` loop (XLA CPU).

Compiles memory-1 Heavy Ball (N = 1e5, batch 10) with XLA's HLO dump switched on and, in the
optimized scan body, counts for every fusion / copy that touches an eigenvalue-length array how
many such arrays it reads and writes. Divided by ``unroll`` this is the number of passes over
``N``-length arrays per step, the quantity that bounds speed when the state lives in cache.

    python benchmarks/hlo_passes.py            # unroll 1, 2, 3, 4
"""

from __future__ import annotations

import glob
import os
import re
import subprocess
import sys
import tempfile

CHILD = """
import sys, jaxaccel as ja
spec = ja.power_law_spectrum(100000, nu=1.5, zeta=0.5)
ja.simulate(spec, ja.heavy_ball(0.4, 0.9), 100, batch_size=10.0, record=("log", 10),
            unroll=int(sys.argv[1])).loss.block_until_ready()
"""


def passes(unroll: int) -> int:
    with tempfile.TemporaryDirectory() as d:
        env = dict(os.environ, XLA_FLAGS=f"--xla_dump_to={d} --xla_dump_hlo_as_text")
        subprocess.run([sys.executable, "-c", CHILD, str(unroll)], env=env, check=True)
        (path,) = glob.glob(os.path.join(d, "*jit__run.cpu_after_optimizations.txt"))
        txt = open(path).read()
    n = re.search(r"f64\[(\d+)\]", txt[txt.index("ENTRY"):]).group(1)  # padded N
    arr = f"f64[{n}]"
    params = {m.group(1): m.group(2) for m in re.finditer(r"^%(\S+) \((.*?)\) -> ", txt, re.M)}
    body = re.search(r"^%wide\.(?:wide\.)?region_2.*?^\}", txt, re.S | re.M).group(0)
    total = 0
    for m in re.finditer(r"= (\S+) (fusion|copy)\(.*?\)(?:, kind=\w+, calls=%([\w.]+))?", body):
        shape, kind, callee = m.groups()
        reads = params[callee].count(arr) if callee else 1
        writes = int(arr in shape)
        if reads or writes:
            total += reads + writes
    return total


def main():
    for u in (1, 2, 3, 4):
        p = passes(u)
        print(f"unroll {u}: {p:3d} array passes per scan body, {p / u:5.1f} per step")


if __name__ == "__main__":
    main()
