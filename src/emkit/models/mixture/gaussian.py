"""The Gaussian-mixture EM model: parameters, additive statistics and the E-step.

Parameters (a dict):
    ``weights`` (K,), ``means`` (K, D), ``covariances`` in scikit-learn's shape for
    ``covariance_type`` (see :mod:`emkit.gaussian.reference`).

Statistics (a dict, additive over rows; ``r`` is a row's responsibility times its
sample weight, ``mu`` the means the E-step was run at):
    ``n`` (K,) = sum r;  ``sum`` (K, D) = sum r x;
    ``centred_sum`` (K, D) = sum r (x - mu);
    ``centred_outer`` = sum r (x - mu)(x - mu)^T, shape (K, D, D) for full and tied,
    or only its diagonal, shape (K, D), for diag and spherical.

Centring on the current means (constant during an E-step, so still additive)
keeps the second moments accurate for data far from the origin. With missing
values the E-step substitutes conditional expectations of ``x`` and of the outer
product; the statistics, and so the M-step, are the same. The M-step is
:func:`emkit.gaussian.m_step.gaussian_mixture_m_step` (re-exported here).

:class:`GaussianMixtureModel` is the complete-data :class:`emkit.EMModel`. For
``full`` (by quadratic features), ``diag`` and ``spherical`` its E-step is the
compiled one-pass kernel of :mod:`emkit.gaussian.kernels`; for ``tied``
and ``full`` by whitening it runs the NumPy chunk kernels of
:mod:`emkit.gaussian.blocked`. Either way responsibilities exist for one
small block of rows at a time. The rows are shared out between one thread per
core with single-threaded BLAS (each product is too small for BLAS's own threads
to pay off); the per-thread statistics are summed, which is exactly the
additivity the contract promises.
"""

from __future__ import annotations

import itertools
import os
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, cast

import numpy as np

from ...engine.run import MONOTONE_RTOL
from ...engine.stats import tree_sum
from ...gaussian.blocked import (
    PreparedGaussians,
    StatsAccumulator,
    chunk_weighted_log_prob,
    log_resp_inplace,
    prepare_gaussians,
    quadratic_full,
)
from ...gaussian.compiled_steps import ONE_CALL_TYPES, e_step_one_call, m_step_one_call
from ...gaussian.kernels import (
    DIAGONAL,
    FULL,
    SMALL_PRODUCT,
    quadratic_log_prob,
    quadratic_pass,
)
from ...gaussian.m_step import (
    COUNT_EPS,
    gaussian_mixture_m_step,  # re-exported: importers keep working
    regularization_slack,
)
from ...gaussian.prepared import CENTRING_LIMIT
from ...gaussian.reference import COVARIANCE_TYPES
from ...numerics.simplex import on_simplex

__all__ = ["gaussian_mixture_m_step", "GaussianMixtureModel", "auto_chunk_size"]

#: Elements of the largest per-chunk temporary (1 MiB of float64): it stays in
#: the L2/L3 cache, while the chunk stays long enough for efficient BLAS calls.
CHUNK_ELEMENTS = 2**17
MIN_CHUNK_ROWS = 512

#: The monotonicity guard of float32 chunks, relative. They round each row's
#: expanded quadratic form (:mod:`emkit.gaussian.prepared`) at float32's
#: epsilon of the size of its terms, and the coefficients' rounding is shared by
#: every row of a component, so it does not average out over rows: the total
#: carries about ``eps32 * (terms / value)``. The centring groups keep the terms
#: within ~``CENTRING_LIMIT`` times the value for rows of a unit-size log-density;
#: hence ``CENTRING_LIMIT * eps32`` = 1.2e-4 (largest decrease measured beyond
#: ``reg_covar``'s share, over 112 random float32 fits: 2.8e-5). float64 chunks keep the
#: engine's 1e-10: the same ratio costs at most ~2^12 * 1.1e-16 = 5e-13, and a
#: sum over N rows ~sqrt(N) * 1.1e-16 more, below 1e-10 for any N under 1e11.
FLOAT32_MONOTONE_RTOL = CENTRING_LIMIT[np.dtype(np.float32)] * float(np.finfo(np.float32).eps)

