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
  and the ratio is emkit's median over scikit-learn's; the min / median / max
  of the fit-by-fit ratios (emkit's fit over the scikit-learn fit right after
  it) and, with one thread, the medians of the CPU time (``time.process_time``)
  are given too.
* **Per iteration, 100,000 x 2, K = 3**: seconds per EM iteration (E-step +
  M-step) from identical initial parameters, scikit-learn through its own
  ``_e_step``/``_m_step``, emkit through its model's ``e_step``/``m_step``.
  Five runs of 20 iterations, each two ways: *interleaved* (iteration ``i`` of
  scikit-learn right before iteration ``i`` of emkit, so a burst of load falls
  on both) and *in blocks* (all of scikit-learn's iterations, then all of
  emkit's, :func:`bench_gaussian_mixture.per_iteration`), and a third way
  *on one core*: interleaved, with the process pinned to one CPU and one
  BLAS/OpenMP thread, timed by CPU time (the machine's other work then moves
  the figures least). Each run's ratio is
  emkit's median iteration over scikit-learn's; the text gives the min/median/max
  of the five ratios of each way. Interleaving costs emkit more than it costs
  scikit-learn: right after scikit-learn's multi-threaded BLAS calls its threads
  still spin on the second core and its arrays have evicted emkit's rows from
  the cache.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture as SkGaussianMixture
from sklearn.utils._array_api import get_namespace
from threadpoolctl import threadpool_limits

sys.path.insert(0, str(Path(__file__).parent))

from _common import markdown_table
from bench_gaussian_mixture import initial, overlapping, per_iteration, sklearn_at
from emkit import GaussianMixture
from emkit.models.mixture.gaussian import GaussianMixtureModel


@contextmanager
def one_core(active: bool = True) -> Iterator[None]:
    """This process pinned to one CPU (so emkit's E-step keeps to one worker thread)
    with one BLAS/OpenMP thread (``threadpoolctl``): both sides on one core."""
    if not active:
        yield
        return
    cpus = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(cpus)})
    try:
        with threadpool_limits(1):
            yield
    finally:
        os.sched_setaffinity(0, cpus)


def whole_fit(n: int, d: int, k: int, repeats: int, threads: int | None) -> dict:
    """Median wall and CPU seconds of a default ``fit`` on each side, alternating."""
    X = overlapping(n, d, k)
    sides = {"emkit": GaussianMixture, "sklearn": SkGaussianMixture}
    times: dict[str, list[float]] = {name: [] for name in sides}
    cpu: dict[str, list[float]] = {name: [] for name in sides}
    fitted: dict = {}
    with warnings.catch_warnings(), threadpool_limits(threads):
        warnings.simplefilter("ignore")
        for cls in sides.values():  # warm-up
            cls(k, random_state=0).fit(X)
        for rep in range(repeats):
            for name, cls in sides.items():
                start, start_cpu = time.perf_counter(), time.process_time()
                fitted[name] = cls(k, random_state=rep).fit(X)
                times[name].append(time.perf_counter() - start)
                cpu[name].append(time.process_time() - start_cpu)
    emkit_s = statistics.median(times["emkit"])
    sk_s = statistics.median(times["sklearn"])
    ratios = [a / b for a, b in zip(times["emkit"], times["sklearn"], strict=True)]
    emkit_cpu, sk_cpu = statistics.median(cpu["emkit"]), statistics.median(cpu["sklearn"])
    return {"emkit_s": emkit_s, "sklearn_s": sk_s, "ratio": emkit_s / sk_s,
            "pair_ratios": (min(ratios), statistics.median(ratios), max(ratios)),
            "emkit_cpu_s": emkit_cpu, "sklearn_cpu_s": sk_cpu, "cpu_ratio": emkit_cpu / sk_cpu,
            "emkit_iter": fitted["emkit"].n_iter_, "sklearn_iter": fitted["sklearn"].n_iter_,
            "ll_diff": abs(fitted["emkit"].lower_bound_ - fitted["sklearn"].lower_bound_)}


