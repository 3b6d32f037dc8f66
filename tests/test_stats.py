"""Tree helpers for statistics and parameters."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pytest

from emkit.engine.stats import (
    tree_add,
    tree_flatten,
    tree_leaves,
    tree_map,
    tree_max_abs_diff,
    tree_scale,
    tree_sum,
)

Pair = namedtuple("Pair", "a b")


@dataclass(frozen=True)
class Box:
    value: np.ndarray
    count: float


def sample_tree(offset: float = 0.0):
    return {
        "w": np.arange(3.0) + offset,
        "nested": (1.0 + offset, [np.ones((2, 2)) * offset]),
        "pair": Pair(np.array([offset]), 2.0),
        "box": Box(np.zeros(2) + offset, 4.0),
    }


def test_add_sums_leafwise_and_keeps_structure():
    total = tree_add(sample_tree(1.0), sample_tree(2.0))
    np.testing.assert_array_equal(total["w"], np.arange(3.0) * 2 + 3)
    assert total["nested"][0] == 5.0
    assert isinstance(total["pair"], Pair) and isinstance(total["box"], Box)
    np.testing.assert_array_equal(total["box"].value, [3.0, 3.0])


def test_sum_equals_repeated_add_and_refuses_empty():
    trees = [sample_tree(float(i)) for i in range(4)]
    expected = tree_add(tree_add(trees[0], trees[1]), tree_add(trees[2], trees[3]))
    assert tree_max_abs_diff(tree_sum(trees), expected) == 0.0
    with pytest.raises(ValueError, match="empty"):
        tree_sum([])


def test_scale_and_map():
    half = tree_scale(sample_tree(2.0), 0.5)
    assert half["nested"][0] == 1.5
    negated = tree_map(lambda x: -x, {"a": 1.0})
    assert negated == {"a": -1.0}


def test_mismatched_structures_raise():
    with pytest.raises(ValueError, match="structures differ"):
        tree_add([1.0, 2.0], [1.0])


def test_flatten_round_trip_restores_shapes_and_scalars():
    tree = sample_tree(0.5)
    vector, treedef = tree_flatten(tree)
    assert vector.shape == (treedef.size,) == (3 + 1 + 4 + 1 + 1 + 2 + 1,)
    rebuilt = treedef.unflatten(vector)
    assert tree_max_abs_diff(rebuilt, tree) == 0.0
    assert isinstance(rebuilt["nested"][0], float)
    assert rebuilt["nested"][1][0].shape == (2, 2)
    with pytest.raises(ValueError, match="expected a vector of"):
        treedef.unflatten(vector[:-1])


def test_leaves_order_is_stable_and_max_abs_diff_is_the_largest_entry():
    a, b = sample_tree(0.0), sample_tree(0.0)
    b["nested"][1][0][1, 1] = -3.0
    assert tree_max_abs_diff(a, b) == 3.0
    assert len(tree_leaves(a)) == 7
