"""Runs of the issue-20 sims (rivals, schedule search, memory-2 design) at small sizes (slow:
each compiles several programs; the default run covers their library functions)."""

import json
import os
import warnings

import pytest
from conftest import load_sim as _load


def _files(out, name):
    for ext in ("npz", "json", "png"):
        assert os.path.getsize(os.path.join(out, f"{name}.{ext}")) > 0
    with open(os.path.join(out, f"{name}.json")) as f:
        return json.load(f)


@pytest.mark.slow
def test_rivals_quick(tmp_path):
    out = str(tmp_path / "r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meta = _load("sgd_memory/rivals").main(["--n", "500", "--steps", "500", "--no-digits",
                                                "--out", out])
    _files(out, "rivals")
    rows = {(r["problem"], r["method"]): r for r in meta["rows"]}
    assert len(rows) == 20
    sgd = rows[("signal", "SGD")]
    assert not sgd["diverged"] and abs(sgd["slope"] + 0.5) < 0.1      # -zeta
    jac = rows[("signal", "Jacobi HB")]   # b = 10: U_Sigma(t) -> 1 (or a large L, slow steps)
    assert jac["diverged"] or jac["final_loss"] > rows[("signal", "AM1")]["final_loss"]
    assert rows[("signal", "AM1")]["final_loss"] < sgd["final_loss"]


@pytest.mark.slow
def test_schedule_search_quick(tmp_path):
    out = str(tmp_path / "s")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meta = _load("schedule_search").main(["--horizons", "300", "--iters", "4", "--out", out])
    _files(out, "schedule_search")
    (row,) = meta["rows"]
    assert abs(row["budget_used"] - row["budget"]) <= 1e-12 * row["budget"]
    assert row["optimised"] <= row["am1"]


@pytest.mark.slow
def test_memory2_design_quick(tmp_path):
    out = str(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        meta = _load("memory2_design").main(["--out", out])
    _files(out, "memory2_design")
    assert meta["spots_agree"] == len(meta["spots"]) >= 6
    assert meta["designs"][0]["gain"] >= 1 - 2e-3
