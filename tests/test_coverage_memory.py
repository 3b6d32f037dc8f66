"""The in-memory backend helpers: row counting, chunking and sequences at the edges."""

from __future__ import annotations

import numpy as np
import pytest

import emkit
from emkit.backends.memory import (
    InMemoryModel,
    Sequences,
    iter_chunks,
    n_rows,
    split_sequences,
)
from emkit.engine.rows import size_hint
from emkit.examples.textbook import NormalMixture1D


class Rows:
    """Data known only by its length."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n


def test_row_counts_of_plain_containers_and_their_refusals():
    assert n_rows(Rows(7)) == 7
    assert n_rows(Sequences(np.zeros((5, 2)), [2, 3])) == 5
    with pytest.raises(ValueError, match="different numbers of rows"):
        n_rows((np.zeros(3), np.zeros(4)))
    with pytest.raises(ValueError, match="cannot tell the number of rows"):
        n_rows(3.5)
    # a splitter sizes uneven containers by their longest member
    assert size_hint((np.zeros(3), np.zeros(4))) == 4
    with pytest.raises(ValueError, match="cannot tell"):
        size_hint(object())


def test_empty_data_is_one_chunk_and_sequences_split_whole():
    empty = np.empty((0, 2))
    chunks = list(iter_chunks(empty, 10))
    assert len(chunks) == 1 and chunks[0].shape == (0, 2)
    seqs = Sequences(np.arange(10.0)[:, None], [3, 3, 4])
    assert len(seqs) == 10 and seqs.n_rows == 10
    pieces = list(iter_chunks(seqs, 4))
    assert sum(p.n_rows for p in pieces) == 10
    assert all(p.lengths.sum() == p.n_rows for p in pieces)
    nothing = Sequences(np.empty((0, 1)), np.array([], dtype=np.int64))
    assert split_sequences(nothing, 3) == [nothing]
    with pytest.raises(ValueError, match="sum to the"):
        Sequences(np.zeros((4, 1)), [1, 1])


def test_in_memory_model_is_the_model():
    model = NormalMixture1D()
    wrapped = InMemoryModel(model)
    x = np.random.default_rng(0).normal(size=50)
    init = {"weights": np.array([0.5, 0.5]), "means": np.array([-1.0, 1.0]),
            "variances": np.array([1.0, 1.0])}
    a = emkit.em(model, x, init, tol=1e-10)
    b = emkit.em(wrapped, x, init, tol=1e-10)
    np.testing.assert_array_equal(a.logliks, b.logliks)
    assert wrapped.e_step(x, init)[1] == model.e_step(x, init)[1]
    with pytest.raises(AttributeError):
        wrapped.no_such_attribute  # noqa: B018
