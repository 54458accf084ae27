"""Batched hyperparameter grids: many configurations in one compiled program.

:func:`simulate_grid` takes a *family* (a function of named parameters returning a
:class:`~jaxaccel.algorithms.MemoryAlgorithm`) and a grid of named 1-D axes. The Cartesian
product is flattened, padded and cut into chunks whose state fits into ``memory_budget``; one
jitted program runs ``lax.map`` over the chunks and ``vmap`` inside each chunk, so a grid of
any size runs without running out of memory and without recompiling per value. With a
``mesh``, the configurations of each chunk are split across devices.

The axis names ``batch_size``, ``tau1``, ``tau2`` and ``sigma2`` (label noise) are reserved: they
sweep the noise model
instead of the algorithm.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Collection, Dict, NamedTuple, Optional, Tuple, Union

import numpy as np
import jax
import jax.numpy as jnp
from jax.sharding import Mesh, PartitionSpec as P

from jaxaccel._typing import ArrayLike, Float, Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments import native as jn
from jaxaccel.moments.engine import padded, pairs
from jaxaccel.moments.sharded import shard_map
from jaxaccel.moments.simulate import simulate
from jaxaccel.noise import NoiseModel, as_noise_model
from jaxaccel.progress import MIN_SECONDS, Progress, in_parts, predicted_seconds
from jaxaccel.record import RecordSpec, record_steps
from jaxaccel.spectra.spectrum import Spectrum, check_spectrum

SIMULATION_AXES = ("batch_size", "tau1", "tau2", "sigma2")


class GridResult(NamedTuple):
    """Results on a grid: arrays of shape ``grid_shape (+ (R,))``.

    Attributes:
        axes: ordered ``{name: values}`` of the grid axes (the array axes, in order).
        steps: ``(R,)`` recorded steps.
        loss, loss_at_gradient_point: ``grid_shape + (R,)``.
        diverged, diverged_at: ``grid_shape``.
    """

    axes: Dict[str, np.ndarray]
    steps: jax.Array
    loss: jax.Array
    loss_at_gradient_point: jax.Array
    diverged: jax.Array
    diverged_at: jax.Array


def validate_grid(
    grid: Dict[str, Float[ArrayLike, "n"]], family_params: Optional[Collection[str]] = None
) -> Dict[str, Float[np.ndarray, "n"]]:
    """Check a grid (non-empty dict of non-empty finite 1-D axes with known names).

    ``family_params``, when given, are the allowed axis names (besides
    ``batch_size``, ``tau1``, ``tau2``, ``sigma2``). Returns the axes as float64 arrays; a bad grid
    raises ``ValueError``.

    Example:
        >>> {k: v.tolist() for k, v in validate_grid({"alpha": [0.1, 0.2]}).items()}
        {'alpha': [0.1, 0.2]}
    """
    if not isinstance(grid, dict) or not grid:
        raise ValueError("grid must be a non-empty dict {name: 1-D values}")
    out = {}
    for name, vals in grid.items():
        arr = np.asarray(vals, dtype=np.float64)
        if arr.ndim != 1 or arr.size == 0:
            raise ValueError(f"grid axis {name!r} must be a non-empty 1-D array, got shape {arr.shape}")
        if not np.all(np.isfinite(arr)):
            raise ValueError(f"grid axis {name!r} must be finite (got NaN or inf)")
        if family_params is not None and name not in family_params and name not in SIMULATION_AXES:
            raise ValueError(
                f"grid axis {name!r} is not a parameter of the family "
                f"(parameters {sorted(family_params)}, or {SIMULATION_AXES})"
            )
        if name == "batch_size" and np.any(arr <= 0):
            raise ValueError(f"grid axis 'batch_size' must be > 0 everywhere (min {arr.min()!r}), "
                             "as the batch_size argument")
        out[name] = arr
    return out


def chunk_size(spectrum: Spectrum, memory: int, n_configs: int, memory_budget: float,
               itemsize: Optional[int] = None) -> int:
    """Configurations per chunk so that the states (with temporaries) fit the budget in bytes.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(1000, nu=1.5, zeta=0.5)
        >>> chunk_size(s, memory=1, n_configs=10_000, memory_budget=2**20)   # 1 MiB
        8
    """
    n = padded(spectrum)[0].shape[0]
    K = memory + 1
    itemsize = itemsize or jnp.dtype(spectrum.dtype).itemsize
    per_config = (3 * len(pairs(K)) + 6) * n * itemsize  # state, update temporaries, spectrum
    return int(max(1, min(n_configs, memory_budget // per_config)))


def simulate_grid(
    spectrum: Spectrum,
    family: Callable[..., MemoryAlgorithm],
    grid: Dict[str, Float[ArrayLike, "n"]],
    steps: int,
    batch_size: Union[None, Scalar, NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "log",
    *,
    memory_budget: float = 2**30,
    mesh: Optional[Mesh] = None,
    axis: str = "cfg",
    progress: bool = False,
    **simulate_kwargs: Any,
) -> GridResult:
    """Run :func:`~jaxaccel.simulate` for every point of a parameter grid.

    Args:
        spectrum: the problem.
        family: ``family(**params) -> MemoryAlgorithm`` (e.g. ``jaxaccel.heavy_ball``).
        grid: ``{name: 1-D values}``; names are parameters of ``family`` or one of
            ``batch_size``, ``tau1``, ``tau2``.
        steps, batch_size, tau, record: as in :func:`simulate` (grid axes override them).
        memory_budget: bytes available for the simultaneous states of one chunk.
        mesh: optional mesh; each chunk's configurations are split over its axis ``axis``.
        progress: report progress on stderr (in ~10 parts of the grid) when the call is
            predicted to take more than 10 s (:mod:`jaxaccel.progress`).
        **simulate_kwargs: forwarded to :func:`simulate` (``dtype``, ``divergence_threshold``).

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(200, nu=1.5, zeta=0.5)
        >>> g = ja.simulate_grid(s, ja.heavy_ball, {"alpha": [0.1, 0.5], "beta": [0.0, 0.5, 0.9]},
        ...                      steps=50, batch_size=8)
        >>> g.loss.shape[:2]
        (2, 3)
    """
    check_spectrum(spectrum)
    if not callable(family):
        raise ValueError("family must be a callable returning a MemoryAlgorithm")
    try:
        params = set(inspect.signature(family).parameters)
    except (TypeError, ValueError):  # pragma: no cover - builtins without signatures
        params = None
    axes = validate_grid(grid, params)
    noise = as_noise_model(batch_size, tau, schedule=True)
    if not (np.isfinite(memory_budget) and memory_budget > 0):
        raise ValueError("memory_budget must be a positive number of bytes")
    names = list(axes)
    shape = tuple(v.size for v in axes.values())
    flat = [m.ravel() for m in np.meshgrid(*axes.values(), indexing="ij")]
    n_cfg = flat[0].size

    def one(values):
        kw = dict(zip(names, values))
        bs = kw.pop("batch_size", noise.batch_size)
        nm = NoiseModel(bs, kw.pop("tau1", noise.tau1), kw.pop("tau2", noise.tau2),
                        kw.pop("sigma2", noise.sigma2))
        alg = family(**kw)
        if not isinstance(alg, MemoryAlgorithm):
            raise ValueError("family must return a MemoryAlgorithm")
        r = simulate(spectrum, alg, steps, nm, None, record, **simulate_kwargs)
        return r.loss, r.loss_at_gradient_point, r.diverged, r.diverged_at

    # a concrete call validates the family and names once, and fixes the memory size
    probe = {k: v[0] for k, v in zip(names, flat) if k not in SIMULATION_AXES}
    memory = family(**probe).memory
    dtype = simulate_kwargs.get("dtype") or spectrum.dtype
    chunk = chunk_size(spectrum, memory, n_cfg, memory_budget, jnp.dtype(dtype).itemsize)
    n_dev = 1 if mesh is None else mesh.shape[axis]
    chunk = -(-chunk // n_dev) * n_dev
    n_chunks = -(-n_cfg // chunk)
    pad = n_chunks * chunk - n_cfg
    xs = [jnp.asarray(np.concatenate([f, np.repeat(f[-1:], pad)]).reshape(n_chunks, chunk), dtype)
          for f in flat]

    def run_chunks(*cols):
        return jax.lax.map(lambda c: jax.vmap(lambda *v: one(v))(*c), cols)

    if mesh is not None:

        spec = P(None, axis)
        run_chunks = shard_map(run_chunks, mesh, (spec,) * len(xs), (spec,) * 4, check=False)
    compiled = jax.jit(run_chunks)
    n_native = 1 if jn.current_platform() == "cpu" and 1 <= memory <= 4 else 0
    if progress and predicted_seconds(spectrum.size * steps * n_cfg, bool(n_native)) > MIN_SECONDS:
        loss, lossg, div, div_at = in_parts(
            compiled, xs, max(1, -(-n_chunks // 10)),  # ~10 parts of chunks
            Progress("simulate_grid (configurations)", n_cfg), lambda rows: rows * chunk)
    else:
        loss, lossg, div, div_at = compiled(*xs)
    steps_rec = jnp.asarray(record_steps(record, steps))
    unflat = lambda x: x.reshape((n_chunks * chunk,) + x.shape[2:])[:n_cfg].reshape(shape + x.shape[2:])  # noqa: E731
    return GridResult(axes, steps_rec, unflat(loss), unflat(lossg), unflat(div), unflat(div_at))
