"""emkit.GaussianMixture against scikit-learn's GaussianMixture on small data.

Run ``python benchmarks/bench_small_gaussian.py`` (about a minute) or
``--quick`` (fewer repeats). Prints a Markdown section; :func:`main` returns it.

What is measured (both sides in this one process, alternating)
--------------------------------------------------------------
* **Whole fit, 1,000 rows, K = 3** (2-D and 5-D overlapping clusters): the
  wall time of ``GaussianMixture(3, random_state=seed).fit(X)`` with all other
  defaults, initialization (k-means) included, with one BLAS/OpenMP thread
  (``threadpoolctl``) and with the default threads. Both sides are warmed up
  first (emkit's compiled kernels load from numba's cache then). The emkit and
  scikit-learn fits alternate; the figure is the median of each side's times,
  and the ratio is emkit's median over scikit-learn's.
* **Per iteration, 100,000 x 2, K = 3**: seconds per EM iteration (E-step +
  M-step) from identical initial parameters, scikit-learn through its own
  ``_e_step``/``_m_step``, emkit through its model's ``e_step``/``m_step``
  (as :func:`bench_gaussian_mixture.per_iteration`, in this process). Five
  runs of 20 iterations; each run's ratio is emkit's median iteration over
  scikit-learn's, and the table gives the min/median/max of the five ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
import warnings
from pathlib import Path

from sklearn.mixture import GaussianMixture as SkGaussianMixture
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table
from bench_gaussian_mixture import overlapping, per_iteration
from emkit import GaussianMixture


def whole_fit(n: int, d: int, k: int, repeats: int, threads: int | None) -> dict:
    """Median wall seconds of a default ``fit`` on each side, alternating."""
    X = overlapping(n, d, k)
    sides = {"emkit": GaussianMixture, "sklearn": SkGaussianMixture}
    times: dict[str, list[float]] = {name: [] for name in sides}
    fitted: dict = {}
    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore")
        for cls in sides.values():  # warm-up
            cls(k, random_state=0).fit(X)
        for rep in range(repeats):
            for name, cls in sides.items():
                start = time.perf_counter()
                fitted[name] = cls(k, random_state=rep).fit(X)
                times[name].append(time.perf_counter() - start)
    emkit_s = statistics.median(times["emkit"])
    sk_s = statistics.median(times["sklearn"])
    return {"emkit_s": emkit_s, "sklearn_s": sk_s, "ratio": emkit_s / sk_s,
            "emkit_iter": fitted["emkit"].n_iter_, "sklearn_iter": fitted["sklearn"].n_iter_,
            "ll_diff": abs(fitted["emkit"].lower_bound_ - fitted["sklearn"].lower_bound_)}


def iteration_runs(runs: int, n_iter: int) -> list[dict]:
    """``runs`` per-iteration measurements at (100,000 x 2, K = 3), full covariances."""
    return [per_iteration("full", 100_000, 2, 3, n_iter) for _ in range(runs)]


def main(quick: bool = False) -> str:
    repeats = 15 if quick else 41
    fits = []
    for d in (2, 5):
        for threads in (1, None):
            res = whole_fit(1000, d, 3, repeats, threads)
            fits.append([f"1,000 x {d}", "1" if threads == 1 else "default",
                         f"{res['emkit_s'] * 1e3:.2f}", f"{res['sklearn_s'] * 1e3:.2f}",
                         f"{res['ratio']:.2f}x", f"{res['emkit_iter']} / {res['sklearn_iter']}"])
    runs = iteration_runs(5, 10 if quick else 20)
    ratios = [r["emkit_float64_s"] / r["sklearn_s"] for r in runs]
    per = [[i + 1, f"{r['emkit_float64_s'] * 1e3:.3f}", f"{r['sklearn_s'] * 1e3:.3f}",
            f"{ratio:.3f}x", f"{abs(r['emkit_float64_ll'] - r['sklearn_ll']):.1e}"]
           for i, (r, ratio) in enumerate(zip(runs, ratios, strict=True))]
    lo, mid, hi = min(ratios), statistics.median(ratios), max(ratios)
    lines = [
        "## GaussianMixture on small data",
        "",
        "emkit and scikit-learn side by side in one process (see "
        "`benchmarks/bench_small_gaussian.py`); the machine was shared with other "
        "work, so single figures move between runs.",
        "",
        f"**Whole `fit`, K = 3, 1,000 rows** (default settings, k-means initialization "
        f"included; median of {repeats} alternating fits per side, seeds 0..{repeats - 1}):",
        "",
        markdown_table(["data", "threads", "emkit ms", "scikit-learn ms", "ratio",
                        "iterations (last seed)"], fits),
        "",
        f"**Per EM iteration, 100,000 x 2, K = 3, full** (same start, median "
        f"iteration of each run): ratio min / median / max over 5 runs "
        f"**{lo:.3f}x / {mid:.3f}x / {hi:.3f}x**.",
        "",
        markdown_table(["run", "emkit ms", "scikit-learn ms", "ratio",
                        "mean log-lik. difference"], per),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(main(quick=args.quick))
