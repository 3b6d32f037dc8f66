"""Warnings and errors raised by emkit.

Each subclasses the matching built-in (or scikit-learn's class) so that existing
``except ValueError`` clauses and ``warnings`` filters keep working.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ConvergenceWarning",  # noqa: F822 (made on first use, by __getattr__)
    "DegenerateComponentWarning",  # noqa: F822 (made on first use, by __getattr__)
    "MonotonicityWarning",
    "NumericalError",
    "ModelFileError",
    "RegularizationWarning",
]


def _make_convergence_warning() -> type:
    # Built on first use: subclassing scikit-learn's class means importing
    # scikit-learn (~1 s and ~100 MB), which processes that only run E-steps
    # (Dask workers) never need.
    from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning

    class ConvergenceWarning(SklearnConvergenceWarning):
        """EM stopped at ``max_iter`` before meeting its tolerance.

        The parameters returned are the best ones reached. Raise ``max_iter``, loosen
        ``tol``, try ``accelerate="squarem"`` or a better initialization.
        """

    ConvergenceWarning.__module__ = __name__
    ConvergenceWarning.__qualname__ = "ConvergenceWarning"
    return ConvergenceWarning


def _make_degenerate_warning() -> type:
    base = globals().get("ConvergenceWarning") or __getattr__("ConvergenceWarning")

    class DegenerateComponentWarning(base):  # type: ignore[valid-type,misc]
        """A fit re-seeded a component whose covariance collapsed.

        Where scikit-learn raises "ill-defined empirical covariance", emkit's
        ``GaussianMixture(degenerate="reseed")`` starts the collapsed component
        again at the worst-explained rows and continues; the message names each
        component and iteration. ``degenerate="raise"`` raises instead.
        """

    DegenerateComponentWarning.__module__ = __name__
    DegenerateComponentWarning.__qualname__ = "DegenerateComponentWarning"
    return DegenerateComponentWarning


def __getattr__(name: str) -> Any:
    if name == "ConvergenceWarning":
        cls = _make_convergence_warning()
        globals()[name] = cls
        return cls
    if name == "DegenerateComponentWarning":
        cls = _make_degenerate_warning()
        globals()[name] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class MonotonicityWarning(UserWarning):
    """A plain EM step lowered the observed-data log-likelihood beyond rounding.

    Exact EM can never do that, so the model's E-step or M-step (or its
    log-likelihood) is inconsistent. Regularized M-steps (e.g. ``reg_covar``) can
    cause tiny decreases; models that know this widen the tolerance.
    """


class NumericalError(ValueError, ArithmeticError):
    """The log-likelihood or the parameters became non-finite during a fit."""


class ModelFileError(ValueError):
    """A saved model file is missing, truncated, tampered with or of a wrong version."""


class RegularizationWarning(UserWarning):
    """A fit added a regularization the caller did not ask for.

    Raised where the maximum-likelihood estimate does not exist (e.g. a singular
    covariance: fewer rows than columns, a constant column, collinear columns), so
    that a small regularization was used instead. Pass the regularization
    parameter explicitly to choose it and silence the warning.
    """
