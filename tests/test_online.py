"""Stepwise (online) EM: step sizes, exactness on one batch, one-pass accuracy, and the
Steps each update reports to observers and callbacks."""

from __future__ import annotations

import numpy as np
import pytest

import emkit
from emkit.engine import Step, observe
from emkit.engine.online import StepwiseEM
from emkit.engine.rows import iter_batches
from emkit.examples.textbook import NormalMixture1D
from emkit.models.mixture.gaussian import GaussianMixtureModel
from emkit.trace import StepRecorder, format_trace, trace_rows


def gaussian_blobs(n=10_000, seed=0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [6.0, 1.0], [2.0, 7.0]])
    X = centres[rng.choice(3, size=n, p=[0.5, 0.3, 0.2])] + rng.normal(size=(n, 2))
    init = {"weights": np.full(3, 1 / 3), "means": X[[0, 1, 2]].copy(),
            "covariances": np.stack([np.eye(2) * 4.0] * 3)}
    return X, init


def batch_fit(model, X, init):
    return emkit.em(model, X, init, tol=1e-6 * len(X), max_iter=1000, accelerate="squarem")


def one_pass_gap_bound(n_params: int, n: int, batch_size: int, alpha: float = 0.6) -> float:
    """How far below the batch maximum one pass of stepwise EM may end (total loglik).

    The running average of the statistics settles to a variance of
    ``gamma / (2 - gamma) ~ gamma / 2`` times that of one batch's mean statistics,
    i.e. ``n gamma / (2 b)`` times the batch estimate's sampling variance, with
    ``gamma = (n_batches + 1) ** -alpha`` the last step size. A parameter error of
    ``c`` times the sampling variance costs ``c p / 2`` in expected log-likelihood
    (``p`` free parameters), so the expected gap is ``p n gamma / (4 b)``; four times
    that leaves room for what the early, poorly fitted batches still weigh.
    """
    gamma = (n // batch_size + 1) ** -alpha
    return n_params * n * gamma / batch_size


def test_alpha_and_batches_are_validated():
    model = NormalMixture1D()
    init = {"weights": np.array([1.0]), "means": np.zeros(1), "variances": np.ones(1)}
    for alpha in (0.5, 1.01, "0.6"):
        with pytest.raises(ValueError, match="alpha"):
            StepwiseEM(model, init, alpha=alpha)
    with pytest.raises(ValueError, match="e_step"):
        StepwiseEM(object(), init)
    online = StepwiseEM(model, init, alpha=1.0)
    assert online.step_size(0) == 0.5 and online.step_size(2) == 0.25
    with pytest.raises(ValueError, match="at least one row"):
        online.partial_fit(np.zeros(0))
    with pytest.raises(ValueError, match="batch_size"):
        list(iter_batches(np.zeros(3), 0))


def test_one_batch_update_is_one_batch_em_iteration():
    X, init = gaussian_blobs(n=3000)
    model = GaussianMixtureModel("full")
    online = StepwiseEM(model, init).partial_fit(X)
    expected = model.m_step(model.e_step(X, init)[0])
    for key in expected:
        np.testing.assert_allclose(online.params[key], expected[key], rtol=1e-12)
    assert online.n_batches == 1 and online.n_rows_seen == 3000
    np.testing.assert_allclose(online.loglik_per_row, model.e_step(X, init)[1] / 3000,
                               rtol=1e-12)


def test_running_average_follows_the_step_sizes():
    model = NormalMixture1D()
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    a, b = np.array([-1.0, 0.5, 2.0]), np.array([0.0, 3.0])
    online = StepwiseEM(model, init, alpha=0.75).partial_fit(a)
    params_after_a = online.params
    online.partial_fit(b)
    gamma = 2.0 ** -0.75
    sa = model.e_step(a, init)[0]
    sb = model.e_step(b, params_after_a)[0]
    for key in sa:
        np.testing.assert_allclose(online.stats[key],
                                   (1 - gamma) * sa[key] / 3 + gamma * sb[key] / 2, rtol=1e-12)


@pytest.mark.parametrize("alpha", [0.6, 1.0])
def test_a_pass_follows_the_stepwise_recursion(alpha):
    # Cappé & Moulines' recursion written out: s_0 = stats(b_0)/|b_0|,
    # s_t = (1 - g_t) s_{t-1} + g_t stats(b_t; theta_{t-1}) / |b_t|, g_t = (t + 1)^-alpha,
    # theta_t = m_step(s_t * rows seen); batches of unequal sizes
    x, init = two_normals()
    model = NormalMixture1D()
    sizes = [300, 700, 50, 1200, 900, 850]
    batches = np.split(x, np.cumsum(sizes)[:-1])
    online = StepwiseEM(model, init, alpha=alpha)
    theta, avg, seen = init, None, 0
    for t, batch in enumerate(batches):
        stats = model.e_step(batch, theta)[0]
        per_row = {k: v / len(batch) for k, v in stats.items()}
        gamma = 1.0 if t == 0 else (t + 1) ** -alpha
        avg = per_row if avg is None else {k: (1 - gamma) * avg[k] + gamma * per_row[k]
                                           for k in avg}
        seen += len(batch)
        theta = model.m_step({k: v * seen for k, v in avg.items()})
        online.partial_fit(batch)
        assert online.n_batches == t + 1 and online.n_rows_seen == seen
        for key in theta:
            np.testing.assert_allclose(online.params[key], theta[key], rtol=1e-12)
        for key in avg:
            np.testing.assert_allclose(online.stats[key], avg[key], rtol=1e-12)


@pytest.mark.parametrize("covariance_type", ["full", "diag"])
def test_one_pass_reaches_the_batch_loglik_within_sampling_error(covariance_type):
    X, init = gaussian_blobs()
    if covariance_type == "diag":
        init = dict(init, covariances=np.full((3, 2), 4.0))
    model = GaussianMixtureModel(covariance_type)
    batch = batch_fit(model, X, init)
    online = StepwiseEM(model, init, alpha=0.6)
    online.fit(iter_batches(X, 100, shuffle=True, random_state=0))
    assert online.n_batches == 100
    online_loglik = model.e_step(X, online.params)[1]
    assert online_loglik <= batch.loglik + 1e-6 * abs(batch.loglik)
    # 3 weights (2 free), 3 x 2 means, 3 covariances of 3 (full) or 2 (diag) entries
    n_params = 2 + 6 + (9 if covariance_type == "full" else 6)
    gap = batch.loglik - online_loglik
    assert gap < one_pass_gap_bound(n_params, len(X), 100)  # 106 (full), 87 (diag)
    np.testing.assert_allclose(np.sort(online.params["weights"]),
                               np.sort(batch.params["weights"]), atol=0.02)


def test_works_for_any_additive_model_and_row_sliceable_batches():
    rng = np.random.default_rng(1)
    x = np.concatenate([rng.normal(-2, 1, 6000), rng.normal(2, 0.5, 4000)])
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 0.5]),
            "variances": np.array([2.0, 2.0])}
    model = NormalMixture1D()
    batch = emkit.em(model, x, init, tol=1e-8)
    online = StepwiseEM(model, init).fit(iter_batches(x, 100, shuffle=True, random_state=2))
    gap = batch.loglik - model.loglik(x, online.params)
    assert -1e-6 * abs(batch.loglik) < gap < one_pass_gap_bound(5, len(x), 100)  # 31
    # weighted rows as a tuple: integer weights equal repeated rows
    X, init = gaussian_blobs(n=600)
    w = np.full(600, 2.0)
    model = GaussianMixtureModel("full")
    weighted = StepwiseEM(model, init).fit(iter_batches((X, w), 300))
    repeated = StepwiseEM(model, init).fit(iter_batches(np.repeat(X, 2, axis=0), 600))
    assert weighted.n_batches == repeated.n_batches == 2
    for key in ("weights", "means", "covariances"):
        np.testing.assert_allclose(weighted.params[key], repeated.params[key], rtol=1e-10)


