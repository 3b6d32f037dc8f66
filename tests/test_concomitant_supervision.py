"""MixtureModel.fit(X, concomitant=Z) with labels, priors, sample_weight and freeze.

The references are written here, not taken from emkit: the weighted observed
log-likelihood of a Poisson latent-class regression (SciPy's ``logsumexp`` and
``poisson.logpmf``) and its gradient by Fisher's identity, whose root (SciPy's
``root``, started from the simulation's truth) is the weighted, labelled,
constrained maximum-likelihood estimate; a weighted multinomial logit fitted by
SciPy's ``minimize``; an EM loop with the logit frozen; and row repetition,
the definition of an integer weight.
"""

from __future__ import annotations

import dask
import dask.array as da
import numpy as np
import pytest
from scipy.optimize import minimize, root
from scipy.special import logsumexp
from scipy.stats import poisson

from emkit.distributions import Gaussian, Poisson
from emkit.estimators.mixture_model import MixtureModel

pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")

TRUE_COEF = np.array([[0.0, 0.0, 0.0], [-1.0, 0.9, 0.15], [0.4, -0.7, 0.1]])
TRUE_RATES = np.array([1.0, 6.0, 15.0])


def _simulate(seed: int, n: int = 600):
    """Poisson rows whose component follows a logit of two off-centre covariates."""
    rng = np.random.default_rng(seed)
    Z = np.column_stack([rng.normal(2.0, 1.0, n), rng.uniform(10.0, 14.0, n)])
    eta = TRUE_COEF[:, 0] + Z @ TRUE_COEF[:, 1:].T
    pi = np.exp(eta - logsumexp(eta, axis=1, keepdims=True))
    z = np.minimum((rng.random(n)[:, None] > pi.cumsum(axis=1)).sum(axis=1), 2)
    X = rng.poisson(TRUE_RATES[z])[:, None].astype(float)
    return X, Z, z


def _given():
    return [Poisson(rate=[1.5]), Poisson(rate=[5.0]), Poisson(rate=[12.0])]


# ------------------------------------------------------------------ references
def _unpack(theta, q1, k):
    coef = np.vstack([np.zeros(q1), theta[:(k - 1) * q1].reshape(k - 1, q1)])
    return coef, np.exp(theta[(k - 1) * q1:])


def _posterior(coef, rates, X, Z, e):
    eta = coef[:, 0] + Z @ coef[:, 1:].T
    log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
    lj = log_pi + poisson.logpmf(X[:, :1], rates) + e
    ll = logsumexp(lj, axis=1)
    return ll, np.exp(lj - ll[:, None]), np.exp(log_pi)


def _loglik(coef, rates, X, Z, w, e):
    return float(w @ _posterior(coef, rates, X, Z, e)[0])


def _gradient(theta, X, Z, w, e, k):
    """Fisher's identity: the observed log-likelihood's gradient is the expected
    complete-data score, in (coef rows 1.., log-rates)."""
    q1 = Z.shape[1] + 1
    coef, rates = _unpack(theta, q1, k)
    _, r, pi = _posterior(coef, rates, X, Z, e)
    design = np.column_stack([np.ones(len(Z)), Z])
    g_coef = ((w[:, None] * (r - pi))[:, 1:]).T @ design
    g_rate = (w[:, None] * r * (X[:, :1] - rates)).sum(axis=0)
    return np.concatenate([g_coef.ravel(), g_rate])


def _reference_mle(X, Z, w, e, frozen=None, fixed=None):
    """The stationary point of the weighted observed log-likelihood near the truth, with
    ``frozen`` own-unit coefficients (a (K, q + 1) mask) held at ``fixed``."""
    k, q1 = TRUE_COEF.shape
    frozen = np.zeros((k, q1), dtype=bool) if frozen is None else frozen
    fixed = TRUE_COEF if fixed is None else fixed
    free = np.concatenate([~frozen[1:].ravel(), np.ones(k, dtype=bool)])
    start = np.concatenate([np.where(frozen, fixed, TRUE_COEF)[1:].ravel(),
                            np.log(TRUE_RATES)])

    def full(sub):
        theta = start.copy()
        theta[free] = sub
        return theta

    def objective(sub):
        theta = full(sub)
        coef, rates = _unpack(theta, q1, k)
        return -_loglik(coef, rates, X, Z, w, e), -_gradient(theta, X, Z, w, e, k)[free]

    return _unpack(full(_maximum(objective, start[free])), q1, k)


