"""emkit.select_model against R's Mclust(): all fourteen models x K 1..9, side by side.

Data: Old Faithful (272 x 2, bundled) and two simulated Gaussian mixtures,
10,000 x 5 (4 components) and 2,000 x 10 (3 components). R runs
``Mclust(x, G = 1:9)`` with mclust's defaults (``benchmarks/select_mclust.R``
through ``Rscript``: hc start grown on at most 2,000 rows, ``emControl()``'s
relative tolerance 1e-5); emkit runs ``select_model(X, tol="mclust")``, the same
stopping rule from the same kind of start, and, for reference, its default
``tol=1e-8`` (per row, absolute: further converged). R's time is measured
inside R (``system.time`` around ``Mclust``, after a warm-up call on 300 rows),
emkit's inside Python after the same warm-up (numba's compiled kernels are
cached); emkit's default tolerance is timed once, for reference.
The two are measured in alternation, a round of R then a round of emkit, so
that a loaded machine slows both alike; the ratio is emkit's median over R's.

On data larger than 2,000 rows both grow the tree on a random subset of 2,000
rows, different subsets, so the BICs may differ slightly there.
"""

from __future__ import annotations

import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import markdown_table

R_SCRIPT = Path(__file__).resolve().parent / "select_mclust.R"


def simulated(n: int, d: int, k: int, spread: float, seed: int) -> np.ndarray:
    """``n`` rows of a ``k``-component Gaussian mixture in ``d`` dimensions."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=spread, size=(k, d))
    labels = rng.integers(k, size=n)
    shapes = rng.normal(size=(k, d, d)) * 0.4 + np.eye(d)
    return centres[labels] + np.einsum("nij,nj->ni", shapes[labels], rng.normal(size=(n, d)))


def datasets(quick: bool) -> dict[str, np.ndarray]:
    import emkit

    data = {"Old Faithful (272 x 2)": emkit.datasets.load_faithful().to_numpy(float)}
    if not quick:
        data["simulated 10,000 x 5"] = simulated(10_000, 5, 4, 4.0, 7)
        data["simulated 2,000 x 10"] = simulated(2_000, 10, 3, 3.0, 8)
    return data


def run_r(path: Path, repeats: int) -> tuple[list[float], str, int, float] | None:
    """Times of ``Mclust`` on the CSV at ``path`` and its choice (None without R)."""
    if shutil.which("Rscript") is None:
        return None
    done = subprocess.run(["Rscript", str(R_SCRIPT), str(repeats), str(path)],
                          capture_output=True, text=True, check=True)
    _, _, model, g, bic, times = done.stdout.strip().splitlines()[-1].split(",")
    return [float(t) for t in times.split(";")], model, int(g), float(bic)


def run_emkit(X: np.ndarray, tol: float | str, repeats: int) -> tuple[list[float], str, int,
                                                                       float]:
    from emkit.estimators.selection import select_model

    times = []
    result = None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        select_model(X[:300], tol=tol, random_state=0)  # warm-up: numba's cache, imports
        for _ in range(repeats):
            start = time.perf_counter()
            result = select_model(X, tol=tol, random_state=0)
            times.append(time.perf_counter() - start)
    assert result is not None
    return times, result.best_model, result.best_n_components, -float(result.table["bic"].min())


def main(quick: bool = False) -> str:
    from threadpoolctl import threadpool_limits

    rounds, per_round = (1, 1) if quick else (3, 1)
    rows = []
    with tempfile.TemporaryDirectory() as tmp, threadpool_limits(limits=1, user_api="blas"):
        for name, X in datasets(quick).items():
            path = Path(tmp) / "data.csv"
            pd.DataFrame(X, columns=[f"x{i}" for i in range(X.shape[1])]).to_csv(path,
                                                                                 index=False)
            r_times: list[float] = []
            mine: list[float] = []
            tight: list[float] = []
            r_out = em_out = tight_out = None
            for _ in range(rounds):
                got = run_r(path, per_round)
                if got is not None:
                    r_times += got[0]
                    r_out = got[1:]
                t, *em_out = run_emkit(X, "mclust", per_round)
                mine += t
                if not tight:  # the default tolerance once: for reference only
                    t, *tight_out = run_emkit(X, 1e-8, 1)
                    tight += t
            r_med = statistics.median(r_times) if r_times else float("nan")
            for label, times, out in (("emkit tol='mclust'", mine, em_out),
                                      ("emkit tol=1e-8 (default)", tight, tight_out)):
                med = statistics.median(times)
                rows.append([name, label, f"{med:.2f}", f"{min(times):.2f}-{max(times):.2f}",
                             f"{out[0]},{out[1]}", f"{out[2]:.3f}",
                             f"{med / r_med:.2f}" if r_times else "n/a"])
            if r_out is not None:
                rows.append([name, "R mclust 6 Mclust()", f"{r_med:.2f}",
                             f"{min(r_times):.2f}-{max(r_times):.2f}",
                             f"{r_out[0]},{r_out[1]}", f"{r_out[2]:.3f}", "1.00"])
    table = markdown_table(["data", "library", "median s", "range s", "choice", "BIC (mclust sign)",
                            "time / mclust"], rows)
    return (
        "## Model selection: emkit.select_model vs R's Mclust()\n\n"
        "All fourteen mclust models x K = 1..9 from mclust's hierarchical start; R runs "
        "`Mclust(x, G = 1:9)` with its defaults, emkit `select_model(X, tol=\"mclust\")` "
        "(mclust's relative tolerance 1e-5) and its default `tol=1e-8` per row. Times inside "
        f"each language after a warm-up, {rounds} alternating round(s) of {per_round} "
        "run(s) (the default tolerance once); one BLAS thread; a shared, loaded 2-core "
        "machine.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
