"""mclust's hierarchical agglomeration, merge for merge, against R's mclust 6.0.0.

The fixtures (``tests/fixtures/mclust/``, made by ``make_fixtures.R``) hold, for
Old Faithful, thyroid and wreath, the data ``hc()`` agglomerates
(``hcUse = "SVD"``), the ``n - 1`` merges of ``hc(x, "VVV", use = "SVD")`` and
``hclass(hcPairs, G)`` for each G. A brute-force agglomeration written here (every
cluster re-scored from its points at every step) checks the criterion itself.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from emkit.datasets import load_faithful
from emkit.models.mixture.mclust_hc import (
    hc_alpha,
    hc_vvv_pairs,
    hclass,
    mclust_hc_partitions,
    svd_transform,
)
from emkit.models.mixture.mclust_init import hc_partitions

FIXTURES = Path(__file__).parent / "fixtures" / "mclust"
DATASETS = ("faithful", "thyroid", "wreath")


def load(name: str) -> np.ndarray:
    if name == "faithful":
        return load_faithful().to_numpy(float)
    return pd.read_csv(FIXTURES / f"{name}.csv").select_dtypes("number").to_numpy(float)


def fixture(name: str, what: str) -> pd.DataFrame:
    return pd.read_csv(FIXTURES / f"{name}_{what}.csv")


@pytest.mark.parametrize("name", DATASETS)
def test_svd_transform_is_mclusts(name):
    ours = svd_transform(load(name))
    theirs = fixture(name, "hc_data").to_numpy(float)
    assert ours.shape == theirs.shape
    signs = np.sign(np.sum(ours * theirs, axis=0))  # singular vectors: up to sign
    np.testing.assert_allclose(ours * signs, theirs, rtol=0, atol=1e-13)


@pytest.mark.parametrize("name", DATASETS)
def test_merges_are_mclusts(name):
    theirs = fixture(name, "hc_pairs").to_numpy() - 1
    np.testing.assert_array_equal(hc_vvv_pairs(svd_transform(load(name))), theirs)


@pytest.mark.parametrize("name", DATASETS)
def test_partitions_are_mclusts_hclass(name):
    """Every cut equals hclass's labels (minus one), not only up to a permutation."""
    cls = fixture(name, "hclass")
    ks = [int(c[1:]) for c in cls.columns]
    X = load(name)
    for parts in (mclust_hc_partitions(X, ks), hc_partitions(X, ks)[1]):
        for k in ks:
            np.testing.assert_array_equal(parts[k], cls[f"G{k}"].to_numpy() - 1, err_msg=str(k))


def brute_force_merges(Z: np.ndarray) -> list[frozenset]:
    """Greedy agglomeration under the criterion of the module docstring, from scratch."""
    n, p = Z.shape
    alpha = ((Z - Z.mean(axis=0)) ** 2).sum() / (n * p)

    def term(members):
        m = len(members)
        if m == 1:
            return np.log(alpha)
        Y = Z[list(members)]
        W = (Y - Y.mean(axis=0)).T @ (Y - Y.mean(axis=0))
        base = (np.trace(W) + alpha) / m
        if m <= p:
            return m * np.log(base)
        return m * np.log(np.linalg.det(W / m) + base)

    clusters = [frozenset([i]) for i in range(n)]
    merged = []
    while len(clusters) > 1:
        best = None
        for a in range(len(clusters)):
            for b in range(a + 1, len(clusters)):
                u = clusters[a] | clusters[b]
                cost = term(u) - term(clusters[a]) - term(clusters[b])
                if best is None or cost < best[0]:
                    best = (cost, a, b)
        _, a, b = best
        union = clusters[a] | clusters[b]
        clusters = [c for i, c in enumerate(clusters) if i not in (a, b)] + [union]
        merged.append(union)
    return merged


def merged_sets(pairs: np.ndarray, n: int) -> list[frozenset]:
    members = {i: frozenset([i]) for i in range(n)}
    out = []
    for a, b in pairs:
        members[a] = members[a] | members.pop(b)
        out.append(members[a])
    return out


@pytest.mark.parametrize("seed,p", [(0, 2), (1, 3), (2, 4)])
def test_exact_criterion_matches_a_brute_force_agglomeration(seed, p):
    rng = np.random.default_rng(seed)
    centres = rng.normal(0, 4, size=(3, p))
    X = centres[rng.integers(3, size=36)] + rng.normal(size=(36, p)) * rng.uniform(0.3, 2, p)
    Z = svd_transform(X)
    assert merged_sets(hc_vvv_pairs(Z, as_mclust=False), 36) == brute_force_merges(Z)


def test_wreath_parts_from_the_true_criterion_only_where_mclust_misreads_its_factors():
    """mclust's Fortran reads back each stored cluster's factor as copies of its first
    row; on wreath that changes the last three merges, where the determinants have
    grown. emkit's default reproduces mclust; ``as_mclust=False`` scores the true
    scatter matrices and then merges the pair that truly costs least."""
    Z = fixture("wreath", "hc_data").to_numpy(float)
    theirs = fixture("wreath", "hc_pairs").to_numpy() - 1
    exact = hc_vvv_pairs(Z, as_mclust=False)
    np.testing.assert_array_equal(exact[:996], theirs[:996])
    assert not np.array_equal(exact[996], theirs[996])
    alpha = hc_alpha(Z)
    label = np.arange(len(Z))
    for i, j in theirs[:996]:
        label[label == j] = i  # the four clusters both programs hold at this point

    def term(idx):
        Y = Z[idx]
        W = (Y - Y.mean(axis=0)).T @ (Y - Y.mean(axis=0))
        return len(idx) * np.log(np.linalg.det(W / len(idx)) + (np.trace(W) + alpha) / len(idx))

    def cost(a, b):
        pa, pb = np.flatnonzero(label == a), np.flatnonzero(label == b)
        return term(np.concatenate([pa, pb])) - term(pa) - term(pb)

    assert cost(*exact[996]) < cost(*theirs[996]) - 0.5  # 442.605 against 443.117


def test_hclass_checks_its_cuts():
    pairs = hc_vvv_pairs(svd_transform(load("faithful")))
    assert hclass(pairs, 272, [1])[1].max() == 0
    assert np.array_equal(hclass(pairs, 272, [272])[272], np.arange(272))
    with pytest.raises(ValueError, match="cannot cut 272 points into 273"):
        hclass(pairs, 272, [273])


def test_degenerate_columns_are_dropped_before_the_tree():
    """A constant column and a copied column carry no direction: mclust's scale()
    would give a NaN column and a zero singular value; both are dropped here."""
    X = load("faithful")
    wide = np.column_stack([X, np.full(len(X), 3.0), X[:, 0]])
    Z = svd_transform(wide)
    assert Z.shape == (272, 2) and np.all(np.isfinite(Z))
    assert len(np.unique(hc_partitions(wide, [3])[1][3])) == 3
    assert svd_transform(np.ones((5, 2))).shape == (5, 0)
    same = hc_partitions(np.ones((5, 2)), [2])[1][2]  # nothing to tell apart: any split
    assert sorted(np.bincount(same)) != [0, 5] and same.shape == (5,)
