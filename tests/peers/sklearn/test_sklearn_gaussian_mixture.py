"""scikit-learn's ``sklearn/mixture/tests/test_gaussian_mixture.py`` against emkit.

Every ``test_*`` function of the installed module is collected here, unchanged,
with the module's ``GaussianMixture`` replaced by :class:`emkit.GaussianMixture`
for the duration of each test. Fixtures and deselected tests: ``conftest.py``.
"""

from __future__ import annotations

import types
from collections.abc import Callable
from typing import Any

import pytest
import sklearn.mixture.tests.test_gaussian_mixture as peer

import emkit


def collectable(func: Callable[..., Any]) -> Callable[..., Any]:
    """A copy of the peer's test function that pytest collects in this module.

    The copy shares the peer module's globals (so replacing ``GaussianMixture``
    there reaches it); its marks are re-applied with generator arguments turned
    into tuples (pytest refuses to parametrize over a generator).
    """
    copy = types.FunctionType(func.__code__, func.__globals__, func.__name__,
                              func.__defaults__, func.__closure__)
    copy.__doc__ = func.__doc__
    for mark in reversed(getattr(func, "pytestmark", [])):
        args = tuple(tuple(a) if isinstance(a, types.GeneratorType) else a for a in mark.args)
        copy = getattr(pytest.mark, mark.name)(*args, **mark.kwargs)(copy)
    return copy


for _name in sorted(vars(peer)):
    if _name.startswith("test_") and callable(vars(peer)[_name]):
        globals()[_name] = collectable(vars(peer)[_name])


@pytest.fixture(autouse=True)
def _emkit_gaussian_mixture(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(peer, "GaussianMixture", emkit.GaussianMixture)


def test_harness_runs_emkit() -> None:
    """The replacement reaches the peer's tests (else they would test scikit-learn)."""
    assert peer.GaussianMixture is emkit.GaussianMixture
