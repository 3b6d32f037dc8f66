"""scikit-learn's estimator checks on every emkit estimator that is not an HMM.

``parametrize_with_checks`` runs each check as its own test. The checks an
estimator fails on purpose are listed below with the reason (and in
``docs/differences-from-scikit-learn.md``); they are reported as xfail, and a
listed check that starts to pass fails the run (``strict``), so the list stays
true.
"""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.utils.estimator_checks import parametrize_with_checks

import emkit
from emkit.distributions import Gaussian
from emkit.estimators.mclust_mixture import MclustMixture

ONE_D_IS_ONE_FEATURE = ("a 1-D X is read as one feature (documented: univariate "
                        "families take a vector), so fitting on 1-D X does not raise")
RATINGS_READER = ("ratings go through DawidSkene's own reader (a wide item x rater matrix "
                  "or a long item, rater, label table), which refuses this input with its "
                  "own message, not check_array's wording")

#: Estimator class name -> {check name: reason it fails on purpose}.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "GaussianMixture": {},
    "EMImputer": {},
    "MixtureModel": {
        "check_fit1d": ONE_D_IS_ONE_FEATURE,
        "check_sample_weight_equivalence_on_dense_data": (
            "the k-means start sees the weights as k-means weights, and weighted k-means++ "
            "seeding draws other centres than seeding on the repeated rows, so the two fits "
            "start (and end) elsewhere; from the same start, integer weights equal repeated "
            "rows (tests/test_mixture_model_weights.py)"),
    },
    "MclustMixture": {
        "check_fit1d": ONE_D_IS_ONE_FEATURE,
        "check_sample_weight_equivalence_on_dense_data": (
            "the hc and k-means partitions are found on the rows of positive weight, "
            "unweighted, so the weighted fit and the fit to the repeated rows start (and "
            "end) elsewhere; from the same start, integer weights equal repeated rows "
            "(tests/test_mclust_sample_weight.py)"),
    },
    "DawidSkene": {
        "check_n_features_in": "the columns are raters: fit records n_raters_ and raters_ "
                               "(a long table's columns are item, rater, label, not features)",
        "check_n_features_in_after_fitting": "as check_n_features_in: n_raters_, not "
                                             "n_features_in_",
        "check_positive_only_tag_during_fit": "labels are 0..C-1: a negative label is refused "
                                              "(ValueError naming the labels)",
        "check_complex_data": RATINGS_READER,
        "check_dtype_object": RATINGS_READER,
        "check_estimators_empty_data_messages": RATINGS_READER,
        "check_estimator_sparse_tag": RATINGS_READER,
        "check_estimator_sparse_array": RATINGS_READER,
        "check_estimator_sparse_matrix": RATINGS_READER,
        "check_fit2d_predict1d": RATINGS_READER,
        "check_sample_weight_equivalence_on_dense_data": RATINGS_READER + " (it rates "
                                                         "continuous numbers)",
    },
}

ESTIMATORS = [
    emkit.GaussianMixture(n_init=2, max_iter=5),
    emkit.MixtureModel(Gaussian(), n_components=2, max_iter=5),
    MclustMixture(init_params="kmeans", max_iter=20),
    emkit.EMImputer(),
    emkit.DawidSkene(),
]


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    return EXPECTED_FAILURES[type(estimator).__name__]


# EMImputer's weight-equivalence check fits 15 distinct rows of 30 columns: its default
# reg_covar regularizes both fits alike and says so (a RegularizationWarning), rightly
@pytest.mark.filterwarnings("ignore::emkit.exceptions.RegularizationWarning")
@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_check_estimator(estimator: Any, check: Any) -> None:
    check(estimator)


def test_every_estimator_has_its_list() -> None:
    assert {type(e).__name__ for e in ESTIMATORS} == set(EXPECTED_FAILURES)
