"""scikit-learn's ``sklearn/mixture/tests/test_mixture.py`` against emkit.

That module parametrizes its tests over ``[GaussianMixture(),
BayesianGaussianMixture()]`` when it is imported, so replacing a global would
come too late: each test is collected here with its ``estimator`` parameter
replaced by ``emkit.GaussianMixture()`` (emkit has no Bayesian mixture). The
tests' bodies are scikit-learn's, unchanged.
"""

from __future__ import annotations

import types

import pytest
import sklearn.mixture.tests.test_mixture as peer

import emkit

PEER_TESTS = [name for name in sorted(vars(peer)) if name.startswith("test_")]


def _with_emkit(func: types.FunctionType) -> types.FunctionType:
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                              func.__defaults__, func.__closure__)
    copy.__doc__ = func.__doc__
    marks = [m for m in getattr(func, "pytestmark", []) if m.name != "parametrize"
             or m.args[0] != "estimator"]
    for mark in reversed(marks):
        copy = getattr(pytest.mark, mark.name)(*mark.args, **mark.kwargs)(copy)
    return pytest.mark.parametrize("estimator", [emkit.GaussianMixture()],
                                   ids=["emkit.GaussianMixture"])(copy)


for _name in PEER_TESTS:
    globals()[_name] = _with_emkit(vars(peer)[_name])


def test_every_peer_test_takes_the_estimator() -> None:
    """Each of the module's tests was re-parametrized (none still runs scikit-learn's)."""
    assert PEER_TESTS
    for name in PEER_TESTS:
        values = [m.args[1] for m in globals()[name].pytestmark
                  if m.name == "parametrize" and m.args[0] == "estimator"]
        assert len(values) == 1 and len(values[0]) == 1, name
        assert type(values[0][0]) is emkit.GaussianMixture, name
