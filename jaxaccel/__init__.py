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
from jaxaccel.propagators import Propagators as Propagators
from jaxaccel.propagators import RenewalResult as RenewalResult
from jaxaccel.propagators import heavy_ball_sums as heavy_ball_sums
from jaxaccel.propagators import loss_curve as loss_curve
from jaxaccel.propagators import memory1_sums as memory1_sums
from jaxaccel.propagators import propagator_sums as propagator_sums
from jaxaccel.propagators import propagators_at as propagators_at
from jaxaccel.propagators import renewal as renewal
from jaxaccel.propagators import renewal_nonstationary as renewal_nonstationary
from jaxaccel.propagators import transition_operator as transition_operator

from jaxaccel.asymptotics import LossAsymptotics as LossAsymptotics
from jaxaccel.asymptotics import PowerLawFit as PowerLawFit
from jaxaccel.asymptotics import PropagatorAsymptotics as PropagatorAsymptotics
from jaxaccel.asymptotics import fit_power_law as fit_power_law
from jaxaccel.asymptotics import loss_phase as loss_phase
from jaxaccel.asymptotics import predict_loss as predict_loss
from jaxaccel.asymptotics import propagator_asymptotics as propagator_asymptotics

from jaxaccel.memory1_theory import CriticalScales as CriticalScales
from jaxaccel.memory1_theory import Memory1Circle as Memory1Circle
from jaxaccel.memory1_theory import Memory1Conditions as Memory1Conditions
from jaxaccel.memory1_theory import Memory1Triplet as Memory1Triplet
from jaxaccel.memory1_theory import TorchForm as TorchForm
from jaxaccel.memory1_theory import memory1_circle as memory1_circle
from jaxaccel.memory1_theory import memory1_conditions as memory1_conditions
from jaxaccel.memory1_theory import memory1_critical_scales as memory1_critical_scales
from jaxaccel.memory1_theory import memory1_eigenvalues as memory1_eigenvalues
from jaxaccel.memory1_theory import torch_from_triplet as torch_from_triplet
from jaxaccel.memory1_theory import triplet as triplet
from jaxaccel.memory1_theory import triplet_from_algorithm as triplet_from_algorithm
from jaxaccel.memory1_theory import triplet_from_effective as triplet_from_effective
from jaxaccel.memory1_theory import triplet_from_torch as triplet_from_torch

from jaxaccel.stability import PHASES as PHASES
from jaxaccel.stability import LossPrediction as LossPrediction
from jaxaccel.stability import NoisyStability as NoisyStability
from jaxaccel.stability import RegionAnalysis as RegionAnalysis
from jaxaccel.stability import Theorem7Path as Theorem7Path
from jaxaccel.stability import propagator_radius as propagator_radius
from jaxaccel.stability import theorem7_default_paths as theorem7_default_paths
from jaxaccel.stability import PhaseDiagram as PhaseDiagram
from jaxaccel.stability import StabilityMap as StabilityMap
from jaxaccel.stability import StrictStability as StrictStability
from jaxaccel.stability import noisy_stability as noisy_stability
from jaxaccel.stability import phase_diagram as phase_diagram
from jaxaccel.stability import predicted_loss as predicted_loss
from jaxaccel.stability import region_analysis as region_analysis
from jaxaccel.stability import spectral_radius as spectral_radius
from jaxaccel.stability import stability_map as stability_map
from jaxaccel.stability import strict_stability as strict_stability
from jaxaccel.stability import theorem7_paths as theorem7_paths

from jaxaccel.schedules import AM1ExponentWarning as AM1ExponentWarning
from jaxaccel.schedules import AdiabaticPrediction as AdiabaticPrediction
from jaxaccel.schedules import RunningNoiseSum as RunningNoiseSum
from jaxaccel.schedules import am1_schedule as am1_schedule
from jaxaccel.schedules import applied_learning_rate as applied_learning_rate
from jaxaccel.schedules import jacobi_schedule as jacobi_schedule
from jaxaccel.schedules import adiabatic_loss as adiabatic_loss
from jaxaccel.schedules import am1 as am1
from jaxaccel.schedules import am1_theta_max as am1_theta_max
from jaxaccel.schedules import check_am1_exponents as check_am1_exponents
from jaxaccel.schedules import jacobi_heavy_ball as jacobi_heavy_ball
from jaxaccel.schedules import running_noise_sum as running_noise_sum

from jaxaccel import io as io

from jaxaccel.parallel import make_mesh as make_mesh
from jaxaccel.parallel import simulate_sharded as simulate_sharded
from jaxaccel.runner import run_long as run_long
from jaxaccel.continuum import continuum_error_estimate as continuum_error_estimate
from jaxaccel.continuum import power_law_continuum as power_law_continuum
from jaxaccel.grid import GridResult as GridResult
from jaxaccel.grid import simulate_grid as simulate_grid

from jaxaccel.montecarlo import MonteCarloResult as MonteCarloResult
from jaxaccel.montecarlo import fourier_data as fourier_data
from jaxaccel.montecarlo import finite_data as finite_data
from jaxaccel.montecarlo import gaussian_data as gaussian_data
from jaxaccel.montecarlo import gaussian_sgd as gaussian_sgd
from jaxaccel.montecarlo import monte_carlo_sgd as monte_carlo_sgd
from jaxaccel.montecarlo import predict_se as predict_se

from jaxaccel.montecarlo import batch_factor as batch_factor
from jaxaccel.montecarlo import kernel_regression_data as kernel_regression_data
from jaxaccel.data import fit_spectrum_exponents as fit_spectrum_exponents
from jaxaccel.data import load_digits as load_digits
from jaxaccel.data import relu_ntk as relu_ntk
from jaxaccel import data as data
from jaxaccel import montecarlo as montecarlo

# optax transforms share names with the algorithm constructors: use them as ``jaxaccel.optim.*``
from jaxaccel import optim as optim

# ``propagators`` names the module (``ja.propagators.propagators`` is the stepping function)
from jaxaccel import propagators as propagators  # noqa: E402

__version__ = "0.1.0"
