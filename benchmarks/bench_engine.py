"""Plain EM versus SQUAREM on slowly converging problems.

Run: ``python benchmarks/bench_engine.py [--quick]``. Prints a Markdown section.
"""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

import emkit
from _common import markdown_table, median_seconds
from emkit.examples.textbook import (
    LINKAGE_COUNTS,
    GeneticLinkage,
    NormalMixture1D,
    TwoCoins,
)


def problems(quick: bool):
    n = 1000 if quick else 5000
    rng = np.random.default_rng(0)
    mixture = np.r_[rng.normal(0.0, 1.0, n), rng.normal(1.0, 1.0, n)]
    mixture_init = {"weights": np.array([0.5, 0.5]), "means": np.array([-0.5, 1.5]),
                    "variances": np.array([1.0, 1.0])}
    coins = np.array([[5, 10], [9, 10], [8, 10], [4, 10], [7, 10]], dtype=float)
    return [
        ("genetic linkage (DLR 1977)", GeneticLinkage(), LINKAGE_COUNTS, 0.5,
         {"tol": 1e-14, "param_tol": 1e-12}),
        ("two coins (Do & Batzoglou 2008)", TwoCoins(), coins, (0.6, 0.5),
         {"tol": 1e-14, "param_tol": 1e-10}),
        (f"slowly separating 1-D normal mixture, N={2 * n}", NormalMixture1D(), mixture,
         mixture_init, {"tol": 1e-9}),
    ]


def main(quick: bool = False) -> str:
    rows = []
    repeats = 3 if quick else 5
    for name, model, data, init, kw in problems(quick):
        out = {}
        for acc in (None, "squarem"):
            with warnings.catch_warnings():
                warnings.simplefilter("error", emkit.MonotonicityWarning)
                seconds, result = median_seconds(
                    lambda m=model, x=data, i=init, a=acc, k=kw: emkit.em(
                        m, x, i, max_iter=1_000_000, accelerate=a, **k),
                    repeats,
                )
            out[acc] = (seconds, result)
        (tp, rp), (ts, rs) = out[None], out["squarem"]
        rows.append([
            name, rp.n_iter, rp.n_estep, f"{tp * 1e3:.2f}", rs.n_iter, rs.n_estep,
            f"{ts * 1e3:.2f}", f"{rs.n_estep / rp.n_estep:.3f}", f"{ts / tp:.3f}",
            f"{rs.loglik - rp.loglik:+.2e}",
        ])
    table = markdown_table(
        ["problem", "EM iters", "EM E-steps", "EM ms", "SQUAREM cycles", "SQUAREM E-steps",
         "SQUAREM ms", "E-step ratio", "time ratio", "loglik diff"],
        rows,
    )
    return (
        "## Engine: plain EM vs SQUAREM\n\n"
        f"Median of {repeats} runs each, same start, both run to convergence; ratios are "
        "SQUAREM / plain EM (lower is better); `loglik diff` is SQUAREM minus plain EM at "
        "the end.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
