"""Dawid-Skene statistics stay right when a freed data value's id is reused.

The model once cached the rating incidence matrices keyed by ``id(data)``; once
a data value was freed, the next one allocated at the same address got the old
matrices and wrong confusion counts.
"""

from __future__ import annotations

import numpy as np

import emkit.models.crowd.dawid_skene as ds
from emkit.models.crowd.dawid_skene import DawidSkeneEM, Ratings

N_ITEMS, N_RATERS, N_CLASSES, N_RATINGS = 40, 4, 3, 120


def rating_columns(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return (rng.integers(0, N_ITEMS, N_RATINGS), rng.integers(0, N_RATERS, N_RATINGS),
            rng.integers(0, N_CLASSES, N_RATINGS))


def make_ratings(seed: int) -> Ratings:
    return Ratings(*rating_columns(seed), N_ITEMS, N_RATERS, N_CLASSES)


def reference_counts(data: Ratings, post: np.ndarray) -> np.ndarray:
    """``confusion_counts[r, c, l]``: the sum of ``post[i, c]`` over ratings (i, r, l)."""
    counts = np.zeros((data.n_raters, data.n_classes, data.n_classes))
    for i, r, lab in zip(data.item, data.rater, data.label, strict=True):
        counts[r, :, lab] += post[i]
    return counts


POST = np.random.default_rng(99).dirichlet(np.ones(N_CLASSES), size=N_ITEMS)


def test_counts_right_after_a_freed_data_id_is_reused():
    model = DawidSkeneEM(N_RATERS, N_CLASSES)
    first = make_ratings(0)
    np.testing.assert_allclose(model.stats_from_posteriors(first, POST)["confusion_counts"],
                               reference_counts(first, POST), rtol=1e-12)
    del first
    # each new value is made right after the last is freed, so CPython usually puts
    # it where that one was (not always inside a whole test run, which is why the
    # next test makes every id collide)
    for seed in range(1, 200):
        other = make_ratings(seed)
        np.testing.assert_allclose(model.stats_from_posteriors(other, POST)["confusion_counts"],
                                   reference_counts(other, POST), rtol=1e-12)
        del other


def test_counts_right_when_every_id_collides(monkeypatch):
    """The same check without relying on the allocator: ``id`` made constant."""
    monkeypatch.setattr(ds, "id", lambda obj: 0, raising=False)
    model = DawidSkeneEM(N_RATERS, N_CLASSES)
    for seed in range(3):
        data = make_ratings(seed)
        np.testing.assert_allclose(model.stats_from_posteriors(data, POST)["confusion_counts"],
                                   reference_counts(data, POST), rtol=1e-12)
