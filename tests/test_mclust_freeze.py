"""``MclustMixture(freeze=...)``: frozen weights, mean entries and covariances.

The references are EM loops written here: SciPy's normal densities for the
E-step and, for each covariance model, the constrained M-step by hand (free
weights share the free mass; free mean entries the Gaussian conditional given
the frozen ones; covariances the model's maximizer about the means, with the
volume/shape iterations of VEI and VEV written out; means and covariances
alternated to the joint maximum). Both run the same number of EM steps from the
same parameters.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import multivariate_normal
from sklearn.base import clone

from emkit import load, select_model
from emkit.estimators.mclust_mixture import MclustMixture
from emkit.gaussian.constrained import MCLUST_MODELS
from emkit.models.mixture.mclust_init import hc_partitions

pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")


def _data(seed: int = 0, d: int = 2) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0, 1.0], [4.0, 1.0, -1.0], [1.0, 5.0, 2.0]])[:, :d]
    scales = [np.array([[1.0, 0.3, 0.1], [0.3, 0.5, 0.0], [0.1, 0.0, 0.7]]),
              np.array([[0.4, -0.1, 0.0], [-0.1, 1.2, 0.2], [0.0, 0.2, 0.5]]),
              np.array([[0.8, 0.2, -0.1], [0.2, 0.8, 0.1], [-0.1, 0.1, 1.0]])]
    X = np.vstack([rng.multivariate_normal(c, s[:d, :d], size=40)
                   for c, s in zip(centres, scales, strict=True)])
    return X, np.repeat(np.arange(3), 40)


def _start(model: str, X: np.ndarray, labels: np.ndarray) -> dict:
    """Parameters in the model's family (a short fit), means and weights moved."""
    fit = MclustMixture(model, 3, max_iter=2).fit(X, init=labels)
    return {"weights": np.array([0.5, 0.25, 0.25]), "means": fit.means_ + 0.3,
            "covariances": fit.covariances_.copy()}


