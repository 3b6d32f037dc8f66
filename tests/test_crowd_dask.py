"""DawidSkene and MACE chunked and on Dask: the fit of an independent EM written here.

The references below are plain dense-array EM (one-hot ratings tensor, the
M-steps' closed forms), not emkit's code; every backend (in memory, blocks of
``chunk_size`` items, Dask partitions, Dask partitions in blocks) must give their
posteriors, parameters and log-likelihood trace to 1e-8, with known classes and
item weights travelling with their items. GLAD refuses Dask.
"""

from __future__ import annotations

import logging
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy.special import logsumexp

from emkit import GLAD, MACE, DawidSkene
from emkit.engine import observe
from emkit.exceptions import ConvergenceWarning

dask = pytest.importorskip("dask")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")

# fits of a fixed number of iterations (tol=0, small max_iter) end unconverged
pytestmark = pytest.mark.filterwarnings("ignore::emkit.exceptions.ConvergenceWarning")

N_ITEMS, N_RATERS, N_CLASSES = 240, 5, 3
ITERS = 12


@pytest.fixture(scope="module")
def crowd() -> dict:
    rng = np.random.default_rng(17)
    truth = rng.choice(N_CLASSES, N_ITEMS, p=[0.5, 0.3, 0.2])
    M = np.full((N_ITEMS, N_RATERS), np.nan)
    for r in range(N_RATERS):
        wrong = (truth + rng.integers(1, N_CLASSES, N_ITEMS)) % N_CLASSES
        labels = np.where(rng.random(N_ITEMS) < 0.5 + 0.1 * r, truth, wrong)
        rated = rng.random(N_ITEMS) < 0.6
        M[rated, r] = labels[rated]
    M[100:130] = np.nan  # a stretch of unrated items: a partition may have no rating
    y = np.full(N_ITEMS, -1)
    known = rng.choice(N_ITEMS, 25, replace=False)
    y[known] = truth[known]
    w = rng.integers(0, 4, N_ITEMS).astype(float)
    return {"M": M, "y": y, "w": w}


def _one_hot(M: np.ndarray) -> np.ndarray:
    O = np.zeros((*M.shape, N_CLASSES))
    i, r = np.nonzero(~np.isnan(M))
    O[i, r, M[i, r].astype(int)] = 1.0
    return O


