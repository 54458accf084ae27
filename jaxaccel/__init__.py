"""jaxaccel: a JAX simulation engine for the theory of accelerated first-order optimization.

The package mirrors the mathematics (``docs/theory/``): ``spectra`` (the problem),
``algorithms`` (memory-M methods, schedules, optax transforms), ``moments`` (the SE moment
engine: ``simulate``, native kernels, grids, sharding, long runs), ``propagators`` (signal and
noise propagators, the renewal form), ``theory`` (stability, maps, memory-1 closed forms,
asymptotics, monitors), ``reference`` (Monte-Carlo SGD, data models), ``depth`` and
``stacking`` (the two other papers); ``noise`` (the SE noise model) and ``record`` (what a run
records) are shared by all. Every public name is re-exported here.
Importing jaxaccel switches JAX to float64 (see ``jaxaccel._config``).
"""

from jaxaccel import _config  # noqa: F401  (float64 by default)

from jaxaccel.noise import NoiseModel as NoiseModel
from jaxaccel.record import log_steps as log_steps
from jaxaccel.record import record_steps as record_steps
from jaxaccel.fitting import PowerLawFit as PowerLawFit
from jaxaccel.fitting import fit_power_law as fit_power_law

from jaxaccel.spectra import PowerLaw as PowerLaw
from jaxaccel.spectra import Spectrum as Spectrum
from jaxaccel.spectra import SpectrumExponents as SpectrumExponents
from jaxaccel.spectra import fit_spectrum_exponents as fit_spectrum_exponents
from jaxaccel.spectra import power_law_continuum as power_law_continuum
from jaxaccel.spectra import power_law_spectrum as power_law_spectrum
from jaxaccel.spectra import relu_ntk as relu_ntk
from jaxaccel.spectra import KernelSpectrum as KernelSpectrum  # issue 21
from jaxaccel.spectra import blocked_kernel_spectrum as blocked_kernel_spectrum  # issue 21

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
from jaxaccel.algorithms import Memory1Triplet as Memory1Triplet
from jaxaccel.algorithms import TorchForm as TorchForm
from jaxaccel.algorithms import torch_from_triplet as torch_from_triplet
from jaxaccel.algorithms import triplet as triplet
from jaxaccel.algorithms import triplet_from_algorithm as triplet_from_algorithm
from jaxaccel.algorithms import triplet_from_effective as triplet_from_effective
from jaxaccel.algorithms import triplet_from_torch as triplet_from_torch
from jaxaccel.algorithms import AM1ExponentWarning as AM1ExponentWarning
from jaxaccel.algorithms import am1 as am1
from jaxaccel.algorithms import am1_schedule as am1_schedule
from jaxaccel.algorithms import am1_theta_max as am1_theta_max
from jaxaccel.algorithms import check_am1_exponents as check_am1_exponents
from jaxaccel.algorithms import jacobi_heavy_ball as jacobi_heavy_ball
from jaxaccel.algorithms import jacobi_schedule as jacobi_schedule

# optax transforms share names with the algorithm constructors: use them as ``jaxaccel.optim.*``
# --- rivals of the literature (theory §14, issue 20)
from jaxaccel.algorithms import dana as dana
from jaxaccel.algorithms import dana_constant as dana_constant
from jaxaccel.algorithms import dana_decay as dana_decay
from jaxaccel.algorithms import accsgd as accsgd
from jaxaccel.algorithms import accsgd_torch as accsgd_torch
from jaxaccel.algorithms import varre_flammarion as varre_flammarion
from jaxaccel.algorithms import flammarion_bach as flammarion_bach
from jaxaccel.algorithms import schedule_free_sgd as schedule_free_sgd
from jaxaccel.algorithms import SCHEDULE_FREE_IS_MEMORY_M as SCHEDULE_FREE_IS_MEMORY_M
from jaxaccel.algorithms import companion_realisation as companion_realisation
from jaxaccel.algorithms import memory2 as memory2
# --- end rivals
from jaxaccel.algorithms import optim as optim

