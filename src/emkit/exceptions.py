"""Warnings and errors raised by emkit.

Each subclasses the matching built-in (or scikit-learn's class) so that existing
``except ValueError`` clauses and ``warnings`` filters keep working.
"""

from __future__ import annotations

from sklearn.exceptions import ConvergenceWarning as _SklearnConvergenceWarning

__all__ = [
    "ConvergenceWarning",
    "MonotonicityWarning",
    "NumericalError",
    "ModelFileError",
]


class ConvergenceWarning(_SklearnConvergenceWarning):
    """EM stopped at ``max_iter`` before meeting its tolerance.

    The parameters returned are the best ones reached. Raise ``max_iter``, loosen
    ``tol``, try ``accelerate="squarem"`` or a better initialization.
    """


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