# ------------------------------------------------------ independent references
def _posteriors(logT: np.ndarray, y: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    ll = logsumexp(logT, axis=1)
    T = np.exp(logT - ll[:, None])
    if y is not None:
        rows = np.flatnonzero(y >= 0)
        ll[rows] = logT[rows, y[rows]]
        T[rows] = np.eye(N_CLASSES)[y[rows]]
    return ll, T


def dawid_skene_reference(M, structure, a=0.01, y=None, w=None, start=None, iters=ITERS):
    """Dawid-Skene MAP-EM on dense arrays: trace of ``iters + 1`` log-posteriors."""
    O = _one_hot(M)
    w = np.ones(len(M)) if w is None else w
    C = N_CLASSES

    def m_step(T):
        N = np.einsum("i,ic,irl->rcl", w, T, O)
        pri = (w @ T) + a
        if structure == "full":
            conf = (N + a) / (N + a).sum(axis=2, keepdims=True)
        else:
            diag, total = np.einsum("rcc->rc", N), N.sum(axis=2)
            if structure == "one_coin":
                acc = (diag.sum(1) + C * a) / (total.sum(1) + C * C * a)
                acc = np.repeat(acc[:, None], C, axis=1)
            else:
                acc = (diag + a) / (total + C * a)
            conf = np.repeat(((1 - acc) / (C - 1))[:, :, None], C, axis=2)
            conf[:, np.arange(C), np.arange(C)] = acc
        return pri / pri.sum(), conf

    def e_step(pri, conf):
        logT = np.log(pri) + np.einsum("irl,rcl->ic", O, np.log(conf))
        ll, T = _posteriors(logT, y)
        keep = w > 0
        return T, w[keep] @ ll[keep] + a * (np.log(pri).sum() + np.log(conf).sum())

    votes = O.sum(axis=1)
    T = start.copy() if start is not None else np.where(
        votes.sum(1, keepdims=True) > 0, votes / np.maximum(votes.sum(1, keepdims=True), 1),
        1.0 / C)
    if y is not None:
        T[y >= 0] = np.eye(C)[y[y >= 0]]
    pri, conf = m_step(T)
    trace = []
    for k in range(iters + 1):
        T, lp = e_step(pri, conf)
        trace.append(lp)
        if k < iters:
            pri, conf = m_step(T)
    return {"posteriors": T, "priors": pri, "confusion": conf, "trace": np.array(trace)}


def mace_reference(M, spam, theta, eps, y=None, w=None):
    """MACE EM (crowd-kit's method="em") on dense arrays from a given start."""
    O = _one_hot(M)
    rated = O.sum(axis=2)  # (n, R)
    w = np.ones(len(M)) if w is None else w
    C = N_CLASSES
    trace = []
    for k in range(ITERS + 1):
        by_spam = spam[:, 0][:, None] * theta  # (R, L)
        # P(l | t = c) = s0 theta_l + s1 [l == c]
        p = by_spam[:, None, :] + spam[:, 1][:, None, None] * np.eye(C)[None]  # (R, C, L)
        logT = -np.log(C) + np.einsum("irl,rcl->ic", O, np.log(p))
        ll, T = _posteriors(logT, y)
        keep = w > 0
        trace.append(w[keep] @ ll[keep] + eps * (np.log(spam).sum() + np.log(theta).sum()))
        if k == ITERS:
            break
        # per (item, rater): the rated label's T, and the chance the rating was known
        right = np.einsum("irl,il->ir", O, T)
        s1 = spam[:, 1][None, :]
        sl = np.einsum("irl,rl->ir", O, by_spam)
        known = np.where(rated > 0, right * s1 / np.where(rated > 0, sl + s1, 1.0), 0.0)
        spam_r = (rated - known) * w[:, None]
        known = known * w[:, None]
        knowing = np.stack([spam_r.sum(0), known.sum(0)], axis=1) + eps
        strategy = np.einsum("ir,irl->rl", spam_r, O) + eps
        spam = knowing / knowing.sum(1, keepdims=True)
        theta = strategy / strategy.sum(1, keepdims=True)
    return {"posteriors": T, "spamming": spam, "thetas": theta, "trace": np.array(trace)}


# -------------------------------------------------------------------- helpers
def _fit(est, ratings, **kw):
    """``est.fit`` with the log-likelihood trace of its (single) EM run."""
    trace = []
    with warnings.catch_warnings(), observe(lambda step: trace.append(step.loglik)):
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(ratings, **kw)
    return est, np.array(trace)


def _backends(M, **fitkw):
    """(name, ratings, fit keywords, chunk_size) for every backend, y/w NumPy or Dask."""
    def lazy(kw, chunks):
        return {k: da.from_array(v, chunks=chunks) for k, v in kw.items()}

    return [
        ("memory", M, fitkw, None),
        ("chunked", M, fitkw, 37),
        ("dask", da.from_array(M, chunks=(50, 2)), fitkw, None),
        ("dask-lazy-y-w", da.from_array(M, chunks=(50, 2)), lazy(fitkw, 70), None),
        ("dask-chunked", da.from_array(M, chunks=(60, -1)), lazy(fitkw, 60), 16),
    ]


SUPERVISION = {"plain": lambda c: {}, "y+w": lambda c: {"y": c["y"], "sample_weight": c["w"]}}


# ---------------------------------------------------------------------- tests
@pytest.mark.parametrize("structure", ["full", "class_conditional", "one_coin"])
@pytest.mark.parametrize("supervision", ["plain", "y+w"])
def test_dawid_skene_every_backend_equals_reference(crowd, structure, supervision):
    fitkw = SUPERVISION[supervision](crowd)
    ref = dawid_skene_reference(crowd["M"], structure, y=fitkw.get("y"),
                                w=fitkw.get("sample_weight"))
    total = crowd["w"].sum() if fitkw else N_ITEMS
    with dask.config.set(scheduler="synchronous"):
        for name, ratings, kw, chunk in _backends(crowd["M"], **fitkw):
            est, trace = _fit(DawidSkene(model=structure, tol=0.0, max_iter=ITERS,
                                         chunk_size=chunk), ratings, **kw)
            assert isinstance(est.posteriors_, np.ndarray), name
            np.testing.assert_allclose(est.posteriors_, ref["posteriors"], rtol=1e-8,
                                       atol=1e-10, err_msg=name)
            np.testing.assert_allclose(est.confusion_matrices_, ref["confusion"], rtol=1e-8,
                                       atol=1e-12, err_msg=name)
            np.testing.assert_allclose(est.class_priors_, ref["priors"], rtol=1e-8,
                                       err_msg=name)
            np.testing.assert_allclose(trace, ref["trace"], rtol=1e-10, err_msg=name)
            assert est.lower_bound_ == pytest.approx(ref["trace"][-1] / total, rel=1e-10)
            assert est.n_iter_ == ITERS and est.items_ == list(range(N_ITEMS))


def test_dawid_skene_converges_alike_on_dask(crowd):
    kw = {"y": crowd["y"], "sample_weight": crowd["w"]}
    whole = DawidSkene(tol=1e-6).fit(crowd["M"], **kw)
    with dask.config.set(scheduler="threads", num_workers=2):
        lazy = DawidSkene(tol=1e-6, chunk_size=25).fit(da.from_array(crowd["M"], chunks=45),
                                                        **kw)
    assert lazy.converged_ and lazy.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(lazy.posteriors_, whole.posteriors_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(lazy.confusion_matrices_, whole.confusion_matrices_, rtol=1e-8)


@pytest.mark.parametrize("make", [
    lambda **kw: DawidSkene(model="class_conditional", **kw),
    lambda **kw: MACE(random_state=1, n_restarts=1, **kw)])
def test_squarem_on_dask(crowd, make):
    kw = {"y": crowd["y"], "sample_weight": crowd["w"]}
    whole = make(accelerate="squarem", tol=1e-10, max_iter=500).fit(crowd["M"], **kw)
    with dask.config.set(scheduler="synchronous"):
        lazy = make(accelerate="squarem", tol=1e-10, max_iter=500, chunk_size=30).fit(
            da.from_array(crowd["M"], chunks=70), **kw)
    assert whole.converged_ and lazy.converged_ and lazy.n_iter_ == whole.n_iter_
    np.testing.assert_allclose(lazy.posteriors_, whole.posteriors_, rtol=1e-8, atol=1e-10)
    # run to the end, SQUAREM reaches plain EM's fixed point (the likelihood is flat
    # there: a gain of 1e-10 per item still leaves the posteriors 1e-4 apart)
    fixed = make(accelerate="squarem", tol=0.0, max_iter=60).fit(crowd["M"], **kw)
    plain = make(tol=0.0, max_iter=1500).fit(crowd["M"], **kw)
    np.testing.assert_allclose(fixed.posteriors_, plain.posteriors_, atol=1e-12)
    if isinstance(plain, DawidSkene):
        ref = dawid_skene_reference(crowd["M"], "class_conditional", y=crowd["y"],
                                    w=crowd["w"], iters=1500)
        np.testing.assert_allclose(plain.posteriors_, ref["posteriors"], atol=1e-12)
    with pytest.raises(ValueError, match="accelerate"):
        make(accelerate="fast").fit(da.from_array(crowd["M"], chunks=70))


@pytest.mark.parametrize("lazy_init", [False, True])
def test_dawid_skene_array_init_on_dask(crowd, lazy_init):
    start = np.random.default_rng(3).dirichlet(np.ones(N_CLASSES), size=N_ITEMS)
    ref = dawid_skene_reference(crowd["M"], "full", y=crowd["y"], start=start)
    init = da.from_array(start, chunks=(33, 3)) if lazy_init else start
    with dask.config.set(scheduler="synchronous"):
        est, trace = _fit(DawidSkene(tol=0.0, max_iter=ITERS, init=init),
                          da.from_array(crowd["M"], chunks=80), y=crowd["y"])
    np.testing.assert_allclose(est.posteriors_, ref["posteriors"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(trace, ref["trace"], rtol=1e-10)
    with dask.config.set(scheduler="synchronous"), pytest.raises(ValueError, match="init"):
        DawidSkene(init=start[:10]).fit(da.from_array(crowd["M"], chunks=80))


@pytest.mark.parametrize("supervision", ["plain", "y+w"])
def test_mace_every_backend_equals_reference(crowd, supervision):
    fitkw = SUPERVISION[supervision](crowd)
    rng = np.random.default_rng(5)
    spam = rng.dirichlet([3, 3], size=N_RATERS)
    theta = rng.dirichlet(np.ones(N_CLASSES), size=N_RATERS)
    ref = mace_reference(crowd["M"], spam, theta, 0.01 / N_CLASSES, y=fitkw.get("y"),
                         w=fitkw.get("sample_weight"))
    with dask.config.set(scheduler="synchronous"):
        for name, ratings, kw, chunk in _backends(crowd["M"], **fitkw):
            est, trace = _fit(MACE(tol=0.0, max_iter=ITERS, spamming_init=spam,
                                   thetas_init=theta, chunk_size=chunk), ratings, **kw)
            np.testing.assert_allclose(est.posteriors_, ref["posteriors"], rtol=1e-8,
                                       atol=1e-10, err_msg=name)
            np.testing.assert_allclose(est.spamming_, ref["spamming"], rtol=1e-8, err_msg=name)
            np.testing.assert_allclose(est.thetas_, ref["thetas"], rtol=1e-8, err_msg=name)
            np.testing.assert_allclose(trace, ref["trace"], rtol=1e-10, err_msg=name)


def test_mace_random_restarts_on_dask(crowd):
    kw = dict(n_restarts=3, max_iter=30, random_state=4)
    whole = MACE(**kw).fit(crowd["M"], sample_weight=crowd["w"])
    with dask.config.set(scheduler="synchronous"):
        lazy = MACE(chunk_size=40, **kw).fit(da.from_array(crowd["M"], chunks=70),
                                             sample_weight=da.from_array(crowd["w"], chunks=70))
    np.testing.assert_allclose(lazy.posteriors_, whole.posteriors_, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(lazy.competence_, whole.competence_, rtol=1e-8)
    assert lazy.lower_bound_ == pytest.approx(whole.lower_bound_, rel=1e-10)


@pytest.mark.parametrize("make", [lambda: DawidSkene(max_iter=20),
                                  lambda: MACE(random_state=0, n_restarts=2)])
def test_predict_proba_on_dask_is_lazy(crowd, make):
    est = make().fit(crowd["M"])
    with dask.config.set(scheduler="synchronous"):
        lazy = est.predict_proba(da.from_array(crowd["M"], chunks=(64, 2)))
        labels = est.predict(da.from_array(crowd["M"], chunks=64))
        assert isinstance(lazy, da.Array) and isinstance(labels, da.Array)
        assert lazy.chunks[0] == (64, 64, 64, 48)
        np.testing.assert_allclose(lazy.compute(), est.predict_proba(crowd["M"]), rtol=1e-12)
        np.testing.assert_array_equal(labels.compute(), est.predict(crowd["M"]))
        bad = crowd["M"].copy()
        bad[200, 0] = N_CLASSES
        with pytest.raises(ValueError, match="n_classes"):
            est.predict_proba(da.from_array(bad, chunks=64)).compute()
        with pytest.raises(ValueError, match="raters"):
            est.predict_proba(da.from_array(crowd["M"][:, :3], chunks=64))


def test_dask_dataframe_ratings(crowd):
    whole = DawidSkene(max_iter=20).fit(crowd["M"])
    frame = dd.from_pandas(pd.DataFrame(crowd["M"], columns=list("abcde")), npartitions=3)
    with dask.config.set(scheduler="synchronous"):
        lazy = DawidSkene(max_iter=20).fit(frame)
        long = dd.from_pandas(pd.DataFrame({"item": [0, 1], "rater": [0, 0], "label": [1, 0]}),
                              npartitions=1)
        with pytest.raises(ValueError, match="wide"):
            DawidSkene().fit(long)
    np.testing.assert_allclose(lazy.posteriors_, whole.posteriors_, rtol=1e-8, atol=1e-10)


def test_dask_input_checked_as_in_memory(crowd):
    M = crowd["M"]
    cases = [(np.where(np.arange(N_ITEMS)[:, None] == 3, np.inf, M), "infinite"),
             (M + 0.5, "class labels"), (-M, "class labels"),
             (np.full_like(M, np.nan), "no rating")]
    with dask.config.set(scheduler="synchronous"):
        for bad, message in cases:
            for est in (DawidSkene(), MACE()):
                with pytest.raises(ValueError, match=message):
                    est.fit(da.from_array(bad, chunks=50))
        with pytest.raises(ValueError, match="n_classes=2"):
            DawidSkene(n_classes=2).fit(da.from_array(M, chunks=50))
        with pytest.raises(ValueError, match="one entry per item"):
            DawidSkene().fit(da.from_array(M, chunks=50), y=crowd["y"][:-1])
        with pytest.raises(ValueError, match="sample_weight"):
            MACE().fit(da.from_array(M, chunks=50), sample_weight=-crowd["w"])
        # a known class above every label widens the classes, as in memory
        y = crowd["y"].copy()
        y[0] = N_CLASSES
        est = DawidSkene(max_iter=5).fit(da.from_array(M, chunks=50), y=y)
        assert est.n_classes_ == N_CLASSES + 1


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "10"])
def test_chunk_size_checked(crowd, bad):
    for est in (DawidSkene(chunk_size=bad), MACE(chunk_size=bad)):
        with pytest.raises(ValueError, match="chunk_size"):
            est.fit(crowd["M"])


def test_glad_refuses_dask(crowd):
    with dask.config.set(scheduler="synchronous"):
        with pytest.raises(ValueError, match=r"GLAD does not run on Dask.*betas_"):
            GLAD().fit(da.from_array(crowd["M"], chunks=50))
        fitted = GLAD(max_iter=3).fit(crowd["M"])
        with pytest.raises(ValueError, match="GLAD does not run on Dask"):
            fitted.predict_proba(da.from_array(crowd["M"], chunks=50))


def test_distributed_client_in_process(crowd):
    """The current ``dask.distributed`` client: parameters scattered, counts summed there."""
    distributed = pytest.importorskip("distributed")
    kw = {"y": crowd["y"], "sample_weight": crowd["w"]}
    ref = dawid_skene_reference(crowd["M"], "full", y=crowd["y"], w=crowd["w"])
    with distributed.Client(processes=False, n_workers=1, threads_per_worker=2,
                            dashboard_address=":0", silence_logs=logging.CRITICAL):
        est = DawidSkene(tol=0.0, max_iter=ITERS).fit(
            da.from_array(crowd["M"], chunks=60), **kw)
        proba = est.predict_proba(da.from_array(crowd["M"], chunks=60)).compute()
    np.testing.assert_allclose(est.posteriors_, ref["posteriors"], rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(proba[crowd["y"] < 0], ref["posteriors"][crowd["y"] < 0],
                               rtol=1e-8, atol=1e-10)
