"""Compiled pieces shared by the block passes over a scaled design.

The regression and multinomial-logit E-steps work through their rows in blocks held
column by column (``zt[j, r]`` is design column ``j`` of the block's row ``r``), so
that each loop over the rows vectorizes. This module's one job: fill such a block
from the covariates, and the linear predictor of one coefficient row on it.
The design is ``[1, (z - centre) / half_range]``
(:class:`~emkit.numerics.design_scaling.Design`).
"""

from __future__ import annotations

from numba import njit

__all__ = ["design_block", "linear_predictor_block"]


@njit(cache=True, nogil=True, fastmath={"contract"})
def design_block(Z, start, m, centre, inv_half, zt):  # pragma: no cover - compiled
    """``zt[:, :m]``: the intercept and the scaled covariates of rows ``start .. start+m``.

    ``Z`` is (n, q), ``centre`` and ``inv_half`` (q,) (the reciprocal half ranges),
    ``zt`` (q + 1, block size).
    """
    q = Z.shape[1]
    for r in range(m):
        zt[0, r] = 1.0
        for j in range(q):
            zt[j + 1, r] = (Z[start + r, j] - centre[j]) * inv_half[j]


@njit(cache=True, nogil=True, fastmath={"contract"})
def linear_predictor_block(coef, c, zt, m, out):  # pragma: no cover - compiled
    """``out[:m]``: coefficient row ``c`` times the block's design, ``coef[c] . z``.

    ``coef`` is (K, q + 1), ``zt`` a block from :func:`design_block`.
    """
    for r in range(m):
        out[r] = coef[c, 0]
    for j in range(1, zt.shape[0]):
        cj = coef[c, j]
        zj = zt[j]
        for r in range(m):
            out[r] += cj * zj[r]
