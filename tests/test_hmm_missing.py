"""NaN entries in HMM frames: missing at random.

Every number is checked against a reference written here: emission densities
from scipy (the marginal of the observed coordinates), a forward-backward in log
space (itself checked by summing over every path of a short sequence), and the
M-step from the reference posteriors with the missing entries' conditional
expectations written out (``E[x_m | x_o] = mu_m + S_mo S_oo^-1 (x_o - mu_o)`` and
the conditional covariance added to the scatter).
"""

from __future__ import annotations

import itertools
import warnings

import dask
import dask.array as da
import numpy as np
import pytest
from scipy import stats as sps
from scipy.special import logsumexp

import emkit
from emkit import GMMHMM, HMM, GaussianHMM
from emkit.backends import ChunkedModel
from emkit.distributions import Categorical, Gaussian, Independent, Poisson
from emkit.engine import observe
from emkit.engine.stats import tree_max_abs_diff
from emkit.gaussian import missing_kernels as mk
from emkit.gaussian.missing_patterns import group_by_pattern
from emkit.models.hmm.model import HMMModel, Sequences
from emkit.numerics.nan_rows import nan_row_counts

K, D = 2, 3
LENGTHS = [40, 30]
START = np.array([0.6, 0.4])
TRANS = np.array([[0.85, 0.15], [0.25, 0.75]])
MEANS = np.array([[0.0, 1.0, -1.0], [3.0, -2.0, 2.0]])
COV = np.array([[[1.0, 0.5, 0.2], [0.5, 1.5, -0.3], [0.2, -0.3, 0.8]],
                [[0.7, -0.2, 0.1], [-0.2, 0.9, 0.4], [0.1, 0.4, 1.2]]])


