"""Stacking as accelerated gradient descent: boosting and deep residual networks.

Theory: ``docs/theory/depth_stacking.md`` Part B (§B1–§B5) and §C6.3. Stagewise training adds one simple
function per stage; initialising it as ``beta`` times the previous stage's function ("stacking")
turns functional gradient descent into Nesterov's accelerated method.

Modules: :mod:`.problems` (quadratics, features, residual problems), :mod:`.nesterov` (``beta*``,
schedules, explicit GD / AGD references), :mod:`.boosting` (additive ensembles),
:mod:`.residual` (deep linear residual nets), :mod:`.mlp` (ReLU residual MLP on digits),
:mod:`.diagnostics` (stages to a target, contraction factors, kappa exponents).
"""

import warnings as _warnings

from jaxaccel.stacking.problems import Quadratic as Quadratic
from jaxaccel.stacking.problems import ResidualProblem as ResidualProblem
from jaxaccel.stacking.problems import geometric_spectrum as geometric_spectrum
from jaxaccel.stacking.problems import kernel_features as kernel_features
from jaxaccel.stacking.problems import quadratic_from_data as quadratic_from_data
from jaxaccel.stacking.problems import quadratic_problem as quadratic_problem
from jaxaccel.stacking.problems import random_fourier_features as random_fourier_features
from jaxaccel.stacking.problems import rbf_kernel as rbf_kernel
from jaxaccel.stacking.problems import residual_problem as residual_problem

from jaxaccel.stacking.nesterov import IterateResult as IterateResult
from jaxaccel.stacking.nesterov import gradient_descent as gradient_descent
from jaxaccel.stacking.nesterov import nesterov_agd as nesterov_agd
from jaxaccel.stacking.nesterov import nesterov_beta_schedule as nesterov_beta_schedule
from jaxaccel.stacking.nesterov import optimal_beta as optimal_beta

from jaxaccel.stacking.boosting import BoostingResult as BoostingResult
from jaxaccel.stacking.boosting import boost as boost

from jaxaccel.stacking.residual import ResidualResult as ResidualResult
from jaxaccel.stacking.residual import train_residual as train_residual

from jaxaccel.stacking.mlp import DigitsData as DigitsData
from jaxaccel.stacking.mlp import MLPInit as MLPInit
from jaxaccel.stacking.mlp import MLPParams as MLPParams
from jaxaccel.stacking.mlp import MLPResult as MLPResult
from jaxaccel.stacking.mlp import digits_split as digits_split
from jaxaccel.stacking.mlp import mlp_forward as mlp_forward
from jaxaccel.stacking.mlp import block_init as block_init
from jaxaccel.stacking.mlp import residual_stream as residual_stream
from jaxaccel.stacking.mlp import train_residual_mlp as train_residual_mlp

from jaxaccel.stacking.diagnostics import KappaFit as KappaFit
from jaxaccel.stacking.diagnostics import contraction_factor as contraction_factor
from jaxaccel.stacking.diagnostics import fit_kappa_exponent as fit_kappa_exponent
from jaxaccel.stacking.diagnostics import stages_to_reduce as stages_to_reduce


_RENAMED = {"load_digits_data": "digits_split", "mlp_init": "block_init"}


def __getattr__(name):
    # deprecated names (one name per concept: ``jaxaccel.load_digits`` loads the digits,
    # ``jaxaccel.ntk_mlp_init`` builds the NTK network)
    if name in _RENAMED:
        _warnings.warn(f"jaxaccel.stacking.{name} is deprecated: use "
                       f"jaxaccel.stacking.{_RENAMED[name]}", DeprecationWarning, stacklevel=2)
        return globals()[_RENAMED[name]]
    raise AttributeError(f"module 'jaxaccel.stacking' has no attribute {name!r}")
