"""Memory-M algorithms (theory §2, §6.1, §7, §8): definitions only, no dynamics.

``base`` (:class:`MemoryAlgorithm`), ``presets`` (GD, Heavy Ball, Nesterov, ...),
``polynomials`` (``P``, ``Q``, multistep form, ``alpha_eff``), ``memory1`` (triplet and PyTorch
parametrisations), ``schedules`` (AM1, Jacobi Heavy Ball), ``optim`` (optax transforms, used as
``jaxaccel.optim.*`` because they share names with the constructors).
"""

from jaxaccel.algorithms.base import MemoryAlgorithm as MemoryAlgorithm
from jaxaccel.algorithms.presets import am1_form as am1_form
from jaxaccel.algorithms.presets import gd as gd
from jaxaccel.algorithms.presets import heavy_ball as heavy_ball
from jaxaccel.algorithms.presets import memory1 as memory1
from jaxaccel.algorithms.presets import memory1_triplet as memory1_triplet
from jaxaccel.algorithms.presets import nesterov as nesterov
from jaxaccel.algorithms.presets import torch_momentum as torch_momentum
from jaxaccel.algorithms.polynomials import characteristic_polynomials as characteristic_polynomials
from jaxaccel.algorithms.polynomials import effective_learning_rate as effective_learning_rate
from jaxaccel.algorithms.polynomials import from_multistep as from_multistep
from jaxaccel.algorithms.memory1_forms import Memory1Triplet as Memory1Triplet
from jaxaccel.algorithms.memory1_forms import TorchForm as TorchForm
from jaxaccel.algorithms.memory1_forms import torch_from_triplet as torch_from_triplet
from jaxaccel.algorithms.memory1_forms import triplet as triplet
from jaxaccel.algorithms.memory1_forms import triplet_from_algorithm as triplet_from_algorithm
from jaxaccel.algorithms.memory1_forms import triplet_from_effective as triplet_from_effective
from jaxaccel.algorithms.memory1_forms import triplet_from_torch as triplet_from_torch
from jaxaccel.algorithms.schedules import AM1ExponentWarning as AM1ExponentWarning
from jaxaccel.algorithms.schedules import AM1Schedule as AM1Schedule
from jaxaccel.algorithms.schedules import JacobiSchedule as JacobiSchedule
from jaxaccel.algorithms.schedules import am1 as am1
from jaxaccel.algorithms.schedules import am1_schedule as am1_schedule
from jaxaccel.algorithms.schedules import am1_theta_max as am1_theta_max
from jaxaccel.algorithms.schedules import check_am1_exponents as check_am1_exponents
from jaxaccel.algorithms.schedules import jacobi_heavy_ball as jacobi_heavy_ball
from jaxaccel.algorithms.schedules import jacobi_schedule as jacobi_schedule
# --- rivals of the literature (theory §14, issue 20)
from jaxaccel.algorithms.rivals import dana as dana
from jaxaccel.algorithms.rivals import dana_constant as dana_constant
from jaxaccel.algorithms.rivals import dana_decay as dana_decay
from jaxaccel.algorithms.rivals import accsgd as accsgd
from jaxaccel.algorithms.rivals import accsgd_torch as accsgd_torch
from jaxaccel.algorithms.rivals import varre_flammarion as varre_flammarion
from jaxaccel.algorithms.rivals import flammarion_bach as flammarion_bach
from jaxaccel.algorithms.rivals import schedule_free_sgd as schedule_free_sgd
from jaxaccel.algorithms.rivals import SCHEDULE_FREE_IS_MEMORY_M as SCHEDULE_FREE_IS_MEMORY_M
from jaxaccel.algorithms.polynomials import companion_realisation as companion_realisation
from jaxaccel.algorithms.polynomials import memory2 as memory2
# --- end rivals
from jaxaccel.algorithms import optim as optim
