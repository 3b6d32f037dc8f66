"""emkit.GaussianMixture against scikit-learn's GaussianMixture, side by side.

Run ``python benchmarks/bench_gaussian_mixture.py`` (about ten minutes, most of
it scikit-learn's default fit at 1,000,000 rows) or ``--quick`` (sizes / 10).
Prints a Markdown section; :func:`main` returns it.

What is measured
----------------
Every measurement runs in a fresh subprocess (see :func:`in_subprocess`).

* **Seconds per EM iteration** (E-step + M-step) from identical initial
  parameters, the same number of iterations on each side, scikit-learn through
  its own ``_e_step``/``_m_step`` and emkit through its model's
  ``e_step``/``m_step``; the final log-likelihoods are compared to show both
  sides walked the same path. Median over the iterations.
* **Arithmetic bound**: the flops an iteration cannot avoid divided by the
  float64 matrix-multiply rate measured in this run. Flops: ``full``
  ``2 N K D^2`` (whitening with a triangular factor, N K D^2, plus a symmetric
  weighted Gram, N K D^2: the issue's convention); ``diag`` ``8 N K D`` (two
  N x D x K products for the densities, two for the statistics).
* **Peak memory** of a fit (3 iterations from the same initial parameters), each
  side in a fresh subprocess that loads the data from a ``.npy`` file: the peak
  resident set size ``VmHWM`` of ``/proc/self/status`` at the end (the same
  figure as ``getrusage``'s ``ru_maxrss``, which Linux however carries over from
  the parent process across ``exec``), and that minus the resident size once
  the data were loaded (the fit's own peak).
* **SQUAREM**: wall time for emkit with ``accelerate="squarem"`` to reach the
  log-likelihood scikit-learn converges to (default ``tol``, same initial
  parameters), against scikit-learn's fit time, on overlapping clusters. Both
  sides first run once on a few rows, so that neither pays its first-call costs
  (emkit's compiled kernels are loaded from numba's cache then) inside the race.
* **Default fit**: ``fit`` with all defaults (initialization included) on
  overlapping clusters, wall time and final mean log-likelihood.
* **float32**: emkit's per-iteration time in float32 and the log-likelihood
  difference from float64 after the same iterations from the same start.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.mixture import GaussianMixture as SkGaussianMixture

from emkit import GaussianMixture, em
from emkit.models.mixture.gaussian import GaussianMixtureModel

ITER_CASES = [  # (covariance_type, N, D, K)
    ("full", 1_000_000, 16, 16),
    ("full", 200_000, 16, 16),
    ("full", 100_000, 2, 3),
    ("full", 1_000_000, 50, 8),
    ("tied", 1_000_000, 16, 16),
    ("diag", 1_000_000, 16, 16),
]


def overlapping(n: int, d: int, k: int, seed: int = 0, spread: float = 1.5) -> np.ndarray:
    """``k`` Gaussian clusters whose centres are ``spread`` standard deviations apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(0, k, n)
    scales = rng.uniform(0.5, 1.5, (k, d))
    X = rng.standard_normal((n, d))
    X *= scales[labels]
    X += centres[labels]
    return X


def initial(X: np.ndarray, k: int, covariance_type: str, seed: int = 1) -> dict:
    """Shared start: k random rows as means, the data covariance, equal weights."""
    rng = np.random.default_rng(seed)
    d = X.shape[1]
    means = X[rng.choice(len(X), k, replace=False)]
    var = X[:20_000].var(axis=0)
    cov = {"full": np.repeat(np.diag(var)[None], k, axis=0), "tied": np.diag(var),
           "diag": np.repeat(var[None], k, axis=0),
           "spherical": np.full(k, var.mean())}[covariance_type]
    return {"weights": np.full(k, 1.0 / k), "means": means, "covariances": cov,
            "precisions": _precisions(cov, covariance_type), "d": d}


