"""Spectra of quadratic problems (theory §1): the problem as eigenvalues and coefficients.

``spectrum`` (the :class:`Spectrum` pytree, power laws, real-data constructors), ``continuum``
(huge power laws as weighted quadrature nodes), ``real`` (the ReLU NTK, fitted exponents).
"""

from jaxaccel.spectra.spectrum import PowerLaw as PowerLaw
from jaxaccel.spectra.spectrum import Spectrum as Spectrum
from jaxaccel.spectra.spectrum import power_law_spectrum as power_law_spectrum
from jaxaccel.spectra.continuum import power_law_continuum as power_law_continuum
from jaxaccel.spectra.real import SpectrumExponents as SpectrumExponents
from jaxaccel.spectra.real import fit_spectrum_exponents as fit_spectrum_exponents
from jaxaccel.spectra.real import relu_ntk as relu_ntk
# power-law random features (theory §17)
from jaxaccel.spectra.random_features import RandomFeatures as RandomFeatures
from jaxaccel.spectra.random_features import power_law_features as power_law_features
from jaxaccel.spectra.random_features import power_law_features_equivalent as power_law_features_equivalent
from jaxaccel.spectra.random_features import power_law_population as power_law_population
# --- issue 21: kernel spectra at scale (theory §18.4)
from jaxaccel.spectra.real import KernelSpectrum as KernelSpectrum
from jaxaccel.spectra.real import blocked_kernel_spectrum as blocked_kernel_spectrum
