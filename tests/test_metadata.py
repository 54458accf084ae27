"""Result files carry what they were computed with, and a CLI run can be rebuilt and rerun
from its JSON alone (same numbers)."""

import json

import numpy as np

import jaxaccel as ja
from jaxaccel import cli


def test_json_records_versions_backend_and_kernel(tmp_path):
    out = tmp_path / "sim"
    cfg = {"spectrum": {"kind": "power_law", "n": 200, "nu": 1.5, "zeta": 0.5},
           "algorithms": {"HB": {"kind": "heavy_ball", "alpha": 0.4, "beta": 0.6},
                          "AM1": {"kind": "am1", "delta0": 0.5, "kappa": 0.9, "alpha0": 1.0,
                                  "theta": 0.3, "eta_kick": 0.5, "t0": 1.0}},
           "steps": 300, "batch_size": 10.0, "tau": [1.0, -1.0], "record": ["log", 40]}
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    assert cli.main(["simulate", str(path), "--out", str(out)]) == 0
    meta = json.loads((out / "simulate.json").read_text())
    m = meta["metadata"]
    assert m["packages"]["jax"] and m["packages"]["jaxaccel"] == ja.__version__
    assert m["backend"] == "cpu" and m["x64"] is True and m["devices"]
    assert meta["dtype"] == "float64" and "available" in meta["native_kernel"]
    kernels = {row["algorithm"]: row["kernel"] for row in meta["table"]}
    if meta["native_kernel"]["available"]:
        assert kernels == {"HB": "cpu:memory1", "AM1": "cpu:general"}
    # rebuild the run from the JSON alone and rerun it
    rebuilt = tmp_path / "rebuilt.json"
    keep = {k: meta["config"][k] for k in ("spectrum", "algorithms", "steps", "batch_size",
                                            "tau", "record", "fit_window")}
    rebuilt.write_text(json.dumps(keep))
    assert cli.main(["simulate", str(rebuilt), "--out", str(tmp_path / "again")]) == 0
    a, b = np.load(out / "simulate.npz"), np.load(tmp_path / "again" / "simulate.npz")
    names_b = json.loads((tmp_path / "again" / "simulate.json").read_text())["names"]
    for i, name in enumerate(meta["names"]):  # the arrays are stored in the run's order
        j = names_b.index(name)
        np.testing.assert_array_equal(a[f"loss_{i}"], b[f"loss_{j}"])
        np.testing.assert_array_equal(a[f"steps_{i}"], b[f"steps_{j}"])


def test_map_json_records_the_axes(tmp_path):
    out = tmp_path / "map"
    assert cli.main(["map", "--n", "200", "--x", "alpha:0.1:3:4:log", "--y", "beta:0:0.9:3",
                     "--out", str(out)]) == 0
    meta = json.loads((out / "map.json").read_text())
    assert meta["axis_specs"] == ["alpha:0.1:3:4:log", "beta:0:0.9:3"]
    np.testing.assert_allclose(meta["axis_values"]["alpha"], np.geomspace(0.1, 3, 4))
    assert "metadata" in meta
