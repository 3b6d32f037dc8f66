"""Building the estimator ``emkit hmm`` fits, and describing a fitted one.

* :func:`build_hmm` - the unfitted HMM, HSMM or input-driven HMM that the
  ``--emission``, ``--duration`` and ``--covariates`` options name;
* :func:`describe` - its one-line name (``GaussianHMM (diag)``);
* :func:`emission_parameters` - its fitted emission parameters by name.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import typer

__all__ = ["build_hmm", "describe", "emission_parameters", "TITLES"]

#: --emission families fitted as emkit.HMM(<distribution>(), k)
_DISTRIBUTIONS = {"exponential": "Exponential", "gamma": "Gamma", "lognormal": "LogNormal",
                  "student-t": "StudentT", "bernoulli": "Bernoulli", "weibull": "Weibull",
                  "negative-binomial": "NegativeBinomial"}

def _distribution(emission: str, covariance_type: str | None) -> Any:
    """The emkit.distributions template of ``--emission`` for HSMM and InputDrivenHMM."""
    from .. import distributions

    named = {"gaussian": "Gaussian", "categorical": "Categorical", "poisson": "Poisson",
             "multinomial": "Multinomial", **_DISTRIBUTIONS}
    if emission not in named:
        raise typer.BadParameter(f"--emission {emission} is not available with --duration "
                                 "or --covariates", param_hint="--emission")
    if emission == "gaussian":
        return distributions.Gaussian(covariance_type=covariance_type or "diag")
    return getattr(distributions, named[emission])()


def build_hmm(emission: str, states: int, *, covariance_type: str | None = None,
              n_mix: int | None = None, duration: str | None = None,
              max_duration: int | None = None, covariates: bool = False,
              **settings: Any) -> Any:
    """The unfitted HMM estimator that ``--emission`` names, with ``states`` states.

    ``settings`` (``n_iter``, ``tol``, ``n_init``, ``random_state``) go to its
    constructor. With ``duration`` an :class:`~emkit.HSMM`, with ``covariates``
    an :class:`~emkit.InputDrivenHMM`, of that emission. ``typer.BadParameter``
    (exit 2) when ``--covariance-type`` or ``--n-mix`` is given for a family that
    has none, or the options do not go together.
    """
    from .. import distributions
    from ..estimators import hmm as named

    if covariance_type is not None and emission not in ("gaussian", "gmm"):
        raise typer.BadParameter(f"--emission {emission} has no covariance type; it "
                                 "applies to gaussian and gmm", param_hint="--covariance-type")
    if n_mix is not None and emission != "gmm":
        raise typer.BadParameter(f"--emission {emission} has no mixture components; it "
                                 "applies to gmm", param_hint="--n-mix")
    if duration is not None and covariates:
        raise typer.BadParameter("cannot be combined with --covariates (an HSMM or an "
                                 "input-driven HMM: give one)", param_hint="--duration")
    if max_duration is not None and duration is None:
        raise typer.BadParameter("--max-duration needs --duration", param_hint="--max-duration")
    if duration is not None:
        from ..estimators.hsmm import HSMM

        return HSMM(_distribution(emission, covariance_type), states, duration=duration,
                    max_duration=max_duration, **settings)
    if covariates:
        from ..estimators.hmm_input_driven import InputDrivenHMM

        return InputDrivenHMM(_distribution(emission, covariance_type), states, **settings)
    if emission == "gaussian":
        return named.GaussianHMM(states, covariance_type or "diag", **settings)
    if emission == "gmm":
        return named.GMMHMM(states, n_mix or 2, covariance_type=covariance_type or "diag",
                            **settings)
    if emission == "categorical":
        return named.CategoricalHMM(states, **settings)
    if emission == "poisson":
        return named.PoissonHMM(states, **settings)
    if emission == "multinomial":
        return named.MultinomialHMM(states, **settings)
    from ..estimators.hmm_distribution import HMM

    return HMM(getattr(distributions, _DISTRIBUTIONS[emission])(), states, **settings)


def describe(model: Any) -> str:
    """``GaussianHMM (diag)``, ``GMMHMM (2 components per state, full)``, ``HMM(Gamma)``."""
    name = type(model).__name__
    if name == "GaussianHMM":
        return f"{name} ({model.covariance_type})"
    if name == "GMMHMM":
        return f"{name} ({model.n_mix} components per state, {model.covariance_type})"
    if name == "HMM":
        return f"HMM({type(model.emission).__name__})"
    if name == "HSMM":
        return f"HSMM({type(model.emission).__name__}, {model.duration} durations)"
    if name == "InputDrivenHMM":
        return f"InputDrivenHMM({type(model.emission).__name__})"
    return name


def emission_parameters(model: Any) -> dict[str, Any]:
    """The fitted emission parameters, one array per name, states along the first axis."""
    name = type(model).__name__
    if name == "GaussianHMM":
        return {"means": model.means_, "covars": model._covars_}
    if name == "GMMHMM":
        return {"weights": model.weights_, "means": model.means_, "covars": model.covars_}
    if name in ("CategoricalHMM", "MultinomialHMM"):
        return {"emissionprob": model.emissionprob_}
    if name == "PoissonHMM":
        return {"lambdas": model.lambdas_}
    states = [e.parameters() for e in model.emissions_]
    return {key: np.stack([np.asarray(p[key], dtype=float) for p in states])
            for key in states[0]}


TITLES = {"means": "Means", "covars": "Covariances", "weights": "Mixture weights",
           "emissionprob": "Emission probabilities", "lambdas": "Rates"}
