"""The console script: help texts, the config-driven ``simulate``, ``map`` and ``sims``."""

import json
import os

import numpy as np
import pytest

import jaxaccel as ja
from jaxaccel import cli


@pytest.mark.parametrize("argv", [["--help"], ["demo", "--help"], ["simulate", "--help"],
                                  ["map", "--help"], ["sims", "--help"],
                                  ["sims", "list", "--help"], ["sims", "run", "--help"]])
def test_every_help_text(argv, capsys):
    with pytest.raises(SystemExit) as e:
        cli.main(argv)
    assert e.value.code == 0
    assert "usage: jaxaccel" in capsys.readouterr().out


def _config(tmp_path, **over):
    cfg = {
        "spectrum": {"kind": "power_law", "n": 300, "nu": 1.5, "zeta": 0.5},
        "algorithms": {"SGD": {"kind": "gd", "alpha": 1.0},
                       "HB": {"kind": "heavy_ball", "alpha": 0.4, "beta": 0.5}},
        "steps": 100, "batch_size": 10, "record": "all", "out": str(tmp_path / "out"),
    }
    cfg.update(over)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return str(path), cfg


def test_simulate_from_config_matches_the_library(tmp_path, capsys):
    path, cfg = _config(tmp_path)
    assert cli.main(["simulate", path]) == 0
    out = tmp_path / "out"
    for f in ("simulate.npz", "simulate.json", "simulate.png"):
        assert (out / f).stat().st_size > 0
    data = np.load(out / "simulate.npz")
    meta = json.loads((out / "simulate.json").read_text())
    assert meta["names"] == ["SGD", "HB"]
    spec = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)
    ref = ja.simulate(spec, ja.heavy_ball(0.4, 0.5), 100, batch_size=10)
    np.testing.assert_allclose(data["loss_1"], np.asarray(ref.loss), rtol=1e-13)
    assert "HB" in capsys.readouterr().out


def test_simulate_example_config_is_valid(tmp_path, capsys):
    assert cli.main(["simulate", "--example"]) == 0
    cfg = json.loads(capsys.readouterr().out)
    for name, acfg in cfg["algorithms"].items():  # every example algorithm builds
        cli._build_algorithm(name, acfg, 50)
    cli._build_spectrum(dict(cfg["spectrum"], n=100))


def test_simulate_bad_config_is_a_clear_error(tmp_path, capsys):
    path, _ = _config(tmp_path, algorithms={"X": {"kind": "adam"}})
    assert cli.main(["simulate", path]) == 2
    assert "unknown kind 'adam'" in capsys.readouterr().err
    path, _ = _config(tmp_path, stepz=3)
    assert cli.main(["simulate", path]) == 2
    assert "unknown keys" in capsys.readouterr().err
    path, _ = _config(tmp_path, algorithms={"X": {"kind": "gd", "alpha": 1.0, "beta": 0.5}})
    assert cli.main(["simulate", path]) == 2
    assert "config algorithm 'X' (gd)" in capsys.readouterr().err
    path, _ = _config(tmp_path, steps="many")
    assert cli.main(["simulate", path]) == 2
    assert "'steps' must be a positive integer" in capsys.readouterr().err
    path, _ = _config(tmp_path, spectrum={"kind": "power_law", "n": 0, "nu": 1.5, "zeta": 0.5})
    assert cli.main(["simulate", path]) == 2
    assert "n" in capsys.readouterr().err


def test_map_writes_files_and_matches_stability_map(tmp_path, capsys):
    out = tmp_path / "map"
    assert cli.main(["map", "--n", "200", "--x", "alpha:0.1:3:4:log", "--y", "beta:0:0.9:3",
                     "--out", str(out)]) == 0
    data = np.load(out / "map.npz")
    ref = ja.stability_map(ja.power_law_spectrum(200, nu=1.5, zeta=0.5), "heavy_ball",
                           {"alpha": np.geomspace(0.1, 3, 4), "beta": np.linspace(0, 0.9, 3)},
                           batch_size=10.0)
    np.testing.assert_allclose(data["margin"], np.asarray(ref.margin), rtol=1e-12)
    np.testing.assert_allclose(data["axis_alpha"], np.geomspace(0.1, 3, 4), rtol=1e-12)
    assert (out / "map.png").stat().st_size > 0
    assert cli.main(["map", "--x", "alpha:1:2"]) == 2
    assert "name:lo:hi:n" in capsys.readouterr().err


def test_map_axis_named_like_an_output(tmp_path):
    """The README's memory-1 map has an axis ``alpha_eff``, also an output array: both are kept."""
    out = tmp_path / "m1"
    assert cli.main(["map", "--family", "memory1", "--n", "200", "--x", "q0:-1:3:3",
                     "--y", "alpha_eff:0.5:50:3:log", "--fixed", "delta=0.05",
                     "--out", str(out)]) == 0
    data = np.load(out / "map.npz")
    np.testing.assert_allclose(data["axis_alpha_eff"], np.geomspace(0.5, 50, 3), rtol=1e-12)
    assert data["alpha_eff"].shape == (3, 3)


def test_sims_list_names_every_script(capsys):
    assert cli.main(["sims", "list"]) == 0
    printed = capsys.readouterr().out
    for dirpath, _, files in os.walk(cli.sims_dir()):
        for f in files:
            if f.endswith(".py") and not f.startswith("_"):
                assert f[:-3] in printed
    assert cli.main(["sims", "run", "no_such_sim"]) == 2
