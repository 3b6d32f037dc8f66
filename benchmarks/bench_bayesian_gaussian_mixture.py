"""emkit.BayesianGaussianMixture against scikit-learn's, side by side, one process.

Run ``python benchmarks/bench_bayesian_gaussian_mixture.py`` (1,000,000 x 16,
K = 16, full) or ``--rows N`` for a smaller size. Prints a Markdown section;
:func:`main` returns it.

What is measured
----------------
Seconds per variational EM iteration (E-step + M-step) from identical initial
parameters: scikit-learn through its own ``_e_step``/``_m_step`` on a fitted
copy, emkit through its model's ``e_step``/``m_step``. Both start from the
same ``random_from_data`` initialization (the estimator reproduces
scikit-learn's draws); the final lower bounds are printed to show both walked
the same path. The ratio is the median emkit iteration over the median
scikit-learn iteration.
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.mixture import BayesianGaussianMixture as SkBGM

from emkit.estimators.bayesian_gaussian_mixture import BayesianGaussianMixture

try:
    from _common import markdown_table
except ImportError:  # imported as benchmarks.bench_bayesian_gaussian_mixture
    from benchmarks._common import markdown_table


def _data(n: int, d: int, k: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(k, d))
    labels = rng.integers(k, size=n)
    return centres[labels] + rng.normal(size=(n, d))


def measure(n: int, d: int, k: int, covariance_type: str, iters: int) -> dict:
    """Median seconds per iteration of each side and their final lower bounds."""
    X = _data(n, d, k)
    kw = dict(n_components=k, covariance_type=covariance_type, init_params="random_from_data",
              random_state=0, max_iter=1, tol=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = SkBGM(**kw)
        sk._check_parameters(X)
        sk._initialize_parameters(X, np.random.RandomState(0))
        ours = BayesianGaussianMixture(**kw)
        ours._validate_X(X, reset=True)
        ours._check_parameters(X)
        from emkit.estimators._bgm_init import initial_stats
        model = ours._make_model(len(X))
        params = model.m_step(initial_stats(ours, X, np.random.RandomState(0)))
    sk_times, em_times = [], []
    sk_bound = em_bound = float("nan")
    for _ in range(iters):
        t = time.perf_counter()
        _, log_resp = sk._e_step(X)
        sk._m_step(X, log_resp)
        sk_times.append(time.perf_counter() - t)
        sk_bound = float(np.squeeze(sk._compute_lower_bound(log_resp, 0.0)))
        t = time.perf_counter()
        stats, _ = model.e_step(X, params)
        params = model.m_step(stats)
        em_times.append(time.perf_counter() - t)
        em_bound = model.lower_bound(params)
    return {"sk": float(np.median(sk_times)), "em": float(np.median(em_times)),
            "sk_bound": sk_bound, "em_bound": em_bound}


def main(quick: bool = False, rows: int | None = None, d: int = 16, k: int = 16,
         iters: int = 5) -> str:
    """The Markdown section (``quick``: 100,000 rows instead of 1,000,000)."""
    if rows is None:
        rows = 100_000 if quick else 1_000_000
    out = []
    for kind in ("full", "diag"):
        r = measure(rows, d, k, kind, iters)
        out.append([kind, f"{rows:,} x {d}, K={k}", f"{r['sk']:.3f}", f"{r['em']:.3f}",
                    f"{r['em'] / r['sk']:.3f}x", f"{r['sk_bound']:.6f}", f"{r['em_bound']:.6f}"])
    text = ("## BayesianGaussianMixture: emkit vs scikit-learn, seconds per iteration\n\n"
            "Same `random_from_data` start, median of the iterations of each; the lower bounds "
            "after the last iteration show both walked the same path. Target: <= 0.1x at "
            "1,000,000 x 16, K = 16, full.\n\n" + markdown_table(
                ["covariance", "size", "scikit-learn s", "emkit s", "ratio", "sklearn bound",
                 "emkit bound"], out)
            + "\n\nFrom `python benchmarks/bench_bayesian_gaussian_mixture.py`, one run.\n")
    print(text)
    return text


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--iters", type=int, default=5)
    args = parser.parse_args()
    main(rows=args.rows, iters=args.iters)