from jaxaccel.moments import MomentState as MomentState
from jaxaccel.moments import SimulationResult as SimulationResult
from jaxaccel.moments import initial_state as initial_state
from jaxaccel.moments import simulate as simulate
from jaxaccel.moments import simulate_dataset as simulate_dataset  # issue 21
from jaxaccel.moments import dataset_coordinates as dataset_coordinates  # issue 21
from jaxaccel.moments import DatasetCoordinates as DatasetCoordinates  # issue 21
from jaxaccel.moments import GridResult as GridResult
from jaxaccel.moments import simulate_grid as simulate_grid
from jaxaccel.moments import make_mesh as make_mesh
from jaxaccel.moments import simulate_sharded as simulate_sharded
from jaxaccel.moments import run_long as run_long
from jaxaccel.moments import continuum_error_estimate as continuum_error_estimate

from jaxaccel.moments import native as native

# ``propagators`` names the subpackage (the stepping function is ``propagator_sequences``)
from jaxaccel import propagators as propagators
from jaxaccel.propagators import PropagatorSums as PropagatorSums
from jaxaccel.propagators import Propagators as Propagators
from jaxaccel.propagators import RenewalResult as RenewalResult
from jaxaccel.propagators import heavy_ball_sums as heavy_ball_sums
from jaxaccel.propagators import loss_curve as loss_curve
from jaxaccel.propagators import memory1_sums as memory1_sums
from jaxaccel.propagators import propagator_sequences as propagator_sequences
from jaxaccel.propagators import propagator_sums as propagator_sums
from jaxaccel.propagators import propagators_at as propagators_at
from jaxaccel.propagators import renewal as renewal
from jaxaccel.propagators import renewal_nonstationary as renewal_nonstationary
from jaxaccel.propagators import transition_operator as transition_operator

from jaxaccel.theory import PHASES as PHASES
from jaxaccel.theory import BestPoint as BestPoint
from jaxaccel.theory import best_grid_point as best_grid_point
from jaxaccel.theory import LossAsymptotics as LossAsymptotics
from jaxaccel.theory import NoisyStability as NoisyStability
from jaxaccel.theory import PhaseDiagram as PhaseDiagram
from jaxaccel.theory import PropagatorAsymptotics as PropagatorAsymptotics
from jaxaccel.theory import RegionAnalysis as RegionAnalysis
from jaxaccel.theory import StabilityMap as StabilityMap
from jaxaccel.theory import StrictStability as StrictStability
from jaxaccel.theory import Theorem7Path as Theorem7Path
from jaxaccel.theory import CriticalScales as CriticalScales
from jaxaccel.theory import Memory1Circle as Memory1Circle
from jaxaccel.theory import Memory1Conditions as Memory1Conditions
from jaxaccel.theory import AdiabaticPrediction as AdiabaticPrediction
from jaxaccel.theory import RunningNoiseSum as RunningNoiseSum
from jaxaccel.theory import adiabatic_loss as adiabatic_loss
from jaxaccel.theory import applied_learning_rate as applied_learning_rate
from jaxaccel.theory import loss_phase as loss_phase
from jaxaccel.theory import memory1_circle as memory1_circle
from jaxaccel.theory import memory1_conditions as memory1_conditions
from jaxaccel.theory import memory1_critical_scales as memory1_critical_scales
from jaxaccel.theory import memory1_eigenvalues as memory1_eigenvalues
from jaxaccel.theory import noisy_stability as noisy_stability
from jaxaccel.theory import phase_diagram as phase_diagram
from jaxaccel.theory import predict_loss as predict_loss
from jaxaccel.theory import predicted_loss as predicted_loss
from jaxaccel.theory import propagator_asymptotics as propagator_asymptotics
from jaxaccel.theory import propagator_radius as propagator_radius
from jaxaccel.theory import region_analysis as region_analysis
from jaxaccel.theory import running_noise_sum as running_noise_sum
# --- schedule search under a budget (theory §15, issue 20)
from jaxaccel.theory import ScheduleSearch as ScheduleSearch
from jaxaccel.theory import schedule_knots as schedule_knots
from jaxaccel.theory import schedule_from_knots as schedule_from_knots
from jaxaccel.theory import schedule_objective as schedule_objective
from jaxaccel.theory import optimize_schedule as optimize_schedule
from jaxaccel.theory import am1_knots as am1_knots
from jaxaccel.theory import SCHEDULE_FAMILIES as SCHEDULE_FAMILIES
from jaxaccel.theory import MemoryDesign as MemoryDesign
from jaxaccel.theory import max_effective_learning_rate as max_effective_learning_rate
from jaxaccel.theory import memory2_search as memory2_search
# --- end schedule search
from jaxaccel.theory import spectral_radius as spectral_radius
from jaxaccel.theory import stability_map as stability_map
from jaxaccel.theory import strict_stability as strict_stability
from jaxaccel.theory import theorem7_default_paths as theorem7_default_paths
from jaxaccel.theory import theorem7_paths as theorem7_paths

