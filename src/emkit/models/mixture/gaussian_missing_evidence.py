"""The missing-data Gaussian-mixture E-step with per-row evidence (known labels, priors).

One job: the E-step of
:class:`~emkit.models.mixture.gaussian_missing.MissingGaussianMixtureModel` when
each row's log-joint gets a log-evidence row added before it is normalized
(``0`` at a known component and ``-inf`` elsewhere; ``log priors`` for soft
evidence; see :mod:`emkit.estimators._supervision`). The rows' observed-data
densities and expected statistics are those of the model (the marginal of the
observed block, the conditional expectations of the missing entries); only the
responsibilities change, so the returned log-likelihood is
``sum_i w_i log sum_k e_ik w_k N(x_io; mu_ko, S_k,oo)``.

Every pattern goes through the matrix-product path here (the compiled rare-pattern
and complete-row kernels take no evidence); ``evidence`` is indexed by the rows'
positions in the data set, as :class:`~emkit.gaussian.missing_patterns.PatternGroup`'s
``rows`` are.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...gaussian.conditional import ConditionalFactors
from ...numerics.logsumexp import log_normalize
from .missing_patterns import MissingPatterns

__all__ = ["evidence_e_step", "add_completed_moments"]


def evidence_e_step(model: Any, data: MissingPatterns, evidence: np.ndarray,
                    params: dict) -> tuple[dict, float]:
    """Statistics and log-likelihood of ``data`` with ``evidence`` (n_rows, K) applied.

    Parameters
    ----------
    model : MissingGaussianMixtureModel
    data : MissingPatterns
    evidence : ndarray of shape (n_rows, n_components)
        Per-row log-evidence, rows in the data set's order.
    params : dict

    Returns
    -------
    stats : dict
        ``n``, ``sum``, ``centred_sum``, ``centred_outer`` as the model's E-step.
    loglik : float
    """
    evidence = np.asarray(evidence, dtype=np.float64)
    means = np.asarray(params["means"], dtype=float)
    k, d = means.shape
    if evidence.shape != (data.n_rows, k):
        raise ValueError(f"log-evidence must have shape ({data.n_rows}, {k}), got "
                         f"{evidence.shape}")
    diag_stats = model.covariance_type in ("diag", "spherical")
    n = np.zeros(k)
    total = np.zeros((k, d))
    centred_sum = np.zeros((k, d))
    outer = np.zeros((k, d) if diag_stats else (k, d, d))
    loglik = 0.0
    factors: dict[int, ConditionalFactors] = {}
    for group, block in model._blocks(data):
        f = model._factors(group, params, factors)
        values, weights = group.values[block], group.weights[block]
        log_prob = np.asarray(model._log_prob_block(values, group, params, f),
                              dtype=np.float64) + evidence[group.rows[block]]
        log_norm, resp = log_normalize(log_prob, out=log_prob)
        loglik += float(weights @ log_norm)
        resp *= weights[:, None]
        n += add_completed_moments(model, values, group, means, f, resp,
                                   (centred_sum, total, outer))
    return {"n": n, "sum": total, "centred_sum": centred_sum, "centred_outer": outer}, loglik


def add_completed_moments(model: Any, values: np.ndarray, group: Any, means: np.ndarray,
                          f: Any, resp: np.ndarray,
                          into: tuple[np.ndarray, np.ndarray, np.ndarray]) -> np.ndarray:
    """Add one block's completed-data moments to ``into`` and return its counts.

    ``resp`` (n_block, K) holds the weighted responsibilities of the block's rows;
    ``into`` is ``(centred_sum, sum, centred_outer)``: the sums of each component's
    completed rows centred at ``means``, uncentred, and their outer products (or
    squares, with diagonal statistics) plus the conditional covariance of the missing
    block. Returns ``resp.sum(axis=0)``, shape (K,).
    """
    centred_sum, total, outer = into
    n_block = resp.sum(axis=0)
    m = group.missing
    for j in range(means.shape[0]):
        z = model._completed(values, group, means, j, f)
        r = resp[:, j]
        rz = r @ z
        centred_sum[j] += rz
        total[j] += rz + n_block[j] * means[j]
        if outer.ndim == 2:  # diagonal statistics
            outer[j] += r @ (z * z)
            if m.size:
                outer[j, m] += n_block[j] * f.cond_cov[j]
        else:
            outer[j] += (z * r[:, None]).T @ z
            if m.size:
                outer[j][np.ix_(m, m)] += n_block[j] * f.cond_cov[j]
    return n_block

