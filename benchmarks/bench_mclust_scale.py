"""MclustMixture in blocks of rows, on Dask and with SQUAREM, against the plain in-memory fit.

Run ``python benchmarks/bench_mclust_scale.py`` (about two minutes) or ``--quick``.
Prints a Markdown section; :func:`main` returns it.

What is measured (all in this one process, the same data and start for every way):

* **Per iteration**: 200,000 x 5 rows from three overlapping Gaussians, K = 3, models
  VVV and VEV, 15 EM iterations (``tol=0``) from the same parameters; seconds per
  iteration (median of 3 fits each way, the ways alternating), and the ratio to the
  plain in-memory fit. Ways: in memory; ``chunk_size=20_000``; a Dask array of
  50,000-row chunks on Dask's threaded scheduler (the statistics of the 4 partitions
  come back each iteration). Peak memory of each in-memory way above the data
  (``tracemalloc``, one extra fit each).
* **To convergence** (``tol=1e-8`` per row), from the same start: plain EM against
  ``accelerate="squarem"``: E-steps (counted on the model) and wall seconds, and the
  log-likelihood difference at the end.
"""

from __future__ import annotations

import argparse
import statistics
import time
import tracemalloc
import warnings

import numpy as np

from emkit.estimators.mclust_mixture import MclustMixture
from emkit.exceptions import ConvergenceWarning
from emkit.models.mixture.mclust import MclustModel

N, D, K = 200_000, 5, 3


def data(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=1.2, size=(K, D))
    parts = []
    for j in range(K):
        a = rng.normal(size=(D, D)) / np.sqrt(D)
        parts.append(rng.multivariate_normal(centres[j], a @ a.T + 0.3 * np.eye(D),
                                             size=N // K + (j < N % K)))
    return np.vstack(parts)


def start(X: np.ndarray, model: str) -> dict:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = MclustMixture(model, K, max_iter=2, init_params="kmeans",
                            random_state=0).fit(X[::50])
    return {"weights": est.weights_, "means": est.means_, "covariances": est.covariances_}


def fit(X, model: str, init: dict, **kwargs) -> MclustMixture:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return MclustMixture(model, K, **kwargs).fit(X, init=init)


def count_e_steps() -> list[int]:
    calls = [0]
    plain = MclustModel.e_step

    def counted(self, data, params):
        calls[0] += 1
        return plain(self, data, params)

    MclustModel.e_step = counted  # type: ignore[method-assign]
    return calls


def main(quick: bool = False) -> str:
    import dask.array as da

    X = data()
    XD = da.from_array(X, chunks=(50_000, D))
    repeats = 1 if quick else 3
    iters = 15
    rows = []
    for model in ("VVV", "VEV"):
        init = start(X, model)
        ways = {"in memory": (X, {}), "chunk_size=20,000": (X, {"chunk_size": 20_000}),
                "Dask, 4 chunks, threads": (XD, {})}
        fit(X, model, init, tol=0.0, max_iter=2)  # compiled kernels loaded
        times: dict[str, list[float]] = {w: [] for w in ways}
        logliks = {}
        for _ in range(repeats):
            for way, (data_in, kw) in ways.items():
                t0 = time.perf_counter()
                est = fit(data_in, model, init, tol=0.0, max_iter=iters, **kw)
                times[way].append((time.perf_counter() - t0) / iters)
                logliks[way] = est.loglik_
        peaks = {}
        for way in ("in memory", "chunk_size=20,000"):
            data_in, kw = ways[way]
            tracemalloc.start()
            fit(data_in, model, init, tol=0.0, max_iter=3, **kw)
            peaks[way] = tracemalloc.get_traced_memory()[1] / 2**20
            tracemalloc.stop()
        base = statistics.median(times["in memory"])
        for way in ways:
            med = statistics.median(times[way])
            rows.append((model, way, f"{1e3 * med:.1f}", f"{med / base:.2f}x",
                         f"{peaks[way]:.1f}" if way in peaks else "",
                         f"{abs(logliks[way] - logliks['in memory']):.1e}"))
    calls = count_e_steps()
    conv = []
    for model in ("VVV", "EEE", "VEV"):
        init = start(X, model)
        result = {}
        for way, kw in (("plain", {}), ("squarem", {"accelerate": "squarem"})):
            calls[0] = 0
            t0 = time.perf_counter()
            est = fit(X, model, init, tol=1e-8, max_iter=5000, **kw)
            result[way] = (calls[0], time.perf_counter() - t0, est.loglik_)
        (pe, pt, pl), (se, st, sl) = result["plain"], result["squarem"]
        conv.append((model, pe, se, f"{se / pe:.2f}x", f"{pt:.2f}", f"{st:.2f}",
                     f"{st / pt:.2f}x", f"{sl - pl:+.1e}"))
    lines = [
        "## MclustMixture in blocks, on Dask and with SQUAREM",
        "",
        f"`python benchmarks/bench_mclust_scale.py`: {N:,} x {D}, K = {K}, the same start for "
        f"every way; {iters} iterations per fit, median of {repeats} fits (the ways "
        "alternating); peak memory by `tracemalloc` above the data.",
        "",
        "| model | way | ms per iteration | / in memory | peak MiB | loglik difference |",
        "| --- | --- | --- | --- | --- | --- |",
        *("| " + " | ".join(r) + " |" for r in rows),
        "",
        "To convergence (`tol=1e-8` per row) from the same start, plain EM against SQUAREM:",
        "",
        "| model | plain E-steps | SQUAREM E-steps | ratio | plain s | SQUAREM s | ratio | "
        "loglik SQUAREM - plain |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
        *("| " + " | ".join(str(v) for v in r) + " |" for r in conv),
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one fit per way")
    print(main(quick=parser.parse_args().quick))
