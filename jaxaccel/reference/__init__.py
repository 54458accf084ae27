"""Independent references for the SE theory (theory §1, §3.1-§3.2, §9): Monte-Carlo SGD on data
models where the SE approximation is exact, and the digits data with their network.

``data`` (Gaussian, Fourier, finite data models), ``montecarlo`` (mini-batch SGD driven by optax
transforms, averaged over seeds), ``digits`` (scikit-learn digits and the NTK-parametrised MLP).
"""

from jaxaccel.reference.data import FiniteData as FiniteData
from jaxaccel.reference.data import FourierData as FourierData
from jaxaccel.reference.data import GaussianData as GaussianData
from jaxaccel.reference.data import batch_factor as batch_factor
from jaxaccel.reference.data import finite_data as finite_data
from jaxaccel.reference.data import fourier_data as fourier_data
from jaxaccel.reference.data import fourier_features as fourier_features
from jaxaccel.reference.data import gaussian_data as gaussian_data
from jaxaccel.reference.data import kernel_regression_data as kernel_regression_data
from jaxaccel.reference.data import resonance_free_frequencies as resonance_free_frequencies
from jaxaccel.reference.montecarlo import MonteCarloResult as MonteCarloResult
from jaxaccel.reference.montecarlo import gaussian_sgd as gaussian_sgd
from jaxaccel.reference.montecarlo import monte_carlo_sgd as monte_carlo_sgd
from jaxaccel.reference.montecarlo import predict_se as predict_se
from jaxaccel.reference.digits import load_digits as load_digits
from jaxaccel.reference.digits import ntk_mlp_apply as ntk_mlp_apply
from jaxaccel.reference.digits import ntk_mlp_init as ntk_mlp_init
# Monte Carlo on sampled random features (theory §17.1)
from jaxaccel.reference.random_features import random_features_sgd as random_features_sgd
# --- issue 21: the SE error on a dataset (theory §18.3)
from jaxaccel.reference.se_error import SEBounds as SEBounds
from jaxaccel.reference.se_error import SEError as SEError
from jaxaccel.reference.se_error import se_bounds as se_bounds
from jaxaccel.reference.se_error import se_error as se_error
from jaxaccel.reference.digits import empirical_ntk as empirical_ntk
