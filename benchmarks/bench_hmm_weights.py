"""Per-sequence sample_weight in the HMM E-step: uneven weights against unit weights.

Run ``python benchmarks/bench_hmm_weights.py [--quick]``. A diagonal GaussianHMM
with 8 states on 100 sequences x 1000 frames of 8 features; one E-step of the
model a fit builds, timed with no weights, with every weight 1 and with 100
different weights (uniform on [0.5, 2]). The kernel weights each sequence's
posteriors and transition counts as it writes them, so uneven weights should
cost what unit weights cost. For comparison, the same uneven weights with one
E-step call per sequence, the blocking used before the kernel took weights
(one weight per block: blocks of one sequence, each below the size at which
the kernels go parallel). Medians of 5 in this one process, the cases
interleaved so that a busy spell of the machine falls on all of them.
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table

K, D = 8, 8


def _data(n_seq: int, n_steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    from bench_hmm import _chain

    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(K, D))
    states = _chain(rng, n_seq, n_steps, K).ravel()
    return means[states] + rng.normal(size=(len(states), D)), np.full(n_seq, n_steps)


def main(quick: bool = False) -> str:
    import emkit
    from emkit.engine.stats import tree_add
    from emkit.models.hmm.model import Sequences

    n_seq, n_steps = (20, 500) if quick else (100, 1000)
    X, lengths = _data(n_seq, n_steps)
    est = emkit.GaussianHMM(K, "diag", n_iter=1, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", emkit.ConvergenceWarning)
        est.fit(X, lengths)
    params = est._current_params()
    model = est._model(X, params, total_rows=len(X))
    uneven = np.random.default_rng(1).uniform(0.5, 2.0, n_seq)
    data = {"none": Sequences(X, lengths), "unit": Sequences(X, lengths, np.ones(n_seq)),
            "uneven": Sequences(X, lengths, uneven)}
    pieces = [data["uneven"].subset([s]) for s in range(n_seq)]

    def per_sequence() -> tuple[dict, float]:
        parts = [model.e_step(p, params) for p in pieces]
        stats = parts[0][0]
        for s, _ in parts[1:]:
            stats = tree_add(stats, s)
        return stats, sum(ll for _, ll in parts)

    cases = {name: (lambda d=d: model.e_step(d, params)) for name, d in data.items()}
    cases["uneven, one call per sequence"] = per_sequence
    for fn in cases.values():  # compile and warm the caches
        fn()
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(5):
        for name, fn in cases.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    med = {name: median(t) for name, t in times.items()}
    rows = [[name, f"{med[name] * 1e3:.1f}", f"{med[name] / med['unit']:.2f}"]
            for name in cases]
    table = markdown_table(["weights", "ms per E-step", "/ unit weights"], rows)
    return (
        "## HMM sample_weight: uneven against unit weights\n\n"
        f"Diagonal GaussianHMM, {K} states, {D} features, {n_seq} x {n_steps} frames; "
        "one E-step, median of 5 in one process.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
