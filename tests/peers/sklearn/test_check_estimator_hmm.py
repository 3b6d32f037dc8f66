"""scikit-learn's estimator checks on every emkit HMM estimator.

Two runs:

* ``test_sklearn_check_estimator_hmm`` runs every check on the estimators as
  they are. The checks an estimator fails on purpose are listed in
  :data:`EXPECTED_FAILURES` with the reason (and in
  ``docs/differences-from-hmmlearn.md``); they are reported as xfail, and a
  listed check that starts to pass fails the run (``strict``).
* Most of those failures have one cause: an HMM's ``fit(X, lengths)`` and
  ``score(X, lengths)`` take hmmlearn's sequence lengths second, where the
  checks pass a target ``y``. So that what those checks test (pickling,
  dtypes, NaN messages, idempotence, ...) is still tested,
  ``test_sklearn_check_estimator_hmm_y_ignored`` runs every check again on
  subclasses whose ``fit``/``score`` take ``(X, y=None)`` and fit ``X`` as one
  sequence, with their own, shorter list :data:`EXPECTED_FAILURES_Y_IGNORED`.
  The subclasses of the count HMMs (PoissonHMM, MultinomialHMM) also carry the
  ``categorical`` input tag, so that the checks draw non-negative integers (the
  classes themselves only say ``positive_only``: their input is counts, not
  categories, and the checks' float data are refused, see INTEGER_COUNTS).
"""

from __future__ import annotations

from typing import Any

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

import emkit
from emkit.distributions import Gaussian

LENGTHS = ("fit(X, lengths) and score(X, lengths) take hmmlearn's sequence lengths "
           "second: the check's y is read as lengths and refused (the y-ignoring "
           "subclasses below run the check)")
SEQUENCE = ("the rows are one sequence: a row's state depends on its neighbours, so "
            "predictions change when rows are reordered or taken apart (and "
            "score_samples returns hmmlearn's (log_prob, posteriors) pair)")
ONE_D_IS_ONE_FEATURE = ("a 1-D X is read as one column (one feature), so fitting on 1-D X "
                        "does not raise")
N_FEATURES = ("fit sets n_features (hmmlearn's attribute, a public name without the "
              "trailing underscore)")
N_FEATURES_TRIALS = (N_FEATURES + ", and n_trials when it was None and every row has the "
                     "same total (as hmmlearn, so that the model can sample)")
ONE_COLUMN = ("X is one column of symbols (shape (n_samples, 1), as hmmlearn): the "
              "check's several columns are refused")
INTEGER_COUNTS = ("X holds counts: the check's non-integer values are refused (a "
                  "ValueError saying the counts must be integers)")

#: the checks that call fit(X, y) (or score(X, y)) with a y that is no valid lengths
_Y_CHECKS = ("check_fit_score_takes_y", "check_estimators_overwrite_params",
             "check_dont_overwrite_parameters", "check_estimators_fit_returns_self",
             "check_readonly_memmap_input", "check_n_features_in_after_fitting",
             "check_positive_only_tag_during_fit", "check_estimators_dtypes",
             "check_dtype_object", "check_pipeline_consistency", "check_estimators_nan_inf",
             "check_estimators_pickle", "check_f_contiguous_array_estimator",
             "check_methods_sample_order_invariance", "check_methods_subset_invariance",
             "check_fit2d_1feature", "check_dict_unchanged", "check_fit_idempotent",
             "check_fit_check_is_fitted", "check_n_features_in", "check_fit2d_predict1d",
             # fit(X, y, sample_weight=...) since the HMMs take one weight per sequence
             "check_sample_weights_pandas_series", "check_sample_weights_not_an_array",
             "check_sample_weights_list", "check_sample_weights_shape",
             "check_sample_weights_not_overwritten", "check_all_zero_sample_weights_error",
             "check_sample_weight_equivalence_on_dense_data")
#: of those, the ones whose X has several columns (all but check_fit2d_1feature)
_SEVERAL_COLUMNS = tuple(c for c in _Y_CHECKS if c != "check_fit2d_1feature")
#: of those, the ones with non-integer data (check_positive_only_tag_during_fit's are
#: negative, refused as such before the lengths are read: the check passes)
_FLOAT_DATA = tuple(c for c in _Y_CHECKS if c != "check_positive_only_tag_during_fit")

_SEQUENCE_CHECKS = {"check_methods_sample_order_invariance": SEQUENCE,
                    "check_methods_subset_invariance": SEQUENCE}

#: Estimator class name -> {check name: reason it fails on purpose}, estimators as they are.
#: A reason is the first error the check meets (X is checked before the lengths).
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    "GaussianHMM": dict.fromkeys(_Y_CHECKS, LENGTHS),
    "GMMHMM": dict.fromkeys(_Y_CHECKS, LENGTHS),
    "CategoricalHMM": {**dict.fromkeys(_SEVERAL_COLUMNS, ONE_COLUMN),
                       "check_fit2d_1feature": LENGTHS, "check_fit2d_1sample": ONE_COLUMN},
    "PoissonHMM": {**dict.fromkeys(_FLOAT_DATA, INTEGER_COUNTS),
                   "check_fit2d_1sample": INTEGER_COUNTS},
    "MultinomialHMM": {**dict.fromkeys(_FLOAT_DATA, INTEGER_COUNTS),
                       "check_fit2d_1sample": INTEGER_COUNTS},
    "HMM": dict.fromkeys(_Y_CHECKS, LENGTHS),
}

