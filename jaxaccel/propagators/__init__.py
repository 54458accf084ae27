"""Signal and noise propagators and the loss expansion (theory §4, §5.3).

``operator`` (the map (16), shared machinery), ``sums`` (``U_Sigma``, ``V_Sigma``),
``sequences`` (``U_n``, ``V_n`` by stepping or at any time), ``renewal`` (Volterra solvers, the
loss curve, the non-stationary case).
"""

import warnings as _warnings

from jaxaccel.propagators.operator import transition_operator as transition_operator
from jaxaccel.propagators.sums import PropagatorSums as PropagatorSums
from jaxaccel.propagators.sums import heavy_ball_sums as heavy_ball_sums
from jaxaccel.propagators.sums import memory1_sums as memory1_sums
from jaxaccel.propagators.sums import propagator_sums as propagator_sums
from jaxaccel.propagators.sequences import Propagators as Propagators
from jaxaccel.propagators.sequences import propagator_sequences as propagator_sequences
from jaxaccel.propagators.sequences import propagators_at as propagators_at
from jaxaccel.propagators.renewal import RenewalResult as RenewalResult
from jaxaccel.propagators.renewal import loss_curve as loss_curve
from jaxaccel.propagators.renewal import renewal as renewal
from jaxaccel.propagators.renewal import renewal_nonstationary as renewal_nonstationary


def __getattr__(name):
    # ``propagators.propagators`` (the stepping function) shared its name with this package
    if name == "propagators":
        _warnings.warn("jaxaccel.propagators.propagators is deprecated: use "
                       "jaxaccel.propagator_sequences", DeprecationWarning, stacklevel=2)
        return propagator_sequences
    raise AttributeError(f"module 'jaxaccel.propagators' has no attribute {name!r}")
