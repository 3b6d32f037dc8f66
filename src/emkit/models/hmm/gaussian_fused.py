"""One compiled pass per sequence for Gaussian HMM states: densities, forward-backward, statistics.

The generic E-step (:meth:`emkit.models.hmm.model.HMMModel.e_step`) makes three
passes over a block of up to 262,144 rows, each through arrays of shape
(n_rows, K) held in memory: the frame probabilities, the forward-backward
posteriors, then the states' moments. Here each thread takes its sequences one
at a time and does all three on that sequence while its rows are in cache,
with its own scratch arrays (one sequence long) and its own accumulators, which
are summed at the end (no two threads write the same memory). The sequence's
rows are transposed once (features x frames), and the frame probabilities
(:func:`emkit.models.hmm.gaussian_columns.diag_frame` / ``full_frame``) and the
full-covariance moments (``full_moments``) loop over the frames innermost;
:func:`emkit.models.hmm.recursions._fb_one` runs the scaled forward-backward and
``_moment_rows`` the diagonal moments about each state's E-step mean. The
products are those of the generic kernels; only the order in which they are
added up differs (sequence by sequence, frame blocks), so the statistics agree
with the generic path to rounding.

Rows with NaN entries (missing at random) get what the generic path gives them:
the observed entries' exact marginal density, and in the statistics the missing
entries' conditional expectations (as
:meth:`emkit.distributions.Gaussian.stats_components_missing`); a row with
nothing observed contributes only its transition. With diagonal (or spherical)
covariances the kernel does both itself, row by row (the marginal is the product
over the observed entries; a missing entry is its state's mean, with the
state's variance added to the second moment). With full (or tied) ones the
rows' frame probabilities are computed beforehand by the generic code
(:func:`emkit.gaussian.missing_kernels.pattern_log_densities`) and written over
the sequence's frame, and their posteriors are handed back to
:func:`emkit.gaussian.missing_kernels.pattern_moments`. The complete rows'
diagonal moments are summed in runs between them; in the full moments those rows
get weight 0.

Measured on one thread (CPU time of one E-step, 100 sequences x 1,000 frames,
16 states, 8 features, against the three passes): diagonal covariances 23 ->
17.7 ms, full 49.5 -> 44 ms. Then the frames-innermost kernels of
:mod:`~emkit.models.hmm.gaussian_columns` and the generated vector-matrix
products of :mod:`~emkit.models.hmm.vec_mat`, side by side with the one-pass
kernel before them in one process on the loaded 2-core machine (medians of 15):
diagonal 23.5 -> 17.1 ms, full 59 -> 31.6 ms. Where the time goes now (one
thread, each piece's share measured by leaving it out, fastest of 15): diagonal
frame probabilities 3.6 ms, forward-backward 6.7, transition counts 1.3,
moments 2.1; full 11.7, 6.5, 1.9 and 9.1 ms. With 1 % of the entries NaN, the
NaN fit takes 1.10x (diagonal) and 1.13x (full) the complete fit's time per
iteration (``benchmarks/bench_hmm_missing.py``, measured before these kernels;
1.98x and 1.40x before that, on one thread).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from ...distributions.gaussian import Gaussian, _check_pattern, _means_and_full_covariances
from ...distributions.missing import MissingEntries
from ...gaussian.component_kernels import _diag_rows, _finish_row, _moment_rows
from ...gaussian.missing_kernels import pattern_moments
from ...gaussian.reference import LOG_2PI, precision_cholesky
from ...numerics import parallel
from ...numerics.parallel import FASTMATH as _FAST
from .gaussian_columns import (
    BLOCK,
    diag_frame,
    diag_moments,
    full_frame,
    full_moments,
    transpose_rows,
)
from .recursions import _fb_one

__all__ = ["gaussian_e_step"]

#: Diagonal frame probabilities and moments by
#: :mod:`~emkit.models.hmm.gaussian_columns` (frames innermost) rather than the row
#: kernels (states innermost).
DIAG_COLUMNS = True


@njit(cache=True, fastmath=_FAST)
def _diag_row_missing(rows, r, means_t, prec_t, logp_t, frame, shift, acc,
                      lnorm):  # pragma: no cover - compiled
    """Frame probabilities of row ``r`` with NaN entries, diagonal covariances: the
    density of its observed entries (their product; 1 for every state when none is
    observed), relative to the row maximum (``shift[r]``)."""
    d, k = means_t.shape
    for j in range(k):
        acc[j] = 0.0
        lnorm[j] = 0.0
    seen = 0
    for f in range(d):
        x = rows[r, f]
        if x == x:  # observed
            seen += 1
            for j in range(k):
                e = x - means_t[f, j]
                acc[j] += e * e * prec_t[f, j]
                lnorm[j] += logp_t[f, j]
    half = 0.5 * seen * LOG_2PI
    for j in range(k):
        lnorm[j] -= half
    _finish_row(frame, r, lnorm, acc, True, shift)


@njit(cache=True, fastmath=_FAST)
def _diag_moments_missing(rows, r, gamma, means_t, var_t, first, second,
                          observed):  # pragma: no cover - compiled
    """Expected moments of row ``r`` with NaN entries, diagonal covariances: a missing
    entry is its state's mean (adds 0 to ``first``) with the state's variance added
    to ``second``; a row with nothing observed adds nothing."""
    d, k = means_t.shape
    seen = 0
    for f in range(d):
        if rows[r, f] == rows[r, f]:
            seen += 1
    if seen == 0:
        return
    for f in range(d):
        x = rows[r, f]
        if x == x:
            for j in range(k):
                z = x - means_t[f, j]
                g = gamma[r, j] * z
                first[f, j] += g
                second[f, j] += g * z
        else:
            for j in range(k):
                second[f, j] += gamma[r, j] * var_t[f, j]
    for j in range(k):
        observed[j] += gamma[r, j]


@njit(cache=True)
def _group(X, offsets, first_seq, last_seq, weights, startprob, transmat, transmat_t,
           means_t, factor, log_norm, full, patch_rows, patch_frame, patch_shift, seq_patch,
           patch_gamma, inline, var_t, logp_t, means, col_factor, columns, logliks, start,
           visits, complete, observed, trans, first, second):  # pragma: no cover - compiled
    """Sequences first_seq..last_seq-1, their sums added into this group's accumulators.

    ``factor`` is the (D, K) precision per feature (diag) or the (D, D, K) upper
    precision factor (full); ``second`` is (D, K) or (D, D, K) accordingly. Rows
    ``patch_rows`` (sorted; those of sequence ``s`` are
    ``seq_patch[s]:seq_patch[s + 1]``) have NaN entries: their frame probabilities
    are given (``patch_frame``, ``patch_shift``), their posteriors go to
    ``patch_gamma`` and are summed into ``visits``; they are left out of the
    moments and of ``complete`` (the posteriors of the complete rows, summed). With
    ``inline`` (diagonal covariances) the kernel handles those rows itself instead
    (:func:`_diag_row_missing`, :func:`_diag_moments_missing`; ``var_t`` and
    ``logp_t`` are the variances and the log precision factors, (D, K)), and
    ``observed`` sums the posteriors of the partly observed ones. The scratch
    arrays are as long as the group's longest sequence.
    """
    k = startprob.shape[0]
    d = X.shape[1]
    max_len = 1
    for s in range(first_seq, last_seq):
        max_len = max(max_len, offsets[s + 1] - offsets[s])
    frame = np.empty((max_len, k))
    shift = np.empty(max_len)
    alpha = np.empty((max_len, k))
    gamma = np.empty((max_len, k))
    scale = np.empty(max_len)
    acc = np.empty(k)
    lnorm = np.empty(k)
    xt = np.empty((d, max_len))  # the sequence's rows as columns
    gt = np.empty((k, max_len))  # its posteriors as rows
    q = np.empty((k, BLOCK))
    zb = np.empty((d, BLOCK))
    wb = np.empty((d, BLOCK))
    yb = np.empty(BLOCK)
    top = np.empty(BLOCK)
    for s in range(first_seq, last_seq):
        lo = offsets[s]
        hi = offsets[s + 1]
        n = hi - lo
        rows = X[lo:hi]
        if full or columns:
            transpose_rows(X, lo, hi, xt)
        if full:
            full_frame(xt, n, means, col_factor, log_norm, frame, shift, zb, yb, q, top)
        elif columns:
            diag_frame(xt, n, means, col_factor[:, 0], log_norm, frame, shift, q, top)
        else:
            _diag_rows(rows, means_t, factor[0], log_norm, True, 0, n, frame, shift)
        for p in range(seq_patch[s], seq_patch[s + 1]):
            r = patch_rows[p] - lo
            if inline:
                _diag_row_missing(rows, r, means_t, factor[0], logp_t, frame, shift, acc,
                                  lnorm)
                continue
            shift[r] = patch_shift[p]
            for j in range(k):
                frame[r, j] = patch_frame[p, j]
        logliks[s] = _fb_one(frame, shift, 0, n, startprob, transmat, transmat_t, alpha,
                             gamma, scale, weights[s])
        if n > 1:  # frame[1:n] now holds weight * b beta / c (see _fb_one)
            trans += np.dot(alpha[:n - 1].T, frame[1:n])
        for j in range(k):
            start[j] += gamma[0, j]
        cut = 0
        for p in range(seq_patch[s], seq_patch[s + 1] + 1):
            stop = patch_rows[p] - lo if p < seq_patch[s + 1] else n
            if p < seq_patch[s + 1]:
                for j in range(k):
                    patch_gamma[p, j] = gamma[stop, j]
                    visits[j] += gamma[stop, j]
                if inline:
                    _diag_moments_missing(rows, stop, gamma, means_t, var_t, first, second[0],
                                          observed)
            if stop > cut:  # the complete rows cut..stop-1
                for t in range(cut, stop):
                    for j in range(k):
                        complete[j] += gamma[t, j]
                if not (full or columns):
                    _moment_rows(rows, gamma, means_t, cut, stop, first, second[0])
            cut = stop + 1
        if full or columns:  # the complete rows' moments; the rows with NaN get weight 0
            transpose_rows(gamma, 0, n, gt)
            for p in range(seq_patch[s], seq_patch[s + 1]):
                for j in range(k):
                    gt[j, patch_rows[p] - lo] = 0.0
            if full:
                full_moments(xt, n, gt, means, first, second, zb, wb)
            else:
                diag_moments(xt, n, gt, means, first, second[0])


@njit(cache=True, parallel=True)
def _parallel(X, offsets, weights, startprob, transmat, transmat_t, means_t, factor, log_norm,
              full, patch_rows, patch_frame, patch_shift, seq_patch, patch_gamma, inline,
              var_t, logp_t, means, col_factor, columns, groups, logliks, start, visits,
              complete, observed, trans, first, second):  # pragma: no cover - compiled
    n_seq = offsets.shape[0] - 1
    for g in prange(groups):
        _group(X, offsets, (n_seq * g) // groups, (n_seq * (g + 1)) // groups, weights,
               startprob, transmat, transmat_t, means_t, factor, log_norm, full, patch_rows,
               patch_frame, patch_shift, seq_patch, patch_gamma, inline, var_t, logp_t,
               means, col_factor, columns, logliks, start[g], visits[g], complete[g],
               observed[g], trans[g], first[g], second[g])


def _parameters(components: list[Any], n_features: int) -> tuple | None:
    """(full, means (K, D), means_t (D, K), factor, log_norm (K,), var_t (D, K),
    logp_t (D, K), col_factor) of K Gaussians, or None when they do not stack (mixed
    covariance types, a mean not set). ``factor`` is state-last for the row kernels
    ((D, D, K) upper precision factors, or (1, D, K) precisions per feature),
    ``col_factor`` state-first for :mod:`~emkit.models.hmm.gaussian_columns`
    ((K, D, D), or (K, 1, D)). ``var_t`` and ``logp_t``, the variances and the log
    precision factors per feature, are for diagonal kinds (zeros for full)."""
    stacked = Gaussian._stack(components)
    if stacked is None:
        return None
    kind, means, covs = stacked
    prec = precision_cholesky(covs, kind)
    d = n_features
    means = np.ascontiguousarray(means, dtype=np.float64)
    means_t = np.ascontiguousarray(means.T)
    if kind == "full":
        upper = np.ascontiguousarray(np.triu(np.asarray(prec, dtype=np.float64)))
        factor = np.ascontiguousarray(upper.transpose(1, 2, 0))
        log_norm = (np.log(np.diagonal(upper, axis1=1, axis2=2)).sum(axis=1)
                    - 0.5 * d * LOG_2PI)
        none = np.zeros((d, len(means)))
        return True, means, means_t, factor, log_norm, none, none, upper
    per_feature = prec if kind == "diag" else np.repeat(prec[:, None], d, axis=1)
    per_feature = np.asarray(per_feature, dtype=np.float64)
    log_factor = np.log(per_feature)
    log_norm = log_factor.sum(axis=1) - 0.5 * d * LOG_2PI
    # (1, D, K) and (K, 1, D): one array rank for both kinds keeps one compiled kernel
    precision = per_feature**2
    factor = np.ascontiguousarray(precision.T)[None]
    variances = np.asarray(covs, dtype=np.float64)
    if kind != "diag":
        variances = np.repeat(variances[:, None], d, axis=1)
    return (False, means, means_t, factor, log_norm, np.ascontiguousarray(variances.T),
            np.ascontiguousarray(log_factor.T), np.ascontiguousarray(precision[:, None, :]))


def _patches(components: list[Any], missing: MissingEntries | None, k: int
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray, Any, np.ndarray]:
    """The rows with NaN entries, sorted, with their frame probabilities and shifts, as
    :meth:`emkit.distributions.Gaussian.frame_components_missing` gives them (the
    observed entries' exact marginal density; 1 and 0 for a row with nothing
    observed), the packed partly observed rows, and their places among the sorted ones."""
    if missing is None:
        none = np.zeros(0, dtype=np.int64)
        return none, np.zeros((0, k)), np.zeros(0), None, none
    rows, log_density = Gaussian._observed_log_densities(components, missing)
    patch_rows = np.flatnonzero(~missing.complete).astype(np.int64)
    frame = np.ones((len(patch_rows), k))
    shift = np.zeros(len(patch_rows))
    place = np.searchsorted(patch_rows, rows)
    if rows.size:
        top = log_density.max(axis=1)
        top = np.where(np.isfinite(top), top, 0.0)
        with np.errstate(under="ignore"):
            frame[place] = np.exp(log_density - top[:, None])
        shift[place] = top
    return patch_rows, frame, shift, missing.packed(), place


def gaussian_e_step(X: np.ndarray, offsets: np.ndarray, weights: np.ndarray | None,
                    components: list[Any], startprob: np.ndarray, transmat: np.ndarray,
                    missing: MissingEntries | None = None
                    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, list[dict]] | None:
    """The E-step of sequences with Gaussian states, in one pass per sequence.

    Parameters
    ----------
    X : ndarray of shape (n_samples, n_features)
        The rows of the sequences, back to back.
    offsets : ndarray of shape (n_sequences + 1,)
    weights : ndarray of shape (n_sequences,) or None
    components : list of K Gaussian
        The states' distributions at the E-step's parameters.
    startprob : ndarray of shape (K,)
    transmat : ndarray of shape (K, K)
    missing : MissingEntries or None
        The NaN entries of ``X`` (missing at random): their rows take the
        observed entries' marginal density and, in the statistics, the
        conditional expectations, exactly as
        :meth:`~emkit.distributions.Gaussian.stats_components_missing` does.

    Returns
    -------
    None when the states do not stack (the generic path applies), else
    logliks : ndarray of shape (n_sequences,)
        Each sequence's log-likelihood, not weighted.
    start, visits : ndarrays of shape (K,)
        Weighted posteriors of the first rows, and of all rows, summed.
    trans : ndarray of shape (K, K)
        Weighted expected transition counts.
    stats : list of K dict
        Each state's statistics, as :meth:`emkit.distributions.Gaussian.stats_components`
        (or ``stats_components_missing``) gives them.
    """
    stacked = _parameters(components, X.shape[1])
    if stacked is None:
        return None
    full, means, means_t, factor, log_norm, var_t, logp_t, col_factor = stacked
    k, d = means.shape
    inline = missing is not None and not full  # diagonal: NaN rows done in the kernel
    if inline:
        assert missing is not None
        patch_rows = np.flatnonzero(~missing.complete).astype(np.int64)
        patch_frame, patch_shift, packed = np.zeros((0, k)), np.zeros(0), None
        place = np.zeros(0, dtype=np.int64)
    else:
        patch_rows, patch_frame, patch_shift, packed, place = _patches(components, missing, k)
        if missing is not None:
            X = missing.zero_filled()
    X = np.ascontiguousarray(X, dtype=np.float64)
    offsets = np.ascontiguousarray(offsets, dtype=np.int64)
    n_seq = len(offsets) - 1
    weights = (np.ones(n_seq) if weights is None
               else np.ascontiguousarray(weights, dtype=np.float64))
    startprob = np.ascontiguousarray(startprob, dtype=np.float64)
    transmat = np.ascontiguousarray(transmat, dtype=np.float64)
    groups = parallel.n_groups(n_seq, len(X))
    logliks = np.empty(n_seq)
    patch_gamma = np.empty((len(patch_rows), k))
    start = np.zeros((groups, k))
    visits = np.zeros((groups, k))
    complete = np.zeros((groups, k))
    observed = np.zeros((groups, k))
    trans = np.zeros((groups, k, k))
    first = np.zeros((groups, d, k))
    second = np.zeros((groups, d, d, k) if full else (groups, 1, d, k))
    args = (X, offsets, weights, startprob, transmat, np.ascontiguousarray(transmat.T),
            means_t, factor, log_norm, full, patch_rows, patch_frame, patch_shift,
            np.searchsorted(patch_rows, offsets).astype(np.int64), patch_gamma, inline, var_t,
            logp_t, means, col_factor, DIAG_COLUMNS)
    if groups == 1:
        _group(*args[:2], 0, n_seq, *args[2:], logliks, start[0], visits[0], complete[0],
               observed[0], trans[0], first[0], second[0])
    else:
        _parallel(*args, groups, logliks, start, visits, complete, observed, trans, first,
                  second)
    n = complete.sum(axis=0)
    visits = visits.sum(axis=0) + n  # the rows with NaN, then the complete ones
    n = n + observed.sum(axis=0)  # the partly observed rows' (diagonal kinds)
    obs = np.ascontiguousarray(first.sum(axis=0).T)  # (K, D)
    if full:
        upper = second.sum(axis=0).transpose(2, 0, 1)  # (K, D, D), upper triangle filled
        lower = np.tril_indices(d, -1)
        outer = np.ascontiguousarray(upper)
        outer[:, lower[0], lower[1]] = upper[:, lower[1], lower[0]]
    else:
        outer = np.ascontiguousarray(second.sum(axis=0)[0].T)
    sums = n[:, None] * means + obs
    stats = [{"n": np.asarray(n[j]), "sum": sums[j], "centred_sum": obs[j],
              "centred_outer": outer[j]} for j in range(k)]
    if packed is not None and packed.rows.size:
        stats = _with_partial_rows(stats, components, packed, patch_gamma[place], full)
    return logliks, start.sum(axis=0), visits, trans.sum(axis=0) * transmat, stats


def _with_partial_rows(stats: list[dict], components: list[Any], packed: Any,
                       resp: np.ndarray, full: bool) -> list[dict]:
    """The partly observed rows' expected statistics added, as
    :meth:`emkit.distributions.Gaussian.stats_components_missing` adds them (``resp``
    their posteriors, in the packed order)."""
    means, covs = _means_and_full_covariances(components)
    n, first, outer, bad = pattern_moments(packed.values, packed.bounds, packed.masks, resp,
                                           means, covs)
    _check_pattern(bad, packed.masks)
    out = []
    for j, s in enumerate(stats):
        second = outer[j] if full else np.diagonal(outer[j]).copy()
        out.append({"n": np.asarray(s["n"] + n[j]),
                    "sum": s["sum"] + first[j] + n[j] * means[j],
                    "centred_sum": s["centred_sum"] + first[j],
                    "centred_outer": s["centred_outer"] + second})
    return out