#: Rows converted at a time when the compiled kernels get rows that are not
#: C-contiguous in the model's dtype.
CONVERT_ROWS = 65_536


def auto_chunk_size(n_components: int, n_features: int, covariance_type: str) -> int:
    """Rows per chunk so that the chunk's largest temporary has ~``CHUNK_ELEMENTS``.

    Per row, ``full`` holds D(D+1)/2 + D + 1 features and K log-probabilities
    (or K*D whitened values, see :func:`~emkit.gaussian.blocked.quadratic_full`),
    ``tied`` a (K, D) block, ``diag`` and ``spherical`` 2D + 1 features and K
    log-probabilities. Small temporaries keep the chunk in cache; the floor
    keeps the matrix products long enough for BLAS.
    """
    d, k = n_features, n_components
    full = d * (d + 1) // 2 + d + 1 + k if quadratic_full(k, d) else k * d + d + 1
    per_row = {"full": full, "tied": k * d + d + 2}.get(covariance_type, 2 * d + 1 + k)
    # at least MIN_CHUNK_ROWS rows, unless that would exceed 32 MiB (very large D)
    floor = max(1, min(MIN_CHUNK_ROWS, 2**22 // per_row))
    return max(floor, CHUNK_ELEMENTS // per_row)


_POOL: dict[str, Any] = {}

#: Work (N * K * D) from which the E-step's chunks are shared between threads.
#: Measured E-step on 2 cores, one thread vs two: (100k, 8, 4) full 4.4 ms vs
#: 2.7 ms; (100k, 2, 3) 2.0 vs 1.5 ms; (30k, 4, 4) 1.1 vs 0.9 ms; below, at
#: (20k, 2, 3), handing out the work cost more than it saved (0.6 vs 0.7 ms).
PARALLEL_MIN_ELEMENTS = 2**18


def _inside_dask_task() -> bool:
    """True on a thread of a ``dask.distributed`` worker, while it runs a task."""
    if "distributed" not in sys.modules:
        return False
    from distributed import get_worker

    try:
        get_worker()
    except ValueError:
        return False
    return True


def _n_workers() -> int:
    """Threads for the E-step: the cores this process may use, or 1 in a Dask task.

    A Dask worker runs one task per thread itself, so more threads inside each
    task would only contend for the same cores (measured: a 250,000-row block
    took 13 ms on one thread, 13-20 ms on two, with both worker processes busy).
    ``OMP_NUM_THREADS`` is not consulted: starting a ``LocalCluster`` sets it to
    1 in the client's own process too, and leaves it there.
    """
    if _inside_dask_task():
        return 1
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def _pool() -> dict[str, Any]:
    if "controller" not in _POOL:
        from threadpoolctl import ThreadpoolController

        _POOL["controller"] = ThreadpoolController()
        _POOL["executor"] = ThreadPoolExecutor(max_workers=_n_workers(),
                                               thread_name_prefix="emkit-gmm")
    return _POOL


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """BLAS single-threaded for one E-step: its products and factorizations are small.

    A multi-threaded BLAS spends more time waking its threads than computing them,
    and on a busy machine far more: an 8 x 8 triangular solve took up to 8 ms
    with two BLAS threads and 0.02 ms with one, measured while the other core was
    busy. The E-step's rows are shared between threads by :func:`_parallel_chunks`
    instead.
    """
    with _pool()["controller"].limit(limits=1, user_api="blas"):
        yield


def _parallel_chunks(fn: Any, groups: list) -> list:
    """Run ``fn`` on each group of chunks, one thread per core (NumPy, BLAS and the
    compiled kernels release the GIL); call it under :func:`_one_blas_thread`."""
    if len(groups) <= 1:
        return [fn(g) for g in groups]
    return list(_pool()["executor"].map(fn, groups))


def _kernel_layout(prep: PreparedGaussians) -> tuple[int, np.ndarray] | None:
    """The compiled kernels' feature layout for ``prep`` and its coefficients
    ``prep.coef``, or None where the NumPy chunk kernels run instead (``tied``, and
    ``full`` by whitening)."""
    if prep.method == "whiten" or prep.covariance_type == "tied":
        return None
    # coef is None only for full by whitening, handled above
    return FULL if prep.covariance_type == "full" else DIAGONAL, cast(np.ndarray, prep.coef)


def _split_data(data: Any) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """``(X, sample_weight, log_evidence)`` from the model's data (see the class notes)."""
    if isinstance(data, tuple):
        if len(data) == 3:
            X, sample_weight, evidence = data
            return X, sample_weight, evidence
        X, sample_weight = data
        return X, sample_weight, None
    return data, None, None


class GaussianMixtureModel:
    """Gaussian mixture as an :class:`emkit.EMModel` for complete data.

    Parameters
    ----------
    covariance_type : {"full", "tied", "diag", "spherical"}, default "full"
    reg_covar : float, default 1e-6
        Added to every covariance diagonal in the M-step.
    chunk_size : int or None, default None
        Rows per E-step chunk; memory is O(chunk_size * K * D). None picks
        :func:`auto_chunk_size` from the parameters' shapes.
    dtype : float64 or float32, default float64
        Precision of the per-chunk arithmetic. Statistics are always summed in
        float64 and parameters are float64.

    Notes
    -----
    ``data`` is an array ``X`` of shape (N, D) or a tuple ``(X, sample_weight)``
    with ``sample_weight`` of shape (N,) (each row's responsibilities are
    multiplied by its weight, so integer weights equal repeated rows), or
    ``(X, sample_weight, log_evidence)`` (``sample_weight`` may be None) with
    ``log_evidence`` of shape (N, K) added to each row's log-joint before it is
    normalized: known labels (0 at the component, ``-inf`` elsewhere) and soft
    evidence (``log priors``), see :mod:`emkit.estimators._supervision`. The
    log-likelihood is then ``sum_i w_i log sum_k e_ik w_k N(x_i; mu_k, S_k)``.
    ``X`` should already be C-contiguous in ``dtype``; chunks are converted otherwise.

    The monotonicity guard: ``reg_covar`` makes the M-step a perturbed maximizer,
    so a step may lower the log-likelihood by up to :meth:`monotone_slack` (exact,
    from the statistics); beyond that only rounding is allowed, ``monotone_rtol``
    relative (see :data:`FLOAT32_MONOTONE_RTOL`).
    """

    def __init__(self, covariance_type: str = "full", reg_covar: float = 1e-6,
                 chunk_size: int | None = None, dtype: Any = np.float64):
        if covariance_type not in COVARIANCE_TYPES:
            raise ValueError(
                f"covariance_type must be one of {COVARIANCE_TYPES}, got {covariance_type!r}"
            )
        if not reg_covar >= 0.0:
            raise ValueError(f"reg_covar must be non-negative, got {reg_covar!r}")
        if chunk_size is not None and int(chunk_size) < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        self.covariance_type = covariance_type
        self.reg_covar = float(reg_covar)
        self.chunk_size = None if chunk_size is None else int(chunk_size)
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.float64, np.float32):
            raise ValueError(f"dtype must be float64 or float32, got {self.dtype}")
        self.monotone_rtol = FLOAT32_MONOTONE_RTOL if self.dtype == np.float32 \
            else MONOTONE_RTOL

    # -- the EMModel protocol -------------------------------------------------
    def e_step(self, data: Any, params: dict) -> tuple[dict, float]:
        """Additive statistics (see the module docstring) and the total log-likelihood.

        Parameters
        ----------
        data : ndarray of shape (N, D), tuple (X, sample_weight) or
            (X, sample_weight, log_evidence)
        params : dict with ``weights`` (K,), ``means`` (K, D), ``covariances``

        Returns
        -------
        stats : dict
        loglik : float
            ``sum_i w_i log p(x_i)`` (``w_i = 1`` without sample weights).
        """
        X, sample_weight, evidence = _split_data(data)
        if evidence is None and self._one_call_fits(X, params):
            k = len(params["weights"])
            parts = self._groups(X, k) if X.size * k >= PARALLEL_MIN_ELEMENTS else None
            done = e_step_one_call(X, sample_weight, params, self.covariance_type,
                                   CENTRING_LIMIT[self.dtype], parts, _parallel_chunks)
            if done is not None:
                return done
        with _one_blas_thread():
            return self._e_step(X, sample_weight, evidence, params)

    def _one_call_fits(self, X: Any, params: dict) -> bool:
        """Whether the E-step can be one compiled call
        (:func:`~emkit.gaussian.compiled_steps.e_step_one_call`; from
        ``PARALLEL_MIN_ELEMENTS`` on, one call per worker thread) without BLAS:
        ``full`` by quadratic features, ``diag`` or ``spherical``, ``X`` C-contiguous
        in ``dtype``, and products small enough for loops (``K * F <=
        SMALL_PRODUCT``), so no BLAS thread limit is needed. Measured at 1,000 x 2,
        K = 3: 173 -> ~25 us per E-step."""
        kind = self.covariance_type
        if kind not in ONE_CALL_TYPES or not isinstance(X, np.ndarray) \
                or X.dtype != self.dtype or not X.flags.c_contiguous or X.ndim != 2:
            return False
        k = len(params["weights"])
        d = X.shape[1]
        n_feat = d * (d + 1) // 2 + d + 1 if kind == "full" else 2 * d + 1
        if kind == "full" and not quadratic_full(k, d):
            return False
        return k * n_feat <= SMALL_PRODUCT

    def _e_step(self, X: np.ndarray, sample_weight: np.ndarray | None,
                evidence: np.ndarray | None, params: dict) -> tuple[dict, float]:
        prep = self._prepare(params)
        # evidence is added between the log-densities and the log-sum-exp, which the
        # one-pass compiled kernel fuses: such rows take the NumPy chunk kernels
        kernel = _kernel_layout(prep) if evidence is None else None

        def run(bounds: tuple[int, int]) -> tuple[dict, float]:
            acc = StatsAccumulator(prep)
            loglik = 0.0
            if kernel is not None:
                layout, coef = kernel
                for _, block, weights in self._contiguous(X, sample_weight, *bounds):
                    loglik += quadratic_pass(block, weights, prep.centres, coef, layout,
                                             acc.moments, prep.members, prep.bounds)
                return acc.result(), loglik
            for start, block, weights in self._chunks(X, sample_weight, len(prep.means),
                                                      *bounds):
                resp, chunk = chunk_weighted_log_prob(block, prep)
                if evidence is not None:
                    resp += evidence[start:start + len(block)].T
                row_loglik = log_resp_inplace(resp)
                if weights is not None:
                    resp *= weights
                    loglik += float(row_loglik @ weights)
                else:
                    loglik += float(row_loglik.sum())
                acc.add(chunk, resp)
            return acc.result(), loglik

        parts = _parallel_chunks(run, self._groups(X, len(prep.means)))
        stats = tree_sum(part[0] for part in parts)
        return stats, float(sum(part[1] for part in parts))

    def m_step(self, stats: dict) -> dict:
        """Parameters from summed statistics (:func:`gaussian_mixture_m_step`; for
        full, diag and spherical the same arithmetic in one compiled call,
        :func:`~emkit.gaussian.compiled_steps.m_step_one_call`: ~13 -> ~3 us)."""
        if self.covariance_type in ONE_CALL_TYPES:
            return m_step_one_call(stats, self.covariance_type, self.reg_covar, COUNT_EPS)
        return gaussian_mixture_m_step(stats, self.covariance_type, self.reg_covar)

    def monotone_slack(self, stats: dict) -> float:
        """How much the M-step from ``stats`` may lower the log-likelihood because of
        ``reg_covar`` (:func:`~emkit.gaussian.m_step.regularization_slack`)."""
        return regularization_slack(stats, self.covariance_type, self.reg_covar)

    def _prepare(self, params: dict) -> PreparedGaussians:
        """Factor the parameters for one E-step. Tied covariances with few enough
        features go through the compiled ``full`` kernel as K copies of the shared
        covariance: measured at (1M, 16, 16), 0.37 s per iteration by their own
        whitening kernels, 0.14 s this way. The statistics are the same (per
        component, summed by the tied M-step)."""
        means = np.asarray(params["means"], dtype=np.float64)
        covariances = params["covariances"]
        kind = self.covariance_type
        k, d = means.shape
        if kind == "tied" and quadratic_full(k, d):
            covariances = np.broadcast_to(np.asarray(covariances, dtype=np.float64), (k, d, d))
            kind = "full"
        return prepare_gaussians(params["weights"], means, covariances, kind, self.dtype)

    def is_feasible(self, params: dict) -> bool:
        """False for weights off the open simplex or non-positive variances."""
        weights = np.asarray(params["weights"])
        cov = np.asarray(params["covariances"])
        if not (on_simplex(weights, open_=True) and np.all(np.isfinite(cov))):
            return False
        if self.covariance_type in ("diag", "spherical"):
            return bool(np.all(cov > 0.0))
        diag = np.diagonal(cov, axis1=-2, axis2=-1)
        return bool(np.all(diag > 0.0))

    # -- helpers for estimators ----------------------------------------------
    def _size(self, X: np.ndarray, n_components: int) -> int:
        return self.chunk_size or auto_chunk_size(n_components, X.shape[1], self.covariance_type)

    def _groups(self, X: np.ndarray, n_components: int) -> list[tuple[int, int]]:
        """Row ranges, one per worker thread, each a whole number of chunks.

        Below ``PARALLEL_MIN_ELEMENTS`` (N * K * D) one thread does everything:
        handing work to threads costs more than it saves on a busy machine.
        """
        size = self._size(X, n_components)
        n_chunks = -(-len(X) // size)
        workers = _n_workers() if X.size * n_components >= PARALLEL_MIN_ELEMENTS else 1
        edges = np.linspace(0, n_chunks, min(workers, n_chunks) + 1).round().astype(int)
        return [(int(a) * size, min(int(b) * size, len(X))) for a, b in itertools.pairwise(edges)
                if b > a]

    def _chunks(self, X: np.ndarray, sample_weight: np.ndarray | None, n_components: int = 1,
                first: int = 0, last: int | None = None):
        size = self._size(X, n_components)
        last = len(X) if last is None else last
        for start in range(first, last, size):
            stop = min(start + size, last)
            block = np.asarray(X[start:stop], dtype=self.dtype)
            weights = None if sample_weight is None else sample_weight[start:stop]
            yield start, block, weights

    def _contiguous(self, X: np.ndarray, sample_weight: np.ndarray | None, first: int = 0,
                    last: int | None = None):
        """Rows ``first:last`` as C-contiguous blocks in ``dtype`` for the compiled
        kernels: one view when ``X`` already is, else converted blocks of
        ``CONVERT_ROWS`` rows (never a copy of all of ``X``)."""
        last = len(X) if last is None else last
        ready = (isinstance(X, np.ndarray) and X.dtype == self.dtype
                 and X.flags.c_contiguous)
        step = max(last - first, 1) if ready else CONVERT_ROWS
        for start in range(first, last, step):
            stop = min(start + step, last)
            block = np.ascontiguousarray(X[start:stop], dtype=self.dtype)
            weights = None if sample_weight is None else sample_weight[start:stop]
            yield start, block, weights

    def iter_weighted_log_prob(self, X: np.ndarray, params: dict):
        """Yield ``(start, log_prob)`` per chunk, ``log_prob`` of shape (C, K) holding
        ``log w_k + log N(x_i; mu_k, S_k)`` for rows ``start`` to ``start + C``."""
        prep = self._prepare(params)
        kernel = _kernel_layout(prep)
        if kernel is None:
            for start, block, _ in self._chunks(X, None, len(prep.means)):
                yield start, chunk_weighted_log_prob(block, prep)[0].T
            return
        layout, coef = kernel
        for first in range(0, len(X), CONVERT_ROWS):
            for start, block, _ in self._contiguous(X, None, first,
                                                    min(first + CONVERT_ROWS, len(X))):
                out = np.empty((len(block), len(prep.means)), dtype=self.dtype)
                with _one_blas_thread():
                    quadratic_log_prob(block, prep.centres, coef, layout, out,
                                       prep.members, prep.bounds)
                yield start, out

    def log_prob_rows(self, X: np.ndarray, params: dict) -> np.ndarray:
        """Weighted log-probabilities ``log w_k + log N(x_i; mu_k, S_k)``, shape (N, K)."""
        with _one_blas_thread():
            return self._log_prob_rows(X, params)

    def _log_prob_rows(self, X: np.ndarray, params: dict) -> np.ndarray:
        prep = self._prepare(params)
        out = np.empty((len(X), len(prep.means)), dtype=self.dtype)
        kernel = _kernel_layout(prep)

        def run(bounds: tuple[int, int]) -> None:
            if kernel is not None:
                layout, coef = kernel
                for start, block, _ in self._contiguous(X, None, *bounds):
                    quadratic_log_prob(block, prep.centres, coef, layout,
                                       out[start:start + len(block)], prep.members,
                                       prep.bounds)
                return
            for start, block, _ in self._chunks(X, None, len(prep.means), *bounds):
                out[start:start + len(block)] = chunk_weighted_log_prob(block, prep)[0].T

        _parallel_chunks(run, self._groups(X, len(prep.means)))
        return out

    def stats_from_resp(self, X: np.ndarray, resp: np.ndarray, n_components: int,
                        sample_weight: np.ndarray | None = None) -> dict:
        """Statistics of given responsibilities (for initialization), centred on
        the responsibility-weighted means, as scikit-learn's two-pass estimate.

        Parameters
        ----------
        X : ndarray of shape (N, D)
        resp : ndarray of shape (N, K), or integer labels of shape (N,)
        n_components : int
        sample_weight : ndarray of shape (N,) or None
        """
        X = np.asarray(X, dtype=np.float64)
        d = X.shape[1]
        full_like = self.covariance_type in ("full", "tied")
        n = np.zeros(n_components)
        total = np.zeros((n_components, d))
        centred = np.zeros((n_components, d))
        outer = np.zeros((n_components, d, d) if full_like else (n_components, d))
        eps = 10 * np.finfo(float).eps
        for k in range(n_components):
            if resp.ndim == 1:  # hard labels: only the component's own rows
                rows = np.flatnonzero(resp == k)
                block = X[rows]
                r = np.ones(len(rows)) if sample_weight is None else sample_weight[rows]
            else:
                block = X
                r = np.asarray(resp[:, k], dtype=np.float64)
                if sample_weight is not None:
                    r = r * sample_weight
            n[k] = r.sum()
            total[k] = r @ block
            diff = block - total[k] / (n[k] + eps)
            rd = diff * r[:, None]
            centred[k] = rd.sum(axis=0)
            outer[k] = rd.T @ diff if full_like else (rd * diff).sum(axis=0)
        return {"n": n, "sum": total, "centred_sum": centred, "centred_outer": outer}
