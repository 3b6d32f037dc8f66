"""mclust's fourteen covariance models: constraints, optimality, agreement with scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.cluster.hierarchy import fcluster, ward
from sklearn.exceptions import ConvergenceWarning as SklearnConvergenceWarning
from sklearn.metrics import adjusted_rand_score
from sklearn.mixture import GaussianMixture as SkGaussianMixture

import emkit
from emkit.gaussian.constrained import (
    MCLUST_MODELS,
    constrained_covariances,
    covariance_objective,
    n_covariance_parameters,
)
from emkit.gaussian.reference import log_gaussian_density, precision_cholesky
from emkit.models.mixture.mclust import (
    MclustModel,
    log_gaussian_full,
    mixture_stats,
    n_mixture_parameters,
    partition_stats,
    precision_cholesky_full,
)
from emkit.models.mixture.mclust_init import cut_tree, hc_merges, hc_partitions


def blobs(seed=0, n=240, d=3, k=3):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 6, size=(k, d))
    labels = rng.integers(k, size=n)
    scales = rng.uniform(0.5, 2.0, size=(k, d, d))
    X = centres[labels] + np.einsum("nd,nde->ne", rng.normal(size=(n, d)), scales[labels])
    return X + 50.0, labels  # an offset: centred statistics must not care


def random_stats(seed=1, k=3):
    X, _ = blobs(seed)
    rng = np.random.default_rng(seed)
    resp = rng.dirichlet(np.ones(k), size=X.shape[0])
    return mixture_stats(X, resp, rng.normal(50, 1, size=(k, X.shape[1])))


def decompose(cov):
    """Volumes (K,), shapes (K, d) descending, orientations (K, d, d)."""
    values, vectors = np.linalg.eigh(cov)
    values, vectors = values[:, ::-1], vectors[:, :, ::-1]
    volume = np.exp(np.log(values).mean(axis=1))
    return volume, values / volume[:, None], vectors


def is_diagonal(cov):
    off = cov - np.einsum("kii->ki", cov)[:, :, None] * np.eye(cov.shape[-1])
    return np.allclose(off, 0.0, atol=1e-12 * np.abs(cov).max())


def commute(cov):
    """Matrices with common eigenvectors commute."""
    return all(np.allclose(a @ b, b @ a, rtol=1e-7, atol=1e-8 * np.abs(a @ b).max())
               for a in cov for b in cov)


CONSTRAINTS = {
    # name: (equal volume, equal shape, diagonal, spherical, common orientation, equal cov)
    "EII": dict(eq_vol=True, eq_shape=True, diag=True, sph=True),
    "VII": dict(sph=True, diag=True, eq_shape=True),
    "EEI": dict(eq_vol=True, eq_shape=True, diag=True),
    "VEI": dict(eq_shape=True, diag=True),
    "EVI": dict(eq_vol=True, diag=True),
    "VVI": dict(diag=True),
    "EEE": dict(eq_vol=True, eq_shape=True, orient=True, equal=True),
    "VEE": dict(eq_shape=True, orient=True),
    "EVE": dict(eq_vol=True, orient=True),
    "VVE": dict(orient=True),
    "EEV": dict(eq_vol=True, eq_shape=True),
    "VEV": dict(eq_shape=True),
    "EVV": dict(eq_vol=True),
    "VVV": dict(),
}


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_m_step_satisfies_its_constraint(name):
    params = MclustModel(name).m_step(random_stats())
    cov = params["covariances"]
    assert cov.shape == (3, 3, 3)
    assert np.allclose(cov, np.swapaxes(cov, 1, 2))
    assert np.all(np.linalg.eigvalsh(cov) > 0)
    volume, shape, _ = decompose(cov)
    c = CONSTRAINTS[name]
    # the unconstrained factors really vary, the constrained ones do not
    assert np.allclose(volume, volume[0], rtol=1e-9) == bool(c.get("eq_vol"))
    assert np.allclose(shape, shape[0], rtol=1e-7) == bool(c.get("eq_shape"))
    assert is_diagonal(cov) == bool(c.get("diag"))
    if c.get("sph"):
        assert np.allclose(shape, 1.0)
    if c.get("orient") or c.get("diag"):
        assert commute(cov)
    elif name != "VVV":
        assert not commute(cov)
    if c.get("equal"):
        assert np.allclose(cov, cov[0])


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_m_step_maximizes_q_within_its_family(name):
    """The M-step beats every other member of the family on the same statistics."""
    model = MclustModel(name)
    stats = random_stats(seed=2)
    n, _, w = model.scatter(stats)
    best = covariance_objective(model.m_step(stats)["covariances"], n, w)
    for seed in range(3, 13):  # other members of the family: the M-step of other data
        other = model.m_step(random_stats(seed=seed))["covariances"]
        for scale in (0.7, 1.0, 1.3):
            assert covariance_objective(scale * other, n, w) < best
    # and small moves inside the family: rescaling the volumes all together
    cov = model.m_step(stats)["covariances"]
    for scale in (0.99, 1.01):
        assert covariance_objective(scale * cov, n, w) < best


@pytest.mark.parametrize("name", ["VEI", "VEE", "EVE", "VVE", "VEV"])
def test_iterative_m_steps_reach_a_stationary_point(name):
    """Inner iterations converge: one more pass from the result changes nothing."""
    model = MclustModel(name)
    n, _, w = model.scatter(random_stats(seed=4))
    default = constrained_covariances(name, n, w)
    longer = constrained_covariances(name, n, w, tol=0.0, max_iter=2000)
    assert covariance_objective(default, n, w) == pytest.approx(
        covariance_objective(longer, n, w), rel=1e-13)
    np.testing.assert_allclose(default, longer, rtol=1e-6)


@pytest.mark.parametrize("name", MCLUST_MODELS)
def test_em_is_monotone_for_every_model(name):
    X, labels = blobs(seed=5)
    model = MclustModel(name)
    init = model.m_step(partition_stats(X, labels, 3))
    result = emkit.em(model, X, init, tol=1e-10, max_iter=300)
    gains = np.diff(result.logliks)
    assert np.all(gains >= -1e-10 * np.abs(result.logliks[1:]))
    assert result.loglik > result.logliks[0]


SKLEARN_TWINS = [("VVV", "full"), ("EEE", "tied"), ("VVI", "diag"), ("VII", "spherical")]


@pytest.mark.parametrize(("name", "covariance_type"), SKLEARN_TWINS)
def test_agrees_with_sklearn_from_identical_init(name, covariance_type):
    X, labels = blobs(seed=6, n=300)
    model = MclustModel(name, reg_covar=1e-6)
    init = model.m_step(partition_stats(X, labels, 3))
    cov = init["covariances"]
    sk_cov = {"full": cov, "tied": cov[0], "diag": np.einsum("kii->ki", cov),
              "spherical": np.einsum("kii->k", cov) / X.shape[1]}[covariance_type]
    sk = SkGaussianMixture(3, covariance_type=covariance_type, tol=0.0, max_iter=15,
                           reg_covar=1e-6, weights_init=init["weights"],
                           means_init=init["means"],
                           precisions_init=_sk_precisions(sk_cov, covariance_type))
    with pytest.warns(SklearnConvergenceWarning):
        sk.fit(X)
        result = emkit.em(model, X, init, tol=0.0, max_iter=15)
    np.testing.assert_allclose(result.params["weights"], sk.weights_, rtol=1e-8)
    np.testing.assert_allclose(result.params["means"], sk.means_, rtol=1e-8)
    ours = result.params["covariances"]
    expected = {"full": sk.covariances_, "tied": np.broadcast_to(sk.covariances_, ours.shape),
                "diag": np.stack([np.diag(v) for v in np.atleast_2d(sk.covariances_)]),
                "spherical": sk.covariances_[:, None, None] * np.eye(X.shape[1])
                }[covariance_type]
    np.testing.assert_allclose(ours, expected, rtol=1e-7, atol=1e-12)
    # sklearn's lower_bound_ is the mean log-likelihood of the last E-step it made
    assert result.loglik / X.shape[0] == pytest.approx(sk.score(X), rel=1e-10)
    assert n_mixture_parameters(name, 3, X.shape[1]) == sk._n_parameters()


def _sk_precisions(cov, covariance_type):
    if covariance_type in ("diag", "spherical"):
        return 1.0 / cov
    if covariance_type == "tied":
        return np.linalg.inv(cov)
    return np.linalg.inv(cov)


def test_parameter_counts_follow_mclust():
    # mclust's nVarParams for d = 2, G = 3 (Scrucca et al. 2016, Table 3)
    expected = {"EII": 1, "VII": 3, "EEI": 2, "VEI": 4, "EVI": 4, "VVI": 6, "EEE": 3,
                "VEE": 5, "EVE": 5, "VVE": 7, "EEV": 5, "VEV": 7, "EVV": 7, "VVV": 9}
    assert {m: n_covariance_parameters(m, 3, 2) for m in MCLUST_MODELS} == expected
    # d = 4, G = 5: orientation has d(d-1)/2 = 6 free parameters
    assert n_covariance_parameters("EVE", 5, 4) == 1 + 5 * 3 + 6
    assert n_covariance_parameters("VEV", 5, 4) == 5 + 3 + 5 * 6
    assert n_covariance_parameters("VVV", 5, 4) == 50
    # a single component: the model letters stop mattering within each family
    for group in (("EII", "VII"), ("EEI", "VEI", "EVI", "VVI"),
                  ("EEE", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV", "VVV")):
        assert len({n_covariance_parameters(m, 1, 3) for m in group}) == 1
    assert n_mixture_parameters("EEE", 3, 2) == 11  # mclust's df for faithful EEE,3


def test_unknown_model_names_are_refused():
    with pytest.raises(ValueError, match="unknown covariance model 'XYZ'"):
        MclustModel("XYZ")
    with pytest.raises(ValueError, match="reg_covar"):
        MclustModel("VVV", reg_covar=-1)


def test_statistics_add_over_chunks():
    X, _ = blobs(seed=7)
    rng = np.random.default_rng(7)
    resp = rng.dirichlet(np.ones(3), size=X.shape[0])
    centres = rng.normal(50, 1, size=(3, 3))
    whole = mixture_stats(X, resp, centres)
    parts = [mixture_stats(X[s], resp[s], centres) for s in (slice(0, 100), slice(100, None))]
    for key, value in whole.items():
        np.testing.assert_allclose(parts[0][key] + parts[1][key], value, rtol=1e-12)


def test_density_matches_the_shared_reference():
    X, labels = blobs(seed=8)
    params = MclustModel("VVV").m_step(partition_stats(X, labels, 3))
    ours = precision_cholesky_full(params["covariances"])
    np.testing.assert_allclose(ours, precision_cholesky(params["covariances"], "full"),
                               rtol=1e-10)
    np.testing.assert_allclose(
        log_gaussian_full(X, params["means"], ours),
        log_gaussian_density(X, params["means"], ours, "full"), rtol=1e-10)
    with pytest.raises(ValueError, match="not positive definite"):
        precision_cholesky_full(np.zeros((1, 2, 2)))


def test_empty_component_is_reported_not_returned():
    X, labels = blobs(seed=9)
    stats = partition_stats(X, np.zeros_like(labels), 2)  # component 1 is empty
    with pytest.raises(ValueError, match="not finite"):
        MclustModel("VEI").m_step(stats)


def test_hc_recovers_separated_clusters_and_cuts_exactly():
    rng = np.random.default_rng(10)
    labels = np.repeat([0, 1, 2], 50)
    centres = np.array([[0.0, 0.0, 0.0], [12.0, 0.0, 4.0], [0.0, 12.0, -4.0]])
    X = centres[labels] + rng.normal(size=(150, 3)) * np.array([1.0, 2.5, 0.6])
    for model in ("VVV", "EII"):
        merges = hc_merges(X, model=model)
        assert merges.shape == (149, 2)
        for k in (1, 2, 3, 7):
            assert len(np.unique(cut_tree(merges, 150, k))) == k
        assert adjusted_rand_score(labels, cut_tree(merges, 150, 3)) > 0.95
    # EII agglomeration is Ward's method on mclust's SVD-transformed data:
    # scale(X) V diag(1 / sqrt(s)), computed here from its definition
    S = (X - X.mean(0)) / X.std(0, ddof=1)
    _, sv, vt = np.linalg.svd(S, full_matrices=False)
    Z = S @ vt.T / np.sqrt(sv)
    ward_labels = fcluster(ward(Z), 4, criterion="maxclust")
    ours = cut_tree(hc_merges(X, model="EII"), 150, 4)
    assert adjusted_rand_score(ward_labels, ours) == pytest.approx(1.0)


def test_hc_on_a_subsample():
    X, _ = blobs(seed=11, n=400)
    rows, parts = hc_partitions(X, [2, 3], sample_size=100, random_state=0)
    assert rows.shape == (100,) and len(set(rows)) == 100
    assert set(parts) == {2, 3} and parts[3].shape == (100,)
    with pytest.raises(ValueError, match="hc model"):
        hc_merges(X, model="VEV")


def test_logsumexp_rows_matches_scipy():
    from scipy.special import logsumexp

    from emkit.numerics.logsumexp import logsumexp_rows

    logp = np.random.default_rng(12).normal(-800, 50, size=(40, 4))
    logp[0, 1] = -np.inf
    np.testing.assert_allclose(logsumexp_rows(logp), logsumexp(logp, axis=1), rtol=1e-14)
    assert logsumexp_rows(np.full((1, 3), -np.inf))[0] == -np.inf
