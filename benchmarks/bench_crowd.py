"""Crowd labels: emkit's DawidSkene, GLAD and MACE versus crowd-kit at 100,000 ratings.

Run: ``python benchmarks/bench_crowd.py [--quick]`` with crowd-kit importable (it is
no dependency of emkit: install it into a separate folder, e.g.
``pip install --target /tmp/ckpkgs crowd-kit --no-deps; pip install --target
/tmp/ckpkgs attrs tqdm nltk`` and run with ``PYTHONPATH=/tmp/ckpkgs``). Without it
only emkit's times are printed. Prints a Markdown section.

Data: 20,000 items (5,000 with ``--quick``), 10 raters of accuracies 0.5-0.9, each
rating an item with probability 0.5 (about 100,000 ratings), 3 classes. Both sides
run the same number of iterations (crowd-kit with ``tol=-inf``, emkit with
``tol=0``), from the same start where the models have one (majority vote for
Dawid-Skene, alpha = beta = 1 for GLAD); MACE runs one start of crowd-kit's
``method="em"``. The agreement column is the largest difference between the two
sides' posterior probabilities.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table, median_seconds
from emkit import GLAD, MACE, DawidSkene
from emkit.exceptions import ConvergenceWarning


def simulate(n_items: int, n_raters: int = 10, n_classes: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.choice(n_classes, n_items, p=[0.5, 0.3, 0.2])
    accuracy = np.linspace(0.9, 0.5, n_raters)
    ratings = np.full((n_items, n_raters), np.nan)
    for r in range(n_raters):
        wrong = (truth + rng.integers(1, n_classes, n_items)) % n_classes
        labels = np.where(rng.random(n_items) < accuracy[r], truth, wrong)
        rated = rng.random(n_items) < 0.5
        ratings[rated, r] = labels[rated]
    ratings[np.isnan(ratings).all(axis=1), 0] = 0.0
    return ratings


def crowdkit_table(ratings: np.ndarray) -> pd.DataFrame:
    """crowd-kit's task/worker/label table, ordered so that pandas factorizes workers and
    labels in sorted order (crowd-kit's MACE indexes by first appearance)."""
    item, rater = np.nonzero(~np.isnan(ratings))
    label = ratings[item, rater].astype(int)
    first = [int(np.flatnonzero((rater == r) & ((label == r) if r < 3 else True))[0])
             for r in range(ratings.shape[1])]
    order = np.r_[first, np.setdiff1d(np.arange(item.size), first)]
    return pd.DataFrame({"task": item[order], "worker": rater[order], "label": label[order]})


def _quiet(fn):
    def run():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return fn()
    return run


def main(quick: bool = False) -> str:
    n_items = 5000 if quick else 20000
    R = simulate(n_items)
    n_ratings = int((~np.isnan(R)).sum())
    try:
        from crowdkit.aggregation import GLAD as CKGLAD  # type: ignore[import-not-found]
        from crowdkit.aggregation import MACE as CKMACE
        from crowdkit.aggregation import DawidSkene as CKDS
        table = crowdkit_table(R)
    except ImportError:
        CKDS = CKGLAD = CKMACE = None
    iters = {"DawidSkene": 20, "GLAD": 3, "MACE": 20}
    cases = {
        "DawidSkene": (
            lambda: DawidSkene(smoothing=0.0, tol=0.0, max_iter=iters["DawidSkene"] - 1).fit(R),
            lambda: CKDS(n_iter=iters["DawidSkene"], tol=-np.inf).fit(table)),
        "GLAD": (lambda: GLAD(tol=0.0, max_iter=iters["GLAD"] - 1).fit(R),
                 lambda: CKGLAD(n_iter=iters["GLAD"], tol=-np.inf).fit(table)),
        "MACE": (lambda: MACE(tol=0.0, max_iter=iters["MACE"], n_restarts=1,
                              random_state=0).fit(R),
                 lambda: CKMACE(method="em", n_restarts=1, n_iter=iters["MACE"],
                                random_state=0).fit(table)),
    }
    rows = []
    for name, (ours, theirs) in cases.items():
        t_ours, est = median_seconds(_quiet(ours), repeats=3)
        if CKDS is None:
            rows.append([name, iters[name], f"{t_ours:.3f}", "-", "-", "-"])
            continue
        t_theirs, ck = median_seconds(theirs, repeats=3)
        proba = ck.probas_.reindex(index=range(n_items), columns=range(3)).to_numpy()
        diff = "different starts" if name == "MACE" else \
            f"{np.abs(est.posteriors_ - proba).max():.1e}"
        rows.append([name, iters[name], f"{t_ours:.3f}", f"{t_theirs:.2f}",
                     f"{t_ours / t_theirs:.3f}", diff])
    header = ["model", "iterations", "emkit s", "crowd-kit s", "emkit / crowd-kit",
              "max |posterior difference|"]
    return (
        f"## Crowd labels: DawidSkene, GLAD, MACE vs crowd-kit\n\n"
        f"{n_items} items, 10 raters, 3 classes, {n_ratings} ratings; equal iteration "
        "counts on both sides (emkit's posteriors after N - 1 iterations are crowd-kit's "
        "probas_ after N, which come from the E-step before the last M-step). Both times "
        "are medians of 3 fits, side by side in one process. GLAD's conjugate-gradient "
        "M-steps amplify rounding from one iteration to the next, so its posteriors agree to "
        "about 1e-8 after 3 iterations (1e-10 after one; tests/test_crowd_glad_mace.py). "
        "MACE runs one start each, from each library's own random start.\n\n"
        + markdown_table(header, rows) + "\n"
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
