"""Implicit acceleration by depth: deep linear networks and the end-to-end update rule.

Theory: ``docs/theory/depth_stacking.md`` Part A (Arora, Cohen & Hazan 2018). Modules, each named after its
concept:

* :mod:`~jaxaccel.depth.losses` -- l_p regression and custom losses of ``W_e``;
* :mod:`~jaxaccel.depth.networks` -- deep linear networks, initialisations, layer gradients;
* :mod:`~jaxaccel.depth.end_to_end` -- the end-to-end rule, fractional powers, ``P_{W_e}``;
* :mod:`~jaxaccel.depth.flows` -- the continuous-time layer and end-to-end ODEs (Theorem 1);
* :mod:`~jaxaccel.depth.warmup` -- the scalar model ``w1 * omega2``;
* :mod:`~jaxaccel.depth.circulation` -- Theorem 2 (the field is not a gradient);
* :mod:`~jaxaccel.depth.training` -- jitted, vmapped training runs with divergence reporting;
* :mod:`~jaxaccel.depth.data` -- datasets (scikit-learn diabetes; synthetic; two-point);
* :mod:`~jaxaccel.depth.experiments` -- lr grids, fair lr selection, summaries.

The paper's UCI gas-sensor data are not available offline; see :mod:`~jaxaccel.depth.data`.
"""

from jaxaccel import _config  # noqa: F401  (float64 by default)

from jaxaccel.depth.losses import CustomLoss as CustomLoss
from jaxaccel.depth.losses import LpRegression as LpRegression
from jaxaccel.depth.losses import lp_minimum as lp_minimum
from jaxaccel.depth.losses import lp_regression as lp_regression

from jaxaccel.depth.networks import end_to_end_matrix as end_to_end_matrix
from jaxaccel.depth.networks import imbalance as imbalance
from jaxaccel.depth.networks import init_balanced as init_balanced
from jaxaccel.depth.networks import init_gaussian as init_gaussian
from jaxaccel.depth.networks import init_identity as init_identity
from jaxaccel.depth.networks import init_network as init_network
from jaxaccel.depth.networks import init_orthogonal as init_orthogonal
from jaxaccel.depth.networks import layer_gradients as layer_gradients
from jaxaccel.depth.networks import layer_velocity as layer_velocity
from jaxaccel.depth.networks import make_widths as make_widths
from jaxaccel.depth.networks import widths_of as widths_of

from jaxaccel.depth.end_to_end import divided_difference as divided_difference
from jaxaccel.depth.end_to_end import end_to_end_direction as end_to_end_direction
from jaxaccel.depth.end_to_end import end_to_end_direction_eigh as end_to_end_direction_eigh
from jaxaccel.depth.end_to_end import end_to_end_update as end_to_end_update
from jaxaccel.depth.end_to_end import end_to_end_velocity as end_to_end_velocity
from jaxaccel.depth.end_to_end import preconditioner_eigenvalues as preconditioner_eigenvalues
from jaxaccel.depth.end_to_end import preconditioner_eigenvectors as preconditioner_eigenvectors
from jaxaccel.depth.end_to_end import preconditioner_matrix as preconditioner_matrix
from jaxaccel.depth.end_to_end import preconditioner_operator as preconditioner_operator
from jaxaccel.depth.end_to_end import psd_power as psd_power
from jaxaccel.depth.end_to_end import single_output_direction as single_output_direction
from jaxaccel.depth.end_to_end import singular_value_velocity as singular_value_velocity

from jaxaccel.depth.flows import integrate_end_to_end_flow as integrate_end_to_end_flow
from jaxaccel.depth.flows import integrate_network_flow as integrate_network_flow

from jaxaccel.depth.warmup import WarmupCoefficients as WarmupCoefficients
from jaxaccel.depth.warmup import momentum_kernel as momentum_kernel
from jaxaccel.depth.warmup import warmup_coefficients as warmup_coefficients
from jaxaccel.depth.warmup import warmup_gradients as warmup_gradients
from jaxaccel.depth.warmup import warmup_step as warmup_step

from jaxaccel.depth.circulation import circulation_closed_form as circulation_closed_form
from jaxaccel.depth.circulation import loop_circulation as loop_circulation
from jaxaccel.depth.circulation import single_output_field as single_output_field

from jaxaccel.depth.training import Run as Run
from jaxaccel.depth.training import make_optimizer as make_optimizer
from jaxaccel.depth.training import sweep_end_to_end as sweep_end_to_end
from jaxaccel.depth.training import sweep_network as sweep_network
from jaxaccel.depth.training import train_end_to_end as train_end_to_end
from jaxaccel.depth.training import train_network as train_network

from jaxaccel.depth.data import OFFLINE_NOTE as OFFLINE_NOTE
from jaxaccel.depth.data import diabetes_regression as diabetes_regression
from jaxaccel.depth.data import gd_stability_cap as gd_stability_cap
from jaxaccel.depth.data import synthetic_regression as synthetic_regression
from jaxaccel.depth.data import two_point_problem as two_point_problem

from jaxaccel.depth.experiments import Selection as Selection
from jaxaccel.depth.experiments import hits_as_float as hits_as_float
from jaxaccel.depth.experiments import log_loss_auc as log_loss_auc
from jaxaccel.depth.experiments import lr_grid as lr_grid
from jaxaccel.depth.experiments import median_iqr as median_iqr
from jaxaccel.depth.experiments import relative_gap as relative_gap
from jaxaccel.depth.experiments import seed_keys as seed_keys
from jaxaccel.depth.experiments import select_lr as select_lr

# --- issue 22: the ethanol task (generator, UCI loader), factorised convnet (E7)
from jaxaccel.depth.ethanol import ETHANOL_SHAPE as ETHANOL_SHAPE
from jaxaccel.depth.ethanol import ethanol_like_arrays as ethanol_like_arrays
from jaxaccel.depth.ethanol import ethanol_like_regression as ethanol_like_regression
from jaxaccel.depth.ethanol import ethanol_regression as ethanol_regression
from jaxaccel.depth.ethanol import read_gas_sensor_libsvm as read_gas_sensor_libsvm
from jaxaccel.depth.ethanol import regression_dataset as regression_dataset
from jaxaccel.depth.convnet import ConvNet as ConvNet
from jaxaccel.depth.convnet import ConvNetRun as ConvNetRun
from jaxaccel.depth.convnet import Dense as Dense
from jaxaccel.depth.convnet import convnet_apply as convnet_apply
from jaxaccel.depth.convnet import convnet_loss as convnet_loss
from jaxaccel.depth.convnet import convnet_size as convnet_size
from jaxaccel.depth.convnet import dense_apply as dense_apply
from jaxaccel.depth.convnet import dense_matrix as dense_matrix
from jaxaccel.depth.convnet import digits_images as digits_images
from jaxaccel.depth.convnet import init_convnet as init_convnet
from jaxaccel.depth.convnet import init_dense as init_dense
from jaxaccel.depth.convnet import train_convnet as train_convnet
from jaxaccel.depth.experiments import Tuned as Tuned
from jaxaccel.depth.experiments import Verdict as Verdict
from jaxaccel.depth.experiments import median_verdict as median_verdict
from jaxaccel.depth.experiments import nested_lr_grids as nested_lr_grids
from jaxaccel.depth.experiments import tuned as tuned
