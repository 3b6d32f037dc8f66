"""Property-based tests of Baum-Welch's guarantees for every HMM estimator.

GaussianHMM (all covariance types), GMMHMM, CategoricalHMM and PoissonHMM, on
random sequences and random valid initial parameters: the engine's objective
(log-likelihood plus the priors' log-density) never decreases over a plain run,
SQUAREM ends at a fixed point of plain EM, fitted parameters are valid, ``score``
equals a forward recursion written here with scipy densities, equal seeds give
equal fits, and fits do not depend on the order of the sequences or on the
labelling of the states in the initial parameters.
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
from hypothesis import Phase, example, given, settings
from hypothesis import strategies as st
from scipy import stats as sps
from scipy.special import logsumexp

import emkit
from emkit.engine import observe

# No shrinking: the inputs are seeds, and shrinking a failure would cost minutes here.
NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
PROPERTY = settings(max_examples=4, deadline=None, phases=NO_SHRINK)
PER_KIND = settings(max_examples=2, deadline=None, phases=NO_SHRINK)  # tests over KINDS
seeds = st.integers(0, 2**16)
KINDS = ("gaussian-diag", "gaussian-full", "gaussian-tied", "gaussian-spherical",
         "gmm-diag", "gmm-full", "categorical", "poisson")


def quietly(fn, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        warnings.simplefilter("error", emkit.MonotonicityWarning)
        return fn(*args, **kwargs)


def random_spd(rng, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T + 0.5 * np.eye(d)


# ----------------------------------------------------------------- problem builders
def make_problem(kind: str, rng: np.random.Generator, k: int):
    """(estimator with init_params="" and random valid parameters set, X, lengths)."""
    lengths = rng.integers(6, 15, size=rng.integers(1, 4))
    n = int(lengths.sum())
    family, _, ctype = kind.partition("-")
    if family == "gaussian":
        d = 2
        X = rng.normal(size=(n, d)) + rng.choice([-3.0, 3.0], size=(n, 1))
        est = emkit.GaussianHMM(k, covariance_type=ctype, init_params="", n_iter=15, tol=0)
        est.means_ = X[rng.choice(n, k, replace=False)]
        est.covars_ = {"diag": lambda: rng.uniform(0.5, 2.0, (k, d)),
                       "spherical": lambda: rng.uniform(0.5, 2.0, k),
                       "full": lambda: np.stack([random_spd(rng, d) for _ in range(k)]),
                       "tied": lambda: random_spd(rng, d)}[ctype]()
    elif family == "gmm":
        d, m = 2, 2
        X = rng.normal(size=(n, d)) + rng.choice([-3.0, 3.0], size=(n, 1))
        est = emkit.GMMHMM(k, n_mix=m, covariance_type=ctype, init_params="", n_iter=15, tol=0)
        est.weights_ = rng.dirichlet(np.ones(m), size=k)
        est.means_ = X[rng.choice(n, k * m, replace=False)].reshape(k, m, d)
        est.covars_ = (rng.uniform(0.5, 2.0, (k, m, d)) if ctype == "diag" else
                       np.stack([[random_spd(rng, d) for _ in range(m)] for _ in range(k)]))
    elif family == "categorical":
        X = rng.integers(0, 4, size=(n, 1))
        X[:4, 0] = np.arange(4)
        est = emkit.CategoricalHMM(k, init_params="", n_iter=15, tol=0)
        est.emissionprob_ = rng.dirichlet(np.ones(4), size=k)
    else:
        X = np.r_[rng.poisson(2, (n // 2, 2)), rng.poisson(8, (n - n // 2, 2))]
        est = emkit.PoissonHMM(k, init_params="", n_iter=15, tol=0)
        est.lambdas_ = rng.uniform(0.5, 10.0, (k, 2))
    est.startprob_ = rng.dirichlet(np.ones(k))
    est.transmat_ = rng.dirichlet(np.ones(k), size=k)
    return est, X, lengths


def emission_logprob(est, X: np.ndarray) -> np.ndarray:
    """log p(x_t | state k), shape (n, K), from scipy.stats (not emkit)."""
    k = est.n_components
    if isinstance(est, emkit.GaussianHMM):
        return np.stack([sps.multivariate_normal(est.means_[j], est.covars_[j]).logpdf(X)
                         for j in range(k)], axis=1).reshape(len(X), k)
    if isinstance(est, emkit.GMMHMM):
        out = np.empty((len(X), k))
        for j in range(k):
            terms = []
            for i in range(est.n_mix):
                cov = est.covars_[j, i]
                cov = np.diag(cov) if cov.ndim == 1 else cov
                with np.errstate(divide="ignore"):  # a mixture component may be emptied
                    log_w = np.log(est.weights_[j, i])
                terms.append(log_w + sps.multivariate_normal(est.means_[j, i], cov).logpdf(X))
            out[:, j] = logsumexp(np.stack(terms, axis=1), axis=1)
        return out
    if isinstance(est, emkit.CategoricalHMM):
        with np.errstate(divide="ignore"):  # a fitted state may never emit a symbol
            return np.log(est.emissionprob_[:, X[:, 0]]).T
    return np.stack([sps.poisson(est.lambdas_[j]).logpmf(X).sum(axis=1) for j in range(k)],
                    axis=1)


def forward_loglik(est, X: np.ndarray, lengths) -> float:
    logb = emission_logprob(est, X)
    with np.errstate(divide="ignore"):
        log_a, log_pi = np.log(est.transmat_), np.log(est.startprob_)
    total, start = 0.0, 0
    for length in lengths:
        alpha = log_pi + logb[start]
        for t in range(start + 1, start + length):
            alpha = logsumexp(alpha[:, None] + log_a, axis=0) + logb[t]
        total += logsumexp(alpha)
        start += length
    return float(total)


def fit_observed(est, X, lengths):
    """Fit, returning the engine's objective at every E-step of the (single) run."""
    seen: list[float] = []
    with observe(lambda step: seen.append(step.loglik)):
        quietly(est.fit, X, lengths)
    return np.asarray(seen)


