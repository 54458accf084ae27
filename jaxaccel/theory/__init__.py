"""What the theory predicts (theory §5-§8): stability, maps, memory-1 closed forms, asymptotics,
monitors along schedules.

``stability`` (strict and noisy stability, spectral radii), ``maps`` (parameter grids),
``memory1`` (Theorems 6 and 7), ``asymptotics`` (phases, THE loss prediction, phase diagram),
``monitors`` (running noise sum, adiabatic loss, applied learning rate).
"""

from jaxaccel.theory.stability import NoisyStability as NoisyStability
from jaxaccel.theory.stability import StrictStability as StrictStability
from jaxaccel.theory.stability import noisy_stability as noisy_stability
from jaxaccel.theory.stability import propagator_radius as propagator_radius
from jaxaccel.theory.stability import spectral_radius as spectral_radius
from jaxaccel.theory.stability import strict_stability as strict_stability
from jaxaccel.theory.maps import BestPoint as BestPoint
from jaxaccel.theory.maps import StabilityMap as StabilityMap
from jaxaccel.theory.maps import best_grid_point as best_grid_point
from jaxaccel.theory.maps import stability_map as stability_map
from jaxaccel.theory.memory1 import CriticalScales as CriticalScales
from jaxaccel.theory.memory1 import Memory1Circle as Memory1Circle
from jaxaccel.theory.memory1 import Memory1Conditions as Memory1Conditions
from jaxaccel.theory.memory1 import RegionAnalysis as RegionAnalysis
from jaxaccel.theory.memory1 import Theorem7Path as Theorem7Path
from jaxaccel.theory.memory1 import memory1_circle as memory1_circle
from jaxaccel.theory.memory1 import memory1_conditions as memory1_conditions
from jaxaccel.theory.memory1 import memory1_critical_scales as memory1_critical_scales
from jaxaccel.theory.memory1 import memory1_eigenvalues as memory1_eigenvalues
from jaxaccel.theory.memory1 import region_analysis as region_analysis
from jaxaccel.theory.memory1 import theorem7_default_paths as theorem7_default_paths
from jaxaccel.theory.memory1 import theorem7_paths as theorem7_paths
from jaxaccel.theory.asymptotics import BOUNDARY_RTOL as BOUNDARY_RTOL
from jaxaccel.theory.asymptotics import PHASES as PHASES
from jaxaccel.theory.asymptotics import LossAsymptotics as LossAsymptotics
from jaxaccel.theory.asymptotics import PhaseDiagram as PhaseDiagram
from jaxaccel.theory.asymptotics import PropagatorAsymptotics as PropagatorAsymptotics
from jaxaccel.theory.asymptotics import loss_constant as loss_constant
from jaxaccel.theory.asymptotics import loss_phase as loss_phase
from jaxaccel.theory.asymptotics import phase_diagram as phase_diagram
from jaxaccel.theory.asymptotics import predict_loss as predict_loss
from jaxaccel.theory.asymptotics import predicted_loss as predicted_loss
from jaxaccel.theory.asymptotics import propagator_asymptotics as propagator_asymptotics
from jaxaccel.theory.monitors import AdiabaticPrediction as AdiabaticPrediction
from jaxaccel.theory.monitors import RunningNoiseSum as RunningNoiseSum
from jaxaccel.theory.monitors import adiabatic_loss as adiabatic_loss
from jaxaccel.theory.monitors import applied_learning_rate as applied_learning_rate
from jaxaccel.theory.monitors import running_noise_sum as running_noise_sum
# compute-optimal scaling of random features (theory §17)
from jaxaccel.theory.scaling import ExponentFit as ExponentFit
from jaxaccel.theory.scaling import FrontierResult as FrontierResult
from jaxaccel.theory.scaling import PLRFExponents as PLRFExponents
from jaxaccel.theory.scaling import compute_frontier as compute_frontier
from jaxaccel.theory.scaling import fit_exponent as fit_exponent
from jaxaccel.theory.scaling import plrf_compute_optimal as plrf_compute_optimal
# --- schedule search under a budget (theory §15, issue 20)
from jaxaccel.theory.schedule_search import ScheduleSearch as ScheduleSearch
from jaxaccel.theory.schedule_search import schedule_knots as schedule_knots
from jaxaccel.theory.schedule_search import schedule_from_knots as schedule_from_knots
from jaxaccel.theory.schedule_search import schedule_objective as schedule_objective
from jaxaccel.theory.schedule_search import optimize_schedule as optimize_schedule
from jaxaccel.theory.schedule_search import am1_knots as am1_knots
from jaxaccel.theory.schedule_search import FAMILIES as SCHEDULE_FAMILIES
from jaxaccel.theory.memory_design import MemoryDesign as MemoryDesign
from jaxaccel.theory.memory_design import max_effective_learning_rate as max_effective_learning_rate
from jaxaccel.theory.memory_design import memory2_search as memory2_search
# --- end schedule search
