"""Regression and survival mixtures against R's flexmix and mixtools (stored fits).

``tests/fixtures/r_regression/make_fixtures.R`` simulated each data set, wrote it to
CSV and fitted it in R (flexmix ``FLXMRglm`` with and without ``FLXPmultinom``,
mixtools ``regmixEM`` and ``expRMM_EM``) from a start written down in full; the
JSON files hold that start and the fitted coefficients, sigmas, priors,
concomitant coefficients, log-likelihood and iteration count. This suite never
runs R.

Two kinds of check:

* **Same start, same fixed point.** The EM model (the engine's public
  ``emkit.em`` on :class:`~emkit.models.regression.model.RegressionMixtureEM`) starts
  from the stored parameters (flexmix's first M-step from its ``cluster=``
  posterior) and runs to a tight tolerance; its coefficients, sigmas, priors and
  concomitant coefficients equal R's to ``RTOL`` and its log-likelihood to 1e-12
  relative. ``RegressionMixture`` itself has no public way to start from given
  parameters or a given partition (``init_params`` is "random" or "kmeans"), so
  the estimator is checked by the second kind.
* **The estimator finds the same maximum.** ``RegressionMixture`` /
  ``SurvivalMixture`` with their own starts (``n_init``) reach R's fit after the
  components are matched.

R's side stops on its own criterion (flexmix: relative log-likelihood change
below 1e-14; mixtools: absolute change below 1e-11), so its parameters are those
of the fixed point to about 1e-7 relative; the 0/1 binomial case, whose EM
converges slowly (657 flexmix iterations), only to about 2e-5.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import emkit
from emkit.models.regression.design import Design
from emkit.models.regression.model import RegressionMixtureEM
from emkit.models.survival.model import SurvivalMixtureEM

FIXTURES = Path(__file__).parent / "fixtures" / "r_regression"

#: Relative agreement of parameters with R's fixed point.
RTOL = 1e-6
#: R's stopping point is that far from the fixed point in the slowly converging case.
SLOW_RTOL = 1e-4
#: Parameters near zero are compared absolutely, on the scale of their vector.
ATOL_SHARE = 1e-6

ML_CASES = ["gaussian_ml", "gaussian_regmixEM", "poisson", "binomial", "bernoulli",
            "concomitant", "concomitantpoisson"]


def _names(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def load_case(case: str) -> tuple[dict[str, Any], tuple[np.ndarray, ...]]:
    """The fixture's JSON and the data tuple ``(X, y[, Z])`` in the model's layout."""
    ref = json.loads((FIXTURES / f"{case}.json").read_text())
    frame = pd.read_csv(FIXTURES / ref["data"])
    X = frame[_names(ref["x"])].to_numpy(dtype=float)
    ycols = _names(ref["y"])
    if ref["family"] == "binomial":
        s = frame[ycols[0]].to_numpy(dtype=float)
        trials = np.ones_like(s) if len(ycols) == 1 else s + frame[ycols[1]].to_numpy(float)
        y = np.column_stack([s, trials])  # the model's (successes, trials)
    else:
        y = frame[ycols[0]].to_numpy(dtype=float)
    if "concomitant" in ref["start"]:
        Z = frame[_names(ref["z"])].to_numpy(dtype=float)
        return ref, (X, y, Z)
    return ref, (X, y)


def estimator_response(ref: dict[str, Any]) -> np.ndarray:
    """``y`` as ``RegressionMixture.fit`` takes it: (successes, failures) or 0/1."""
    frame = pd.read_csv(FIXTURES / ref["data"])
    return frame[_names(ref["y"])].to_numpy(dtype=float).squeeze()


def close(actual: Any, expected: Any, rtol: float) -> None:
    expected = np.asarray(expected, dtype=float)
    atol = ATOL_SHARE * float(np.max(np.abs(expected)))
    np.testing.assert_allclose(actual, expected, rtol=rtol, atol=atol)


def fit_from_start(ref: dict[str, Any], data: tuple[np.ndarray, ...]) -> tuple[
        emkit.EMResult, dict[str, np.ndarray]]:
    """emkit's EM from R's start; the result and its parameters in the columns' units."""
    X = data[0]
    design = Design.from_range(X.min(axis=0), X.max(axis=0))
    start = ref["start"]
    coef = np.asarray(start["coef"], dtype=float)
    init: dict[str, Any] = {"coef": design.to_scaled(coef[:, 0], coef[:, 1:])}
    if ref["family"] == "gaussian":
        init["scale"] = np.asarray(start["sigma"], dtype=float)
    z_design = None
    if len(data) == 3:
        Z = data[2]
        z_design = Design.from_range(Z.min(axis=0), Z.max(axis=0))
        gamma = np.asarray(start["concomitant"], dtype=float)
        init["mixing"] = z_design.to_scaled(gamma[:, 0], gamma[:, 1:])
    else:
        init["weights"] = np.asarray(start["prior"], dtype=float)
    model = RegressionMixtureEM(ref["family"], ref["k"], design, concomitant=z_design)
    result = emkit.em(model, data, init, tol=1e-12, max_iter=20000)
    a, b = design.to_original(result.params["coef"])
    out = {"coef": np.column_stack([a, b])}
    if "scale" in result.params:
        out["sigma"] = np.asarray(result.params["scale"])
    if z_design is not None:
        ga, gb = z_design.to_original(result.params["mixing"])
        out["concomitant"] = np.column_stack([ga, gb])
        out["concomitant"][0] = 0.0
        n = np.asarray(result.stats["n"], dtype=float)
        out["prior"] = n / n.sum()
    else:
        out["prior"] = np.asarray(result.params["weights"])
    return result, out