def test_shuffled_batches_cover_every_row_once():
    X = np.arange(23.0)
    seen = np.concatenate(list(iter_batches(X, 5, shuffle=True, random_state=0)))
    np.testing.assert_array_equal(np.sort(seen), X)
    pairs = list(iter_batches((X, -X), 10, shuffle=True, random_state=1))
    assert all(np.array_equal(a, -b) for a, b in pairs)


def test_mixture_of_distributions_one_pass():
    from emkit.distributions import Poisson
    from emkit.models.mixture.any_distribution import MixtureEM

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.poisson(2, (6000, 1)), rng.poisson(9, (4000, 1))]).astype(float)
    model = MixtureEM([Poisson(), Poisson()])
    init = model.pack(np.array([0.5, 0.5]),
                      [Poisson(rate=np.array([1.0])), Poisson(rate=np.array([5.0]))])
    batch = emkit.em(model, X, init, tol=1e-8)
    online = StepwiseEM(model, init).fit(iter_batches(X, 100, shuffle=True, random_state=0))
    gap = batch.loglik - model.e_step(X, online.params)[1]
    assert -1e-6 * abs(batch.loglik) < gap < one_pass_gap_bound(3, len(X), 100)  # 19


# ---------------------------------------------------------------- reporting


def two_normals(n=4000, seed=3):
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(-2, 1, n // 2), rng.normal(2, 1, n - n // 2)])
    rng.shuffle(x)
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    return x, init


def test_observer_sees_a_start_and_one_step_per_batch_with_the_documented_fields():
    x, init = two_normals()
    model = NormalMixture1D()
    batches = [x[:500], x[500:1500], x[1500:1800], x[1800:]]  # unequal sizes
    seen: list[Step] = []
    with observe(seen.append):
        online = StepwiseEM(model, init)
        for batch in batches:
            online.partial_fit(batch)
    assert [s.iteration for s in seen] == [0, 1, 2, 3, 4]
    start, steps = seen[0], seen[1:]
    assert start.params is init and start.seconds == 0.0 and start.n_estep == 1
    assert np.isnan(start.gain) and np.isnan(start.param_change)
    # replay the updates by hand: loglik is each batch's total at the params before it
    params, per_row_before = init, None
    replay = StepwiseEM(model, init)
    for t, (batch, step) in enumerate(zip(batches, steps, strict=True), start=1):
        loglik = model.e_step(batch, params)[1]
        replay.partial_fit(batch)
        assert step.iteration == step.n_estep == t
        np.testing.assert_allclose(step.loglik, loglik, rtol=1e-12)
        np.testing.assert_allclose(step.loglik, replay.loglik_per_row * len(batch), rtol=1e-12)
        if per_row_before is None:
            assert np.isnan(step.gain)
            np.testing.assert_allclose(start.loglik, step.loglik, rtol=0)
        else:
            np.testing.assert_allclose(step.gain, (loglik / len(batch) - per_row_before)
                                       * len(batch), rtol=1e-10)
        change = max(np.max(np.abs(replay.params[k] - params[k])) for k in params)
        np.testing.assert_allclose(step.param_change, change, rtol=1e-12)
        for key in params:
            np.testing.assert_array_equal(step.params[key], replay.params[key])
        assert step.seconds >= 0.0 and not step.accelerated
        params, per_row_before = replay.params, loglik / len(batch)
    assert steps[-1].params is online.params


def test_observers_are_the_ones_registered_when_each_update_runs():
    x, init = two_normals()
    online = StepwiseEM(NormalMixture1D(), init)
    online.partial_fit(x[:1000])  # nobody listens: nothing to report, nothing fails
    seen: list[Step] = []
    with observe(seen.append):
        online.partial_fit(x[1000:2000])
    online.partial_fit(x[2000:3000])
    assert [s.iteration for s in seen] == [2]


def test_reporting_does_not_change_the_parameters():
    x, init = two_normals()
    model = NormalMixture1D()
    quiet = StepwiseEM(model, init).fit(iter_batches(x, 250))
    with observe(lambda step: None):
        watched = StepwiseEM(model, init, callback=lambda step: None).fit(iter_batches(x, 250))
    assert watched.n_batches == quiet.n_batches == 16
    assert watched.stop_reason == "exhausted" and not watched.stop_requested
    for key in init:
        np.testing.assert_array_equal(watched.params[key], quiet.params[key])
    assert watched.loglik_per_row == quiet.loglik_per_row


def test_callback_returning_false_stops_fit_after_that_batch():
    x, init = two_normals()
    calls: list[Step] = []

    def callback(step):
        calls.append(step)
        return step.iteration < 3

    observed: list[Step] = []
    online = StepwiseEM(NormalMixture1D(), init, callback=callback)
    with observe(observed.append):
        online.fit(iter_batches(x, 400))
    assert [s.iteration for s in calls] == [1, 2, 3]  # the start goes to observers only
    assert [s.iteration for s in observed] == [0, 1, 2, 3]
    assert online.n_batches == 3 and online.n_rows_seen == 1200
    assert online.stop_requested and online.stop_reason == "callback"
    assert calls[-1].params is online.params
    # partial_fit still updates (the caller drives the stream) and resets the request
    online.callback = None
    online.partial_fit(x[1200:1600])
    assert online.n_batches == 4 and not online.stop_requested
    with pytest.raises(ValueError, match="callback"):
        StepwiseEM(NormalMixture1D(), init, callback=3)


def test_keyboard_interrupt_from_an_observer_stops_fit_keeping_the_update():
    x, init = two_normals()

    def interrupt(step):
        if step.iteration == 2:
            raise KeyboardInterrupt

    online = StepwiseEM(NormalMixture1D(), init)
    with observe(interrupt):
        online.fit(iter_batches(x, 400))
    assert online.n_batches == 2 and online.stop_reason == "interrupted"


def test_a_failed_update_changes_nothing_and_reports_nothing():
    class FailingMStep(NormalMixture1D):
        fail = False

        def m_step(self, stats):
            if self.fail:
                raise np.linalg.LinAlgError("singular")
            return super().m_step(stats)

    x, init = two_normals()
    model = FailingMStep()
    online = StepwiseEM(model, init).partial_fit(x[:500])
    before = (online.params, online.stats, online.n_batches, online.n_rows_seen)
    model.fail = True
    seen: list[Step] = []
    with observe(seen.append), pytest.raises(np.linalg.LinAlgError):
        online.partial_fit(x[500:1000])
    assert seen == []
    assert (online.params, online.stats, online.n_batches, online.n_rows_seen) == before


def test_gaussian_mixture_partial_fit_inside_observe_gives_trace_rows():
    X, _ = gaussian_blobs(n=3000)
    recorder = StepRecorder()
    with observe(recorder):
        gm = emkit.GaussianMixture(3, random_state=0)
        for start in range(0, 3000, 500):
            gm.partial_fit(X[start:start + 500])
    online_runs = [run for run in recorder.runs if run[-1].iteration == 6]
    assert len(online_runs) == 1
    run = online_runs[0]
    assert [s.iteration for s in run] == list(range(7))
    np.testing.assert_allclose(run[-1].loglik / 500, gm.lower_bound_, rtol=1e-12)
    np.testing.assert_allclose(run[-1].params["means"], gm.means_, rtol=1e-12)
    rows = trace_rows(run)
    assert [r.iteration for r in rows] == list(range(7))
    assert all(np.isfinite(r.param_change) for r in rows[1:])
    assert "log-likelihood" in format_trace(run)


def test_mixture_model_partial_fit_inside_observe_gives_steps():
    from emkit.distributions import Poisson

    rng = np.random.default_rng(0)
    X = np.concatenate([rng.poisson(2, (600, 1)), rng.poisson(9, (400, 1))]).astype(float)
    rng.shuffle(X)
    recorder = StepRecorder()
    with observe(recorder):
        mm = emkit.MixtureModel([Poisson(), Poisson()], random_state=0)
        for start in range(0, 1000, 250):
            mm.partial_fit(X[start:start + 250])
    run = recorder.runs[-1]
    assert [s.iteration for s in run] == [0, 1, 2, 3, 4]
    assert mm.n_iter_ == 4 and run[-1].n_estep == 4
    np.testing.assert_allclose(run[-1].loglik / 250, mm.lower_bound_, rtol=1e-12)
