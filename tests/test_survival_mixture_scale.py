"""emkit.SurvivalMixture at scale: chunked and Dask fits equal the in-memory fit, and
every M-step raises EM's Q computed here from the rows."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from scipy import stats

import emkit
from emkit.models.survival.model import SurvivalMixtureEM

RNG = np.random.default_rng(31)
N = 700
GROUP = RNG.random(N) < 0.4
CURED = RNG.random(N) < 0.2
FAIL = np.where(CURED, np.inf, np.where(GROUP, 1.0 * RNG.weibull(2.0, N),
                                        6.0 * RNG.weibull(3.0, N)))
CENSOR = RNG.uniform(0.0, 12.0, N)
TIME = np.minimum(FAIL, CENSOR)
EVENT = (FAIL <= CENSOR).astype(float)
W = RNG.uniform(0.2, 2.0, N)
CASES = [("exponential", False, False), ("weibull", True, False), ("lognormal", False, True),
         ("weibull", False, True), ("lognormal", True, False), ("exponential", True, True)]
NAMES = ("weights_", "rate_", "shape_", "scale_", "meanlog_", "sdlog_", "cure_fraction_",
         "lower_bound_", "lower_bounds_")


def _fit(family, cure, weighted, *, t=TIME, d=EVENT, w=W, **kw):
    model = emkit.SurvivalMixture(family, 2, cure=cure, random_state=1, tol=0.0, **kw)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        return model.fit(t, d, sample_weight=w if weighted else None)


def _assert_same_fit(a, b, rtol=1e-8):
    for name in NAMES:
        assert hasattr(a, name) == hasattr(b, name), name
        if hasattr(a, name):
            np.testing.assert_allclose(getattr(a, name), getattr(b, name), rtol=rtol,
                                       atol=rtol, err_msg=name)
    assert a.n_iter_ == b.n_iter_


@pytest.mark.parametrize(("family", "cure", "weighted"), CASES)
def test_chunked_fit_equals_in_memory(family, cure, weighted):
    whole = _fit(family, cure, weighted, max_iter=30)
    chunked = _fit(family, cure, weighted, max_iter=30, chunk_size=97)
    _assert_same_fit(chunked, whole)


@pytest.mark.parametrize(("family", "cure", "weighted"), CASES[:3])
def test_dask_fit_equals_in_memory(family, cure, weighted):
    da = pytest.importorskip("dask.array")
    whole = _fit(family, cure, weighted, max_iter=20)
    lazy = _fit(family, cure, weighted, max_iter=20, t=da.from_array(TIME, chunks=150),
                d=da.from_array(EVENT, chunks=170), w=W)  # event and w moved to time's rows
    _assert_same_fit(lazy, whole)


def test_dask_input_is_checked_like_numpy_input():
    da = pytest.importorskip("dask.array")
    bad = TIME.copy()
    bad[5] = -1.0
    with pytest.raises(ValueError, match="time must be strictly positive"):
        emkit.SurvivalMixture().fit(da.from_array(bad, chunks=100), EVENT)
    with pytest.raises(ValueError, match="event must be 0"):
        emkit.SurvivalMixture().fit(da.from_array(TIME, chunks=100), EVENT + 1)


def _q(family, cure, params, resp):
    """EM's Q at ``params`` for fixed responsibilities, from the rows with scipy.stats."""
    if family == "exponential":
        parts = [stats.expon(scale=1.0 / r) for r in params["rate"]]
    elif family == "weibull":
        parts = [stats.weibull_min(k, scale=s) for k, s in zip(params["shape"], params["scale"],
                                                               strict=True)]
    else:
        parts = [stats.lognorm(s, scale=np.exp(m)) for m, s in zip(params["meanlog"],
                                                                   params["sdlog"], strict=True)]
    cols = [np.where(EVENT == 1, p.logpdf(TIME), p.logsf(TIME)) for p in parts]
    if cure:
        cols.append(np.where(EVENT == 1, -np.inf, 0.0))
    terms = np.column_stack(cols) + np.log(params["weights"])
    live = resp > 0  # 0 log 0 = 0: a cured row's event term never counts
    return float(np.sum(resp[live] * terms[live]))


START = {
    "exponential": {"rate": np.array([5.0, 0.01])},
    "weibull": {"shape": np.array([0.4, 9.0]), "scale": np.array([0.05, 40.0])},
    "lognormal": {"meanlog": np.array([-3.0, 4.0]), "sdlog": np.array([0.2, 3.0])},
}


@pytest.mark.parametrize("family", ["exponential", "weibull", "lognormal"])
@pytest.mark.parametrize("cure", [False, True])
def test_every_m_step_raises_q(family, cure):
    """From a far start, each M-step's Q (fixed responsibilities) is above the last one's."""
    model = SurvivalMixtureEM(family, 2, cure=cure)
    weights = np.array([0.3, 0.5, 0.2]) if cure else np.array([0.4, 0.6])
    params = {"weights": weights, **START[family]}
    data = np.column_stack([TIME, EVENT])
    for _ in range(15):
        stats_, _ = model.e_step(data, params)
        resp = np.exp(model.log_joint(data, params)
                      - np.logaddexp.reduce(model.log_joint(data, params), axis=1)[:, None])
        new = model.m_step(stats_)
        before, after = _q(family, cure, params, resp), _q(family, cure, new, resp)
        assert after >= before - 1e-9 * abs(before), (before, after)
        params = new