# --------------------------------------------------------------------- reference EM
def _volume_shape(values: np.ndarray, n: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Volumes (K,) and a common shape (D,) for axis values (K, D): the VEI/VEV step."""
    d = values.shape[1]
    shape = np.ones(d)
    for _ in range(20000):
        lam = (values / shape).sum(axis=1) / (d * n)
        total = (values / lam[:, None]).sum(axis=0)
        new = total / np.exp(np.log(total).mean())
        if np.max(np.abs(new - shape)) <= 1e-14 * np.max(new):  # (rounding: ~1e-16)
            shape = new
            break
        shape = new
    return (values / shape).sum(axis=1) / (d * n), shape


def _ref_cov(model: str, n: np.ndarray, W: np.ndarray) -> np.ndarray:
    k, d, _ = W.shape
    if model == "EII":
        return np.trace(W.sum(0)) / (n.sum() * d) * np.stack([np.eye(d)] * k)
    if model == "VVI":
        return np.stack([np.diag(np.diag(W[j]) / n[j]) for j in range(k)])
    if model == "EEE":
        return np.stack([W.sum(0) / n.sum()] * k)
    if model == "VVV":
        return W / n[:, None, None]
    if model == "VEI":
        lam, shape = _volume_shape(np.array([np.diag(w) for w in W]), n)
        return np.stack([lam[j] * np.diag(shape) for j in range(k)])
    if model == "VEV":
        eig = [np.linalg.eigh(w) for w in W]
        values = np.array([v[::-1] for v, _ in eig])
        vectors = [u[:, ::-1] for _, u in eig]
        lam, shape = _volume_shape(values, n)
        return np.stack([lam[j] * vectors[j] @ np.diag(shape) @ vectors[j].T
                         for j in range(k)])
    raise AssertionError(model)


def _ref_given(model: str, n: np.ndarray, W: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """The free covariances when a frozen one (``sigma``) fixes the shared part."""
    d = sigma.shape[0]
    lam = np.linalg.det(sigma) ** (1 / d)
    ev, _ = np.linalg.eigh(sigma)
    a = ev[::-1] / lam  # the frozen shape, largest first
    out = []
    for j in range(len(n)):
        if model in ("EII", "EEI", "EEE"):
            out.append(sigma)
        elif model in ("VEI", "VEE"):
            C = sigma / lam
            out.append(np.trace(np.linalg.inv(C) @ W[j]) / (n[j] * d) * C)
        elif model == "EVI":
            diag = np.diag(W[j])
            out.append(lam * np.diag(diag / np.prod(diag) ** (1 / d)))
        elif model == "EVV":
            out.append(lam * W[j] / np.linalg.det(W[j]) ** (1 / d))
        elif model in ("EVE", "VVE"):  # the frozen axes, own variances along them
            _, D = np.linalg.eigh(sigma)
            var = np.diag(D.T @ W[j] @ D)
            var = lam * var / np.prod(var) ** (1 / d) if model == "EVE" else var / n[j]
            out.append(D @ np.diag(var) @ D.T)
        else:  # EEV, VEV: the frozen eigenvalues on W_j's eigenvectors, in order
            om, U = np.linalg.eigh(W[j])
            om, U = om[::-1], U[:, ::-1]
            vol = lam if model == "EEV" else np.sum(om / a) / (n[j] * d)
            out.append(vol * U @ np.diag(a) @ U.T)
    return np.stack(out)


def _ref_m_step(model: str, X: np.ndarray, r: np.ndarray, fixed: dict, masks: dict,
                reg: float = 0.0) -> dict:
    k, d = r.shape[1], X.shape[1]
    n = r.sum(0)
    xbar = (r.T @ X) / n[:, None]
    wm = masks.get("weights", np.zeros(k, bool))
    weights = n / n.sum()
    if wm.any():
        weights = fixed["weights"].copy()
        weights[~wm] = (1 - fixed["weights"][wm].sum()) * n[~wm] / n[~wm].sum()
    mm = masks.get("means", np.zeros((k, d), bool))
    cm = masks.get("covariances", np.zeros(k, bool))
    means = np.where(mm, fixed["means"], xbar)

    def scatter(m: np.ndarray) -> np.ndarray:
        return np.stack([((X - m[j]).T * r[:, j]) @ (X - m[j]) + reg * n[j] * np.eye(d)
                         for j in range(k)])

    def covariances(m: np.ndarray) -> np.ndarray:
        if cm.any() and model not in ("VII", "VVI", "VVV"):
            c = _ref_given(model, n, scatter(m), fixed["covariances"][np.argmax(cm)])
        else:
            c = _ref_cov(model, n, scatter(m))
        c[cm] = fixed["covariances"][cm]
        return c

    for _ in range(100000):
        cov = covariances(means)
        new = means.copy()
        for j in range(k):
            F, C = ~mm[j], mm[j]
            if F.any() and C.any():
                S = cov[j]
                new[j, F] = xbar[j, F] - S[np.ix_(F, C)] @ np.linalg.solve(
                    S[np.ix_(C, C)], xbar[j, C] - fixed["means"][j, C])
        if np.max(np.abs(new - means)) <= 1e-14 * (1 + np.max(np.abs(xbar))):
            means = new
            break
        means = new
    return {"weights": weights, "means": means, "covariances": covariances(means)}


def _log_joint(X: np.ndarray, p: dict) -> np.ndarray:
    return np.column_stack([np.log(p["weights"][j]) + multivariate_normal(
        p["means"][j], p["covariances"][j]).logpdf(X) for j in range(len(p["weights"]))])


def _ref_em(model: str, X: np.ndarray, start: dict, masks: dict, n_iter: int,
            sample_weight: np.ndarray | None = None, labels: np.ndarray | None = None,
            priors: np.ndarray | None = None, reg: float = 0.0) -> tuple[dict, float]:
    p = {key: np.array(v, dtype=float) for key, v in start.items()}
    evidence = np.zeros((len(X), 3)) if priors is None else np.log(priors)
    if labels is not None:
        known = labels >= 0
        evidence[known] = -np.inf
        evidence[known, labels[known]] = 0.0
    w = np.ones(len(X)) if sample_weight is None else sample_weight
    for _ in range(n_iter):
        logp = _log_joint(X, p) + evidence
        r = np.exp(logp - logsumexp(logp, axis=1, keepdims=True)) * w[:, None]
        p = _ref_m_step(model, X, r, start, masks, reg)
    return p, float(w @ logsumexp(_log_joint(X, p), axis=1))


# (model, freeze): partly frozen means, weights and covariances
MEANS = np.array([[True, False], [False, False], [False, True]])
CASES = [
    ("EII", {"means_": MEANS, "weights_": np.array([True, False, False])}),
    ("VVI", {"means_": MEANS, "covariances_": np.array([False, True, False])}),
    ("EEE", {"means_": MEANS, "weights_": np.array([False, False, True])}),
    ("EEE", {"means_": MEANS, "covariances_": True}),
    ("VVV", {"means_": MEANS, "covariances_": np.array([True, False, False])}),
    ("VVV", {"means_": MEANS, "weights_": np.array([False, True, False])}),
    ("VEV", {"means_": MEANS}),
    ("VEI", {"means_": MEANS, "weights_": np.array([True, False, False])}),
] + [  # one component's covariance frozen: it fixes the shared part for all
    (model, {"means_": MEANS, "covariances_": np.array([False, True, False])})
    for model in ("EII", "EEE", "VEI", "EVI", "VEE", "EVE", "VVE", "EEV", "VEV", "EVV")
]


def _masks(freeze: dict) -> dict:
    out = {}
    for key, value in freeze.items():
        name = key.rstrip("_")
        out[name] = np.ones(3, bool) if value is True else np.asarray(value)
    return out


@pytest.mark.parametrize(("model", "freeze"), CASES)
def test_matches_constrained_em_written_here(model: str, freeze: dict) -> None:
    X, labels = _data()
    start = _start(model, X, labels)
    est = MclustMixture(model, 3, tol=0.0, max_iter=12, freeze=freeze).fit(X, init=start)
    assert est.n_iter_ == 12
    ref, loglik = _ref_em(model, X, start, _masks(freeze), 12)
    np.testing.assert_allclose(est.weights_, ref["weights"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.means_, ref["means"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.covariances_, ref["covariances"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.loglik_, loglik, rtol=1e-10)


@pytest.mark.parametrize("model", ["EEE", "VVV", "VEV", "VEI"])
def test_matches_reference_with_weights_labels_and_priors(model: str) -> None:
    X, labels = _data(1)
    rng = np.random.default_rng(2)
    weight = rng.integers(1, 4, size=len(X)).astype(float)
    known = np.where(rng.random(len(X)) < 0.2, labels, -1)
    priors = rng.uniform(0.5, 1.5, size=(len(X), 3))
    start = _start(model, X, labels)
    freeze = {"means_": MEANS, "weights_": np.array([True, False, False])}
    est = MclustMixture(model, 3, tol=0.0, max_iter=10, freeze=freeze).fit(
        X, init=start, sample_weight=weight, labels=known, priors=priors)
    ref, _ = _ref_em(model, X, start, _masks(freeze), 10, weight, known, priors)
    # VEI's volume/shape iteration stops at a relative change of 1e-12: its unfrozen
    # weighted step is 3e-9 from the reference's (run to 1e-15) on these data already
    atol = 5e-8 if model == "VEI" else 1e-8
    for key, attr in (("weights", "weights_"), ("means", "means_"),
                      ("covariances", "covariances_")):
        np.testing.assert_allclose(getattr(est, attr), ref[key], rtol=0, atol=atol)


@pytest.mark.parametrize("model", ["EEE", "VVV", "VEV"])
def test_matches_reference_with_reg_covar(model: str) -> None:
    X, labels = _data(11)
    start = _start(model, X, labels)
    freeze = {"means_": MEANS, "weights_": np.array([False, True, False])}
    est = MclustMixture(model, 3, tol=0.0, max_iter=10, reg_covar=1e-3, freeze=freeze).fit(
        X, init=start)
    ref, _ = _ref_em(model, X, start, _masks(freeze), 10, reg=1e-3)
    np.testing.assert_allclose(est.means_, ref["means"], rtol=0, atol=1e-8)
    np.testing.assert_allclose(est.covariances_, ref["covariances"], rtol=0, atol=1e-8)


def test_three_features() -> None:
    X, labels = _data(3, d=3)
    mask = np.array([[True, False, True], [False, True, False], [False, False, False]])
    one = np.array([True, False, False])
    for model, masks in (("EEE", {"means": mask}), ("VEV", {"means": mask}),
                         ("VEV", {"means": mask, "covariances": one}),
                         ("EEV", {"means": mask, "covariances": one}),
                         ("EVV", {"covariances": one})):
        start = _start(model, X, labels)
        freeze = {f"{key}_": value for key, value in masks.items()}
        est = MclustMixture(model, 3, tol=0.0, max_iter=8, freeze=freeze).fit(X, init=start)
        ref, _ = _ref_em(model, X, start, masks, 8)
        np.testing.assert_allclose(est.means_, ref["means"], rtol=0, atol=1e-8)
        np.testing.assert_allclose(est.covariances_, ref["covariances"], rtol=0, atol=1e-8)


# --------------------------------------------------------------------- properties
@pytest.mark.parametrize("model", MCLUST_MODELS)
def test_frozen_entries_are_kept_bit_for_bit(model: str) -> None:
    X, labels = _data(4)
    start = _start(model, X, labels)
    cov = np.array([False, True, False])
    freeze = {"means_": MEANS, "weights_": np.array([False, True, False]),
              "covariances_": cov}
    est = MclustMixture(model, 3, freeze=freeze).fit(X, init=start)
    np.testing.assert_array_equal(est.means_[MEANS], start["means"][MEANS])
    assert est.weights_[1] == start["weights"][1]
    frozen = np.ones(3, bool) if cov is True else cov
    np.testing.assert_array_equal(est.covariances_[frozen], start["covariances"][frozen])
    np.testing.assert_allclose(est.weights_.sum(), 1.0, rtol=1e-14)
    assert not np.allclose(est.means_[~MEANS], start["means"][~MEANS])
    # only the means free: the covariances are re-estimated about them
    free_cov = MclustMixture(model, 3, freeze={"means_": MEANS}).fit(X, init=start)
    np.testing.assert_array_equal(free_cov.means_[MEANS], start["means"][MEANS])
    assert free_cov.loglik_ >= est.loglik_ - 1e-9


def test_freezing_all_but_the_weights_keeps_the_start() -> None:
    X, labels = _data(5)
    start = _start("VEV", X, labels)
    est = MclustMixture("VEV", 3, tol=1e-13, max_iter=20000,
                        freeze={"means_": True, "covariances_": True}).fit(X, init=start)
    np.testing.assert_array_equal(est.means_, start["means"])
    np.testing.assert_array_equal(est.covariances_, start["covariances"])
    # the weights are the fixed point of EM with everything else held
    resp = est.predict_proba(X)
    np.testing.assert_allclose(est.weights_, resp.mean(0), rtol=1e-6)
    with pytest.raises(ValueError, match="nothing to fit"):
        MclustMixture("VEV", 3, freeze={"means_": True, "covariances_": True,
                                        "weights_": [True, True, False]}).fit(X, init=start)


def test_hc_start_is_what_is_frozen() -> None:
    X, labels = _data(6)
    est = MclustMixture("EEE", 3, freeze={"means_": True}).fit(X, init=labels)
    class_means = np.array([X[labels == j].mean(0) for j in range(3)])
    np.testing.assert_allclose(est.means_, class_means, rtol=1e-14, atol=1e-14)
    hc = MclustMixture("EEE", 3, freeze={"means_": True}).fit(X)
    rows, parts = hc_partitions(X, [3], model="VVV", sample_size=2000)
    hc_means = np.array([X[rows][parts[3] == j].mean(0) for j in range(3)])
    assert hc.init_used_ == "hc"
    np.testing.assert_allclose(hc.means_, hc_means, rtol=1e-14, atol=1e-14)


def test_errors() -> None:
    X, _ = _data(7)
    one = {"covariances_": np.array([True, False, False])}
    # frozen covariances that cannot be the model's: not diagonal for VEI, unequal for EEE
    start = {"weights": np.ones(3) / 3, "means": X[:3].copy(),
             "covariances": np.array([[[1.0, 0.5], [0.5, 1.0]], np.eye(2), 2 * np.eye(2)])}
    with pytest.raises(ValueError, match="tied eigenvalues"):  # no orientation in I
        MclustMixture("VVE", 3, freeze={"covariances_": np.array([False, True, False])}).fit(
            X, init=start)
    with pytest.raises(ValueError, match="not VEI covariances"):
        MclustMixture("VEI", 3, freeze=one).fit(X, init=start)
    with pytest.raises(ValueError, match="not EEE covariances"):
        MclustMixture("EEE", 3, freeze={"covariances_": np.array([False, True, True])}).fit(
            X, init=start)
    with pytest.raises(ValueError, match="shape"):
        MclustMixture("VVV", 3, freeze={"means_": np.ones((3, 3), bool)}).fit(X)
    with pytest.raises(ValueError, match="shape"):
        MclustMixture("VVV", 3, freeze={"covariances_": np.ones((2,), bool)}).fit(X)
    with pytest.raises(ValueError, match="whole covariance"):
        MclustMixture("VVV", 3, freeze={"covariances_": np.eye(2, dtype=bool)[None].repeat(
            3, 0)}).fit(X)
    with pytest.raises(ValueError, match="unknown attribute"):
        MclustMixture("VVV", 3, freeze={"mean": True}).fit(X)
    with pytest.raises(ValueError, match="boolean"):
        MclustMixture("VVV", 3, freeze={"weights_": np.array([1, 0, 0])}).fit(X)
    with pytest.raises(ValueError, match="nothing to fit"):
        MclustMixture("VVV", 3, freeze={"weights_": True, "means_": True,
                                        "covariances_": True}).fit(X)
    with pytest.raises(ValueError, match="nothing to fit"):
        MclustMixture("EII", 1, freeze={"means_": True, "covariances_": True}).fit(X)
    with pytest.raises(ValueError, match="prior"):
        MclustMixture("VVV", 3, prior="default", freeze={"means_": True}).fit(X)


def test_save_load_and_clone_keep_freeze(tmp_path) -> None:
    X, labels = _data(8)
    start = _start("VVV", X, labels)
    freeze = {"means_": MEANS, "covariances_": np.array([False, False, True])}
    est = MclustMixture("VVV", 3, freeze=freeze).fit(X, init=start)
    back = load(est.save(tmp_path / "m.emkit"))
    np.testing.assert_array_equal(back.freeze["means_"], MEANS)
    np.testing.assert_array_equal(back.freeze["covariances_"], freeze["covariances_"])
    np.testing.assert_array_equal(back.means_, est.means_)
    again = back.fit(X, init=start)
    np.testing.assert_array_equal(again.means_, est.means_)
    np.testing.assert_array_equal(again.covariances_, est.covariances_)
    twin = clone(est).fit(X, init=start)
    np.testing.assert_array_equal(twin.covariances_, est.covariances_)
    assert clone(est).get_params()["freeze"]["means_"] is not MEANS


def test_select_model_unaffected() -> None:
    X, _ = _data(9)
    result = select_model(X, n_components=[2, 3], covariance_models=["EEE", "VEV"])
    for model, k, bic in result.table[["model", "n_components", "bic"]].itertuples(
            index=False):
        direct = MclustMixture(model, k).fit(X)
        assert direct.freeze is None
        np.testing.assert_allclose(direct.bic(X), bic, rtol=1e-12)
    assert result.best.get_params()["freeze"] is None


def test_unfrozen_step_equals_the_plain_step() -> None:
    X, labels = _data(10)
    for model in MCLUST_MODELS:
        start = _start(model, X, labels)
        plain = MclustMixture(model, 3, tol=0.0, max_iter=5).fit(X, init=start)
        only_weights = MclustMixture(model, 3, tol=0.0, max_iter=5, freeze={
            "weights_": np.array([True, False, False])}).fit(X, init=start)
        assert only_weights.weights_[0] == 0.5
        assert only_weights.loglik_ <= plain.loglik_ + 1e-9


@pytest.mark.parametrize("model", ["VEI", "VEE", "EVI", "EVV", "EEV", "VEV", "EVE", "VVE"])
def test_shared_part_step_beats_every_feasible_neighbour(model: str) -> None:
    """With one covariance frozen, no covariance sharing its part scores higher."""
    from scipy.linalg import expm

    from emkit.models.mixture.mclust_freeze import given_shared_part

    rng = np.random.default_rng(12)
    d = 3
    X, labels = _data(12, d=d)
    sigma = _start(model, X, labels)["covariances"]
    r = rng.dirichlet(np.ones(3), size=len(X))
    n = r.sum(0)
    xbar = (r.T @ X) / n[:, None]
    W = np.stack([((X - xbar[j]).T * r[:, j]) @ (X - xbar[j]) for j in range(3)])
    frozen = np.array([True, False, False])
    got = given_shared_part(model, n, W, sigma, frozen)
    np.testing.assert_array_equal(got[0], sigma[0])

    def q(cov: np.ndarray, j: int) -> float:
        return -0.5 * (n[j] * np.linalg.slogdet(cov)[1] + np.trace(np.linalg.solve(cov, W[j])))

    for j in (1, 2):
        best = q(got[j], j)
        lam0 = np.linalg.det(sigma[0]) ** (1 / d)
        assert np.isclose(np.linalg.det(got[j]) ** (1 / d), lam0, rtol=1e-10) or model[0] == "V"
        for _ in range(200):
            eps = rng.choice([1e-4, 1e-2, 1.0])
            scale = 1.0 if model[0] == "E" else np.exp(eps * rng.normal())
            if model in ("VEI", "VEE"):
                cand = scale * got[j]
            elif model == "EVI":
                a = np.diag(got[j]) * np.exp(eps * rng.normal(size=d))
                cand = np.diag(a / np.prod(a) ** (1 / d)) * lam0
            elif model in ("EVE", "VVE"):  # other variances along the frozen axes
                _, D = np.linalg.eigh(sigma[0])
                a = np.diag(D.T @ got[j] @ D) * np.exp(eps * rng.normal(size=d))
                a = a / np.prod(a) ** (1 / d) * lam0 if model == "EVE" else a
                cand = D @ np.diag(a) @ D.T
            elif model == "EVV":
                m = got[j] + eps * np.diag(np.abs(rng.normal(size=d)))
                cand = lam0 * m / np.linalg.det(m) ** (1 / d)
            else:  # EEV, VEV: rotate the shape
                skew = rng.normal(size=(d, d))
                E = expm(eps * (skew - skew.T))
                cand = scale * E @ got[j] @ E.T
            assert q(cand, j) <= best + 1e-9 * abs(best)
