"""Probability distributions: the components of mixtures and the states of HMMs.

One file per family. Every family has ``log_prob(X)``, weighted additive
sufficient statistics ``stats(X, weights)``, the M-step ``from_stats(stats)``,
``n_parameters``, ``sample(n, rng)`` and ``validate(X)``, and may override the
vectorized class methods (``log_prob_components``, ``stats_components``,
``fit_components``, ``frame_components``) that give K components of the family
a fast path; see :mod:`emkit.distributions._base`. ``components.py`` holds
:class:`~emkit.distributions.components.Components`, K distributions fitted
together: what :class:`emkit.MixtureModel` and :class:`emkit.HMM` (and the
hmmlearn-named HMMs) both use. Adding a family: ``docs/architecture.md``.

May import :mod:`emkit.gaussian`, :mod:`emkit.numerics`, :mod:`emkit.engine`,
:mod:`emkit.exceptions`, :mod:`emkit.persistence` and :mod:`emkit.validation`;
never a model, backend or estimator.
"""

from ._base import Distribution
from .bernoulli import Bernoulli
from .categorical import Categorical
from .exponential import Exponential
from .gamma import Gamma
from .gaussian import Gaussian
from .independent import Independent
from .lognormal import LogNormal
from .multinomial import Multinomial
from .negative_binomial import NegativeBinomial
from .poisson import Poisson
from .student_t import StudentT
from .weibull import Weibull

__all__ = [
    "Distribution",
    "Bernoulli",
    "Categorical",
    "Exponential",
    "Gamma",
    "Gaussian",
    "Independent",
    "LogNormal",
    "Multinomial",
    "NegativeBinomial",
    "Poisson",
    "StudentT",
    "Weibull",
]
