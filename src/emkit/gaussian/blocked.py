"""Fast Gaussian-mixture kernels: log-densities and statistics of one row chunk.

The reference for every formula here is
:func:`emkit.gaussian.reference.log_gaussian_density` (one whitening product per
component); these kernels batch the same arithmetic into a few large BLAS calls
per chunk of rows and must agree with it (see the tests).

How each covariance type is laid out
------------------------------------
Every chunk ``X`` of shape (C, D) is first centred on a point ``c``
(``Xs = X - c``, one cheap pass) and the component means become ``d_k = mu_k - c``.
Nothing changes mathematically, but the quadratic forms and second moments no
longer cancel catastrophically when the data sit far from the origin. ``c`` is
the mixture's mean, unless components lie so far apart in units of their spread
that the expansion about one point would cancel: then the components are split
into centring groups, each with its own centre, and everything below is done
group by group (:mod:`emkit.gaussian.prepared`).

``full``
    Quadratic-form log-densities: each row becomes the features
    ``[Xs_i Xs_j for i <= j, Xs, 1]`` (D(D+1)/2 + D + 1 columns), and the log
    weighted densities of all K components are *one* product of those features
    with (K, F) coefficients built from the precisions ``P_k``:
    ``-1/2 (x - d)^T P (x - d) + const`` expanded. The statistics are one more
    product, ``resp @ features``, giving the counts, the sums and the second
    moments of every component at once; they are centred on ``mu_k`` once per
    E-step. Both products cost ``2 C K D(D+1)/2`` flops, the least any method
    can (a triangular whitening plus a symmetric Gram), and no (C, K, D) array
    is formed. Used when ``D <= 8K + 8`` (:func:`quadratic_full`).

    Otherwise (few components, many features) all ``U_k`` are laid side by side
    in one (D+1, K*D) matrix, so whitening every row under every component is
    one product ``[Xs, 1] @ W`` (the offsets ``-d_k U_k`` ride as the last row);
    distances are the squared norms of its K blocks. The second moments are one
    more product, ``[Xs, 1]^T (r * Y)`` of shape (D+1, K*D): block k holds
    ``sum r (x - c) y_k^T`` and ``sum r y_k``; since ``y_k = (x - mu_k) U_k``
    the centred moment is ``(sum r (x - c) y_k^T - d_k sum r y_k^T) L_k^T``.
``tied``
    One whitening ``Xs @ U`` serves every component; log-probabilities are one
    product of (K, D+2) coefficients with the features ``[|y|^2, y, 1]``.
``diag`` / ``spherical``
    Log-probabilities are one product of (K, 2D+1) coefficients with the
    features ``[Xs^2, Xs, 1]``, and the statistics one product of the
    responsibilities with the same features (counts, sums and squares at once).

Log-probabilities and responsibilities are laid out component-major, (K, C), so
the log-sum-exp over components reduces along contiguous rows.

Memory: the largest temporary is (C, D(D+1)/2) or (C, K*D) for ``full``,
(C, K, D) for ``tied`` (C = ``chunk_size``); never N x K x D.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..numerics.logsumexp import log_normalize
from .prepared import PreparedGaussians, prepare_gaussians, quadratic_full, upper_pairs

__all__ = [
    "PreparedGaussians",
    "prepare_gaussians",
    "chunk_weighted_log_prob",
    "StatsAccumulator",
    "ChunkWork",
    "GroupedWork",
    "log_resp_inplace",
    "quadratic_full",
    "log_gaussian_density_fast",
]

class ChunkWork(NamedTuple):
    """Intermediate arrays of one chunk, shared by the density and the statistics.

    Attributes
    ----------
    features : ndarray of shape (C, F)
        ``full``: ``[(x-c)_i (x-c)_j for i <= j, x - c, 1]``;
        ``diag``/``spherical``: ``[(x - c)^2, x - c, 1]``;
        ``tied``: ``[|y|^2, y, 1]`` with ``y = (x - c) U``. ``c`` is the
        group's centre (``PreparedGaussians.centres``); the last column is always ones, so
        ``resp @ features`` yields the weighted sums and the counts at once.
    whitened : ndarray or None
        ``tied``: the whitened rows (C, D) ``(x - c) U``; ``full`` by whitening:
        (C, K*D), block k being ``(x - mu_k) U_k``; None otherwise.
    """

    features: np.ndarray
    whitened: np.ndarray | None


class GroupedWork(NamedTuple):
    """The :class:`ChunkWork` of each centring group (``prep.parts``), in order."""

    parts: tuple[ChunkWork, ...]


def chunk_weighted_log_prob(X: np.ndarray, prep: PreparedGaussians
                            ) -> tuple[np.ndarray, ChunkWork | GroupedWork]:
    """``log w_k + log N(x; mu_k, S_k)`` for one chunk of rows, component-major.

    Parameters
    ----------
    X : ndarray of shape (C, D)
        Rows in ``prep.dtype``.
    prep : PreparedGaussians

    Returns
    -------
    log_prob : ndarray of shape (K, C)
        In ``prep.dtype``. Component-major, so that reductions over components
        (max, sum) run along contiguous rows.
    chunk : ChunkWork or GroupedWork
        The intermediate arrays :meth:`StatsAccumulator.add` reuses (one set per
        centring group).
    """
    if not prep.parts:
        return _one_group_log_prob(X, prep)
    log_prob = np.empty((len(prep.means), len(X)), dtype=prep.dtype)
    works = []
    for idx, part in prep.parts:
        log_prob[idx], work = _one_group_log_prob(X, part)
        works.append(work)
    return log_prob, GroupedWork(tuple(works))


def _one_group_log_prob(X: np.ndarray, prep: PreparedGaussians
                        ) -> tuple[np.ndarray, ChunkWork]:
    """:func:`chunk_weighted_log_prob` of a one-group ``prep``."""
    dt = prep.dtype
    n_rows, d = X.shape
    kind = prep.covariance_type
    centre = prep.centres[0]  # float64: x - c is rounded once, to dt
    if prep.method == "whiten":
        # [X - c, 1] @ [[U_1 .. U_K], [-(mu_k - c) U_k]]: whitening and offsets in one GEMM
        features = np.empty((n_rows, d + 1), dtype=dt)
        np.subtract(X, centre, out=features[:, :d], casting="same_kind")
        features[:, d] = 1.0
        whitened = features @ prep.whiten
        y3 = whitened.reshape(n_rows, len(prep.means), d)
        log_prob = np.einsum("ckd,ckd->kc", y3, y3)
        log_prob *= -0.5
        log_prob += prep.log_const.astype(dt)[:, None]
        return log_prob, ChunkWork(features, whitened)
    if kind == "full":
        n_pairs = d * (d + 1) // 2
        features = np.empty((n_rows, n_pairs + d + 1), dtype=dt)
        xs = np.subtract(X, centre, out=features[:, n_pairs:n_pairs + d],
                         casting="same_kind")
        start = 0
        for i in range(d):  # row-major upper triangle, as np.triu_indices
            np.multiply(xs[:, i:i + 1], xs[:, i:], out=features[:, start:start + d - i])
            start += d - i
        whitened = None
    elif kind == "tied":
        whitened = np.subtract(X, centre, out=np.empty((n_rows, d), dtype=dt),
                               casting="same_kind") @ prep.whiten
        features = np.empty((n_rows, d + 2), dtype=dt)
        np.einsum("cd,cd->c", whitened, whitened, out=features[:, 0])
        features[:, 1:d + 1] = whitened
    elif kind in ("diag", "spherical"):
        whitened = None
        features = np.empty((n_rows, 2 * d + 1), dtype=dt)
        xs = np.subtract(X, centre, out=features[:, d:2 * d], casting="same_kind")
        np.multiply(xs, xs, out=features[:, :d])
    features[:, -1] = 1.0
    return prep.coef @ features.T, ChunkWork(features, whitened)


def log_resp_inplace(log_prob: np.ndarray) -> np.ndarray:
    """Turn component-major log-probabilities (K, C) into responsibilities, in place.

    Returns the per-row log-likelihood ``logsumexp(log_prob, axis=0)`` (float64,
    shape (C,)); ``log_prob`` then holds the responsibilities (columns sum to one).
    This is :func:`emkit.numerics.logsumexp.log_normalize` over axis 0 into
    ``log_prob`` itself.
    """
    return log_normalize(log_prob, axis=0, out=log_prob)[0]


class StatsAccumulator:
    """Running sums of the Gaussian-mixture statistics over row chunks.

    The statistics follow the contract of :mod:`emkit.models.mixture.gaussian`:
    ``n`` (K,), ``sum`` (K, D), ``centred_sum`` (K, D) and ``centred_outer``
    ((K, D, D) for full and tied, (K, D) for diag and spherical), centred on
    ``prep.means``. Sums are kept in float64 whatever the chunk precision. Each
    component's raw sums (``moments``, and ``cross`` or ``gram``) are of features
    about its centring group's centre (``prep.component_centres``).
    """

    def __init__(self, prep: PreparedGaussians):
        self.prep = prep
        n_comp, d = prep.means.shape
        width = {"full": d * (d + 1) // 2 + d + 1,
                 "tied": d + 2}.get(prep.covariance_type, 2 * d + 1)
        if prep.method == "whiten":
            width = d + 1
            # [x - c, 1]^T (r_k y_k) for every k side by side: (D+1, K*D)
            self.cross = np.zeros((d + 1, n_comp * d))
        self.moments = np.zeros((n_comp, width))  # resp @ features, summed
        if prep.covariance_type == "tied":
            self.gram = np.zeros((n_comp, d, d))  # sum r y y^T, y = (x - c) U

    def add(self, chunk: ChunkWork | GroupedWork, resp: np.ndarray) -> None:
        """Add one chunk, given the work of :func:`chunk_weighted_log_prob` and the
        rows' weighted responsibilities ``resp`` (K, C), which this may overwrite;
        so may it the chunk's ``whitened`` arrays."""
        if isinstance(chunk, GroupedWork):
            # each group's rows of the sums, from the features about its own centre
            for (idx, _), work in zip(self.prep.parts, chunk.parts, strict=True):
                self._add(work, resp[idx], idx)
        else:
            self._add(chunk, resp, slice(None))

    def _add(self, chunk: ChunkWork, resp: np.ndarray, idx: slice | np.ndarray) -> None:
        features, whitened = chunk
        self.moments[idx] += resp @ features
        if whitened is None:
            return
        if self.prep.method == "whiten":
            # sum_i r_ik [x_i - c, 1] y_ik^T for all k in one product (y scaled in place)
            n_comp, d = len(resp), self.prep.means.shape[1]
            scaled = whitened.reshape(len(features), n_comp, d)
            scaled *= resp.T[:, :, None]
            if isinstance(idx, slice):
                self.cross += features.T @ whitened
            else:
                self.cross[:, (idx[:, None] * d + np.arange(d)).reshape(-1)] += \
                    features.T @ whitened
            return
        scaled = np.sqrt(resp, out=resp).T[:, :, None] * whitened[:, None, :]
        self.gram[idx] += np.matmul(scaled.transpose(1, 2, 0), scaled.transpose(1, 0, 2))

    def result(self) -> dict:
        """The statistics dict of the contract."""
        prep = self.prep
        kind = prep.covariance_type
        d = prep.means.shape[1]
        centres = prep.component_centres
        shifted = prep.means - centres  # prep.shifted_means, its centres spread once
        n = self.moments[:, -1].copy()
        if prep.method == "whiten":
            rx = self.moments[:, :d]
            blocks = self.cross.reshape(d + 1, -1, d).transpose(1, 0, 2)  # (K, D+1, D)
            # sum r (x - mu) y^T = sum r (x - c) y^T - d_k sum r y^T, and y = (x - mu) U,
            # so sum r (x - mu)(x - mu)^T = (that) U^-1 = (that) L^T
            centred = blocks[:, :d] - shifted[:, :, None] * blocks[:, d][:, None, :]
            outer = np.matmul(centred, prep.chol.transpose(0, 2, 1))
        elif kind == "full":
            rows, cols, _ = upper_pairs(d)
            n_pairs = len(rows)
            rx = self.moments[:, n_pairs:n_pairs + d]
            second = np.empty((len(n), d, d))  # sum r (x - c)(x - c)^T
            second[:, rows, cols] = self.moments[:, :n_pairs]
            second[:, cols, rows] = self.moments[:, :n_pairs]
            cross = shifted[:, :, None] * rx[:, None, :]
            outer = (second - cross - cross.transpose(0, 2, 1)
                     + n[:, None, None] * shifted[:, :, None] * shifted[:, None, :])
        elif kind == "tied":
            ry = self.moments[:, 1:d + 1]  # sum r y, y = (x - c) U
            b = shifted @ prep.prec_chol
            cross = b[:, :, None] * ry[:, None, :]
            centred = (self.gram - cross - cross.transpose(0, 2, 1)
                       + n[:, None, None] * b[:, :, None] * b[:, None, :])
            lower = prep.chol
            outer = np.matmul(np.matmul(lower, centred), lower.T)
            rx = ry @ lower.T
        else:
            rxx, rx = self.moments[:, :d], self.moments[:, d:2 * d]
            outer = rxx - 2.0 * shifted * rx + n[:, None] * shifted**2
        if outer.ndim == 3:
            outer = 0.5 * (outer + outer.transpose(0, 2, 1))
        return {
            "n": n,
            "sum": rx + n[:, None] * centres,
            "centred_sum": rx - n[:, None] * shifted,
            "centred_outer": outer,
        }


def log_gaussian_density_fast(X: np.ndarray, means: np.ndarray, covariances: np.ndarray,
                              covariance_type: str, chunk_size: int = 1024) -> np.ndarray:
    """Log-density of each row under each Gaussian, shape (N, K), by the chunked kernels.

    Same values as :func:`emkit.gaussian.reference.log_gaussian_density` (which
    takes precision Cholesky factors instead of covariances).
    """
    X = np.asarray(X)
    prep = prepare_gaussians(None, means, covariances, covariance_type,
                             X.dtype if X.dtype == np.float32 else np.float64)
    out = np.empty((len(X), len(prep.means)), dtype=prep.dtype)
    for start in range(0, len(X), chunk_size):
        block = np.asarray(X[start:start + chunk_size], dtype=prep.dtype)
        out[start:start + len(block)] = chunk_weighted_log_prob(block, prep)[0].T
    return out