@pytest.mark.parametrize("case", ML_CASES)
def test_same_start_reaches_the_r_fixed_point(case: str) -> None:
    ref, data = load_case(case)
    result, params = fit_from_start(ref, data)
    fit = ref["fit"]
    assert result.converged and fit["converged"]
    rtol = SLOW_RTOL if case == "bernoulli" else RTOL
    np.testing.assert_allclose(result.loglik, fit["loglik"], rtol=1e-12)
    close(params["coef"], fit["coef"], rtol)
    close(params["prior"], fit["prior"], rtol)
    if ref["family"] == "gaussian":
        close(params["sigma"], fit["sigma"], rtol)
    if "concomitant" in fit:
        close(params["concomitant"], fit["concomitant"], rtol)


def test_flexmix_and_mixtools_agree_on_the_gaussian_fit() -> None:
    """The two R fits of the same data and start are one fixed point (a check of the
    fixtures themselves: flexmix with the ML sigma equals regmixEM)."""
    a = json.loads((FIXTURES / "gaussian_ml.json").read_text())["fit"]
    b = json.loads((FIXTURES / "gaussian_regmixEM.json").read_text())["fit"]
    for key in ("coef", "sigma", "prior"):
        close(a[key], b[key], RTOL)
    np.testing.assert_allclose(a["loglik"], b["loglik"], rtol=1e-13)


def test_flexmix_own_gaussian_sigma_is_not_the_ml_one() -> None:
    """flexmix's unchanged FLXMRglm divides the residual sum of squares by
    ``n - rank`` (n all rows) as well as by the weights: its fixed point is near
    emkit's maximum-likelihood one but not equal, sigmas larger by about
    ``sqrt(n / (n - rank))``."""
    ref, data = load_case("gaussian")
    result, params = fit_from_start(ref, data)
    fit = ref["fit"]
    n, rank = data[0].shape[0], data[0].shape[1] + 1
    ratio = np.asarray(fit["sigma"]) / params["sigma"]
    np.testing.assert_allclose(ratio, np.sqrt(n / (n - rank)), rtol=2e-3)
    assert np.all(ratio > 1.0 + 1e-3)
    close(params["coef"], fit["coef"], 1e-3)
    assert result.loglik > fit["loglik"]  # the ML fixed point has the higher likelihood