def _maximum(objective, x0):
    """BFGS on ``objective`` (minus the log-likelihood and minus its gradient), then a
    root of the gradient from there (hybr) for the last digits."""
    sol = minimize(objective, x0, jac=True, method="BFGS",
                   options={"gtol": 1e-8, "maxiter": 20_000})
    polished = root(lambda x: objective(x)[1], sol.x, method="hybr", options={"xtol": 1e-14})
    x = polished.x if np.abs(objective(polished.x)[1]).max() < np.abs(sol.jac).max() \
        else sol.x
    assert np.abs(objective(x)[1]).max() < 1e-7, (sol.message, polished.message)
    return x


def _weighted_multinomial_logit(Z, y, w, k):
    """The weighted multinomial logit (reference row 0) by SciPy's BFGS."""
    design = np.column_stack([np.ones(len(Z)), (Z - Z.mean(0)) / Z.std(0)])
    q1 = design.shape[1]
    onehot = np.eye(k)[y]

    def nll(theta):
        coef = np.vstack([np.zeros(q1), theta.reshape(k - 1, q1)])
        eta = design @ coef.T
        log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
        grad = -((w[:, None] * (onehot - np.exp(log_pi)))[:, 1:]).T @ design
        return -float(w @ (onehot * log_pi).sum(axis=1)), grad.ravel()

    sol = minimize(nll, np.zeros((k - 1) * q1), jac=True, method="BFGS",
                   options={"gtol": 1e-11, "maxiter": 10_000})
    coef = np.vstack([np.zeros(q1), sol.x.reshape(k - 1, q1)])
    slopes = coef[:, 1:] / Z.std(0)
    return np.column_stack([coef[:, 0] - slopes @ Z.mean(0), slopes])


def _rates(model):
    return np.concatenate([c.rate for c in model.components_])


def _supervision(seed, n):
    rng = np.random.default_rng(seed)
    w = rng.uniform(0.2, 2.5, n)
    labels = np.full(n, -1)
    return rng, w, labels


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("case", ["weights", "labels", "priors", "all three"])
def test_fit_is_the_reference_weighted_labelled_mle(case):
    X, Z, z = _simulate(0)
    n = len(X)
    rng, w, labels = _supervision(1, n)
    known = rng.random(n) < 0.15
    labels[known] = z[known]
    priors = rng.uniform(0.3, 1.0, (n, 3))
    kw: dict = {}
    e = np.zeros((n, 3))
    if case in ("weights", "all three"):
        kw["sample_weight"] = w
    if case in ("labels", "all three"):
        kw["labels"] = labels
        e[known] = -np.inf
        e[known, z[known]] = 0.0
    if case in ("priors", "all three"):
        kw["priors"] = priors
        e = e + np.log(priors)
    weights = kw.get("sample_weight", np.ones(n))
    model = MixtureModel(_given(), init_params="given", tol=0.0, max_iter=400,
                         accelerate="squarem").fit(X, concomitant=Z, **kw)
    coef, rates = _reference_mle(X, Z, weights, e)
    np.testing.assert_allclose(model.concomitant_coef_, coef, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_rates(model), rates, rtol=1e-7)
    total = weights.sum()
    np.testing.assert_allclose(model.lower_bound_ * total, _loglik(coef, rates, X, Z, weights, e),
                               rtol=1e-8)