def assert_valid(est) -> None:
    def simplex(p):
        assert np.all(np.isfinite(p)) and np.all(p >= 0)
        np.testing.assert_allclose(np.sum(p, axis=-1), 1.0, rtol=0, atol=1e-10)

    simplex(est.startprob_)
    simplex(est.transmat_)
    if isinstance(est, emkit.CategoricalHMM):
        simplex(est.emissionprob_)
    elif isinstance(est, emkit.PoissonHMM):
        assert np.all(est.lambdas_ > 0) and np.all(np.isfinite(est.lambdas_))
    else:
        if isinstance(est, emkit.GMMHMM):
            simplex(est.weights_)
            covs = est.covars_.reshape(-1, *est.covars_.shape[-1:]) \
                if est.covariance_type == "diag" else est.covars_.reshape(
                    -1, *est.covars_.shape[-2:])
            covs = [np.diag(c) if c.ndim == 1 else c for c in covs]
        else:
            covs = est.covars_
        assert np.all(np.isfinite(est.means_))
        for c in covs:
            np.testing.assert_allclose(c, c.T, rtol=0, atol=1e-12 * np.abs(c).max())
            assert np.linalg.eigvalsh(c).min() > 0


def clone_with(est, **attrs):
    new = type(est)(**est.get_params())
    for name, value in attrs.items():
        setattr(new, name, np.array(value))
    return new


def attrs_of(est) -> dict:
    names = ["startprob_", "transmat_"]
    if isinstance(est, emkit.CategoricalHMM):
        names.append("emissionprob_")
    elif isinstance(est, emkit.PoissonHMM):
        names.append("lambdas_")
    elif isinstance(est, emkit.GMMHMM):
        names += ["weights_", "means_", "covars_"]
    else:
        names += ["means_"]
    out = {n: np.array(getattr(est, n)) for n in names}
    if isinstance(est, emkit.GaussianHMM):
        out["covars_"] = np.array(est._covars_)
    return out


# ------------------------------------------------------------------------------ tests
@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(seed=seeds, k=st.integers(1, 3))
@example(seed=54, k=3)  # gaussian-full: the min_covar floor lowers the likelihood
def test_hmm_plain_em_is_monotone_valid_and_scores_by_forward_recursion(seed, kind, k):
    rng = np.random.default_rng(seed)
    est, X, lengths = make_problem(kind, rng, k)
    before = forward_loglik(est, X, lengths)
    np.testing.assert_allclose(est.score(X, lengths), before, rtol=1e-9)
    objective = fit_observed(est, X, lengths)
    assert len(objective) == 16
    drops = np.diff(objective)
    rtol = 1e-6 if kind.startswith("gmm") else 1e-9
    assert np.all(drops >= -rtol * np.abs(objective[:-1])), drops.min()
    assert_valid(est)
    after = forward_loglik(est, X, lengths)
    np.testing.assert_allclose(est.score(X, lengths), after, rtol=1e-9)
    np.testing.assert_allclose(est.score_samples(X, lengths)[0], after, rtol=1e-9)
    # the likelihood itself went up (priors are weak here)
    assert after >= before - 1e-6 * abs(before)


@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(seed=seeds)
@example(seed=5)  # gmm-diag: a plain step inside SQUAREM lowers the likelihood
def test_hmm_squarem_ends_at_a_plain_em_fixed_point(seed, kind):
    rng = np.random.default_rng(seed)
    est, X, lengths = make_problem(kind, rng, 2)
    est.set_params(accelerate="squarem", n_iter=500, tol=1e-8)
    quietly(est.fit, X, lengths)
    assert_valid(est)
    fast = est.score(X, lengths)
    cont = clone_with(est, **attrs_of(est))
    cont.set_params(accelerate=None, n_iter=10, tol=0)
    if isinstance(cont, emkit.GaussianHMM):
        cont.covars_ = est._covars_
    quietly(cont.fit, X, lengths)
    assert cont.score(X, lengths) - fast <= 1e-5 * max(abs(fast), 1.0)


