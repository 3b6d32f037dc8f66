"""emkit: the Expectation-Maximization toolkit.

One EM engine (:func:`emkit.em`) drives every model: Gaussian mixtures with
missing values, mixtures of any distribution, hidden Markov models, the EM
imputer and the crowd-label models (Dawid-Skene, GLAD, MACE). Estimators follow
scikit-learn's and hmmlearn's conventions. Heavy parts (estimators, Dask,
matplotlib) load on first use, so ``import emkit`` stays quick.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .exceptions import ModelFileError, MonotonicityWarning, NumericalError

if TYPE_CHECKING:  # what IDEs and type checkers see; at run time these load on first use
    from . import backends as backends
    from . import datasets as datasets
    from . import distributions as distributions
    from . import examples as examples
    from . import gaussian as gaussian
    from . import io as io
    from . import models as models
    from . import plot as plot
    from .engine import EMModel as EMModel
    from .engine import EMResult as EMResult
    from .engine import Step as Step
    from .engine import best_of as best_of
    from .engine import em as em
    from .estimators.bayesian_gaussian_mixture import (
        BayesianGaussianMixture as BayesianGaussianMixture,
    )
    from .estimators.bootstrap_lrt import bootstrap_lrt as bootstrap_lrt
    from .estimators.dawid_skene import DawidSkene as DawidSkene
    from .estimators.gaussian_mixture import GaussianMixture as GaussianMixture
    from .estimators.glad import GLAD as GLAD
    from .estimators.hmm import GMMHMM as GMMHMM
    from .estimators.hmm import CategoricalHMM as CategoricalHMM
    from .estimators.hmm import GaussianHMM as GaussianHMM
    from .estimators.hmm import MultinomialHMM as MultinomialHMM
    from .estimators.hmm import PoissonHMM as PoissonHMM
    from .estimators.hmm_distribution import HMM as HMM
    from .estimators.hmm_input_driven import InputDrivenHMM as InputDrivenHMM
    from .estimators.hmm_selection import select_hmm as select_hmm
    from .estimators.hsmm import HSMM as HSMM
    from .estimators.imputer import EMImputer as EMImputer
    from .estimators.mace import MACE as MACE
    from .estimators.mclust_mixture import MclustMixture as MclustMixture
    from .estimators.mixture_model import MixtureModel as MixtureModel
    from .estimators.regression_mixture import RegressionMixture as RegressionMixture
    from .estimators.selection import select_model as select_model
    from .estimators.survival_mixture import SurvivalMixture as SurvivalMixture
    from .exceptions import ConvergenceWarning as ConvergenceWarning
    from .exceptions import DegenerateComponentWarning as DegenerateComponentWarning
    from .persistence import load as load

__version__ = "0.1.0"

# public name -> module that defines it (imported on first access)
_LAZY = {
    "EMModel": "emkit.engine",
    "EMResult": "emkit.engine",
    "Step": "emkit.engine",
    "best_of": "emkit.engine",
    "em": "emkit.engine",
    "ConvergenceWarning": "emkit.exceptions",
    "DegenerateComponentWarning": "emkit.exceptions",
    "GaussianMixture": "emkit.estimators.gaussian_mixture",
    "MixtureModel": "emkit.estimators.mixture_model",
    "EMImputer": "emkit.estimators.imputer",
    "HMM": "emkit.estimators.hmm_distribution",
    "GaussianHMM": "emkit.estimators.hmm",
    "GMMHMM": "emkit.estimators.hmm",
    "CategoricalHMM": "emkit.estimators.hmm",
    "PoissonHMM": "emkit.estimators.hmm",
    "MultinomialHMM": "emkit.estimators.hmm",
    "DawidSkene": "emkit.estimators.dawid_skene",
    "GLAD": "emkit.estimators.glad",
    "MACE": "emkit.estimators.mace",
    "select_model": "emkit.estimators.selection",
    "select_hmm": "emkit.estimators.hmm_selection",
    "RegressionMixture": "emkit.estimators.regression_mixture",
    "SurvivalMixture": "emkit.estimators.survival_mixture",
    "MclustMixture": "emkit.estimators.mclust_mixture",
    "BayesianGaussianMixture": "emkit.estimators.bayesian_gaussian_mixture",
    "HSMM": "emkit.estimators.hsmm",
    "InputDrivenHMM": "emkit.estimators.hmm_input_driven",
    "bootstrap_lrt": "emkit.estimators.bootstrap_lrt",
    "load": "emkit.persistence",
}
_SUBMODULES = {"distributions", "datasets", "plot", "backends", "models", "engine", "gaussian",
               "examples", "io"}

__all__ = [
    "MonotonicityWarning",
    "NumericalError",
    "ModelFileError",
    *_LAZY,
    *sorted(_SUBMODULES),
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    if name in _SUBMODULES:
        module = importlib.import_module(f"emkit.{name}")
        globals()[name] = module
        return module
    raise AttributeError(f"module 'emkit' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
