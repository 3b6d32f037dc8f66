"""Time the Gaussian-mixture E-step kernels at one shape, optionally against another build.

Run: ``python benchmarks/time_gaussian_estep.py [--against PATH]``. Times
``GaussianMixtureModel.e_step`` and ``log_prob_rows`` on (200,000 x 8, K=8) data
of ordinary, well-separated clusters (``full`` and ``diag``), the median of 5
calls each. ``--against`` names a directory holding another copy of the package
as ``emkit_old`` (e.g. ``git archive`` of an earlier commit): both are timed in
this one process, interleaved, and the ratio new / old is printed. Not part of
``run_all.py``: it measures one kernel, not a workload. Make the other copy with::

    mkdir -p /tmp/old && git archive COMMIT src/emkit | tar -x -C /tmp/old
    mv /tmp/old/src/emkit /tmp/old/emkit_old

Measured on 2 shared cores, pinned to one (``taskset -c 1``, ``--repeats 15``),
centring groups (fe0984c) against the commit before: e_step full 1.007 / 1.010,
diag 1.029 / 1.015; log_prob_rows full 0.997 / 1.010, diag 1.019 / 1.003.
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

N, D, K = 200_000, 8, 8


def problem(covariance_type: str, spread: float = 6.0, seed: int = 0):
    """K clusters ``spread`` standard deviations apart, and parameters near them."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(K, D))
    labels = rng.integers(K, size=N)
    X = rng.standard_normal((N, D)) * rng.uniform(0.5, 1.5, (K, D))[labels] + centres[labels]
    means = centres + 0.1 * rng.standard_normal((K, D))
    if covariance_type == "full":
        a = 0.3 * rng.standard_normal((K, D, D))
        cov = a @ a.transpose(0, 2, 1) + np.eye(D)
    else:
        cov = rng.uniform(0.5, 1.5, (K, D))
    params = {"weights": np.full(K, 1.0 / K), "means": means, "covariances": cov}
    return np.ascontiguousarray(X), params


def interleaved_medians(calls: dict, repeats: int = 5) -> dict:
    """Median seconds of each call, the calls taking turns so that a change in the
    machine's load hits all of them alike."""
    for fn in calls.values():
        fn()  # compile, warm the caches
    times: dict = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--against", default=None)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    builds = {"new": importlib.import_module("emkit.models.mixture.gaussian")}
    if args.against:
        sys.path.insert(0, args.against)
        builds["old"] = importlib.import_module("emkit_old.models.mixture.gaussian")
    for ctype in ("full", "diag"):
        X, params = problem(ctype)
        for what in ("e_step", "log_prob_rows"):
            calls = {}
            for name, module in builds.items():
                call = getattr(module.GaussianMixtureModel(ctype), what)
                calls[name] = lambda c=call, x=X, p=params: c(x, p)
            seconds = interleaved_medians(calls, args.repeats)
            line = "  ".join(f"{k} {v * 1e3:7.2f} ms" for k, v in seconds.items())
            ratio = f"  new/old {seconds['new'] / seconds['old']:.3f}" if "old" in seconds else ""
            print(f"{ctype:5s} {what:14s} {line}{ratio}")


if __name__ == "__main__":
    main()
