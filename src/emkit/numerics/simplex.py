"""Whether probability vectors lie on the simplex closely enough for an E-step.

E-steps take the logs of mixing weights, start and transition probabilities, class
priors and category probabilities as given. A vector whose sum is ``1 + eps`` raises
the log-likelihood of ``n`` rows by about ``n * eps``, and that is no likelihood: an
exact EM step from such a point (SQUAREM's extrapolations are such points) can
appear to lower it. M-step outputs are off by a few units in the last place; an
extrapolation of step length ``alpha`` carries about ``alpha**2`` of them, so
:data:`SIMPLEX_ATOL` refuses only steps longer than about 100, where the
extrapolation is mostly rounding anyway, and keeps ``n * eps`` below the engine's
rounding allowance (``1e-10 * |loglik|``) for any ``n``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

#: Largest ``|sum - 1|`` of a probability vector accepted as on the simplex.
SIMPLEX_ATOL = 1e-12


def on_simplex(p: Any, axis: int = -1, *, open_: bool = False) -> bool:
    """True when every vector of ``p`` along ``axis`` is a probability vector.

    Parameters
    ----------
    p : array_like
        Probabilities; the vectors run along ``axis``.
    axis : int, default -1
        The axis that sums to 1.
    open_ : bool, default False
        Require every entry to be strictly positive (the open simplex).

    Returns
    -------
    bool
        Finite, non-negative (positive with ``open_``) entries whose sums are within
        :data:`SIMPLEX_ATOL` of 1.
    """
    p = np.asarray(p, dtype=float)
    if not np.all(np.isfinite(p)):
        return False
    if not (np.all(p > 0) if open_ else np.all(p >= 0)):
        return False
    return bool(np.all(np.abs(p.sum(axis=axis) - 1.0) <= SIMPLEX_ATOL))
