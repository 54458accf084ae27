"""The ethanol-task generator (its stated properties) and the UCI libsvm loader (theory §A9.1)."""

import numpy as np
import jax.numpy as jnp
import pytest

import jaxaccel.depth as jd


@pytest.fixture(scope="module")
def ethanol():
    loss = jd.ethanol_like_regression(p=4)
    return loss, np.asarray(loss.inputs), np.asarray(loss.targets).ravel()


def test_generator_shape_and_scaling(ethanol):
    """Properties 1-2: 2 565 x 128 (16 sensors x 8 features), z-scored features and target."""
    loss, X, y = ethanol
    assert X.shape == jd.ETHANOL_SHAPE == (2565, 128) and loss.targets.shape == (2565, 1)
    np.testing.assert_allclose(X.mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(X.std(0), 1, rtol=1e-12)
    assert abs(y.mean()) < 1e-12 and y.std() == pytest.approx(1, rel=1e-12)


@pytest.mark.parametrize("kurt", [3.5, 4.0, 8.0])
def test_generator_heavy_tailed_target(kurt):
    """Property 3: sample kurtosis solved exactly; positive skew; l4 loss at w = 0 = E[y^4]/4."""
    loss = jd.ethanol_like_regression(num_examples=1000, target_kurtosis=kurt, p=4)
    y = np.asarray(loss.targets).ravel()
    assert np.mean(y**4) == pytest.approx(kurt, rel=1e-10)
    assert np.mean(y**3) > 0.3
    assert float(loss.value(jnp.zeros((1, 128)))) == pytest.approx(kurt / 4, rel=1e-10)
    _, c = jd.ethanol_like_arrays(num_examples=1000, target_kurtosis=kurt)
    assert np.all(c > 0)


def test_generator_modelled_structure(ethanol):
    """Property 4 (modelled): collinear within a sensor, ill-conditioned, linear fit good but
    not exact; the l2 optimum lies below the paper's final depth-1 l2 loss (2.7e-3)."""
    loss, X, y = ethanol
    C = np.abs(np.corrcoef(X.T))
    block = np.kron(np.eye(16), np.ones((8, 8))) > 0
    within = C[block & ~np.eye(128, dtype=bool)].mean()
    assert within > 0.9 and within > C[~block].mean() + 0.1
    ev = np.linalg.eigvalsh(X.T @ X / len(X))
    assert 1e3 < ev[-1] / ev[0] < 1e5
    w, *_ = np.linalg.lstsq(X, y, rcond=None)
    r2 = 1 - np.var(y - X @ w) / np.var(y)
    assert 0.99 < r2 < 0.9999
    assert 0 < 0.5 * np.mean((y - X @ w) ** 2) < 2.7e-3


def test_generator_bad_input():
    with pytest.raises(ValueError, match="target_kurtosis"):
        jd.ethanol_like_regression(target_kurtosis=2.0)
    with pytest.raises(ValueError, match="num_examples"):
        jd.ethanol_like_arrays(num_examples=3)
    with pytest.raises(ValueError, match="noise"):
        jd.ethanol_like_arrays(noise=-1.0)
    with pytest.raises(ValueError, match="scaling"):
        jd.ethanol_like_regression(scaling="zscore")


def _write(folder, name, lines):
    path = folder / name
    path.write_text("".join(line + "\n" for line in lines))
    return path


def test_libsvm_loader_on_a_small_file(tmp_path):
    """Lines ``gas;conc idx:val``, 1-based indices, missing = 0; a folder is read in numeric order
    (batch2 before batch10); the ethanol rows (gas 1) are z-scored."""
    _write(tmp_path, "batch10.dat", ["1;30.0 1:3 4:1.5", "3;7 2:1"])
    _write(tmp_path, "batch2.dat", ["1;10.0 1:1 2:-2.0 4:0.5", "", "2;50.0 3:9", "1;20 2:2e0"])
    gas, conc, X = jd.read_gas_sensor_libsvm(tmp_path, num_features=4)
    assert gas.tolist() == [1, 2, 1, 1, 3]
    assert conc.tolist() == [10.0, 50.0, 20.0, 30.0, 7.0]
    np.testing.assert_array_equal(X, [[1, -2, 0, 0.5], [0, 0, 9, 0], [0, 2, 0, 0],
                                      [3, 0, 0, 1.5], [0, 1, 0, 0]])
    loss = jd.ethanol_regression(tmp_path, p=2, num_features=4)
    Xe = np.array([[1, -2, 0, 0.5], [0, 2, 0, 0], [3, 0, 0, 1.5]])
    ye = np.array([10.0, 20.0, 30.0])
    np.testing.assert_allclose(np.asarray(loss.targets).ravel(), (ye - 20) / ye.std(), rtol=1e-14)
    sd = np.where(Xe.std(0) > 0, Xe.std(0), 1.0)          # a constant column stays 0
    np.testing.assert_allclose(loss.inputs, (Xe - Xe.mean(0)) / sd, rtol=1e-14, atol=1e-15)
    raw = jd.ethanol_regression(tmp_path / "batch2.dat", scaling="raw", num_features=4)
    np.testing.assert_array_equal(np.asarray(raw.targets).ravel(), [10.0, 20.0])


def test_libsvm_loader_errors(tmp_path):
    bad = _write(tmp_path, "b.dat", ["1;10 1:1", "oops"])
    with pytest.raises(ValueError, match=r"path: .*b.dat:2"):
        jd.read_gas_sensor_libsvm(bad, num_features=2)
    out = _write(tmp_path, "c.dat", ["1;10 3:1"])
    with pytest.raises(ValueError, match="outside 1..2"):
        jd.read_gas_sensor_libsvm(out, num_features=2)
    with pytest.raises(ValueError, match="path: no such file"):
        jd.read_gas_sensor_libsvm(tmp_path / "missing.dat")
    with pytest.raises(ValueError, match="no batch"):
        jd.read_gas_sensor_libsvm(_empty(tmp_path))
    with pytest.raises(ValueError, match="gas"):
        jd.ethanol_regression(_write(tmp_path, "d.dat", ["2;10 1:1"]), num_features=2)


def _empty(tmp_path):
    d = tmp_path / "empty"
    d.mkdir()
    return d


def test_regression_dataset_by_name(tmp_path):
    assert jd.regression_dataset("ethanol_like", 4, num_examples=100).inputs.shape == (100, 128)
    assert jd.regression_dataset("synthetic", 2, num_examples=50).inputs.shape == (50, 32)
    f = _write(tmp_path, "batch1.dat", ["1;10 1:1 2:3", "1;20 1:2 2:1", "1;40 1:0 2:2"])
    real = jd.regression_dataset("ethanol", 4, path=str(f))   # 128 columns, unused ones zero
    assert real.inputs.shape == (3, 128) and real.p == 4.0
    with pytest.raises(ValueError, match="path"):
        jd.regression_dataset("ethanol", 4)
    with pytest.raises(ValueError, match="path"):
        jd.regression_dataset("synthetic", 4, path=str(f))
    with pytest.raises(ValueError, match="name"):
        jd.regression_dataset("mnist")
