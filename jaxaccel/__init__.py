"""jaxaccel: a JAX simulation engine for the theory of accelerated first-order optimization.

Every public name lives in a focused module named after its concept and is re-exported here.
Importing jaxaccel switches JAX to float64 (see ``jaxaccel._config``).
"""

from jaxaccel import _config  # noqa: F401  (float64 by default)

from jaxaccel.spectra import PowerLaw as PowerLaw
from jaxaccel.spectra import Spectrum as Spectrum
from jaxaccel.spectra import power_law_spectrum as power_law_spectrum

from jaxaccel.algorithms import MemoryAlgorithm as MemoryAlgorithm
from jaxaccel.algorithms import am1_form as am1_form
from jaxaccel.algorithms import characteristic_polynomials as characteristic_polynomials
from jaxaccel.algorithms import effective_learning_rate as effective_learning_rate
from jaxaccel.algorithms import from_multistep as from_multistep
from jaxaccel.algorithms import gd as gd
from jaxaccel.algorithms import heavy_ball as heavy_ball
from jaxaccel.algorithms import memory1 as memory1
from jaxaccel.algorithms import memory1_triplet as memory1_triplet
from jaxaccel.algorithms import nesterov as nesterov
from jaxaccel.algorithms import torch_momentum as torch_momentum

from jaxaccel.moments import MomentState as MomentState
from jaxaccel.moments import SimulationResult as SimulationResult
from jaxaccel.moments import initial_state as initial_state
from jaxaccel.moments import log_steps as log_steps
from jaxaccel.moments import simulate as simulate

from jaxaccel.propagators import PropagatorSums as PropagatorSums
from jaxaccel.propagators import heavy_ball_sums as heavy_ball_sums
from jaxaccel.propagators import memory1_sums as memory1_sums
from jaxaccel.propagators import propagator_sums as propagator_sums

from jaxaccel.asymptotics import PowerLawFit as PowerLawFit
from jaxaccel.asymptotics import fit_power_law as fit_power_law

from jaxaccel import io as io

from jaxaccel.parallel import make_mesh as make_mesh
from jaxaccel.parallel import simulate_sharded as simulate_sharded
from jaxaccel.runner import run_long as run_long
from jaxaccel.continuum import continuum_error_estimate as continuum_error_estimate
from jaxaccel.continuum import power_law_continuum as power_law_continuum
from jaxaccel.grid import GridResult as GridResult
from jaxaccel.grid import simulate_grid as simulate_grid

from jaxaccel.montecarlo import MonteCarloResult as MonteCarloResult
from jaxaccel.montecarlo import gaussian_sgd as gaussian_sgd

__version__ = "0.1.0"