def test_integer_weights_equal_repeated_rows_and_zero_weights_dropped_rows():
    X, Z, _ = _simulate(2, 400)
    w = np.random.default_rng(3).integers(0, 4, len(X)).astype(float)
    rep = np.repeat(np.arange(len(X)), w.astype(int))
    kw = dict(init_params="given", tol=0.0, max_iter=12)
    a = MixtureModel(_given(), **kw).fit(X, concomitant=Z, sample_weight=w)
    b = MixtureModel(_given(), **kw).fit(X[rep], concomitant=Z[rep])
    np.testing.assert_allclose(a.concomitant_coef_, b.concomitant_coef_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(_rates(a), _rates(b), rtol=1e-10)
    np.testing.assert_allclose(a.weights_, b.weights_, rtol=1e-10)
    np.testing.assert_allclose(a.lower_bounds_, b.lower_bounds_, rtol=1e-10)
    keep = w > 0
    c = MixtureModel(_given(), **kw).fit(X[keep], concomitant=Z[keep],
                                         sample_weight=w[keep])
    np.testing.assert_allclose(a.concomitant_coef_, c.concomitant_coef_, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(a.lower_bounds_, c.lower_bounds_, rtol=1e-12)


def test_all_rows_labelled_give_the_supervised_mle():
    X, Z, z = _simulate(4)
    w = np.random.default_rng(5).uniform(0.5, 3.0, len(X))
    one = MixtureModel(Poisson(), 3, max_iter=1, tol=0.0).fit(
        X, concomitant=Z, labels=z, sample_weight=w)
    moments = np.array([w[z == j] @ X[z == j, 0] / w[z == j].sum() for j in range(3)])
    np.testing.assert_allclose(_rates(one), moments, rtol=1e-12)
    full = MixtureModel(Poisson(), 3, max_iter=60, tol=0.0).fit(
        X, concomitant=Z, labels=z, sample_weight=w)
    np.testing.assert_allclose(_rates(full), moments, rtol=1e-12)
    np.testing.assert_allclose(full.concomitant_coef_,
                               _weighted_multinomial_logit(Z, z, w, 3), rtol=0, atol=1e-6)
    # the labelled rows' one-hot posteriors: the log-likelihood is the complete-data one
    coef = full.concomitant_coef_
    eta = coef[:, 0] + Z @ coef[:, 1:].T
    log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
    complete = w @ (log_pi[np.arange(len(z)), z] + poisson.logpmf(X[:, 0], moments[z]))
    np.testing.assert_allclose(full.lower_bound_ * w.sum(), complete, rtol=1e-10)


def test_priors_of_ones_change_nothing():
    X, Z, _ = _simulate(6, 300)
    kw = dict(init_params="given", tol=0.0, max_iter=8)
    a = MixtureModel(_given(), **kw).fit(X, concomitant=Z)
    b = MixtureModel(_given(), **kw).fit(X, concomitant=Z, priors=np.ones((len(X), 3)))
    np.testing.assert_allclose(b.concomitant_coef_, a.concomitant_coef_, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(_rates(b), _rates(a), rtol=1e-12)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-12)


def test_unweighted_fit_is_unchanged_by_the_kernel_weight_argument():
    """Weights of one take the weighted branch of the compiled pass: the same fit."""
    X, Z, _ = _simulate(7, 300)
    kw = dict(init_params="given", tol=0.0, max_iter=6)
    a = MixtureModel(_given(), **kw).fit(X, concomitant=Z)
    b = MixtureModel(_given(), **kw).fit(X, concomitant=Z, sample_weight=np.ones(len(X)))
    np.testing.assert_allclose(b.concomitant_coef_, a.concomitant_coef_, rtol=1e-12,
                               atol=1e-14)
    np.testing.assert_allclose(b.lower_bounds_, a.lower_bounds_, rtol=1e-12)


# -------------------------------------------------------------------- freezing
START = np.array([[0.0, 0.0, 0.0], [-0.5, 0.5, 0.0], [0.0, -0.5, 0.05]])


def test_frozen_logit_keeps_its_start_and_the_components_follow_em():
    X, Z, _ = _simulate(8, 400)
    w = np.random.default_rng(9).uniform(0.5, 2.0, len(X))
    model = MixtureModel(_given(), init_params="given", tol=0.0, max_iter=15,
                         concomitant_coef_init=START,
                         freeze={"concomitant_coef_": True}).fit(
        X, concomitant=Z, sample_weight=w)
    np.testing.assert_array_equal(model.concomitant_coef_, START)
    # reference: EM for the rates with pi(z) fixed at the start's logit
    eta = START[:, 0] + Z @ START[:, 1:].T
    log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
    rates = np.array([1.5, 5.0, 12.0])
    for _ in range(15):
        lj = log_pi + poisson.logpmf(X[:, :1], rates)
        r = np.exp(lj - logsumexp(lj, axis=1, keepdims=True)) * w[:, None]
        rates = (r * X[:, :1]).sum(axis=0) / r.sum(axis=0)
    np.testing.assert_allclose(_rates(model), rates, rtol=1e-10)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
@pytest.mark.parametrize("which", ["intercept", "slopes", "mixed"])
def test_partly_frozen_logit_is_the_constrained_mle(which, accelerate):
    X, Z, z = _simulate(10)
    n = len(X)
    rng, w, labels = _supervision(11, n)
    known = rng.random(n) < 0.1
    labels[known] = z[known]
    e = np.zeros((n, 3))
    e[known] = -np.inf
    e[known, z[known]] = 0.0
    mask = np.zeros((3, 3), dtype=bool)
    if which == "intercept":
        mask[1, 0] = True  # own-unit intercept, Z off centre: a constraint on the slopes too
    elif which == "slopes":
        mask[2, 1:] = True
    else:
        mask[1, 2] = mask[2, 0] = True
        mask[0] = True  # the reference row: zero whatever the mask says
    start = TRUE_COEF + np.where(mask, 0.2, 0.0)
    start[0] = 0.0
    model = MixtureModel(_given(), init_params="given", tol=0.0, max_iter=500,
                         accelerate=accelerate, concomitant_coef_init=start,
                         freeze={"concomitant_coef_": mask}).fit(
        X, concomitant=Z, labels=labels, sample_weight=w)
    np.testing.assert_array_equal(model.concomitant_coef_[mask], start[mask])
    coef, rates = _reference_mle(X, Z, w, e, frozen=mask, fixed=start)
    np.testing.assert_allclose(model.concomitant_coef_, coef, rtol=0, atol=1e-6)
    np.testing.assert_allclose(_rates(model), rates, rtol=1e-7)
    np.testing.assert_allclose(model.lower_bound_ * w.sum(), _loglik(coef, rates, X, Z, w, e),
                               rtol=1e-8)


def test_frozen_components_and_intercept_only_logit():
    """q = 0 with a frozen intercept: the closed form sum_k n_k log pi_k maximum, with
    a frozen rate (the reference: the maximum over the free entries by SciPy)."""
    X, _, _ = _simulate(12, 500)
    n = len(X)
    start = np.array([[0.0], [0.3], [-0.2]])
    mask = np.array([[False], [True], [False]])
    model = MixtureModel(_given(), init_params="given", tol=0.0, max_iter=400,
                         accelerate="squarem", concomitant_coef_init=start,
                         freeze={"concomitant_coef_": mask,
                                 "rate": np.array([[False], [False], [True]])}).fit(
        X, concomitant=np.empty((n, 0)))
    assert model.concomitant_coef_[1, 0] == 0.3
    assert _rates(model)[2] == 12.0

    def objective(sub):
        a = np.array([0.0, 0.3, sub[0]])
        rates = np.array([np.exp(sub[1]), np.exp(sub[2]), 12.0])
        log_pi = a - logsumexp(a)
        lj = log_pi + poisson.logpmf(X[:, :1], rates)
        ll = logsumexp(lj, axis=1)
        r = np.exp(lj - ll[:, None])
        pi = np.exp(log_pi)
        grad = [(r[:, 2] - pi[2]).sum(), (r[:, 0] * (X[:, 0] - rates[0])).sum(),
                (r[:, 1] * (X[:, 0] - rates[1])).sum()]
        return -ll.sum(), -np.array(grad)

    x = _maximum(objective, np.array([-0.2, np.log(1.5), np.log(5.0)]))
    np.testing.assert_allclose(model.concomitant_coef_[2, 0], x[0], atol=1e-6)
    np.testing.assert_allclose(_rates(model)[:2], np.exp(x[1:]), rtol=1e-7)
    np.testing.assert_allclose(model.lower_bound_ * n, -objective(x)[0], rtol=1e-10)


def test_freezing_everything_is_refused_and_all_but_one_entry_keeps_the_rest():
    X, Z, _ = _simulate(13, 300)
    kw = dict(init_params="given", concomitant_coef_init=START)
    with pytest.raises(ValueError, match="nothing to fit"):
        MixtureModel(_given(), **kw, freeze={"concomitant_coef_": True,
                                             "components_": True}).fit(X, concomitant=Z)
    mask = np.ones((3, 3), dtype=bool)
    mask[2, 0] = False
    model = MixtureModel(_given(), tol=0.0, max_iter=10, **kw,
                         freeze={"concomitant_coef_": mask, "components_": True}).fit(
        X, concomitant=Z)
    np.testing.assert_array_equal(model.concomitant_coef_[mask], START[mask])
    np.testing.assert_array_equal(_rates(model), [1.5, 5.0, 12.0])
    assert model.concomitant_coef_[2, 0] != START[2, 0]


def test_frozen_components_alone_keep_their_start_and_the_logit_moves():
    X, Z, _ = _simulate(23, 300)
    model = MixtureModel(_given(), init_params="given", tol=0.0, max_iter=10,
                         freeze={"components_": [True, False, {"rate": True}]}).fit(
        X, concomitant=Z, sample_weight=np.full(len(X), 0.5))
    np.testing.assert_array_equal(_rates(model)[[0, 2]], [1.5, 12.0])
    assert _rates(model)[1] != 5.0 and np.all(model.concomitant_coef_[1:, 1:] != 0.0)
    assert np.all(np.diff(model.lower_bounds_) >= -1e-12)


def test_default_start_without_init_is_the_frozen_value():
    """Without concomitant_coef_init a frozen slope stays at the start's 0."""
    X, Z, _ = _simulate(14, 300)
    mask = np.zeros((3, 3), dtype=bool)
    mask[1, 1] = True
    model = MixtureModel(_given(), init_params="given", max_iter=20,
                         freeze={"concomitant_coef_": mask}).fit(X, concomitant=Z)
    assert model.concomitant_coef_[1, 1] == 0.0


# -------------------------------------------------------------- chunked, Dask
@pytest.mark.parametrize("dask_members", [False, True])
def test_dask_and_chunks_carry_labels_priors_weights_and_freeze(dask_members):
    X, Z, z = _simulate(15, 500)
    n = len(X)
    rng, w, labels = _supervision(16, n)
    known = rng.random(n) < 0.2
    labels[known] = z[known]
    priors = rng.uniform(0.3, 1.0, (n, 3))
    mask = np.zeros((3, 3), dtype=bool)
    mask[2, 1] = True
    est = dict(init_params="given", tol=0.0, max_iter=10, concomitant_coef_init=START,
               freeze={"concomitant_coef_": mask, "rate": np.array([[True], [False], [False]])})
    fit = dict(labels=labels, priors=priors, sample_weight=w)
    ref = MixtureModel(_given(), **est).fit(X, concomitant=Z, **fit)
    chunked = MixtureModel(_given(), chunk_size=77, **est).fit(X, concomitant=Z, **fit)
    np.testing.assert_allclose(chunked.concomitant_coef_, ref.concomitant_coef_, rtol=1e-10,
                               atol=1e-12)
    np.testing.assert_allclose(chunked.lower_bound_, ref.lower_bound_, rtol=1e-12)
    Xd = da.from_array(X, chunks=(120, 1))
    Zd = da.from_array(Z, chunks=(90, 2)) if dask_members else Z
    dfit = dict(labels=da.from_array(labels, chunks=100) if dask_members else labels,
                priors=priors,
                sample_weight=da.from_array(w, chunks=150) if dask_members else w)
    with dask.config.set(scheduler="synchronous"):
        got = MixtureModel(_given(), **est).fit(Xd, concomitant=Zd, **dfit)
        proba = got.predict_proba(Xd, concomitant=Zd).compute()
    np.testing.assert_allclose(got.concomitant_coef_, ref.concomitant_coef_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(_rates(got), _rates(ref), rtol=1e-10)
    np.testing.assert_allclose(got.lower_bound_, ref.lower_bound_, rtol=1e-10)
    np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-10)
    np.testing.assert_allclose(proba, ref.predict_proba(X, concomitant=Z), rtol=1e-8,
                               atol=1e-12)


def test_kmeans_start_uses_the_labels_on_dask_as_in_memory():
    X, Z, z = _simulate(17, 400)
    labels = np.where(np.random.default_rng(18).random(len(X)) < 0.2, z, -1)
    w = np.random.default_rng(19).uniform(0.5, 2.0, len(X))
    kw = dict(tol=0.0, max_iter=8, random_state=0)
    ref = MixtureModel(Poisson(), 3, **kw).fit(X, concomitant=Z, labels=labels,
                                                sample_weight=w)
    with dask.config.set(scheduler="synchronous"):
        got = MixtureModel(Poisson(), 3, **kw).fit(
            da.from_array(X, chunks=(100, 1)), concomitant=da.from_array(Z, chunks=(100, 2)),
            labels=labels, sample_weight=da.from_array(w, chunks=100))
    np.testing.assert_allclose(got.concomitant_coef_, ref.concomitant_coef_, rtol=1e-8,
                               atol=1e-10)
    np.testing.assert_allclose(_rates(got), _rates(ref), rtol=1e-10)
    # labelled components: component k is the labels' k
    assert np.all(np.diff(_rates(ref)) > 0)


def test_gaussian_components_save_and_load(tmp_path):
    import emkit

    rng = np.random.default_rng(20)
    n = 300
    Z = rng.normal(size=(n, 1))
    z = (rng.random(n) < 1 / (1 + np.exp(-2 * Z[:, 0]))).astype(int)
    X = rng.normal(np.where(z[:, None] == 1, 3.0, 0.0), 1.0, (n, 2))
    model = MixtureModel(Gaussian(), 2, random_state=0,
                         concomitant_coef_init=[[0.0, 0.0], [0.0, 1.0]],
                         freeze={"concomitant_coef_": np.array([[False, False],
                                                                [False, True]])}).fit(
        X, concomitant=Z, labels=np.where(np.arange(n) < 20, z, -1),
        sample_weight=rng.uniform(0.5, 1.5, n))
    assert model.concomitant_coef_[1, 1] == 1.0
    model.save(tmp_path / "m")
    back = emkit.load(tmp_path / "m")
    np.testing.assert_array_equal(back.concomitant_coef_, model.concomitant_coef_)
    np.testing.assert_allclose(back.predict_proba(X, concomitant=Z),
                               model.predict_proba(X, concomitant=Z), rtol=1e-12)


# ----------------------------------------------------------------- bad input
@pytest.mark.parametrize("est, fit, match", [
    (dict(concomitant_coef_init=np.zeros((3, 2))), {}, r"shape \(3, 3\)"),
    (dict(concomitant_coef_init=np.ones((3, 3))), {}, r"concomitant_coef_init\[0\] must be zero"),
    (dict(concomitant_coef_init=np.r_[[[0.0, 0, 0]], np.full((2, 3), np.nan)]), {},
     "must be finite"),
    (dict(concomitant_coef_init=START, weights_init=np.full(3, 1 / 3)), {}, "not both"),
    (dict(freeze={"weights_": True}), {}, "concomitant_coef_"),
    (dict(freeze={"concomitant_coef_": np.ones((3, 2), dtype=bool)}), {}, r"shape \(3, 3\)"),
    (dict(freeze={"concomitant_coef_": np.ones((3, 3))}), {}, "boolean mask"),
    (dict(freeze={"means_": True}), {}, "unknown attribute"),
    ({}, dict(labels=np.full(5, -1)), "labels must have shape"),
    ({}, dict(labels=np.full(200, 3)), "labels must be -1"),
    ({}, dict(priors=-np.ones((200, 3))), "finite and non-negative"),
    ({}, dict(sample_weight=-np.ones(200)), "non-negative"),
    ({}, dict(sample_weight=np.ones(7)), "sample_weight must have shape"),
    ({}, dict(sample_weight=da.ones(200, chunks=50)), "Dask collection but X is not"),
])
def test_clear_errors(est, fit, match):
    X, Z, _ = _simulate(21, 200)
    with pytest.raises(ValueError, match=match):
        MixtureModel(_given(), init_params="given", **est).fit(X, concomitant=Z, **fit)


def test_concomitant_only_options_refused_without_concomitant():
    X, _, _ = _simulate(22, 200)
    with pytest.raises(ValueError, match="no concomitant variables"):
        MixtureModel(_given(), init_params="given", concomitant_coef_init=START).fit(X)
    with pytest.raises(ValueError, match="needs a fit with concomitant"):
        MixtureModel(_given(), init_params="given",
                     freeze={"concomitant_coef_": True}).fit(X)


def test_weighted_kernel_is_the_weighted_sum_written_here():
    """The compiled pass with row weights against the sums written out (gradient
    sum_i w_i (r_ik - pi_ik) z~_i, minus the Hessian's blocks
    sum_i w_i pi_ic (delta_cd - pi_id) z~_i z~_i', Gram sum_i w_i z~_i z~_i'), across
    block edges, with rows of weight 0 and an impossible row."""
    from emkit.numerics.multinomial_logit_kernel import logit_mixture_e_step

    rng = np.random.default_rng(24)
    n, k, q = 700, 3, 2
    logf = rng.normal(size=(n, k)) * 2
    logf[5] = -np.inf
    Z = rng.normal(3.0, 2.0, (n, q))
    centre, half = np.array([3.0, 2.5]), np.array([6.0, 7.0])
    gamma = np.vstack([np.zeros(q + 1), rng.normal(size=(k - 1, q + 1))])
    w = rng.uniform(0.0, 2.0, n)
    w[::7] = 0.0
    ll, resp, stats = logit_mixture_e_step(logf, Z, centre, half, gamma, w)
    design = np.column_stack([np.ones(n), (Z - centre) / half])
    eta = design @ gamma.T
    log_pi = eta - logsumexp(eta, axis=1, keepdims=True)
    pi = np.exp(log_pi)
    lj = logf + log_pi
    with np.errstate(invalid="ignore"):
        r = np.exp(lj - logsumexp(lj, axis=1, keepdims=True))
    ok = np.isfinite(logsumexp(lj, axis=1))
    r[~ok] = 0.0
    ww = w * ok
    np.testing.assert_allclose(ll[ok], logsumexp(lj, axis=1)[ok], rtol=1e-12)
    np.testing.assert_allclose(resp, r * w[:, None], rtol=1e-12, atol=1e-300)
    np.testing.assert_allclose(stats["n"], (r * w[:, None]).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(stats["grad"], ((ww[:, None] * (r - pi))[:, 1:]).T @ design,
                               rtol=1e-10, atol=1e-10)
    for c in range(1, k):
        for d in range(1, k):
            h = ww * pi[:, c] * ((c == d) - pi[:, d])
            np.testing.assert_allclose(
                stats["hess"][(c - 1) * 3:c * 3, (d - 1) * 3:d * 3],
                (design * h[:, None]).T @ design, rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(stats["gram"], (design * ww[:, None]).T @ design, rtol=1e-12)
