"""Checks of the fitting keywords that mixture-type estimators share.

``MixtureModel``, ``RegressionMixture`` and ``SurvivalMixture`` take the same
``max_iter``, ``n_init``, ``tol``, ``init_params`` and ``accelerate`` keywords
(DESIGN.md); :func:`check_fitting_keywords` refuses bad values with one message
each, naming the keyword.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np


def check_fitting_keywords(estimator: Any, counts: Sequence[str],
                           init_params: Sequence[str]) -> None:
    """Raise ``ValueError`` naming the first bad fitting keyword of ``estimator``.

    Parameters
    ----------
    estimator : object
        Has the attributes named in ``counts`` and ``tol``, ``init_params``,
        ``accelerate``.
    counts : sequence of str
        Attributes that must be integers >= 1 (``"max_iter"``, ``"n_init"``, ...).
    init_params : sequence of str
        The accepted ``init_params`` values.
    """
    for name in counts:
        v = getattr(estimator, name)
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {v!r}")
    tol = estimator.tol
    if not isinstance(tol, (int, float, np.number)) or not tol >= 0:
        raise ValueError(f"tol must be a non-negative number, got {tol!r}")
    if estimator.init_params not in init_params:
        raise ValueError(f"init_params must be one of {tuple(init_params)}, "
                         f"got {estimator.init_params!r}")
    if estimator.accelerate not in (None, "squarem"):
        raise ValueError(f"accelerate must be None or 'squarem', got {estimator.accelerate!r}")
