"""A catalogue of bad inputs: each raises ``ValueError`` naming the argument (library) or ends
the command line with a one-line message naming the field and exit status 2 (CLI), instead
of a traceback or a silent result."""

import json

import numpy as np
import jax.numpy as jnp
import pytest

import jaxaccel as ja
from jaxaccel import cli

S = ja.power_law_spectrum(50, nu=1.5, zeta=0.5)

LIBRARY = [
    ("grid batch_size < 0",
     lambda: ja.simulate_grid(S, ja.heavy_ball, {"alpha": [0.1], "beta": [0.5],
                                                 "batch_size": [-1.0]}, 10), "batch_size"),
    ("grid batch_size = 0",
     lambda: ja.simulate_grid(S, ja.heavy_ball, {"alpha": [0.1], "beta": [0.5],
                                                 "batch_size": [0.0]}, 10), "batch_size"),
    ("from_kernel non-symmetric",
     lambda: ja.Spectrum.from_kernel(np.array([[2.0, 1.0], [0.0, 2.0]]), [1.0, 1.0]), "kernel"),
    ("from_kernel indefinite",
     lambda: ja.Spectrum.from_kernel(np.array([[1.0, 2.0], [2.0, 1.0]]), [1.0, 1.0]), "kernel"),
    ("power_law_spectrum nu as a string", lambda: ja.power_law_spectrum(10, nu="1.5", zeta=0.5),
     "nu"),
    ("power_law_spectrum nu as an array",
     lambda: ja.power_law_spectrum(10, nu=np.array([1.5, 2.0]), zeta=0.5), "nu"),
    ("power_law_spectrum zeta = True", lambda: ja.power_law_spectrum(10, nu=1.5, zeta=True),
     "zeta"),
    ("power_law_spectrum integer dtype",
     lambda: ja.power_law_spectrum(10, nu=1.5, zeta=0.5, dtype=jnp.int32), "dtype"),
    ("power_law_spectrum Q as a string",
     lambda: ja.power_law_spectrum(10, nu=1.5, zeta=0.5, Q="1"), "Q"),
    ("NoiseModel negative batch", lambda: ja.NoiseModel(-2.0), "batch_size"),
    ("simulate tau of one number", lambda: ja.simulate(S, ja.gd(0.5), 5, 4.0, 1.0), "tau"),
]


@pytest.mark.parametrize("case, call, name", LIBRARY, ids=[c[0] for c in LIBRARY])
def test_library_bad_input_names_the_argument(case, call, name):
    with pytest.raises(ValueError, match=name):
        call()


def _config(tmp_path, **changes):
    cfg = {"spectrum": {"kind": "power_law", "n": 100, "nu": 1.5, "zeta": 0.5},
           "algorithms": {"SGD": {"kind": "gd", "alpha": 1.0}}, "steps": 20}
    cfg.update(changes)
    path = tmp_path / "cfg.json"
    path.write_text(json.dumps(cfg))
    return str(path)


CLI = [
    ("missing config file", lambda p: ["simulate", str(p / "nope.json")], "cannot be read"),
    ("config not JSON", lambda p: ["simulate", str(_write(p, "{oops"))], "not valid JSON"),
    ("tau a number", lambda p: ["simulate", _config(p, tau=1)], "'tau'"),
    ("fit_window of one number", lambda p: ["simulate", _config(p, fit_window=[1])],
     "'fit_window'"),
    ("fit_window reversed", lambda p: ["simulate", _config(p, fit_window=[10, 2])],
     "'fit_window'"),
    ("axis bound not a number", lambda p: ["map", "--x", "alpha:a:1:5"], "axis 'alpha:a:1:5'"),
    ("axis count not an integer", lambda p: ["map", "--x", "alpha:0.1:1:five"], "axis"),
    ("axis without a name", lambda p: ["map", "--x", ":0.1:1:5"], "axis"),
]


def _write(p, text):
    path = p / "bad.json"
    path.write_text(text)
    return path


@pytest.mark.parametrize("case, argv, field", CLI, ids=[c[0] for c in CLI])
def test_cli_bad_input_is_one_line_naming_the_field(case, argv, field, tmp_path, capsys):
    assert cli.main(argv(tmp_path)) == 2
    err = capsys.readouterr().err.strip()
    assert field in err, err
    assert "Traceback" not in err and len(err.splitlines()) == 1, err


def test_save_json_writes_null_for_nan_and_inf(tmp_path):
    path = ja.io.save_json(str(tmp_path / "m.json"),
                           {"a": float("nan"), "b": [1.0, np.inf], "c": np.float64(-np.inf),
                            "d": np.array([np.nan, 2.0])}, metadata=False)
    text = open(path).read()
    assert "NaN" not in text and "Infinity" not in text
    assert json.loads(text) == {"a": None, "b": [1.0, None], "c": None, "d": [None, 2.0]}