def interleaved_iterations(n: int, d: int, k: int, n_iter: int, seed: int,
                           on_one_core: bool = False) -> dict:
    """Median seconds per EM iteration on each side, the sides alternating per iteration.

    Both start from the same parameters (:func:`bench_gaussian_mixture.initial`);
    iteration ``i`` of scikit-learn (``_e_step`` + ``_m_step``) runs right before
    iteration ``i`` of emkit (``m_step`` + ``e_step`` of its model), so a burst
    of load from elsewhere on the machine falls on both sides alike.
    """
    X = overlapping(n, d, k, seed=seed)
    init = initial(X, k, "full", seed=seed + 1)
    sk = sklearn_at(init, "full", X, max_iter=1, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        xp, _ = get_namespace(X)
        sk._check_parameters(X, xp=xp)
        sk._initialize_parameters(X, np.random.RandomState(0), xp=xp)
    model = GaussianMixtureModel("full", 1e-6)
    params = {key: init[key] for key in ("weights", "means", "covariances")}
    stats, _ = model.e_step(X, params)
    sk_times, em_times = [], []
    loglik = float("nan")
    # on one core the CPU time of the process is the measure (less noisy than wall time)
    clock = time.process_time if on_one_core else time.perf_counter
    with one_core(on_one_core):
        for _ in range(n_iter):
            start = clock()
            _, log_resp = sk._e_step(X)
            sk._m_step(X, log_resp)
            sk_times.append(clock() - start)
            start = clock()
            params = model.m_step(stats)
            stats, loglik = model.e_step(X, params)
            em_times.append(clock() - start)
    sk_ll = float(sk._e_step(X)[0])
    return {"sklearn_s": statistics.median(sk_times), "emkit_s": statistics.median(em_times),
            "ll_diff": abs(loglik / n - sk_ll)}


def iteration_runs(runs: int, n_iter: int) -> tuple[list[dict], list[dict], list[dict]]:
    """``runs`` measurements at (100,000 x 2, K = 3), full covariances, each way:
    interleaved iteration by iteration, in blocks (all of scikit-learn's
    iterations, then all of emkit's: :func:`bench_gaussian_mixture.per_iteration`),
    and interleaved on one core (CPU time, :func:`one_core`)."""
    interleaved, blocks, single = [], [], []
    for seed in range(runs):
        interleaved.append(interleaved_iterations(100_000, 2, 3, n_iter, seed))
        res = per_iteration("full", 100_000, 2, 3, n_iter)
        blocks.append({"sklearn_s": res["sklearn_s"], "emkit_s": res["emkit_float64_s"],
                       "ll_diff": abs(res["emkit_float64_ll"] - res["sklearn_ll"])})
        single.append(interleaved_iterations(100_000, 2, 3, n_iter, seed, on_one_core=True))
    return interleaved, blocks, single


def main(quick: bool = False) -> str:
    repeats = 15 if quick else 41
    fits = []
    for d in (2, 5):
        for threads in (1, None):
            res = whole_fit(1000, d, 3, repeats, threads)
            lo, mid, hi = res["pair_ratios"]
            cpu = (f"{res['emkit_cpu_s'] * 1e3:.2f} / {res['sklearn_cpu_s'] * 1e3:.2f} = "
                   f"{res['cpu_ratio']:.2f}x" if threads == 1 else "")
            fits.append([f"1,000 x {d}", "1" if threads == 1 else "default",
                         f"{res['emkit_s'] * 1e3:.2f}", f"{res['sklearn_s'] * 1e3:.2f}",
                         f"{res['ratio']:.2f}x", f"{lo:.2f} / {mid:.2f} / {hi:.2f}", cpu,
                         f"{res['emkit_iter']} / {res['sklearn_iter']}"])
    n_iter = 10 if quick else 20
    interleaved, blocks, single = iteration_runs(5, n_iter)
    summary = {}
    per = []
    for mode, runs in (("interleaved", interleaved), ("blocks", blocks),
                       ("one core, CPU", single)):
        ratios = [r["emkit_s"] / r["sklearn_s"] for r in runs]
        summary[mode] = (min(ratios), statistics.median(ratios), max(ratios))
        per += [[mode, i + 1, f"{r['emkit_s'] * 1e3:.3f}", f"{r['sklearn_s'] * 1e3:.3f}",
                 f"{ratio:.3f}x", f"{r['ll_diff']:.1e}"]
                for i, (r, ratio) in enumerate(zip(runs, ratios, strict=True))]
    (lo, mid, hi), (blo, bmid, bhi) = summary["interleaved"], summary["blocks"]
    slo, smid, shi = summary["one core, CPU"]
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
                        "fit-by-fit ratio min / median / max", "CPU ms emkit / sklearn",
                        "iterations (last seed)"], fits),
        "",
        f"**Per EM iteration, 100,000 x 2, K = 3, full** (same start, the two sides "
        f"alternating iteration by iteration, {n_iter} iterations per run, default "
        f"threads; each run's ratio is emkit's median iteration over scikit-learn's; "
        f"each run draws its own data and start): ratio min / median / max over 5 runs "
        f"**{lo:.3f}x / {mid:.3f}x / {hi:.3f}x**. In blocks (all {n_iter} "
        f"scikit-learn iterations, then all of emkit's, same data and start): "
        f"**{blo:.3f}x / {bmid:.3f}x / {bhi:.3f}x**. On one core (process pinned to one "
        f"CPU, one BLAS thread, CPU time, interleaved): **{slo:.3f}x / {smid:.3f}x / "
        f"{shi:.3f}x**.",
        "",
        markdown_table(["mode", "run", "emkit ms", "scikit-learn ms", "ratio",
                        "mean log-lik. difference"], per),
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    print(main(quick=args.quick))