def _precisions(cov: np.ndarray, covariance_type: str) -> np.ndarray:
    if covariance_type == "full":
        return np.stack([np.linalg.inv(c) for c in cov])
    if covariance_type == "tied":
        return np.linalg.inv(cov)
    return 1.0 / cov


def sklearn_at(init: dict, covariance_type: str, X: np.ndarray, **kwargs) -> SkGaussianMixture:
    return SkGaussianMixture(len(init["weights"]), covariance_type=covariance_type,
                             weights_init=init["weights"], means_init=init["means"],
                             precisions_init=init["precisions"], **kwargs)


def gemm_rate() -> float:
    """Best float64 matrix-multiply rate (GFLOP/s) of a few 2000 x 2000 products."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((2000, 2000))
    b = rng.standard_normal((2000, 2000))
    best = np.inf
    for _ in range(4):
        start = time.perf_counter()
        a @ b
        best = min(best, time.perf_counter() - start)
    return 2 * 2000**3 / best / 1e9


def bound_flops(covariance_type: str, n: int, d: int, k: int) -> float:
    return 2.0 * n * k * d * d if covariance_type in ("full", "tied") else 8.0 * n * k * d


def per_iteration(covariance_type: str, n: int, d: int, k: int, n_iter: int,
                  dtype: str = "float64") -> dict:
    """Seconds per iteration for both sides from the same start (see module notes)."""
    X = overlapping(n, d, k)
    init = initial(X, k, covariance_type)
    sk = sklearn_at(init, covariance_type, X, max_iter=1, tol=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from sklearn.utils._array_api import get_namespace

        xp, _ = get_namespace(X)
        sk._check_parameters(X, xp=xp)
        sk._initialize_parameters(X, np.random.RandomState(0), xp=xp)
    sk_times = []
    for _ in range(n_iter):
        start = time.perf_counter()
        _, log_resp = sk._e_step(X)
        sk._m_step(X, log_resp)
        sk_times.append(time.perf_counter() - start)
    sk_ll = float(sk._e_step(X)[0])

    out = {"sklearn_s": float(np.median(sk_times)), "sklearn_ll": float(sk_ll)}
    for kind in ("float64", "float32") if dtype == "both" else (dtype,):
        model = GaussianMixtureModel(covariance_type, 1e-6, dtype=kind)
        data = np.ascontiguousarray(X, dtype=kind)
        params = {key: init[key] for key in ("weights", "means", "covariances")}
        stats, _ = model.e_step(data, params)
        times = []
        for _ in range(n_iter):
            start = time.perf_counter()
            params = model.m_step(stats)
            stats, loglik = model.e_step(data, params)
            times.append(time.perf_counter() - start)
        out[f"emkit_{kind}_s"] = float(np.median(times))
        out[f"emkit_{kind}_ll"] = float(loglik / n)
    return out


_MEMORY_SCRIPT = """
import json, sys, warnings
import numpy as np
sys.path.insert(0, {bench_dir!r})
from bench_gaussian_mixture import initial, sklearn_at
from emkit import GaussianMixture
X = np.load({path!r})
init = initial(X, {k}, "full")
def status(key):
    with open("/proc/self/status") as fh:
        return next(int(l.split()[1]) for l in fh if l.startswith(key + ":"))
before = status("VmRSS")
with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    if {side!r} == "sklearn":
        sklearn_at(init, "full", X, max_iter=3, tol=0).fit(X)
    else:
        GaussianMixture({k}, weights_init=init["weights"], means_init=init["means"],
                        precisions_init=init["precisions"], max_iter=3, tol=0).fit(X)
