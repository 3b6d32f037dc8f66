"""BIC/AIC under ``freeze=``: a frozen (not estimated) entry is not counted.

Every count is written out by hand here; with no freeze the counts are the
usual ones (compared with scikit-learn / mclust / hmmlearn elsewhere)."""

from __future__ import annotations

import numpy as np
import pytest

from emkit import GaussianMixture


def _blobs(n: int = 300, d: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.normal(0.0, 1.0, (n // 2, d)), rng.normal(4.0, 1.0, (n - n // 2, d))])


# K = 2 components, D = 3 features; unfrozen counts:
# full 2*6 + 2*3 + 1 = 19, diag 2*3 + 6 + 1 = 13, tied 6 + 6 + 1 = 13, spherical 2 + 6 + 1 = 9
@pytest.mark.parametrize("kind, freeze, expected", [
    ("full", {"means_": np.array([[True, False, False], [False, False, False]])}, 19 - 1),
    ("full", {"covariances_": np.array([True, False])[:, None, None] & np.ones((2, 3, 3), bool)},
     19 - 6),
    ("full", {"weights_": True}, 19 - 1),
    ("full", {"weights_": [True, False]}, 19 - 1),  # one free weight: nothing to estimate
    ("diag", {"covariances_": np.array([[True, True, False], [False, False, False]])}, 13 - 2),
    ("spherical", {"covariances_": [True, False], "means_": True}, 9 - 1 - 6),
])
def test_gaussian_mixture(kind, freeze, expected):
    X = _blobs()
    free = GaussianMixture(2, covariance_type=kind, random_state=0).fit(X)
    frozen = GaussianMixture(2, covariance_type=kind, random_state=0, freeze=freeze).fit(X)
    assert free._n_parameters() == {"full": 19, "diag": 13, "tied": 13, "spherical": 9}[kind]
    assert frozen._n_parameters() == expected
    n = len(X)
    assert frozen.bic(X) == pytest.approx(-2 * frozen.score(X) * n + expected * np.log(n))
    assert frozen.aic(X) == pytest.approx(-2 * frozen.score(X) * n + 2 * expected)


def test_gaussian_mixture_tied_frozen_covariance_counts_once():
    # K = 3, D = 3 tied: 6 covariance + 9 mean + 2 weight parameters; the frozen
    # shared covariance removes its 6 once
    X = np.vstack([_blobs(seed=1), _blobs(seed=2)[:100] - 8.0])
    frozen = GaussianMixture(3, covariance_type="tied", random_state=0,
                             freeze={"covariances_": True}).fit(X)
    assert frozen._n_parameters() == 17 - 6


# --------------------------------------------------------------- MixtureModel
def _counts(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.vstack([rng.poisson([2.0, 5.0], (150, 2)), rng.poisson([8.0, 1.0], (150, 2)),
                      rng.poisson([4.0, 9.0], (150, 2))]).astype(float)


def test_mixture_model_poisson():
    from emkit import MixtureModel
    from emkit.distributions import Poisson

    X = _counts()
    start = [Poisson(rate=r) for r in ([1.5, 4.0], [7.0, 1.5], [3.0, 8.0])]
    # 3 components x 2 rates + 2 weights = 8
    assert MixtureModel(start, init_params="given").fit(X).n_parameters() == 8
    mask = np.array([[True, False], [False, False], [True, True]])
    m = MixtureModel(start, init_params="given", freeze={"rate": mask, "weights_": [True, False,
                                                                                      False]})
    assert m.fit(X).n_parameters() == 8 - 3 - 1  # 3 rates; 2 free weights -> 1
    m = MixtureModel(start, init_params="given", freeze={"components_": [True, False, False],
                                                         "weights_": [True, True, False]})
    assert m.fit(X).n_parameters() == 8 - 2 - 2  # one component; one free weight -> 0


def test_mixture_model_gaussian_and_categorical():
    from emkit import MixtureModel
    from emkit.distributions import Categorical, Gaussian

    rng = np.random.default_rng(4)
    X = np.vstack([rng.normal([0, 0], 1, (150, 2)), rng.normal([4, 3], 1, (150, 2))])
    full = [Gaussian(mean=[0.5, 0.5], covariance=np.eye(2)),
            Gaussian(mean=[3.5, 3.5], covariance=np.eye(2))]
    # 2 x (2 means + 3 covariance) + 1 weight = 11
    m = MixtureModel(full, init_params="given", freeze={"components_": [{"covariance": True},
                                                                        False]}).fit(X)
    assert m.n_parameters() == 11 - 3
    tied = [Gaussian(mean=[0.5, 0.5], covariance=np.eye(2), covariance_type="tied"),
            Gaussian(mean=[3.5, 3.5], covariance=np.eye(2), covariance_type="tied")]
    # 2 x 2 means + 3 shared covariance + 1 weight = 8
    assert MixtureModel(tied, init_params="given").fit(X).n_parameters() == 8
    m = MixtureModel(tied, init_params="given", freeze={"covariance": True}).fit(X)
    assert m.n_parameters() == 8 - 3
    diag = [Gaussian(mean=[0.5, 0.5], covariance=np.ones(2), covariance_type="diag"),
            Gaussian(mean=[3.5, 3.5], covariance=np.ones(2), covariance_type="diag")]
    mask = np.array([[True, False], [False, False]])
    m = MixtureModel(diag, init_params="given", freeze={"covariance": mask, "mean": mask}).fit(X)
    assert m.n_parameters() == 9 - 1 - 1

    Y = np.vstack([rng.integers(0, 3, (100, 2)), rng.integers(1, 3, (100, 2))]).astype(float)
    p = np.full((2, 3), 1 / 3)
    cats = [Categorical(probs=p), Categorical(probs=p.copy())]
    # 2 components x 2 features x (3 - 1) + 1 weight = 9
    assert MixtureModel(cats, init_params="given").fit(Y).n_parameters() == 9
    mask = np.zeros((2, 2, 3), bool)
    mask[0, 0, 0] = True  # row (0, 0): 2 free entries -> 1 parameter
    mask[1, 1, :2] = True  # row (1, 1): 1 free entry -> 0
    m = MixtureModel(cats, init_params="given", freeze={"probs": mask}).fit(Y)
    assert m.n_parameters() == 9 - 1 - 2


def test_mixture_model_concomitant_coefficients():
    from emkit import MixtureModel
    from emkit.distributions import Poisson

    X = _counts()
    Z = np.random.default_rng(1).normal(size=(len(X), 1))
    start = [Poisson(rate=r) for r in ([1.5, 4.0], [7.0, 1.5], [3.0, 8.0])]
    # 6 rates + (3 - 1) x (1 + 1) logit coefficients = 10
    assert MixtureModel(start, init_params="given").fit(X, concomitant=Z).n_parameters() == 10
    coef = np.array([[True, True], [False, True], [False, False]])  # row 0: never counted
    m = MixtureModel(start, init_params="given", freeze={"concomitant_coef_": coef})
    assert m.fit(X, concomitant=Z).n_parameters() == 10 - 1


# ------------------------------------------------------------------------ HMMs
def _hmm_fit(est, X):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return est.fit(X)


def _hmm_rows(d: int = 2, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    z = np.repeat([0, 1, 2, 0, 1, 2], 40)
    return np.array([[0.0, 0.0], [4.0, 1.0], [-3.0, 5.0]])[z, :d] + rng.normal(size=(240, d))


def test_gaussian_hmm():
    from emkit import GaussianHMM
    from emkit.estimators.hmm_selection import n_free_parameters

    X = _hmm_rows()
    # K = 3, D = 2 diag: start 2 + transitions 3 x 2 + means 6 + variances 6 = 20
    free = _hmm_fit(GaussianHMM(3, "diag", random_state=0), X)
    assert n_free_parameters(free, X) == 20
    trans = np.zeros((3, 3), bool)
    trans[0, :2] = True  # row 0: one free entry -> 0 (was 2)
    trans[1, 0] = True  # row 1: two free -> 1 (was 2)
    freeze = {"startprob_": [True, False, False], "transmat_": trans,
              "means_": np.array([[True, False], [False, False], [False, False]]),
              "covars_": True}
    est = _hmm_fit(GaussianHMM(3, "diag", random_state=0, freeze=freeze), X)
    expected = 20 - 1 - 3 - 1 - 6
    assert n_free_parameters(est, X) == expected
    n = len(X)
    assert est.bic(X) == pytest.approx(-2 * est.score(X) + expected * np.log(n))
    assert est.aic(X) == pytest.approx(-2 * est.score(X) + 2 * expected)
    # full: a frozen state's covariance is its 3 entries of the triangle
    full = _hmm_fit(GaussianHMM(3, "full", random_state=0), X)
    assert n_free_parameters(full, X) == 2 + 6 + 6 + 9
    cov = np.zeros((3, 2, 2), bool)
    cov[1] = True
    est = _hmm_fit(GaussianHMM(3, "full", random_state=0, freeze={"covars_": cov}), X)
    assert n_free_parameters(est, X) == 23 - 3


def test_count_hmms():
    from emkit import CategoricalHMM, PoissonHMM
    from emkit.estimators.hmm_selection import n_free_parameters

    rng = np.random.default_rng(3)
    X = rng.poisson([[2.0, 6.0]], (200, 2)).astype(float)
    # K = 2: start 1 + transitions 2 + rates 4 = 7
    est = _hmm_fit(PoissonHMM(2, random_state=0,
                              freeze={"lambdas_": np.array([[True, False], [False, True]])}), X)
    assert n_free_parameters(est, X) == 7 - 2
    S = rng.integers(0, 4, (200, 1))
    # K = 2, 4 symbols: start 1 + transitions 2 + emissions 2 x 3 = 9
    mask = np.array([[True, False, False, False], [True, True, True, False]])
    est = _hmm_fit(CategoricalHMM(2, random_state=0, freeze={"emissionprob_": mask}), S)
    assert n_free_parameters(est, S) == 9 - 1 - 3


def test_distribution_hmm_frozen_states():
    from emkit import HMM
    from emkit.distributions import Poisson
    from emkit.estimators.hmm_selection import n_free_parameters

    rng = np.random.default_rng(5)
    X = rng.poisson([[2.0, 6.0]], (200, 2)).astype(float)
    # K = 3 Poisson states in 2 columns: start 2 + transitions 6 + rates 6 = 14
    free = _hmm_fit(HMM(Poisson(), 3, random_state=0), X)
    assert n_free_parameters(free, X) == 14
    est = _hmm_fit(HMM(Poisson(), 3, random_state=0,
                       freeze={"emissions_": [True, False, True]}), X)
    assert n_free_parameters(est, X) == 14 - 4
    est = _hmm_fit(HMM(Poisson(), 3, random_state=0, freeze={"emissions_": True}), X)
    assert n_free_parameters(est, X) == 14 - 6


def test_hsmm_and_gmmhmm():
    from emkit import GMMHMM, HSMM
    from emkit.distributions import Poisson
    from emkit.estimators.hmm_selection import n_free_parameters

    rng = np.random.default_rng(6)
    X = rng.poisson([[2.0, 6.0]], (200, 2)).astype(float)
    free = _hmm_fit(HSMM(Poisson(), 3, max_duration=8, random_state=0), X)
    counts = free._n_fit_scalars_per_param(2)
    # K = 3 without self-transitions: start 2, transitions 3 x (2 - 1), rates 6
    assert (counts["s"], counts["t"], counts["e"]) == (2, 3, 6)
    trans = np.zeros((3, 3), bool)
    trans[0, 1] = True  # row 0: its one other nonzero entry alone is free -> 0
    est = _hmm_fit(HSMM(Poisson(), 3, max_duration=8, random_state=0,
                        freeze={"transmat_": trans, "duration_params_": True}), X)
    assert n_free_parameters(est, X) == n_free_parameters(free, X) - 1 - counts["d"]

    Y = _hmm_rows()
    # K = 3, 2 mixture components, D = 2 diag: start 2 + transitions 6 + weights 3 x 1
    # + means 12 + variances 12 = 35
    gmm = _hmm_fit(GMMHMM(3, 2, covariance_type="diag", random_state=0), Y)
    assert n_free_parameters(gmm, Y) == 35
    w = np.array([[True, False], [False, False], [True, True]])
    est = _hmm_fit(GMMHMM(3, 2, covariance_type="diag", random_state=0, freeze={"weights_": w}), Y)
    assert n_free_parameters(est, Y) == 35 - 2


def test_input_driven_hmm():
    import warnings

    from emkit import ConvergenceWarning, InputDrivenHMM
    from emkit.distributions import Gaussian

    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 1)) + np.repeat([0.0, 3.0, 0.0], 100)[:, None]
    U = rng.normal(size=(300, 1))

    def fit(freeze=None, **kw):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return InputDrivenHMM(Gaussian(), 3, n_iter=3, random_state=0, freeze=freeze,
                                  **kw).fit(X, [10] * 30, covariates=U)

    # K = 3, q = 1: start 2 + transitions 3 x 2 x 2 (references not counted) + 3 x 2
    assert fit()._n_parameters() == 2 + 12 + 6
    mask = np.zeros((3, 3, 2), bool)
    mask[0, 1, :] = True  # two non-reference coefficients
    mask[0, 0, :] = True  # the reference: never counted anyway
    mask[2, 0, 1] = True
    est = fit({"transition_coef_": mask, "startprob_": [True, True, False]})
    assert est._n_parameters() == 20 - 3 - 2
    assert fit({"emissions_": True})._n_parameters() == 20 - 6
    # start covariates: (K - 1) x (q + 1) start coefficients, row 0 the reference
    start_mask = np.array([[True, True], [True, False], [False, False]])
    est = fit({"start_coef_": start_mask}, start_covariates=True)
    assert est._n_parameters() == 4 + 12 + 6 - 1
    n = len(X)
    lengths = [10] * 30
    assert est.bic(X, lengths, covariates=U) == pytest.approx(
        -2 * est.score(X, lengths, covariates=U) + (4 + 12 + 6 - 1) * np.log(n))


# ------------------------------------------------------------------- MclustMixture
def _mclust_fit(model, freeze=None):
    import warnings

    from emkit.estimators.mclust_mixture import MclustMixture

    rng = np.random.default_rng(0)
    X = np.vstack([rng.multivariate_normal(c, s, size=40) for c, s in (
        ([0.0, 0.0], [[1.0, 0.3], [0.3, 0.5]]), ([4.0, 1.0], [[0.4, -0.1], [-0.1, 1.2]]),
        ([1.0, 5.0], [[0.8, 0.2], [0.2, 0.6]]))])
    labels = np.repeat(np.arange(3), 40)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fit = MclustMixture(model, 3, max_iter=2).fit(X, init=labels)
        start = {"weights": fit.weights_, "means": fit.means_, "covariances": fit.covariances_}
        return MclustMixture(model, 3, max_iter=3, freeze=freeze).fit(X, init=start)


# K = 3, D = 2: weights 2 + means 6 + covariances (volume 1, shape 1, orientation 1 each,
# once when shared, per component when varying); with one covariance frozen the shared
# parts are fixed and each of the 2 free components keeps its own varying parts
@pytest.mark.parametrize("model, n_cov, n_cov_one_frozen", [
    ("VVV", 9, 6), ("EEE", 3, 0), ("EII", 1, 0), ("VII", 3, 2), ("VEI", 4, 2),
    ("EVE", 5, 2), ("VVE", 7, 4), ("EEV", 5, 2), ("VEV", 7, 4), ("EVV", 7, 4),
])
def test_mclust(model, n_cov, n_cov_one_frozen):
    assert _mclust_fit(model).n_parameters() == 8 + n_cov
    frozen = _mclust_fit(model, {"covariances_": [True, False, False]})
    assert frozen.n_parameters() == 8 + n_cov_one_frozen
    mask = np.zeros((3, 2), bool)
    mask[1, 0] = True
    both = _mclust_fit(model, {"means_": mask, "weights_": [True, False, False]})
    assert both.n_parameters() == 8 + n_cov - 1 - 1
    all_cov = _mclust_fit(model, {"covariances_": True, "weights_": [True, True, False]})
    assert all_cov.n_parameters() == 6