def _match(coef: np.ndarray, reference: np.ndarray) -> tuple[int, ...]:
    """The permutation of emkit's components closest to R's (R's j is emkit's perm[j])."""
    perms = itertools.permutations(range(len(reference)))
    return min(perms, key=lambda p: float(np.abs(coef[list(p)] - reference).sum()))


@pytest.mark.parametrize("case", [c for c in ML_CASES if c != "bernoulli"])
def test_estimator_finds_the_r_maximum(case: str) -> None:
    """Not the 0/1 binomial case: its likelihood has several maxima, and emkit's own
    starts find a higher one (-669.16) than R's fit from the stored start (-675.55)."""
    ref, data = load_case(case)
    fit = ref["fit"]
    X = data[0]
    concomitant = data[2] if len(data) == 3 else None
    est = emkit.RegressionMixture(ref["k"], family=ref["family"], tol=1e-14, max_iter=20000,
                                  n_init=4, random_state=0)
    est.fit(X, estimator_response(ref), concomitant=concomitant)
    assert est.converged_
    coef = np.column_stack([est.intercept_, est.coef_])
    perm = list(_match(coef, np.asarray(fit["coef"])))
    rtol = RTOL
    n = X.shape[0]
    np.testing.assert_allclose(est.lower_bound_ * n, fit["loglik"], rtol=1e-12)
    close(coef[perm], fit["coef"], rtol)
    close(est.weights_[perm], fit["prior"], rtol)
    if ref["family"] == "gaussian":
        close(est.scale_[perm], fit["sigma"], rtol)
    if concomitant is not None:
        gamma = est.concomitant_coef_[perm]
        close(gamma - gamma[0], fit["concomitant"], rtol)  # R's first component: reference


def test_concomitant_fixture_has_a_reference_row() -> None:
    """flexmix's layout is emkit's: component 1 is the reference, intercept first."""
    ref, _ = load_case("concomitant")
    gamma = np.asarray(ref["fit"]["concomitant"])
    assert gamma.shape == (3, 3)
    np.testing.assert_array_equal(gamma[0], 0.0)
    assert np.all(np.abs(gamma[1:]) > 0.05)


# --------------------------------------------------------------- survival
def _survival() -> tuple[dict[str, Any], np.ndarray, np.ndarray]:
    ref = json.loads((FIXTURES / "survival_expRMM.json").read_text())
    frame = pd.read_csv(FIXTURES / ref["data"])
    return ref, frame["time"].to_numpy(dtype=float), frame["event"].to_numpy(dtype=float)


def test_exponential_survival_mixture_same_start_matches_expRMM_EM() -> None:
    """mixtools' expRMM_EM (complete="tdz": rate = events / exposure) is emkit's
    censored exponential mixture; from its start both reach one fixed point."""
    ref, time, event = _survival()
    model = SurvivalMixtureEM("exponential", ref["k"])
    init = {"weights": np.asarray(ref["start"]["prior"], dtype=float),
            "rate": np.asarray(ref["start"]["rate"], dtype=float)}
    result = emkit.em(model, np.column_stack([time, event]), init, tol=1e-12, max_iter=20000)
    fit = ref["fit"]
    assert result.converged
    np.testing.assert_allclose(result.loglik, fit["loglik"], rtol=1e-12)
    close(result.params["rate"], fit["rate"], RTOL)
    close(result.params["weights"], fit["prior"], RTOL)


def test_survival_mixture_estimator_finds_the_expRMM_EM_maximum() -> None:
    ref, time, event = _survival()
    est = emkit.SurvivalMixture("exponential", ref["k"], tol=1e-15, max_iter=20000,
                                n_init=4, random_state=0).fit(time, event)
    fit = ref["fit"]
    order = np.argsort(-np.asarray(fit["rate"]))  # emkit sorts by median: fast first
    assert est.converged_
    np.testing.assert_allclose(est.lower_bound_ * time.size, fit["loglik"], rtol=1e-12)
    close(est.rate_, np.asarray(fit["rate"])[order], RTOL)
    close(est.weights_, np.asarray(fit["prior"])[order], RTOL)
