"""scikit-learn's own mixture tests, run against ``emkit.GaussianMixture``.

The test modules next to this file import scikit-learn's installed test modules
and collect their ``test_*`` functions with ``GaussianMixture`` replaced by
emkit's class. This file supplies what scikit-learn's own ``conftest.py`` gives
them:

* the ``global_dtype`` fixture, with the float32 parametrization switched on
  (``SKLEARN_RUN_FLOAT32_TESTS=1``, set before ``sklearn.conftest`` reads it);
* ``global_random_seed`` (parametrized by ``pytest_generate_tests``; seed 42
  unless ``SKLEARN_TESTS_GLOBAL_RANDOM_SEED`` says otherwise);
* scikit-learn's warning regime for these tests: its suite turns only
  deprecation warnings into errors, and several tests expect a
  ``ConvergenceWarning`` they do not catch (k-means on two distinct points in
  ``test_regularisation``, ``max_iter=1`` in ``test_gaussian_mixture_setting_best_params``),
  so that category is ignored here; every other warning stays an error.

Tests of scikit-learn's private functions are not emkit's API: they are
deselected through :data:`DESELECTED`, each with its reason (also listed in
``docs/differences-from-scikit-learn.md``).
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ["SKLEARN_RUN_FLOAT32_TESTS"] = "1"

import pytest
from sklearn.conftest import global_dtype, pytest_generate_tests

__all__ = ["DESELECTED", "global_dtype", "pytest_generate_tests"]

_HERE = Path(__file__).parent

#: Test function name -> why it is not run against emkit.
DESELECTED = {
    "test_suffstat_sk_full": "checks sklearn's private _estimate_gaussian_covariances_full",
    "test_suffstat_sk_tied": "checks sklearn's private _estimate_gaussian_covariances_tied",
    "test_suffstat_sk_diag": "checks sklearn's private _estimate_gaussian_covariances_diag",
    "test_gaussian_suffstat_sk_spherical":
        "checks sklearn's private _estimate_gaussian_covariances_spherical",
    "test_compute_log_det_cholesky": "checks sklearn's private _compute_log_det_cholesky",
    "test_gaussian_mixture_log_probabilities":
        "checks sklearn's private _estimate_log_gaussian_prob",
    "test_gaussian_mixture_precisions_init":
        "calls the private GaussianMixture._set_parameters and _initialize(X, resp); "
        "emkit's public equivalent is in tests/test_gaussian_mixture_checks.py",
    "test_gaussian_mixture_all_init_does_not_estimate_gaussian_parameters":
        "counts calls of sklearn's private _estimate_gaussian_parameters with a mock",
    "test_check_weights":
        "expects sklearn's message with max and min swapped ('max value' prints "
        "min(weights)); emkit prints them the right way round; the other checks of "
        "this test are in tests/test_gaussian_mixture_checks.py",
    "test_gaussian_mixture_array_api_compliance":
        "array API dispatch (array_api_strict, torch, CuPy): emkit computes with NumPy",
    "test_gaussian_mixture_raises_where_array_api_not_implemented":
        "array API dispatch: emkit computes with NumPy",
}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    keep, drop = [], []
    for item in items:
        if Path(item.path).parent != _HERE:
            keep.append(item)
            continue
        name = getattr(item, "originalname", item.name)
        if name in DESELECTED:
            drop.append(item)
            continue
        item.add_marker(pytest.mark.filterwarnings(
            "ignore::sklearn.exceptions.ConvergenceWarning"))
        keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
