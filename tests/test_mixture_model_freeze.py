"""Frozen parameters for MixtureModel: the constrained M-step of every family.

References written here: EM loops with hand-written constrained M-steps (Poisson,
Categorical), and constrained maximizations of the expected complete
log-likelihood by scipy.optimize from the responsibilities (Gaussian, Gamma,
LogNormal) — never the model's own code.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import optimize, stats

from emkit.distributions import (
    Categorical,
    Exponential,
    Gamma,
    Gaussian,
    Independent,
    LogNormal,
    NegativeBinomial,
    Poisson,
    StudentT,
    Weibull,
)
from emkit.estimators.mixture_model import MixtureModel
from emkit.exceptions import ConvergenceWarning
from emkit.models.mixture.any_distribution import MixtureEM
from emkit.models.mixture.frozen_mixture import FrozenMixtureEM
from emkit.persistence import load

CAPPED = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _poisson2d(seed=0):
    rng = np.random.default_rng(seed)
    return np.vstack([rng.poisson([2.0, 5.0], (150, 2)),
                      rng.poisson([8.0, 1.0], (100, 2)),
                      rng.poisson([4.0, 9.0], (120, 2))]).astype(float)


START_RATES = np.array([[1.5, 4.0], [7.0, 1.5], [3.0, 8.0]])
START_W = np.array([0.3, 0.3, 0.4])


def _ref_poisson(X, rates, w, rate_mask, w_mask, n_iter):
    lam, pi = rates.copy(), w.copy()
    for _ in range(n_iter):
        logp = np.log(pi) + stats.poisson.logpmf(X[:, None, :], lam[None]).sum(axis=2)
        r = np.exp(logp - logp.max(axis=1, keepdims=True))
        r /= r.sum(axis=1, keepdims=True)
        nk = r.sum(0)
        lam = np.where(rate_mask, rates, (r.T @ X) / nk[:, None])
        free = ~w_mask
        new = pi.copy()
        new[free] = (1 - pi[w_mask].sum()) * nk[free] / nk[free].sum()
        pi = new
    return pi, lam


@CAPPED
@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_poisson_mask_matches_reference_em(accelerate):
    X = _poisson2d()
    rate_mask = np.array([[True, False], [False, False], [False, True]])
    w_mask = np.array([False, True, False])
    kw = dict(init_params="given", weights_init=START_W, tol=0.0, max_iter=6,
              freeze={"rate": rate_mask, "weights_": w_mask})
    got = MixtureModel([Poisson(rate=r) for r in START_RATES], **kw).fit(X)
    rates = np.stack([c.rate for c in got.components_])
    np.testing.assert_array_equal(rates[rate_mask], START_RATES[rate_mask])
    assert got.weights_[1] == START_W[1]
    if accelerate is None:
        pi, lam = _ref_poisson(X, START_RATES, START_W, rate_mask, w_mask, 6)
        np.testing.assert_allclose(got.weights_, pi, rtol=1e-10)
        np.testing.assert_allclose(rates, lam, rtol=1e-10)
    # SQUAREM: to convergence, frozen entries bit for bit, same optimum as plain EM
    sq = MixtureModel([Poisson(rate=r) for r in START_RATES], init_params="given",
                      weights_init=START_W, tol=1e-12, max_iter=3000,
                      freeze={"rate": rate_mask, "weights_": w_mask},
                      accelerate=accelerate).fit(X)
    sq_rates = np.stack([c.rate for c in sq.components_])
    np.testing.assert_array_equal(sq_rates[rate_mask], START_RATES[rate_mask])
    assert sq.weights_[1] == START_W[1]
    pi, lam = _ref_poisson(X, START_RATES, START_W, rate_mask, w_mask, 3000)
    np.testing.assert_allclose(sq_rates, lam, rtol=1e-5)
    np.testing.assert_allclose(sq.weights_, pi, rtol=1e-5)


@CAPPED
def test_categorical_free_entries_share_the_free_mass():
    rng = np.random.default_rng(1)
    X = np.vstack([rng.choice(4, (200, 1), p=[.5, .3, .1, .1]),
                   rng.choice(4, (150, 1), p=[.1, .1, .3, .5])]).astype(float)
    p0 = np.array([[[.4, .3, .2, .1]], [[.1, .2, .3, .4]]])
    mask = np.zeros((2, 1, 4), bool)
    mask[0, 0, 0] = mask[1, 0, 3] = True
    probs, pi = p0.copy(), np.array([.5, .5])
    for _ in range(5):
        logp = np.log(pi) + np.log(probs[:, 0, X[:, 0].astype(int)]).T
        r = np.exp(logp - logp.max(1, keepdims=True))
        r /= r.sum(1, keepdims=True)
        counts = np.stack([np.bincount(X[:, 0].astype(int), weights=r[:, j], minlength=4)
                           for j in range(2)])[:, None, :]
        free = ~mask
        mass = 1 - np.where(mask, p0, 0).sum(-1, keepdims=True)
        probs = np.where(mask, p0, mass * np.where(free, counts, 0)
                         / np.where(free, counts, 0).sum(-1, keepdims=True))
        pi = r.sum(0) / r.sum()
    got = MixtureModel([Categorical(probs=p) for p in p0], init_params="given", tol=0.0,
                       max_iter=5, freeze={"probs": mask}).fit(X)
    np.testing.assert_allclose(np.stack([c.probs for c in got.components_]), probs,
                               rtol=1e-10)
    np.testing.assert_allclose(got.weights_, pi, rtol=1e-10)
    assert got.components_[0].probs[0, 0] == 0.4


def _resp(X, model_params, templates):
    lj = MixtureEM(templates).log_joint(X, model_params)
    r = np.exp(lj - lj.max(1, keepdims=True))
    return r / r.sum(1, keepdims=True)


def _one_step(templates, X, weights, masks, weight_mask=None):
    """One constrained M-step of FrozenMixtureEM from the start, and the responsibilities."""
    model = MixtureEM(templates)
    start = MixtureEM.pack(weights, templates)
    frozen = FrozenMixtureEM(model, start, weight_mask, masks)
    stats_, _ = model.e_step(X, start)
    return frozen.m_step(stats_), _resp(X, start, templates)


def _gaussian_q(mean, cov, X, r):
    return float(r @ stats.multivariate_normal(mean, cov).logpdf(X))


@pytest.mark.parametrize("cov_frozen", [False, True])
def test_gaussian_partly_frozen_mean_is_the_constrained_maximum(cov_frozen):
    rng = np.random.default_rng(2)
    X = np.vstack([rng.multivariate_normal([0, 0, 0], [[1, .6, .2], [.6, 1, .3], [.2, .3, 1]],
                                           200),
                   rng.multivariate_normal([3, 2, -1], np.eye(3) * .5, 150)])
    c0 = np.array([[1.0, 0.4, 0.0], [0.4, 1.0, 0.2], [0.0, 0.2, 1.0]])
    templates = [Gaussian(mean=[0.5, -0.5, 0.3], covariance=c0, reg_covar=0.0),
                 Gaussian(mean=[3.0, 2.0, -1.0], covariance=np.eye(3), reg_covar=0.0)]
    mean_mask = np.array([True, False, False])
    masks = [{"mean": mean_mask, "covariance": np.full((3, 3), cov_frozen)},
             {"mean": np.zeros(3, bool), "covariance": np.zeros((3, 3), bool)}]
    step, r = _one_step(templates, X, np.array([.5, .5]), masks)
    got = step["components"][0]
    assert got["mean"][0] == 0.5
    w = r[:, 0]

    def negq(theta):
        mean = np.r_[0.5, theta[:2]]
        if cov_frozen:
            cov = c0
        else:
            L = np.zeros((3, 3))
            L[np.tril_indices(3)] = theta[2:]
            cov = L @ L.T
        return -_gaussian_q(mean, cov, X, w)

    x0 = np.r_[0.0, 0.0] if cov_frozen else np.r_[0.0, 0.0, np.linalg.cholesky(c0)[
        np.tril_indices(3)]]
    ref = optimize.minimize(negq, x0, method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose(got["mean"][1:], ref.x[:2], atol=1e-4)
    assert -negq(np.r_[got["mean"][1:], [] if cov_frozen else
                       np.linalg.cholesky(got["covariance"])[np.tril_indices(3)]]) \
        >= -ref.fun - 1e-7
    if cov_frozen:
        np.testing.assert_array_equal(got["covariance"], c0)


def test_gamma_and_lognormal_with_one_parameter_frozen():
    rng = np.random.default_rng(3)
    X = np.r_[rng.gamma(2.0, 1.0, 200), rng.gamma(9.0, 0.5, 150)][:, None]
    templates = [Gamma(shape=[1.5], rate=[1.0]), Gamma(shape=[6.0], rate=[1.5])]
    masks = [{"shape": np.array([True]), "rate": np.array([False])},
             {"shape": np.array([False]), "rate": np.array([True])}]
    step, r = _one_step(templates, X, np.array([.5, .5]), masks)
    x = X[:, 0]
    # component 0, shape 1.5 frozen: maximize over the rate
    ref0 = optimize.minimize_scalar(lambda b: -r[:, 0] @ stats.gamma.logpdf(x, 1.5, scale=1 / b),
                                    bounds=(1e-3, 50), method="bounded",
                                    options={"xatol": 1e-12})
    np.testing.assert_allclose(step["components"][0]["rate"], [ref0.x], rtol=1e-6)
    # component 1, rate 1.5 frozen: maximize over the shape
    ref1 = optimize.minimize_scalar(lambda a: -r[:, 1] @ stats.gamma.logpdf(x, a, scale=1 / 1.5),
                                    bounds=(1e-3, 100), method="bounded",
                                    options={"xatol": 1e-12})
    np.testing.assert_allclose(step["components"][1]["shape"], [ref1.x], rtol=1e-6)
    assert step["components"][0]["shape"][0] == 1.5
    assert step["components"][1]["rate"][0] == 1.5

    Y = np.exp(X / 3.0)
    lt = [LogNormal(mu=[0.3], sigma=[0.4], reg_var=0.0),
          LogNormal(mu=[1.5], sigma=[0.6], reg_var=0.0)]
    lmasks = [{"mu": np.array([True]), "sigma": np.array([False])},
              {"mu": np.array([False]), "sigma": np.array([True])}]
    step, r = _one_step(lt, Y, np.array([.5, .5]), lmasks)
    y = Y[:, 0]
    ref_s = optimize.minimize_scalar(
        lambda s: -r[:, 0] @ stats.lognorm.logpdf(y, s, scale=np.exp(0.3)),
        bounds=(1e-3, 10), method="bounded", options={"xatol": 1e-12})
    np.testing.assert_allclose(step["components"][0]["sigma"], [ref_s.x], rtol=1e-6)
    ref_m = optimize.minimize_scalar(
        lambda m: -r[:, 1] @ stats.lognorm.logpdf(y, 0.6, scale=np.exp(m)),
        bounds=(-5, 5), method="bounded", options={"xatol": 1e-12})
    np.testing.assert_allclose(step["components"][1]["mu"], [ref_m.x], rtol=1e-6)


@CAPPED
def test_tied_and_diag_gaussians_keep_frozen_means():
    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal([0, 0], 1, (150, 2)), rng.normal([4, 3], 1, (150, 2))])
    for ctype in ("tied", "diag", "spherical"):
        cov = {"tied": np.eye(2), "diag": np.ones(2), "spherical": 1.0}[ctype]
        templates = [Gaussian(mean=[0.5, 0.5], covariance=cov, covariance_type=ctype),
                     Gaussian(mean=[3.5, 3.5], covariance=cov, covariance_type=ctype)]
        mask = np.array([[True, False], [False, False]])
        m = MixtureModel(templates, init_params="given", freeze={"mean": mask},
                         tol=1e-10, max_iter=500).fit(X)
        assert m.components_[0].mean[0] == 0.5
        assert abs(m.components_[0].mean[1]) < 0.3
        if ctype == "tied":
            np.testing.assert_array_equal(m.components_[0].covariance,
                                          m.components_[1].covariance)


@CAPPED
def test_freezing_every_component_keeps_the_start_and_fits_the_weights():
    rng = np.random.default_rng(5)
    x = np.r_[rng.exponential(1.0, 300), rng.exponential(5.0, 100)][:, None]
    templates = [Exponential(rate=[1.0]), Exponential(rate=[0.2])]
    m = MixtureModel(templates, init_params="given", freeze={"components_": True},
                     tol=1e-12, max_iter=2000).fit(x)
    assert [float(c.rate[0]) for c in m.components_] == [1.0, 0.2]
    # the weight's maximum likelihood with the densities fixed (a 1-D search)
    dens = np.column_stack([stats.expon.pdf(x[:, 0], scale=1.0),
                            stats.expon.pdf(x[:, 0], scale=5.0)])
    ref = optimize.minimize_scalar(lambda p: -np.log(dens @ [p, 1 - p]).sum(),
                                   bounds=(1e-6, 1 - 1e-6), method="bounded",
                                   options={"xatol": 1e-12})
    np.testing.assert_allclose(m.weights_[0], ref.x, rtol=1e-6)
    # everything frozen but one free weight is nothing to fit
    with pytest.raises(ValueError, match="nothing to fit"):
        MixtureModel(templates, init_params="given",
                     freeze={"components_": True, "weights_": [True, False]}).fit(x)
    with pytest.raises(ValueError, match="nothing to fit"):
        MixtureModel(templates, init_params="given",
                     freeze={"components_": True, "weights_": True}).fit(x)


@CAPPED
def test_independent_parts_and_per_component_specs():
    rng = np.random.default_rng(6)
    X = np.column_stack([np.r_[rng.poisson(2, 100), rng.poisson(7, 100)],
                         np.r_[rng.normal(0, 1, 100), rng.normal(2, 1, 100)]]).astype(float)
    templates = [Independent([Poisson(rate=[1.0]), Gaussian(mean=[0.0], covariance=[[1.0]])]),
                 Independent([Poisson(rate=[6.0]), Gaussian(mean=[2.5], covariance=[[1.0]])])]
    m = MixtureModel(templates, init_params="given", tol=1e-8, max_iter=500,
                     freeze={"components_": [{"parts": [True, {"mean": True}]}, False]}).fit(X)
    first = m.components_[0].distributions
    assert float(first[0].rate[0]) == 1.0 and float(first[1].mean[0]) == 0.0
    assert float(first[1].covariance[0, 0]) != 1.0
    assert float(m.components_[1].distributions[0].rate[0]) != 6.0


def test_freeze_errors():
    X = _poisson2d(7)
    given = [Poisson(rate=r) for r in START_RATES]
    with pytest.raises(ValueError, match="shape"):
        MixtureModel(given, init_params="given", freeze={"rate": np.ones((2, 2), bool)}).fit(X)
    with pytest.raises(ValueError, match="shape"):
        MixtureModel(given, init_params="given", freeze={"weights_": [True, False]}).fit(X)
    with pytest.raises(ValueError, match="unknown attribute"):
        MixtureModel(given, init_params="given", freeze={"rates": True}).fit(X)
    with pytest.raises(ValueError, match="unknown parameter"):
        MixtureModel(given, init_params="given",
                     freeze={"components_": [{"mean": True}, False, False]}).fit(X)
    with pytest.raises(ValueError, match="must be a dict"):
        MixtureModel(given, init_params="given", freeze=["rate"]).fit(X)
    with pytest.raises(ValueError, match="no exact M-step"):
        Y = np.random.default_rng(0).normal(size=(50, 1))
        MixtureModel(StudentT(), n_components=2, freeze={"dof": np.array([True, False])}
                     ).fit(Y)
    with pytest.raises(ValueError, match="freezes whole"):
        Y = np.random.default_rng(0).normal(size=(50, 2))
        mask = np.zeros((2, 2, 2), bool)
        mask[0, 0, 0] = True
        MixtureModel(Gaussian(), n_components=2, freeze={"covariance": mask}).fit(Y)


@CAPPED
def test_save_load_keeps_freeze(tmp_path):
    X = _poisson2d(8)
    mask = np.array([[True, False], [False, False], [False, True]])
    m = MixtureModel([Poisson(rate=r) for r in START_RATES], init_params="given",
                     freeze={"rate": mask, "components_": [False, {"rate": True}, False]},
                     max_iter=50).fit(X)
    back = load(m.save(tmp_path / "m.emkit"))
    np.testing.assert_array_equal(back.freeze["rate"], mask)
    assert back.freeze["components_"][1]["rate"] is True
    np.testing.assert_allclose(back.score(X), m.score(X), rtol=1e-15)
    refit = back.fit(X)
    np.testing.assert_array_equal(np.stack([c.rate for c in refit.components_])[1],
                                  START_RATES[1])


@CAPPED
def test_frozen_fit_chunked_and_dask_equal_in_memory():
    import dask
    import dask.array as da

    X = _poisson2d(9)
    mask = np.array([[True, False], [False, False], [False, True]])
    kw = dict(init_params="given", weights_init=START_W, tol=0.0, max_iter=6,
              freeze={"rate": mask, "weights_": [False, True, False]})
    ref = MixtureModel([Poisson(rate=r) for r in START_RATES], **kw).fit(X)
    chunked = MixtureModel([Poisson(rate=r) for r in START_RATES], chunk_size=41,
                           **kw).fit(X)
    with dask.config.set(scheduler="synchronous"):
        lazy = MixtureModel([Poisson(rate=r) for r in START_RATES], **kw).fit(
            da.from_array(X, chunks=(90, 2)))
    for got in (chunked, lazy):
        np.testing.assert_allclose(got.weights_, ref.weights_, rtol=1e-12)
        np.testing.assert_allclose(np.stack([c.rate for c in got.components_]),
                                   np.stack([c.rate for c in ref.components_]), rtol=1e-12)


def test_partial_fit_refuses_freeze():
    X = _poisson2d(10)
    with pytest.raises(ValueError, match="partial_fit"):
        MixtureModel(Poisson(), n_components=2, freeze={"weights_": True}).partial_fit(X)


@pytest.mark.parametrize("accelerate", [None, "squarem"])
def test_partial_freezes_fit_to_convergence_without_warnings(accelerate):
    """EM with the constrained steps stays monotone (warnings are errors here) and the
    frozen entries stay put, for a full Gaussian (default reg_covar) and a Gamma."""
    rng = np.random.default_rng(11)
    X = np.vstack([rng.multivariate_normal([0, 0], [[1, .6], [.6, 1]], 200),
                   rng.multivariate_normal([3, 3], [[1, -.4], [-.4, 1]], 200)])
    g = MixtureModel([Gaussian(mean=[0.3, 0.0], covariance=np.eye(2)),
                      Gaussian(mean=[3.0, 3.0], covariance=np.eye(2))], init_params="given",
                     freeze={"mean": np.array([[True, False], [False, False]])},
                     tol=1e-10, max_iter=2000, accelerate=accelerate).fit(X)
    assert g.converged_ and g.components_[0].mean[0] == 0.3
    x = np.r_[rng.gamma(2.0, 1.0, 300), rng.gamma(12.0, 0.5, 200)][:, None]
    m = MixtureModel([Gamma(shape=[2.5], rate=[1.0]), Gamma(shape=[10.0], rate=[2.0])],
                     init_params="given", freeze={"rate": np.array([[True], [False]])},
                     tol=1e-10, max_iter=2000, accelerate=accelerate).fit(x)
    assert m.converged_ and float(m.components_[0].rate[0]) == 1.0
    assert abs(float(m.components_[0].shape[0]) - 2.0) < 0.4


def _family_case(name):
    rng = np.random.default_rng(12)
    pos = np.r_[rng.gamma(2.0, 1.0, 150), rng.gamma(9.0, 1.0, 150)][:, None]
    real = np.vstack([rng.normal(0, 1, (150, 2)), rng.normal(3, 1, (150, 2))])
    counts = np.r_[rng.poisson(2, 150), rng.poisson(9, 150)][:, None].astype(float)
    cases = {
        "poisson": (counts, lambda: Poisson(), 2),
        "gamma": (pos, lambda: Gamma(), 2),
        "lognormal": (pos, lambda: LogNormal(), 2),
        "weibull": (pos, lambda: Weibull(), 2),
        "negative_binomial": (counts, lambda: NegativeBinomial(), 2),
        "student_t": (real, lambda: StudentT(), 2),
        "gaussian_full": (real, lambda: Gaussian(), 2),
        "gaussian_tied": (real, lambda: Gaussian(covariance_type="tied"), 2),
        "independent": (np.column_stack([counts, real[:, :1]]),
                        lambda: Independent([Poisson(), Gaussian()]), 2),
    }
    return cases[name]


@pytest.mark.parametrize("name", ["poisson", "gamma", "lognormal", "weibull",
                                  "negative_binomial", "student_t", "gaussian_full",
                                  "gaussian_tied", "independent"])
def test_freezing_every_component_returns_the_start_for_every_family(name):
    X, make, k = _family_case(name)
    start = MixtureModel(make(), n_components=k, max_iter=3, tol=0.0, random_state=0)
    with pytest.warns(ConvergenceWarning):
        start.fit(X)
    given = start.components_
    m = MixtureModel(given, init_params="given", freeze={"components_": True},
                     max_iter=50).fit(X)
    for a, b in zip(m.components_, given, strict=True):
        pa, pb = a.parameters(), b.parameters()
        flat_a = np.concatenate([np.ravel(v) for v in _leaves(pa)])
        flat_b = np.concatenate([np.ravel(v) for v in _leaves(pb)])
        np.testing.assert_array_equal(flat_a, flat_b)
    assert not np.allclose(m.weights_, 0.5)  # the weights did move
    with pytest.raises(ValueError, match="nothing to fit"):
        MixtureModel(given, init_params="given",
                     freeze={"components_": True, "weights_": True}).fit(X)


def _leaves(tree):
    if isinstance(tree, dict):
        return [leaf for v in tree.values() for leaf in _leaves(v)]
    if isinstance(tree, list):
        return [leaf for v in tree for leaf in _leaves(v)]
    return [np.asarray(tree)]