from jaxaccel.reference import MonteCarloResult as MonteCarloResult
from jaxaccel.reference import batch_factor as batch_factor
from jaxaccel.reference import finite_data as finite_data
from jaxaccel.reference import fourier_data as fourier_data
from jaxaccel.reference import gaussian_data as gaussian_data
from jaxaccel.reference import gaussian_sgd as gaussian_sgd
from jaxaccel.reference import kernel_regression_data as kernel_regression_data
from jaxaccel.reference import load_digits as load_digits
from jaxaccel.reference import monte_carlo_sgd as monte_carlo_sgd
from jaxaccel.reference import ntk_mlp_apply as ntk_mlp_apply
from jaxaccel.reference import ntk_mlp_init as ntk_mlp_init
from jaxaccel.reference import predict_se as predict_se
from jaxaccel.reference import SEBounds as SEBounds  # issue 21
from jaxaccel.reference import SEError as SEError  # issue 21
from jaxaccel.reference import se_bounds as se_bounds  # issue 21
from jaxaccel.reference import se_error as se_error  # issue 21
from jaxaccel.reference import empirical_ntk as empirical_ntk  # issue 21

# scaling laws: label noise, power-law random features, compute-optimal frontiers (theory §17)
from jaxaccel.spectra import RandomFeatures as RandomFeatures
from jaxaccel.spectra import power_law_features as power_law_features
from jaxaccel.spectra import power_law_features_equivalent as power_law_features_equivalent
from jaxaccel.theory import ExponentFit as ExponentFit
from jaxaccel.theory import FrontierResult as FrontierResult
from jaxaccel.theory import PLRFExponents as PLRFExponents
from jaxaccel.theory import compute_frontier as compute_frontier
from jaxaccel.theory import fit_exponent as fit_exponent
from jaxaccel.theory import plrf_compute_optimal as plrf_compute_optimal
from jaxaccel.reference import random_features_sgd as random_features_sgd

from jaxaccel import io as io
from jaxaccel import reference as reference

from jaxaccel import _legacy

_MOVED_MODULES = _legacy.install()
_DEPRECATED_NAMES = {"LossPrediction": ("LossAsymptotics", "predict_loss returns LossAsymptotics")}


def __getattr__(name):
    # old module paths of the flat layout (``ja.stability``, ``ja.montecarlo``, ...) and
    # deprecated names; each access warns
    if name in _MOVED_MODULES:
        return _MOVED_MODULES[name]
    if name in _DEPRECATED_NAMES:
        import warnings

        new, why = _DEPRECATED_NAMES[name]
        warnings.warn(f"jaxaccel.{name} is deprecated: use jaxaccel.{new} ({why})",
                      DeprecationWarning, stacklevel=2)
        return globals()[new]
    raise AttributeError(f"module 'jaxaccel' has no attribute {name!r}")


__version__ = "0.1.0"
