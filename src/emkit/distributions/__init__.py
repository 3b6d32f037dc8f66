"""Probability distributions for :class:`emkit.MixtureModel` (and any EM model).

Every family has ``log_prob(X)``, weighted additive sufficient statistics
``stats(X, weights)``, the M-step ``from_stats(stats)``, ``n_parameters``,
``sample(n, rng)`` and ``validate(X)``; see :mod:`emkit.distributions._base`
and ``docs/mixtures.md``.
"""

from ._base import Distribution
from .bernoulli import Bernoulli
from .categorical import Categorical
from .exponential import Exponential
from .gamma import Gamma
from .gaussian import Gaussian
from .independent import Independent
from .lognormal import LogNormal
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
    "NegativeBinomial",
    "Poisson",
    "StudentT",
    "Weibull",
]
