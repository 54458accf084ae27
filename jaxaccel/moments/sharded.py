"""Multi-device simulation: the eigenvalue axis sharded across devices.

Each device evolves the second-moment blocks of its slice of the spectrum; the only coupling,
the global scalar ``G_t = sum_k lambda_k g_k`` (and the loss), is a per-device pairwise sum
followed by one ``psum`` across the mesh per step (theory §3.3). The kernel is the one used by
:func:`jaxaccel.simulate`, so results agree with a single-device run to rounding (~1e-15).

Multi-GPU: ``simulate_sharded(..., mesh=make_mesh())`` uses every visible device.
Multi-host (GPU clusters, TPU pods): call ``jax.distributed.initialize()`` on every process
first; ``jax.devices()`` then lists the devices of all hosts and the same call shards over all
of them. On CPU, ``XLA_FLAGS=--xla_force_host_platform_device_count=4`` (set before JAX is
imported) gives four host devices for testing.
"""

from __future__ import annotations

import functools
from typing import Any, Callable, Optional, Sequence, Tuple, Union

import numpy as np
import jax
from jax.sharding import Mesh, PartitionSpec as P
from jax.typing import DTypeLike

from jaxaccel._typing import Scalar
from jaxaccel.algorithms.base import MemoryAlgorithm
from jaxaccel.moments.engine import (MomentState, SimulationResult, make_result, prepare,
                                     run_scan)
from jaxaccel.noise import NoiseModel
from jaxaccel.record import RecordSpec
from jaxaccel.spectra.spectrum import Spectrum


def shard_map(f: Callable[..., Any], mesh: Mesh, in_specs: Any, out_specs: Any,
              check: bool = True) -> Callable[..., Any]:
    """``shard_map`` across JAX versions (``jax.shard_map`` or the experimental module).

    ``in_specs`` / ``out_specs`` are :class:`jax.sharding.PartitionSpec` pytrees matching the
    arguments and results of ``f``. ``check=False`` turns off the replication / varying-axis
    type check (named ``check_vma`` or ``check_rep`` depending on the version), needed when
    scans carry per-device state that the checker cannot prove device-varying. This is how the
    global sum ``G_t`` of Algorithm A is reduced across devices (theory §3.3).

    Example:
        >>> import jax, jax.numpy as jnp
        >>> from jax.sharding import PartitionSpec as P
        >>> mesh = make_mesh(jax.devices()[:1])
        >>> total = shard_map(lambda x: jax.lax.psum(x.sum(), "eig"), mesh, (P("eig"),), P())
        >>> float(total(jnp.arange(4.0)))
        6.0
    """
    import inspect

    try:
        from jax import shard_map as sm  # jax >= 0.6
    except ImportError:  # pragma: no cover - older JAX
        from jax.experimental.shard_map import shard_map as sm
    kw = {}
    if not check:
        names = inspect.signature(sm).parameters
        kw = {"check_vma": False} if "check_vma" in names else {"check_rep": False}
    return sm(f, mesh=mesh, in_specs=in_specs, out_specs=out_specs, **kw)


def make_mesh(devices: Optional[Sequence[jax.Device]] = None, axis: str = "eig") -> Mesh:
    """A 1-D :class:`jax.sharding.Mesh` over ``devices`` (default: all devices).

    Example:
        >>> import jax
        >>> mesh = make_mesh(jax.devices()[:1])
        >>> mesh.axis_names, mesh.devices.size
        (('eig',), 1)
    """
    devices = jax.devices() if devices is None else list(devices)
    if len(devices) == 0:
        raise ValueError("devices must not be empty")
    return Mesh(np.asarray(devices), (axis,))


def simulate_sharded(
    spectrum: Spectrum,
    algorithm: MemoryAlgorithm,
    steps: int,
    batch_size: Union[None, Scalar, NoiseModel] = None,
    tau: Optional[Tuple[Scalar, Scalar]] = None,
    record: RecordSpec = "all",
    *,
    mesh: Optional[Mesh] = None,
    axis: str = "eig",
    dtype: Optional[DTypeLike] = None,
    divergence_threshold: float = 1e10,
    initial: Optional[MomentState] = None,
    return_state: bool = False,
    dense: Optional[bool] = None,
    unroll: int = 4,
) -> SimulationResult:
    """:func:`jaxaccel.simulate` with the eigenvalue axis split over the devices of ``mesh``.

    Args: as :func:`jaxaccel.simulate`, plus
        mesh: a :class:`jax.sharding.Mesh` with an axis named ``axis`` (default: all devices).
        axis: the mesh axis the eigenvalues are split over.

    Example:
        >>> import jaxaccel as ja
        >>> s = ja.power_law_spectrum(1000, nu=1.5, zeta=0.5)
        >>> r = ja.simulate_sharded(s, ja.heavy_ball(0.3, 0.5), 20, batch_size=4, record="log")
        >>> bool(r.diverged)
        False
    """
    mesh = make_mesh(axis=axis) if mesh is None else mesh
    if axis not in mesh.shape:
        raise ValueError(f"mesh has no axis named {axis!r} (axes {tuple(mesh.shape)})")
    n = mesh.shape[axis]
    args, static, rec = prepare(
        spectrum, algorithm, steps, batch_size, tau, record, dtype, divergence_threshold,
        initial, return_state, dense, unroll, shards=n,
    )
    espec = P(axis) if static["dense"] else P(None, axis)
    in_specs = (P(axis), P(axis), P(), P(), P(), P(), espec, P(), P())
    state_spec = MomentState(P(), espec) if static["return_state"] else None
    out_specs = (P(), P(), P(), P(), state_spec)
    fn = functools.partial(run_scan, **static, axis_name=axis)
    out = jax.jit(shard_map(fn, mesh, in_specs, out_specs))(*args)
    return make_result(rec, *out)