after = status("VmHWM")
print(json.dumps({{"before_mb": before / 1024, "after_mb": after / 1024}}))
"""


def in_subprocess(call: str) -> dict:
    """Evaluate ``call`` (an expression over this module) in a fresh interpreter.

    Each timing then starts from a clean process: measured here, a small case
    timed right after the 1M-row cases in the same process ran several times
    slower on both sides (BLAS threads and the allocator still busy).
    """
    code = (f"import json, sys; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import bench_gaussian_mixture as b; print(json.dumps(b.{call}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def peak_memory(side: str, path: str, k: int) -> dict:
    """Peak RSS of a fresh process that loads the data from ``path`` and fits."""
    code = _MEMORY_SCRIPT.format(bench_dir=str(Path(__file__).parent), path=path, k=k,
                                 side=side)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def params_of(init: dict) -> dict:
    return {key: init[key] for key in ("weights", "means", "covariances")}


def squarem_race(n: int, d: int, k: int) -> dict:
    """Time for emkit (plain and SQUAREM) to reach scikit-learn's converged loglik."""
    X = overlapping(n, d, k, seed=3, spread=0.5)
    init = initial(X, k, "full", seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sklearn_at(init, "full", X[:50], max_iter=1).fit(X[:50])  # warm-up
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk = sklearn_at(init, "full", X, max_iter=10_000).fit(X)
    sk_time = time.perf_counter() - start
    target = sk.score(X) * n
    em(GaussianMixtureModel("full"), X[:50], params_of(init), max_iter=1)  # warm-up
    out = {"sklearn_s": sk_time, "sklearn_iter": int(sk.n_iter_), "target": float(target / n)}
    params = params_of(init)
    for accelerate in (None, "squarem"):
        reached = {}

        def stop(step, reached=reached):
            if step.loglik >= target:
                reached["t"] = time.perf_counter()
                reached["e"] = step.n_estep
                return False
            return True

        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            em(GaussianMixtureModel("full"), X, params, tol=0, max_iter=10_000,
               accelerate=accelerate, callback=stop)
        name = accelerate or "plain"
        out[f"{name}_s"] = float(reached.get("t", np.nan) - start)
        out[f"{name}_esteps"] = int(reached.get("e", -1))
    return out


def default_fit(n: int, d: int, k: int) -> dict:
    X = overlapping(n, d, k, seed=5)
    out = {}
    for name, cls in (("sklearn", SkGaussianMixture), ("emkit", GaussianMixture)):
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = cls(k, random_state=0).fit(X)
        out[f"{name}_s"] = time.perf_counter() - start
        out[f"{name}_ll"] = float(model.score(X))
        out[f"{name}_iter"] = int(model.n_iter_)
    return out


def main(quick: bool = False) -> str:
    scale = 10 if quick else 1
    n_iter = 5  # medians of 5: one slow iteration on a shared machine does not decide
    lines = ["## Gaussian mixtures: emkit vs scikit-learn", ""]
    rate = gemm_rate()
    lines += [f"float64 GEMM rate measured in this run: **{rate:.1f} GFLOP/s** "
              "(2000 x 2000 products, best of 4).", ""]
    lines += ["### Seconds per EM iteration (same start, same iterations)", "",
              "| case | N | D | K | scikit-learn s | emkit s | ratio | emkit / bound "
              "| loglik/N diff |", "|---|---|---|---|---|---|---|---|---|"]
    for covariance_type, n, d, k in ITER_CASES:
        n //= scale
        # small cases are noisy: more iterations (median) where they are cheap
        iters = int(np.clip(4e7 / (n * k * d * d), n_iter, 30))
        r = in_subprocess(f"per_iteration({covariance_type!r}, {n}, {d}, {k}, {iters})")
        bound = bound_flops(covariance_type, n, d, k) / (rate * 1e9)
        lines.append(
            f"| {covariance_type} | {n:,} | {d} | {k} | {r['sklearn_s']:.4f} | "
            f"{r['emkit_float64_s']:.4f} | {r['emkit_float64_s'] / r['sklearn_s']:.3f} | "
            f"{r['emkit_float64_s'] / bound:.1f}x | "
            f"{abs(r['emkit_float64_ll'] - r['sklearn_ll']):.1e} |")

    n = 1_000_000 // scale
    lines += ["", f"### float32 (full, N={n:,}, D=16, K=16)", ""]
    r = in_subprocess(f"per_iteration('full', {n}, 16, 16, {n_iter}, dtype='both')")
    lines += [f"| dtype | s / iteration | loglik/N after {n_iter} iterations |", "|---|---|---|",
              f"| float64 | {r['emkit_float64_s']:.4f} | {r['emkit_float64_ll']:.8f} |",
              f"| float32 | {r['emkit_float32_s']:.4f} | {r['emkit_float32_ll']:.8f} |",
              "", f"float32 speed-up {r['emkit_float64_s'] / r['emkit_float32_s']:.2f}x, "
              f"log-likelihood difference {abs(r['emkit_float32_ll'] - r['emkit_float64_ll']):.1e}"
              " per row."]

    lines += ["", f"### Peak memory of a 3-iteration fit (full, N={n:,}, D=16, K=16)", ""]
    with tempfile.TemporaryDirectory() as tmp:
        path = str(Path(tmp) / "X.npy")
        np.save(path, overlapping(n, 16, 16))  # loaded by the child: no generation peak
        mem = {side: peak_memory(side, path, 16) for side in ("sklearn", "emkit")}
    extra = {s: m["after_mb"] - m["before_mb"] for s, m in mem.items()}
    lines += ["| side | peak RSS MB | fit's own peak MB |", "|---|---|---|"]
    for side, m in mem.items():
        lines.append(f"| {side} | {m['after_mb']:.0f} | {extra[side]:.0f} |")
    lines += ["", "The fit's own peak is VmHWM at the end minus VmRSS once the "
              "data were loaded (imports and data included in the first column).", "",
              f"ratio of peak RSS {mem['emkit']['after_mb'] / mem['sklearn']['after_mb']:.2f}, "
              f"of the fit's own peak {extra['emkit'] / max(extra['sklearn'], 1e-9):.2f} "
              "(VmHWM, each side in a fresh subprocess; the data matrix itself is "
              f"{n * 16 * 8 / 2**20:.0f} MB)."]

    n_race = 100_000 // scale
    race = in_subprocess(f"squarem_race({n_race}, 8, 4)")
    lines += ["", f"### SQUAREM: time to scikit-learn's converged log-likelihood "
              f"(full, N={n_race:,}, D=8, K=4, overlapping)", "",
              "| method | seconds | ratio to scikit-learn | E-steps |", "|---|---|---|---|",
              f"| scikit-learn (tol=1e-3) | {race['sklearn_s']:.3f} | 1 | "
              f"{race['sklearn_iter'] + 1} |"]
    for name in ("plain", "squarem"):
        lines.append(f"| emkit {name} | {race[f'{name}_s']:.3f} | "
                     f"{race[f'{name}_s'] / race['sklearn_s']:.3f} | {race[f'{name}_esteps']} |")

    n_fit = 1_000_000 // scale
    fit = in_subprocess(f"default_fit({n_fit}, 16, 16)")
    lines += ["", f"### Default fit (init included), full, N={n_fit:,}, D=16, K=16, "
              "overlapping", "", "| side | seconds | iterations | mean loglik |",
              "|---|---|---|---|"]
    for side in ("sklearn", "emkit"):
        lines.append(f"| {side} | {fit[f'{side}_s']:.2f} | {fit[f'{side}_iter']} | "
                     f"{fit[f'{side}_ll']:.5f} |")
    lines += ["", f"ratio {fit['emkit_s'] / fit['sklearn_s']:.3f}.", "",
              f"Notes: medians of {n_iter} iterations (up to 30 for the small cases) on a shared, "
              "noisy machine; ratios are "
              "emkit / scikit-learn (lower is better). emkit initializes k-means on a "
              "100,000-row subsample above that size."]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="sizes divided by 10")
    args = parser.parse_args()
    print(main(quick=args.quick))