def _quiet(fit, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return fit(*args, **kwargs)


def _holes(X: np.ndarray, rate: float, seed: int) -> np.ndarray:
    """``X`` with entries set to NaN at random, one row all NaN and one with a single value."""
    X = np.array(X, dtype=float)
    X[np.random.default_rng(seed).random(X.shape) < rate] = np.nan
    X[7] = np.nan
    X[12, 1:] = np.nan
    return X


def _gaussian_data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.concatenate([_chain(rng, n) for n in LENGTHS])
    X = np.stack([rng.multivariate_normal(MEANS[k], COV[k]) for k in z])
    return _holes(X, 0.2, seed + 1)


def _chain(rng: np.random.Generator, n: int) -> np.ndarray:
    z = [rng.choice(K, p=START)]
    for _ in range(n - 1):
        z.append(rng.choice(K, p=TRANS[z[-1]]))
    return np.array(z)


# -- the reference -----------------------------------------------------------------------

def gaussian_log_density(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> float:
    """log N(x_o; mu_o, S_oo) over the observed coordinates (0 when there are none)."""
    o = ~np.isnan(x)
    if not o.any():
        return 0.0
    return float(sps.multivariate_normal(mean[o], cov[np.ix_(o, o)]).logpdf(x[o]))


def completed(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray,
                                                                          np.ndarray]:
    """The row completed by E[x_m | x_o] and the conditional covariance (in the m block)."""
    o, m = ~np.isnan(x), np.isnan(x)
    full = x.copy()
    cond = np.zeros((len(x), len(x)))
    if m.any():
        gain = cov[np.ix_(m, o)] @ np.linalg.inv(cov[np.ix_(o, o)])
        full[m] = mean[m] + gain @ (x[o] - mean[o])
        cond[np.ix_(m, m)] = cov[np.ix_(m, m)] - gain @ cov[np.ix_(o, m)]
    return full, cond


def forward_backward(log_b: np.ndarray, lengths, start, trans):
    """Log-likelihood, posteriors (n, K) and expected transitions (K, K), in log space."""
    log_a, log_s = np.log(trans), np.log(start)
    total, gammas, xi = 0.0, [], np.zeros_like(trans)
    offset = 0
    for n in lengths:
        lb = log_b[offset:offset + n]
        offset += n
        alpha = np.empty_like(lb)
        beta = np.zeros_like(lb)
        alpha[0] = log_s + lb[0]
        for t in range(1, n):
            alpha[t] = logsumexp(alpha[t - 1][:, None] + log_a, axis=0) + lb[t]
        for t in range(n - 2, -1, -1):
            beta[t] = logsumexp(log_a + lb[t + 1] + beta[t + 1], axis=1)
        ll = logsumexp(alpha[-1])
        total += ll
        gammas.append(np.exp(alpha + beta - ll))
        for t in range(n - 1):
            xi += np.exp(alpha[t][:, None] + log_a + lb[t + 1] + beta[t + 1] - ll)
    return total, np.concatenate(gammas), xi


def viterbi(log_b: np.ndarray, start, trans) -> tuple[float, np.ndarray]:
    """Best path of one sequence and its joint log-probability."""
    log_a = np.log(trans)
    delta = np.log(start) + log_b[0]
    back = []
    for t in range(1, len(log_b)):
        scores = delta[:, None] + log_a
        back.append(scores.argmax(axis=0))
        delta = scores.max(axis=0) + log_b[t]
    path = [int(delta.argmax())]
    for b in reversed(back):
        path.append(int(b[path[-1]]))
    return float(delta.max()), np.array(path[::-1])


def gaussian_log_b(X: np.ndarray, means: np.ndarray, covs: np.ndarray) -> np.ndarray:
    return np.array([[gaussian_log_density(x, means[k], covs[k]) for k in range(len(means))]
                     for x in X])


def chain_update(gamma: np.ndarray, xi: np.ndarray, lengths) -> tuple[np.ndarray, np.ndarray]:
    first = gamma[np.concatenate([[0], np.cumsum(lengths)[:-1]])].sum(axis=0)
    return first / first.sum(), xi / xi.sum(axis=1, keepdims=True)


def gaussian_state_moments(X, gamma, means, covs):
    """Per state: expected visits (frames with something observed), the completed sums
    and, for any new means, the expected scatter about them."""
    seen = ~np.isnan(X).all(axis=1)
    n = gamma[seen].sum(axis=0)
    fills = [[completed(x, means[k], covs[k]) for x in X[seen]] for k in range(len(means))]
    sums = np.array([sum(g * f[0] for g, f in zip(gamma[seen, k], fills[k], strict=True)) for k in
                     range(len(means))])

    def scatter(k, centre):
        return sum(g * (np.outer(f[0] - centre, f[0] - centre) + f[1])
                   for g, f in zip(gamma[seen, k], fills[k], strict=True))
    return n, sums, scatter


def _set(model, **attrs):
    for name, value in attrs.items():
        setattr(model, name, value)
    return model


# -- the reference itself ------------------------------------------------------------------

def test_reference_forward_equals_the_sum_over_paths():
    X = _gaussian_data()[:6]
    log_b = gaussian_log_b(X, MEANS, COV)
    total = logsumexp([np.log(START[p[0]]) + sum(np.log(TRANS[a, b]) for a, b in
                                                   itertools.pairwise(p))
                       + sum(log_b[t, p[t]] for t in range(6))
                       for p in itertools.product(range(K), repeat=6)])
    assert forward_backward(log_b, [6], START, TRANS)[0] == pytest.approx(total, rel=1e-12)


# -- GaussianHMM, every covariance type ------------------------------------------------------

def _gaussian_hmm(ctype: str, **kw) -> tuple[GaussianHMM, np.ndarray]:
    covars = {"full": COV, "diag": np.diagonal(COV, axis1=1, axis2=2).copy(),
              "spherical": np.array([1.1, 0.9]), "tied": COV[0]}[ctype]
    model = _set(GaussianHMM(K, ctype, init_params="", **kw), startprob_=START,
                 transmat_=TRANS, means_=MEANS)
    model.covars_ = covars
    return model, model.covars_  # full matrices


@pytest.mark.parametrize("ctype", ["spherical", "diag", "full", "tied"])
def test_gaussian_hmm_likelihood_posteriors_and_viterbi(ctype):
    X = _gaussian_data()
    model, covs = _gaussian_hmm(ctype)
    log_b = gaussian_log_b(X, MEANS, covs)
    ll, gamma, _ = forward_backward(log_b, LENGTHS, START, TRANS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    score, post = model.score_samples(X, LENGTHS)
    assert score == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(post, gamma, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(model.predict_proba(X, LENGTHS), gamma, rtol=1e-9, atol=1e-12)
    best = [viterbi(log_b[a:a + n], START, TRANS) for a, n in
            zip(np.r_[0, np.cumsum(LENGTHS)[:-1]], LENGTHS, strict=True)]
    logprob, path = model.decode(X, LENGTHS)
    assert logprob == pytest.approx(sum(b[0] for b in best), rel=1e-12)
    np.testing.assert_array_equal(path, np.concatenate([b[1] for b in best]))
    np.testing.assert_array_equal(model.predict(X, LENGTHS), path)
    _, map_path = model.decode(X, LENGTHS, algorithm="map")
    np.testing.assert_array_equal(map_path, gamma.argmax(axis=1))


@pytest.mark.parametrize("ctype", ["spherical", "diag", "full", "tied"])
def test_gaussian_hmm_one_em_step_is_the_expected_statistics_update(ctype):
    X = _gaussian_data()
    prior = 0.01 * np.eye(D) if ctype in ("full", "tied") else 0.01
    model, covs = _gaussian_hmm(ctype, n_iter=1, covars_prior=(
        np.tile(prior, (K, 1, 1)) if ctype == "full" else prior))
    _quiet(model.fit, X, LENGTHS)
    _, gamma, xi = forward_backward(gaussian_log_b(X, MEANS, covs), LENGTHS, START, TRANS)
    start, trans = chain_update(gamma, xi, LENGTHS)
    np.testing.assert_allclose(model.startprob_, start, rtol=1e-9)
    np.testing.assert_allclose(model.transmat_, trans, rtol=1e-9)
    n, sums, scatter = gaussian_state_moments(X, gamma, MEANS, covs)
    means = sums / n[:, None]
    np.testing.assert_allclose(model.means_, means, rtol=1e-9)
    second = np.array([scatter(k, means[k]) for k in range(K)])
    if ctype == "full":
        expected = (prior + second) / n[:, None, None]
    elif ctype == "tied":
        expected = np.tile((prior + second.sum(axis=0)) / n.sum(), (K, 1, 1))
    else:
        var = (prior + np.diagonal(second, axis1=1, axis2=2)) / n[:, None]
        if ctype == "spherical":
            var = np.tile(var.mean(axis=1, keepdims=True), (1, D))
        expected = np.stack([np.diag(v) for v in var])
    np.testing.assert_allclose(model.covars_, expected, rtol=1e-9, atol=1e-14)


def _penalized_q(X, gamma, means, covs, psi, fill_means, fill_covs):
    """Sum over states of the expected complete-data Gaussian log-likelihood (up to a
    constant), the missing entries filled at (fill_means, fill_covs), plus hmmlearn's
    inverse-Wishart term at covars_weight=1, D=3: -tr(psi S^-1) / 2."""
    n, _sums, scatter = gaussian_state_moments(X, gamma, fill_means, fill_covs)
    total = 0.0
    for k in range(len(means)):
        inv = np.linalg.inv(covs[k])
        total += (-0.5 * n[k] * np.linalg.slogdet(covs[k])[1]
                  - 0.5 * np.trace(inv @ (scatter(k, means[k]) + psi)))
    return total


def test_full_covariance_step_with_nan_is_the_exact_map_update():
    # hmmlearn's default prior (covars_prior=1e-2 on every entry, covars_weight=1), no floor
    X = _gaussian_data(3)
    model, covs = _gaussian_hmm("full", n_iter=1, min_covar=0.0)
    _quiet(model.fit, X, LENGTHS)
    _, gamma, _xi = forward_backward(gaussian_log_b(X, MEANS, covs), LENGTHS, START, TRANS)
    n, sums, scatter = gaussian_state_moments(X, gamma, MEANS, covs)
    psi = np.full((D, D), 1e-2)
    means = sums / n[:, None]
    # argmax of -n/2 log det S - tr(S^-1 (scatter + psi)) / 2: the (scatter + psi) / n
    expected = np.array([(scatter(k, means[k]) + psi) / n[k] for k in range(K)])
    np.testing.assert_allclose(model.means_, means, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(model.covars_, expected, rtol=1e-10, atol=1e-12)
    # and it is the maximizer: every nearby point has a lower penalized expectation
    best = _penalized_q(X, gamma, model.means_, model.covars_, psi, MEANS, covs)
    rng = np.random.default_rng(0)
    for _ in range(20):
        a = rng.normal(size=(K, D, D))
        moved_covs = model.covars_ + 1e-3 * (a + a.transpose(0, 2, 1))
        moved_means = model.means_ + 1e-3 * rng.normal(size=(K, D))
        assert _penalized_q(X, gamma, moved_means, moved_covs, psi, MEANS, covs) < best


def _penalized_run(make, X):
    """The engine's objective at each iteration (log-likelihood plus the log prior)
    and the fitted estimator."""
    objective: list[float] = []
    with observe(lambda step: objective.append(step.loglik)):
        model = _quiet(make().fit, X, LENGTHS)
    return np.array(objective), model


@pytest.mark.parametrize("ctype", ["spherical", "diag", "full", "tied"])
def test_gaussian_hmm_fit_climbs_without_a_guard_warning(ctype):
    # pytest turns every warning into an error: the monotonicity guard stays silent.
    # With hmmlearn's default covars_prior=1e-2 the M-step is the MAP update, which
    # raises the log-likelihood plus the log prior, not the log-likelihood alone (the
    # full fit's log-likelihood falls by up to 7.7e-7 after iteration 14 while the
    # penalized one still climbs by 3e-12 or more); without the prior the
    # log-likelihood itself climbs. Tolerance: 1e-11 relative, a few hundred times
    # float64's rounding of a sum of 70 frames' log-densities (the steps measured
    # fall by at most 1.7e-13 once converged).
    X = _gaussian_data(3)
    objective, model = _penalized_run(
        lambda: GaussianHMM(K, ctype, n_iter=25, tol=0, random_state=0), X)
    history = np.array(model.monitor_.history)
    assert len(objective) == len(history) == 26
    assert np.all(np.diff(objective) >= -1e-11 * np.abs(objective[1:]))
    assert history[-1] > history[0]
    # the monitor reports the log-likelihood: the objective less the prior's
    # -tr(psi S^-1) / 2 (diag, spherical: -psi / 2 per variance; a = 0 at weight 1)
    inv = np.linalg.inv(model.covars_)
    prior = -0.5 * 1e-2 * (inv.sum() if ctype in ("full",) else
                           (inv[0].sum() if ctype == "tied" else np.trace(inv, axis1=1,
                                                                          axis2=2).sum()))
    assert objective[-1] - history[-1] == pytest.approx(prior, rel=1e-9)
    _, plain = _penalized_run(
        lambda: GaussianHMM(K, ctype, n_iter=25, tol=0, random_state=0, covars_prior=0.0), X)
    free = np.array(plain.monitor_.history)
    assert np.all(np.diff(free) >= -1e-11 * np.abs(free[1:]))
    assert free[-1] > free[0]


def test_frames_with_nothing_observed_contribute_only_their_transitions():
    model, _ = _gaussian_hmm("full")
    lost = np.full((6, D), np.nan)
    assert model.score(lost) == pytest.approx(0.0, abs=1e-12)
    marginals = [START]
    for _ in range(5):
        marginals.append(marginals[-1] @ TRANS)
    np.testing.assert_allclose(model.predict_proba(lost), np.array(marginals), rtol=1e-12)
    # and inside a sequence a lost frame is a gap the chain bridges
    X = _gaussian_data()[:10]
    X[3:6] = np.nan
    ll, _, _ = forward_backward(gaussian_log_b(X, MEANS, COV), [10], START, TRANS)
    assert model.score(X) == pytest.approx(ll, rel=1e-12)


# -- GMMHMM ------------------------------------------------------------------------------------

GMM_MEANS = np.stack([MEANS - 0.8, MEANS + 0.8], axis=1)  # (K, M, D)
GMM_WEIGHTS = np.array([[0.3, 0.7], [0.6, 0.4]])


def _gmm_hmm(ctype: str, **kw) -> tuple[GMMHMM, np.ndarray]:
    full = np.stack([COV, 1.3 * COV[::-1]], axis=1)  # (K, M, D, D)
    covars = {"full": full, "diag": np.diagonal(full, axis1=2, axis2=3).copy()}[ctype]
    model = _set(GMMHMM(K, 2, covariance_type=ctype, init_params="", **kw), startprob_=START,
                 transmat_=TRANS, weights_=GMM_WEIGHTS, means_=GMM_MEANS, covars_=covars)
    as_full = full if ctype == "full" else np.stack([[np.diag(c) for c in s] for s in covars])
    return model, as_full


def _gmm_log_parts(X, covs):
    return np.array([[[np.log(GMM_WEIGHTS[k, j]) + gaussian_log_density(x, GMM_MEANS[k, j],
                                                                       covs[k, j])
                       for j in range(2)] for k in range(K)] for x in X])


@pytest.mark.parametrize("ctype", ["diag", "full"])
def test_gmm_hmm_likelihood_and_one_em_step(ctype):
    X = _gaussian_data(5)
    model, covs = _gmm_hmm(ctype)
    parts = _gmm_log_parts(X, covs)
    empty = np.isnan(X).all(axis=1)
    parts[empty] = np.log(GMM_WEIGHTS)  # nothing observed: density 1
    log_b = logsumexp(parts, axis=2)
    ll, gamma, _xi = forward_backward(log_b, LENGTHS, START, TRANS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X, LENGTHS), gamma, rtol=1e-9, atol=1e-12)

    model.n_iter = 1
    _quiet(model.fit, X, LENGTHS)
    resp = gamma[:, :, None] * np.exp(parts - log_b[:, :, None])
    resp[empty] = 0.0
    post_mix = resp.sum(axis=0)
    np.testing.assert_allclose(model.weights_, post_mix / post_mix.sum(axis=1, keepdims=True),
                               rtol=1e-9)
    means = np.empty_like(GMM_MEANS)
    cov = np.empty((K, 2, D, D))
    for k, j in itertools.product(range(K), range(2)):
        fills = [completed(x, GMM_MEANS[k, j], covs[k, j]) for x in X]
        r = resp[:, k, j]
        means[k, j] = sum(w * f[0] for w, f in zip(r, fills, strict=True)) / post_mix[k, j]
        # hmmlearn's update: the scatter about the E-step's means
        old = GMM_MEANS[k, j]
        cov[k, j] = sum(w * (np.outer(f[0] - old, f[0] - old) + f[1])
                        for w, f in zip(r, fills, strict=True)) / post_mix[k, j]
    np.testing.assert_allclose(model.means_, means, rtol=1e-9)
    expected = cov if ctype == "full" else np.diagonal(cov, axis1=2, axis2=3)
    np.testing.assert_allclose(model.covars_, expected, rtol=1e-9)


@pytest.mark.parametrize("ctype", ["spherical", "diag", "full", "tied"])
def test_gmm_hmm_fit_climbs_without_a_guard_warning(ctype):
    X = _gaussian_data(4)
    model = _quiet(GMMHMM(K, 2, covariance_type=ctype, n_iter=15, tol=0,
                          random_state=0).fit, X, LENGTHS)
    history = np.array(model.monitor_.history)
    assert history[-1] > history[0]
    assert np.all(np.isfinite(model.predict_proba(X, LENGTHS)))


# -- emkit.HMM: a Gaussian, and mixed columns ---------------------------------------------------

def test_hmm_gaussian_states_one_em_step():
    X = _gaussian_data(6)
    states = [Gaussian(MEANS[k], COV[k]) for k in range(K)]  # full, reg_covar 1e-6
    model = _set(HMM(states, K, init_params="", n_iter=1), startprob_=START, transmat_=TRANS)
    ll, gamma, _xi = forward_backward(gaussian_log_b(X, MEANS, COV), LENGTHS, START, TRANS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    _quiet(model.fit, X, LENGTHS)
    n, sums, scatter = gaussian_state_moments(X, gamma, MEANS, COV)
    for k, e in enumerate(model.emissions_):
        mean = sums[k] / n[k]
        np.testing.assert_allclose(e.mean, mean, rtol=1e-9)
        np.testing.assert_allclose(e.covariance, scatter(k, mean) / n[k] + 1e-6 * np.eye(D),
                                   rtol=1e-9)


def _mixed_data(seed: int = 0) -> np.ndarray:
    """Columns 0-1 Gaussian, 2 a Poisson count, 3 a category of three; holes everywhere."""
    rng = np.random.default_rng(seed)
    z = np.concatenate([_chain(rng, n) for n in LENGTHS])
    X = np.column_stack([
        rng.normal(MEANS[z, :2], 1.0), rng.poisson(np.where(z == 0, 2.0, 7.0)),
        np.where(rng.random(len(z)) < np.where(z == 0, 0.7, 0.2), 0,
                 rng.integers(1, 3, len(z))).astype(float)])
    return _holes(X, 0.15, seed + 1)


MIXED_RATES = np.array([2.5, 6.0])
MIXED_PROBS = np.array([[0.6, 0.3, 0.1], [0.2, 0.4, 0.4]])
MIXED_VARS = np.array([[1.2, 0.8], [0.9, 1.1]])


def _mixed_states() -> list[Independent]:
    return [Independent([Gaussian(MEANS[k, :2], MIXED_VARS[k], covariance_type="diag",
                                  reg_covar=0.0),
                         Poisson(MIXED_RATES[k:k + 1]),
                         Categorical(MIXED_PROBS[k:k + 1])], columns=[[0, 1], 2, 3])
            for k in range(K)]


def _mixed_log_b(X: np.ndarray) -> np.ndarray:
    out = np.zeros((len(X), K))
    for t, x in enumerate(X):
        for k in range(K):
            out[t, k] = gaussian_log_density(x[:2], MEANS[k, :2], np.diag(MIXED_VARS[k]))
            if not np.isnan(x[2]):
                out[t, k] += sps.poisson(MIXED_RATES[k]).logpmf(x[2])
            if not np.isnan(x[3]):
                out[t, k] += np.log(MIXED_PROBS[k, int(x[3])])
    return out


def test_hmm_independent_parts_keep_their_observed_columns():
    X = _mixed_data()
    model = _set(HMM(_mixed_states(), K, init_params="", n_iter=1), startprob_=START,
                 transmat_=TRANS)
    ll, gamma, xi = forward_backward(_mixed_log_b(X), LENGTHS, START, TRANS)
    assert model.score(X, LENGTHS) == pytest.approx(ll, rel=1e-12)
    np.testing.assert_allclose(model.predict_proba(X, LENGTHS), gamma, rtol=1e-9, atol=1e-12)
    _quiet(model.fit, X, LENGTHS)
    _start, trans = chain_update(gamma, xi, LENGTHS)
    np.testing.assert_allclose(model.transmat_, trans, rtol=1e-9)
    for k, e in enumerate(model.emissions_):
        gauss, pois, cat = e.distributions
        seen = ~np.isnan(X[:, :2]).all(axis=1)  # the Gaussian part's frames
        g = gamma[seen, k]
        fills = [completed(x, MEANS[k, :2], np.diag(MIXED_VARS[k]))[0] for x in X[seen, :2]]
        mean = sum(w * f for w, f in zip(g, fills, strict=True)) / g.sum()
        var = sum(w * ((f - mean) ** 2 + np.where(np.isnan(x), MIXED_VARS[k], 0.0))
                  for w, f, x in zip(g, fills, X[seen, :2], strict=True)) / g.sum()
        np.testing.assert_allclose(gauss.mean, mean, rtol=1e-9)
        np.testing.assert_allclose(gauss.covariance, var, rtol=1e-9)
        counted = ~np.isnan(X[:, 2])
        np.testing.assert_allclose(pois.rate, [gamma[counted, k] @ X[counted, 2]
                                               / gamma[counted, k].sum()], rtol=1e-9)
        coded = ~np.isnan(X[:, 3])
        counts = np.array([gamma[coded & (X[:, 3] == c), k].sum() for c in range(3)])
        np.testing.assert_allclose(cat.probs[0], counts / counts.sum(), rtol=1e-9)


def test_hmm_independent_fit_from_data_and_a_family_that_cannot_leave_out_one_column():
    X = _mixed_data(2)
    template = Independent([Gaussian(covariance_type="diag"), Poisson(), Categorical()],
                           columns=[[0, 1], 2, 3])
    model = _quiet(HMM(template, K, n_iter=10, random_state=0).fit, X, LENGTHS)
    assert model.emissions_[0].distributions[2].probs.shape == (1, 3)
    assert np.all(np.diff(model.monitor_.history) >= -1e-9 * np.abs(model.monitor_.history[0]))
    counts = np.abs(np.round(np.random.default_rng(0).normal(4, 2, size=(50, 2))))
    counts[3, 0] = np.nan
    with pytest.raises(ValueError, match="Independent"):
        HMM(Poisson(), 2, random_state=0).fit(counts)
    counts[3, 1] = np.nan  # the whole frame missing is fine
    assert np.isfinite(_quiet(HMM(Poisson(), 2, random_state=0).fit, counts).score(counts))


# -- bad input -----------------------------------------------------------------------------------

@pytest.mark.parametrize("make", [lambda: GaussianHMM(2), lambda: GMMHMM(2, 2),
                                  lambda: HMM(Gaussian(), 2)])
def test_a_column_of_nan_and_inf_are_refused(make):
    X = _gaussian_data()
    lost = X.copy()
    lost[:, 1] = np.nan
    with pytest.raises(ValueError, match="no observed value"):
        make().fit(lost, LENGTHS)
    bad = X.copy()
    bad[2, 0] = np.inf
    with pytest.raises(ValueError, match="infinit"):
        make().fit(bad, LENGTHS)


# -- chunked and Dask equal in-memory --------------------------------------------------------------

def _long_data() -> tuple[np.ndarray, list[int]]:
    rng = np.random.default_rng(11)
    lengths = [120, 80, 150, 90]
    z = np.concatenate([_chain(rng, n) for n in lengths])
    X = np.stack([rng.multivariate_normal(MEANS[k], COV[k]) for k in z])
    return _holes(X, 0.1, 12), lengths


@pytest.mark.parametrize("make", [
    lambda: GaussianHMM(K, "full", n_iter=8, tol=0, random_state=0),
    lambda: GaussianHMM(K, "diag", n_iter=8, tol=0, random_state=0),
    lambda: GMMHMM(K, 2, covariance_type="diag", n_iter=8, tol=0, random_state=0),
    lambda: HMM(Gaussian(covariance_type="full"), K, n_iter=8, tol=0, random_state=0),
])
def test_blocks_chunks_and_dask_partitions_equal_in_memory(make):
    X, lengths = _long_data()
    local = _quiet(make().fit, X, lengths)
    params = local._current_params()
    data = Sequences.from_arrays(X, lengths)
    whole = local._model(X, params, total_rows=len(X))
    blocked = HMMModel(whole.emission, K, local.params, params, local.startprob_prior,
                       local.transmat_prior, block_rows=64, total_rows=len(X))
    s1, l1 = whole.e_step(data, params)
    s2, l2 = blocked.e_step(data, params)
    s3, l3 = ChunkedModel(whole, 100).e_step(data, params)
    assert tree_max_abs_diff(s1, s2) < 1e-8 and tree_max_abs_diff(s1, s3) < 1e-8
    assert l2 == pytest.approx(l1, rel=1e-12) and l3 == pytest.approx(l1, rel=1e-12)
    with dask.config.set(scheduler="synchronous"):
        remote = _quiet(make().fit, da.from_array(X, chunks=((200, 240), D)), lengths)
    np.testing.assert_allclose(remote.transmat_, local.transmat_, rtol=1e-8, atol=1e-12)
    np.testing.assert_allclose(remote.monitor_.history, local.monitor_.history, rtol=1e-10)
    for name in ("means_", "covars_", "weights_"):
        if hasattr(local, name):
            np.testing.assert_allclose(getattr(remote, name), getattr(local, name), rtol=1e-8)
    if hasattr(local, "emissions_"):
        for a, b in zip(remote.emissions_, local.emissions_, strict=True):
            np.testing.assert_allclose(a.covariance, b.covariance, rtol=1e-8)


def test_save_load_round_trip_after_a_fit_with_nan(tmp_path):
    X, lengths = _long_data()
    model = _quiet(GaussianHMM(K, "full", n_iter=5, random_state=0).fit, X, lengths)
    loaded = emkit.load(model.save(tmp_path / "nan.emkit"))
    assert loaded.score(X, lengths) == pytest.approx(model.score(X, lengths), rel=1e-12)
    np.testing.assert_array_equal(loaded.predict(X, lengths), model.predict(X, lengths))


# -- the compiled pieces against their references ------------------------------------------------

def _packed(seed: int = 0, n: int = 300, d: int = 5, rate: float = 0.3):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    X[rng.random((n, d)) < rate] = np.nan
    counts = np.isnan(X).sum(axis=1)
    X = X[(counts > 0) & (counts < d)]
    order, bounds, masks = group_by_pattern(np.isnan(X))
    return np.nan_to_num(X[order]), bounds, masks


@pytest.mark.parametrize("c", [1, 4])
def test_pattern_kernels_match_their_numpy_references(c):
    values, bounds, masks = _packed()
    rng = np.random.default_rng(1)
    d = values.shape[1]
    means = rng.normal(size=(c, d))
    a = rng.normal(size=(c, d, d))
    covs = a @ a.transpose(0, 2, 1) + 0.5 * np.eye(d)
    resp = rng.random((len(values), c))
    resp[::7] = 0.0
    log_density, bad = mk.pattern_log_densities(values, bounds, masks, means, covs)
    assert bad == -1
    np.testing.assert_allclose(log_density, mk.pattern_log_densities_reference(
        values, bounds, masks, means, covs), rtol=1e-12, atol=1e-12)
    # and the reference against scipy, row by row
    x = np.where(np.repeat(masks, np.diff(bounds), axis=0), np.nan, values)
    assert log_density[5, 0] == pytest.approx(gaussian_log_density(x[5], means[0], covs[0]),
                                              rel=1e-12)
    n, first, outer, bad = mk.pattern_moments(values, bounds, masks, resp, means, covs)
    assert bad == -1
    for got, want in zip((n, first, outer), mk.pattern_moments_reference(
            values, bounds, masks, resp, means, covs), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-10)
    full, cond = completed(x[9], means[0], covs[0])
    assert n[0] == pytest.approx(resp[:, 0].sum(), rel=1e-12)
    one = mk.pattern_moments(values[9:10], np.array([0, 1]), np.isnan(x[9:10]), resp[9:10, :1],
                             means[:1], covs[:1])
    np.testing.assert_allclose(one[2][0], resp[9, 0] * (np.outer(full - means[0],
                                                                 full - means[0]) + cond),
                               rtol=1e-10, atol=1e-12)


def test_pattern_kernels_name_a_singular_observed_block():
    values, bounds, masks = _packed()
    d = values.shape[1]
    covs = np.stack([np.eye(d), np.zeros((d, d))])
    means = np.zeros((2, d))
    assert mk.pattern_log_densities(values, bounds, masks, means, covs)[1] == 0
    assert mk.pattern_moments(values, bounds, masks, np.ones((len(values), 2)), means,
                              covs)[3] == 0


def test_nan_row_counts_and_the_grouping():
    _values, bounds, _masks = _packed(3)
    X = np.random.default_rng(4).normal(size=(200, 7))
    X[np.random.default_rng(5).random(X.shape) < 0.2] = np.nan
    np.testing.assert_array_equal(nan_row_counts(X), np.isnan(X).sum(axis=1))
    order, bounds, patterns = group_by_pattern(np.isnan(X))
    assert sorted(order.tolist()) == list(range(len(X)))
    assert len({tuple(p) for p in patterns}) == len(patterns)
    for p in range(len(patterns)):
        rows = order[bounds[p]:bounds[p + 1]]
        assert np.all(np.isnan(X[rows]) == patterns[p])
        assert np.all(np.diff(rows) > 0)  # stable within a pattern
