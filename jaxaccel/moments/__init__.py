"""The SE moment engine (theory §3): direct simulation of the second moments.

``engine`` (Algorithm A on a ``lax.scan``; the internal interface of this package),
``simulate``, ``native`` (single-pass C++/CUDA kernels, sources in ``csrc/``), ``grid``
(configuration grids under a memory budget), ``sharded`` (several devices), ``long`` (chunked
runs with checkpoints), ``convergence`` (quadrature error of continuum spectra).
"""

from jaxaccel.moments.engine import MomentState as MomentState
from jaxaccel.moments.engine import SimulationResult as SimulationResult
from jaxaccel.moments.engine import initial_state as initial_state
from jaxaccel.moments.engine import pairwise_sum as pairwise_sum
from jaxaccel.moments.simulate import simulate as simulate
from jaxaccel.moments import native as native
from jaxaccel.moments.sharded import make_mesh as make_mesh
from jaxaccel.moments.sharded import simulate_sharded as simulate_sharded
from jaxaccel.moments.grid import GridResult as GridResult
from jaxaccel.moments.grid import chunk_size as chunk_size
from jaxaccel.moments.grid import simulate_grid as simulate_grid
from jaxaccel.moments.grid import validate_grid as validate_grid
from jaxaccel.moments.long import run_long as run_long
from jaxaccel.moments.convergence import continuum_error_estimate as continuum_error_estimate
# --- issue 21: exact finite-dataset dynamics (theory §18.1)
from jaxaccel.moments.dataset import DatasetCoordinates as DatasetCoordinates
from jaxaccel.moments.dataset import dataset_coordinates as dataset_coordinates
from jaxaccel.moments.dataset import simulate_dataset as simulate_dataset
