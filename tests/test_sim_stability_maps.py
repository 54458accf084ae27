"""sims/stability_maps.py at tiny sizes: files written, tables consistent with Theorem 6."""

import importlib.util
import json
import os

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _load_sim():
    spec = importlib.util.spec_from_file_location(
        "sim_stability_maps", os.path.join(ROOT, "sims", "stability_maps.py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_stability_maps_sim_quick(tmp_path, capsys):
    sim = _load_sim()
    out = str(tmp_path / "maps")
    meta = sim.main(["--grid", "4", "--nodes", "100", "--steps", "300", "--out", out])
    for f in ("stability_maps.npz", "stability_maps.json", "stability_maps.png"):
        assert os.path.getsize(os.path.join(out, f)) > 0, f
    with open(os.path.join(out, "stability_maps.png"), "rb") as fh:
        assert fh.read(8) == b"\x89PNG\r\n\x1a\n"
    data = np.load(os.path.join(out, "stability_maps.npz"))
    assert data["hb_margin"].shape == (4, 4) and data["m1_U"].shape == (4, 4)
    assert data["hb_axis_alpha"].shape == (4,) and data["m1_axis_alpha_eff"].shape == (4,)
    with open(os.path.join(out, "stability_maps.json")) as fh:
        assert json.load(fh)["settings"]["n_grid"] == 4
    # strict boundaries found by strict_stability agree with Theorem 6 (227)
    for row in meta["hb_boundary"] + meta["m1_boundary"] + meta["m1_lower_edge"]:
        assert row["rel_err"] < 1e-9, row
    assert meta["hb_theorem6_mismatches"] == 0 and meta["m1_theorem6_mismatches"] == 0
    # Theorem 7: memory 1 (q0 > 0) reaches a larger stable alpha_eff than the Heavy Ball cap
    assert meta["hb_alpha_eff_max_stable"] < meta["hb_alpha_eff_cap"]
    assert meta["m1_alpha_eff_max_stable"] > 2 * meta["hb_alpha_eff_cap"]
    # spot checks: stable points stay bounded with a loss constant of the right size;
    # points whose top mode grows by radius^(2T) > e^30 within the run diverge
    steps = meta["settings"]["steps"]
    for row in meta["hb_spot_checks"] + meta["m1_spot_checks"]:
        if row["kind"] == "stable":
            assert not row["diverged"] and 0.5 < row["ratio"] < 1.5, row
        elif 2 * steps * np.log(row["radius"]) > 30:
            assert row["diverged"], row
    text = capsys.readouterr().out
    assert "Theorem 6" in text and "simulate" in text