@PROPERTY
@given(seed=seeds, kind=st.sampled_from(KINDS))
def test_hmm_same_seed_same_fit(seed, kind):
    rng = np.random.default_rng(seed)
    template, X, lengths = make_problem(kind, rng, 2)
    kw = {**template.get_params(), "init_params": type(template)().init_params,
          "random_state": seed, "n_iter": 8}
    a = quietly(type(template)(**kw).fit, X, lengths)
    b = quietly(type(template)(**kw).fit, X, lengths)
    for name, value in attrs_of(a).items():
        np.testing.assert_array_equal(value, attrs_of(b)[name], err_msg=name)


@PROPERTY
@given(seed=seeds, kind=st.sampled_from(KINDS))
def test_hmm_invariant_to_sequence_order_and_state_labels(seed, kind):
    rng = np.random.default_rng(seed)
    est, X, lengths = make_problem(kind, rng, 3)
    start = attrs_of(est)
    if isinstance(est, emkit.GaussianHMM):
        start["covars_"] = np.array(est._covars_)

    def fit(rows, lens, perm):
        attrs = {}
        for name, value in start.items():
            if name == "transmat_":
                value = value[perm][:, perm]
            elif not (name == "covars_" and est.covariance_type == "tied"
                      and isinstance(est, emkit.GaussianHMM)):
                value = value[perm]
            attrs[name] = value
        new = clone_with(est)
        for name, value in attrs.items():
            setattr(new, name, value)
        quietly(new.fit, rows, lens)
        return new

    ident = np.arange(3)
    base = fit(X, lengths, ident)
    # the same sequences in another order
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    order = rng.permutation(len(lengths))
    shuffled = fit(np.concatenate([pieces[i] for i in order]), lengths[order], ident)
    perm = rng.permutation(3)
    relabelled = fit(X, lengths, perm)
    for name, value in attrs_of(base).items():
        np.testing.assert_allclose(attrs_of(shuffled)[name], value, rtol=1e-6, atol=1e-9,
                                   err_msg=name)
        got = attrs_of(relabelled)[name]
        if name == "transmat_":
            want = value[perm][:, perm]
        elif name == "covars_" and isinstance(est, emkit.GaussianHMM) \
                and est.covariance_type == "tied":
            want = value
        else:
            want = value[perm]
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-9, err_msg=name)


@pytest.mark.parametrize("kind", KINDS)
@PER_KIND
@given(seed=seeds, k=st.integers(2, 3))
def test_hmm_inference_equals_enumerating_every_state_path(seed, kind, k):
    rng = np.random.default_rng(seed)
    est, X, _ = make_problem(kind, rng, k)
    X = X[:5]
    logb = emission_logprob(est, X)
    with np.errstate(divide="ignore"):
        log_pi, log_a = np.log(est.startprob_), np.log(est.transmat_)
    paths = np.array(list(itertools.product(range(k), repeat=len(X))))
    joint = np.array([log_pi[p[0]] + logb[0, p[0]]
                      + sum(log_a[p[t - 1], p[t]] + logb[t, p[t]] for t in range(1, len(p)))
                      for p in paths])
    total = logsumexp(joint)
    np.testing.assert_allclose(est.score(X), total, rtol=1e-10)
    log_prob, states = est.decode(X, algorithm="viterbi")
    np.testing.assert_allclose(log_prob, joint.max(), rtol=1e-10)
    best = np.flatnonzero(joint >= joint.max() - 1e-9 * abs(joint.max()))
    assert any(np.array_equal(states, paths[i]) for i in best)
    post = np.exp(joint - total)
    marginals = np.stack([[post[paths[:, t] == j].sum() for j in range(k)]
                          for t in range(len(X))])
    np.testing.assert_allclose(est.predict_proba(X), marginals, rtol=1e-8, atol=1e-12)


@PROPERTY
@given(seed=seeds, kind=st.sampled_from(KINDS))
def test_hmm_scores_add_up_over_sequences(seed, kind):
    rng = np.random.default_rng(seed)
    est, X, lengths = make_problem(kind, rng, 2)
    pieces = np.split(X, np.cumsum(lengths)[:-1])
    np.testing.assert_allclose(est.score(X, lengths), sum(est.score(p) for p in pieces),
                               rtol=1e-10)
    _, post = est.score_samples(X, lengths)
    np.testing.assert_allclose(post, np.concatenate([est.predict_proba(p) for p in pieces]),
                               rtol=1e-9, atol=1e-12)
    np.testing.assert_array_equal(est.predict(X, lengths),
                                  np.concatenate([est.predict(p) for p in pieces]))
