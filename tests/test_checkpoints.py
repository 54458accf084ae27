"""Checkpoints and result files: a checkpoint of another run is refused (naming what differs),
a damaged one gives a clear error, killed writes leave no temporaries behind for long, and
result files get the user's umask.

Reference: the uninterrupted ``run_long`` / ``simulate`` run of the same problem.
"""

import os

import numpy as np
import jax.numpy as jnp
import pytest

import jaxaccel as ja

S = ja.power_law_spectrum(300, nu=1.5, zeta=0.5)


def _run(path, spectrum=S, alg=None, batch=10.0, **kw):
    alg = ja.heavy_ball(0.4, 0.6) if alg is None else alg
    return ja.run_long(spectrum, alg, 400, batch, record="log", chunk_steps=100,
                       checkpoint=str(path), **kw)


def test_resuming_the_same_run_is_accepted(tmp_path):
    ck = tmp_path / "run.npz"
    first = _run(ck)
    again = _run(ck)  # the finished checkpoint: nothing left to step, same curve
    np.testing.assert_array_equal(first.loss, again.loss)


@pytest.mark.parametrize("change, name", [
    (dict(batch=100.0), "batch_size"),
    (dict(alg=ja.nesterov(0.4, 0.6)), "algorithm.a"),  # same alpha and D as Heavy Ball
    (dict(dtype=jnp.float32), "dtype"),
    (dict(spectrum=ja.Spectrum(S.eigenvalues, S.c2, weights=jnp.full(300, 2.0))),
     "spectrum.weights"),
    (dict(tau=(1.0, 1.0)), "tau"),
    (dict(kernel="xla"), "kernel"),
])
def test_a_checkpoint_of_another_run_is_refused(tmp_path, change, name):
    ck = tmp_path / "run.npz"
    _run(ck)
    with pytest.raises(ValueError, match=f"different run .*{name.replace('.', '[.]')}"):
        _run(ck, **change)


def test_a_corrupt_checkpoint_says_which_file_and_what_to_do(tmp_path):
    ck = tmp_path / "run.npz"
    _run(ck)
    data = ck.read_bytes()
    ck.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(ValueError, match=r"run\.npz.* cannot be read.*delete it"):
        _run(ck)
    ck.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt or truncated"):
        _run(ck)


def test_stale_temporaries_of_killed_writes_are_removed(tmp_path):
    target = tmp_path / "out.npz"
    dead = tmp_path / f".tmp-out.npz-{2**22 + 12345}-abc.npz"  # a pid that does not run
    dead.write_bytes(b"x" * 100)
    other = tmp_path / ".tmp-other.npz-1-abc.npz"  # another target: left alone
    other.write_bytes(b"x")
    ja.io.save_npz(str(target), x=np.arange(3))
    assert not dead.exists() and other.exists()
    assert np.load(target)["x"].tolist() == [0, 1, 2]


def test_result_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        path = ja.io.save_json(str(tmp_path / "r.json"), {"a": 1})
        assert os.stat(path).st_mode & 0o777 == 0o644
        os.umask(0o077)
        path = ja.io.save_npz(str(tmp_path / "r.npz"), a=np.ones(2))
        assert os.stat(path).st_mode & 0o777 == 0o600
    finally:
        os.umask(old)
