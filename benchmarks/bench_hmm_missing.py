"""Missing entries in HMMs: the NaN path against the complete-data path, side by side.

Run ``python benchmarks/bench_hmm_missing.py [--quick]``. The data are those of
``bench_hmm.py`` (16 Gaussian states or 8 Poisson states, 8 features, 100
sequences of 1000 frames); the "missing" data are the same frames with 1 % of
the entries set to NaN completely at random (about 7.7 % of the frames then
have one or more entries missing). Both fits start from the same parameters
(``init_params=""``) and every repeat times the complete and the missing fit
one after the other. Seconds per Baum-Welch iteration are measured as in
``bench_hmm.py``: (time of a fit with ``1 + n`` iterations - time of a fit
with one) / ``n``, medians over repeats.

``HMM(Poisson())`` models its 8 columns with one distribution per state, which
can leave out a whole frame but not part of one (it refuses a partly observed
frame, see :meth:`emkit.distributions.Distribution.log_prob_components_missing`);
its row here has 1 % of the *frames* missing. The per-entry case for counts is
``HMM(Independent([Poisson()] * 8))``, one part per column, timed against
itself on the complete data.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from statistics import median

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_hmm import (
    D_COUNT,
    D_GAUSS,
    K_COUNT,
    K_GAUSS,
    _chain_init,
    _gaussian_init,
    _iteration_sample,
    gaussian_data,
    poisson_data,
)

MISSING = 0.01
TARGET = 2.0


def with_missing_entries(X: np.ndarray, fraction: float, seed: int = 11) -> np.ndarray:
    """A float copy of ``X`` with each entry NaN with probability ``fraction``."""
    out = np.array(X, dtype=float)
    out[np.random.default_rng(seed).random(out.shape) < fraction] = np.nan
    return out


def with_missing_frames(X: np.ndarray, fraction: float, seed: int = 12) -> np.ndarray:
    """A float copy of ``X`` with each whole row NaN with probability ``fraction``."""
    out = np.array(X, dtype=float)
    out[np.random.default_rng(seed).random(len(out)) < fraction] = np.nan
    return out


def _pair(make: Callable[[], object], X: np.ndarray, X_missing: np.ndarray,
          lengths: np.ndarray, n_iter: int, repeats: int) -> tuple[float, float]:
    """Median seconds per iteration on the complete and on the missing data, each
    repeat timing both back to back."""
    complete, missing = [], []
    for _ in range(repeats):
        complete.append(_iteration_sample(make, X, lengths, n_iter))
        missing.append(_iteration_sample(make, X_missing, lengths, n_iter))
    return median(complete), median(missing)


def _run(quick: bool) -> str:
    import emkit
    from emkit.distributions import Independent, Poisson

    warnings.simplefilter("ignore", emkit.ConvergenceWarning)
    n_seq, n_steps = (20, 500) if quick else (100, 1000)
    n_iter, repeats = (2, 2) if quick else (3, 7)
    Xg, L = gaussian_data(n_seq, n_steps)
    Xp, _ = poisson_data(n_seq, n_steps)
    Xg_nan = with_missing_entries(Xg, MISSING)
    Xp_nan = with_missing_entries(Xp, MISSING)
    Xp_frames = with_missing_frames(Xp, MISSING)
    start_rates = np.random.default_rng(7).gamma(2.0, 3.0, size=(K_COUNT, D_COUNT))

    def gauss(ctype: str) -> Callable[[], object]:
        def make():
            m = emkit.GaussianHMM(K_GAUSS, ctype, init_params="", tol=0)
            _gaussian_init(m, Xg, ctype)
            return m
        return make

    def poisson():
        m = emkit.HMM(Poisson(), K_COUNT, init_params="", tol=0)
        _chain_init(m, K_COUNT)
        m.emissions_ = [Poisson(rate=r) for r in start_rates]
        return m

    def poisson_columns():
        m = emkit.HMM(Independent([Poisson()] * D_COUNT), K_COUNT, init_params="", tol=0)
        _chain_init(m, K_COUNT)
        m.emissions_ = [Independent([Poisson(rate=r[f:f + 1]) for f in range(D_COUNT)])
                        for r in start_rates]
        return m

    size = f"{n_seq}x{n_steps}"
    cases = [
        (f"GaussianHMM diag, {K_GAUSS} states, {D_GAUSS} features, {size}, 1 % entries",
         gauss("diag"), Xg, Xg_nan),
        (f"GaussianHMM full, {K_GAUSS} states, {D_GAUSS} features, {size}, 1 % entries",
         gauss("full"), Xg, Xg_nan),
        (f"HMM(Poisson()), {K_COUNT} states, {D_COUNT} count features, {size}, 1 % frames",
         poisson, Xp, Xp_frames),
        (f"HMM(Independent([Poisson()] * {D_COUNT})), {K_COUNT} states, {size}, 1 % entries",
         poisson_columns, Xp, Xp_nan),
    ]
    rows = []
    for name, make, X, X_nan in cases:
        for data in (X, X_nan):  # full size: kernels loaded before timing
            make().fit(data, L)
        t_complete, t_missing = _pair(make, X, X_nan, L, n_iter, repeats)
        ratio = t_missing / t_complete
        mark = f"<= {TARGET:g}" + (" (met)" if ratio <= TARGET else " (not met)")
        rows.append(f"| {name} | {t_complete:.4f} | {t_missing:.4f} | {ratio:.2f} | {mark} |")
    partial = float(np.mean(np.isnan(Xg_nan).any(axis=1)))
    lines = [
        "## Hidden Markov models: missing entries (NaN) vs complete data",
        "",
        "| case | complete s / iteration | with NaN s / iteration | NaN / complete | target |",
        "| --- | ---: | ---: | ---: | ---: |",
        *rows,
        "",
        f"Notes: the same frames with {MISSING:.0%} of the entries NaN at random "
        f"({partial:.1%} of the frames partly or wholly missing), from the same start; "
        f"seconds per iteration = (time of a fit with {1 + n_iter} iterations - time with 1) "
        f"/ {n_iter}, median of {repeats} repeats, each timing the complete and the "
        "missing fit back to back. `HMM(Poisson())` refuses partly observed frames (one "
        "distribution for all 8 columns), so its row has whole frames missing; the "
        "per-entry count case is the product of one Poisson per column, against itself "
        "on the complete data. BLAS on one thread."
        + (" Quick mode: smaller data." if quick else ""),
        "",
    ]
    return "\n".join(lines)


def main(quick: bool = False) -> str:
    """Run the benchmark and return its Markdown section."""
    return _run(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    print(main(quick=parser.parse_args().quick))