#: The same for the y-ignoring subclasses (keyed by the class they derive from), which
#: run every check again.
EXPECTED_FAILURES_Y_IGNORED: dict[str, dict[str, str]] = {
    "GaussianHMM": {**_SEQUENCE_CHECKS, "check_dont_overwrite_parameters": N_FEATURES,
                    "check_fit1d": ONE_D_IS_ONE_FEATURE},
    "GMMHMM": {**_SEQUENCE_CHECKS, "check_dont_overwrite_parameters": N_FEATURES,
               "check_fit1d": ONE_D_IS_ONE_FEATURE},
    "CategoricalHMM": {**dict.fromkeys(_SEVERAL_COLUMNS, ONE_COLUMN),
                       "check_fit2d_1sample": ONE_COLUMN},
    "PoissonHMM": {**_SEQUENCE_CHECKS, "check_dont_overwrite_parameters": N_FEATURES},
    "MultinomialHMM": {**_SEQUENCE_CHECKS,
                       "check_dont_overwrite_parameters": N_FEATURES_TRIALS},
    "HMM": {**_SEQUENCE_CHECKS, "check_dont_overwrite_parameters": N_FEATURES,
            "check_fit1d": ONE_D_IS_ONE_FEATURE},
}

#: the count HMMs, whose y-ignoring subclasses ask the checks for integer data
COUNTS = ("PoissonHMM", "MultinomialHMM")


def _settings(cls: type) -> dict[str, Any]:
    """Small, quick fits: two states, a few iterations."""
    extra: dict[str, Any] = {"n_mix": 2} if cls is emkit.GMMHMM else {}
    if cls is emkit.HMM:
        extra["emission"] = Gaussian()
    return {"n_components": 2, "n_iter": 5, **extra}


CLASSES = [emkit.GaussianHMM, emkit.GMMHMM, emkit.CategoricalHMM, emkit.PoissonHMM,
           emkit.MultinomialHMM, emkit.HMM]

ESTIMATORS = [cls(**_settings(cls)) for cls in CLASSES]


def expected_failed_checks(estimator: Any) -> dict[str, str]:
    return EXPECTED_FAILURES[type(estimator).__name__]


def run_check(estimator: Any, check: Any, expected: dict[str, str]) -> None:
    """Run ``check``; a listed check's exception is re-raised without its traceback.

    The listed failures are many and their reasons are in the lists; formatting
    their tracebacks through scikit-learn's long checks module took most of
    this file's run time. An unlisted failure keeps its whole traceback.
    """
    if check.func.__name__ not in expected:
        check(estimator)
        return
    try:
        check(estimator)
    except Exception as exc:
        exc.__cause__ = exc.__context__ = None
        raise exc.with_traceback(None) from None


@parametrize_with_checks(ESTIMATORS, expected_failed_checks=expected_failed_checks,
                         xfail_strict=True)
def test_sklearn_check_estimator_hmm(estimator: Any, check: Any) -> None:
    run_check(estimator, check, expected_failed_checks(estimator))


# -- the y-ignoring subclasses ------------------------------------------------------------

def _fit(self: Any, X: Any, y: Any = None) -> Any:
    return type(self).__mro__[1].fit(self, X)


def _score(self: Any, X: Any, y: Any = None) -> float:
    return type(self).__mro__[1].score(self, X)


def _integer_tags(self: Any) -> Any:
    tags = type(self).__mro__[1].__sklearn_tags__(self)
    tags.input_tags.categorical = True  # the checks then draw non-negative integers
    return tags


def _ignoring_y(cls: type) -> type:
    """``cls`` with ``fit(X, y=None)`` and ``score(X, y=None)`` (and, for the count
    HMMs, the ``categorical`` tag), defined in this module under the name
    ``<cls>IgnoringY`` (so that the checks can pickle it)."""
    name = f"{cls.__name__}IgnoringY"
    methods: dict[str, Any] = {"fit": _fit, "score": _score, "__module__": __name__,
                               "__qualname__": name}
    if cls.__name__ in COUNTS:
        methods["__sklearn_tags__"] = _integer_tags
    sub = type(name, (cls,), methods)
    globals()[name] = sub
    return sub


IGNORING_Y = {cls.__name__: _ignoring_y(cls) for cls in CLASSES}


def _y_ignored_cases() -> list[Any]:
    cases = []
    for base, sub in IGNORING_Y.items():
        estimator = sub(**_settings(sub.__mro__[1]))
        for case in estimator_checks_generator(
                estimator, expected_failed_checks=EXPECTED_FAILURES_Y_IGNORED[base],
                mark="xfail", xfail_strict=True):
            params = case.values if hasattr(case, "values") else case
            check = params[1]
            name = check.func.__name__
            keywords = ",".join(f"{k}={v}" for k, v in check.keywords.items())
            case_id = f"{sub.__name__}-{name}" + (f"({keywords})" if keywords else "")
            marks = case.marks if hasattr(case, "marks") else ()
            cases.append(pytest.param(*params, marks=marks, id=case_id))
    return cases


@pytest.mark.parametrize(("estimator", "check"), _y_ignored_cases())
def test_sklearn_check_estimator_hmm_y_ignored(estimator: Any, check: Any) -> None:
    run_check(estimator, check, EXPECTED_FAILURES_Y_IGNORED[type(estimator).__mro__[1].__name__])


def test_every_estimator_has_its_lists() -> None:
    names = {type(e).__name__ for e in ESTIMATORS}
    assert names == set(EXPECTED_FAILURES) == set(EXPECTED_FAILURES_Y_IGNORED)
