"""Helpers for additive sufficient statistics and parameter trees.

Parameters and statistics are *trees*: a number, a NumPy array, or a dict / tuple /
list / dataclass of trees. The engine never looks inside a model's trees except
through these helpers: it adds statistics, flattens parameters into one vector to
measure their change or to extrapolate them (SQUAREM), and rebuilds the tree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

__all__ = [
    "tree_add",
    "tree_sum",
    "tree_scale",
    "tree_map",
    "tree_leaves",
    "tree_flatten",
    "TreeDef",
    "tree_max_abs_diff",
]


def _is_namedtuple(x: Any) -> bool:
    return isinstance(x, tuple) and hasattr(x, "_fields")


def tree_map(fn: Callable[..., Any], tree: Any, *others: Any) -> Any:
    """Apply ``fn`` leaf by leaf to one or more trees of the same structure."""
    if isinstance(tree, dict):
        return {k: tree_map(fn, v, *(o[k] for o in others)) for k, v in tree.items()}
    if _is_namedtuple(tree):
        return type(tree)._make(tree_map(fn, *parts) for parts in zip(tree, *others, strict=True))
    if isinstance(tree, (tuple, list)):
        for o in others:
            if len(o) != len(tree):
                raise ValueError(f"tree structures differ: length {len(tree)} vs {len(o)}")
        return type(tree)(tree_map(fn, *parts) for parts in zip(tree, *others, strict=True))
    if dataclasses.is_dataclass(tree) and not isinstance(tree, type):
        changes = {
            f.name: tree_map(fn, getattr(tree, f.name), *(getattr(o, f.name) for o in others))
            for f in dataclasses.fields(tree)
        }
        return dataclasses.replace(tree, **changes)
    return fn(tree, *others)


def tree_leaves(tree: Any) -> list[Any]:
    """The leaves of ``tree`` in a fixed depth-first order."""
    leaves: list[Any] = []
    tree_map(leaves.append, tree)
    return leaves


def tree_add(a: Any, b: Any) -> Any:
    """Leafwise sum of two statistics trees (the E-step over two pieces of data)."""
    return tree_map(lambda x, y: x + y, a, b)


def tree_sum(trees: Iterable[Any]) -> Any:
    """Sum an iterable of statistics trees; raises ``ValueError`` when it is empty."""
    total = None
    for t in trees:
        total = t if total is None else tree_add(total, t)
    if total is None:
        raise ValueError("cannot sum an empty sequence of statistics")
    return total


def tree_scale(tree: Any, factor: float) -> Any:
    """Multiply every leaf by ``factor`` (used by online EM's running averages)."""
    return tree_map(lambda x: x * factor, tree)


@dataclasses.dataclass(frozen=True)
class TreeDef:
    """How to rebuild a tree from a flat vector (see :func:`tree_flatten`)."""

    template: Any
    shapes: tuple[tuple[int, ...], ...]
    scalar: tuple[bool, ...]

    @property
    def size(self) -> int:
        return int(sum(int(np.prod(s)) for s in self.shapes))

    def unflatten(self, vector: np.ndarray) -> Any:
        """Rebuild a tree with the template's structure from ``vector``."""
        vector = np.asarray(vector, dtype=float)
        if vector.shape != (self.size,):
            raise ValueError(f"expected a vector of {self.size} values, got shape {vector.shape}")
        pieces = iter(range(len(self.shapes)))
        offsets = np.cumsum([0] + [int(np.prod(s)) for s in self.shapes])

        def rebuild(_leaf: Any) -> Any:
            i = next(pieces)
            chunk = vector[offsets[i] : offsets[i + 1]]
            if self.scalar[i]:
                return float(chunk[0])
            return chunk.reshape(self.shapes[i]).copy()

        return tree_map(rebuild, self.template)


def tree_flatten(tree: Any) -> tuple[np.ndarray, TreeDef]:
    """Concatenate all leaves of ``tree`` into one float vector.

    Returns the vector and a :class:`TreeDef` whose ``unflatten`` inverts this.
    """
    leaves = tree_leaves(tree)
    arrays = [np.asarray(leaf, dtype=float) for leaf in leaves]
    shapes = tuple(a.shape for a in arrays)
    scalar = tuple(np.ndim(leaf) == 0 and not isinstance(leaf, np.ndarray) for leaf in leaves)
    vector = np.concatenate([a.ravel() for a in arrays]) if arrays else np.zeros(0)
    return vector, TreeDef(template=tree, shapes=shapes, scalar=scalar)


def tree_max_abs_diff(a: Any, b: Any) -> float:
    """Largest absolute leafwise difference ``max |a - b|`` between two trees."""
    diffs = [
        float(np.max(np.abs(np.asarray(x, dtype=float) - np.asarray(y, dtype=float)), initial=0.0))
        for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True)
    ]
    return max(diffs, default=0.0)
