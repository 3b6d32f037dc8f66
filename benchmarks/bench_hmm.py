"""Baum-Welch and Viterbi: emkit's compiled HMMs against hmmlearn 0.3, side by side.

Run ``python benchmarks/bench_hmm.py [--quick]``. Both libraries start from the
same parameters (``init_params=""``) on the same simulated data. One sample of
"seconds per Baum-Welch iteration" is the time of a fit with ``1 + n`` iterations
minus that of a fit with one, divided by ``n``; the table shows medians over
repeats, and each repeat times emkit and both hmmlearn implementations ("log",
its default, and "scaling") one after the other, so that a busy spell of the
machine falls on all three. Every case is fitted once on its full data before
timing, so that no timed fit loads compiled kernels. Each case also fits both
libraries for ``1 + n`` iterations from the start and reports the relative
difference of their log-likelihoods of the data. BLAS runs on one thread.
numba's compile time is measured in a child process with an empty cache and
reported apart; every timed call here uses the compiled (cached) kernels.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from statistics import median

import numpy as np

K_GAUSS, D_GAUSS = 16, 8
K_CAT, N_SYMBOLS = 8, 32
K_COUNT, D_COUNT, N_TRIALS = 8, 8, 20  # Poisson and multinomial cases


def _chain(rng: np.random.Generator, n_seq: int, n_steps: int, k: int) -> np.ndarray:
    """State paths (n_seq, n_steps) of a sticky Markov chain."""
    transmat = np.full((k, k), 0.2 / (k - 1)) + np.eye(k) * (0.8 - 0.2 / (k - 1))
    cdf = np.cumsum(transmat, axis=1)
    states = np.empty((n_seq, n_steps), dtype=np.int64)
    states[:, 0] = rng.integers(k, size=n_seq)
    for t in range(1, n_steps):
        u = rng.random(n_seq)[:, None]
        states[:, t] = np.minimum((u > cdf[states[:, t - 1]]).sum(axis=1), k - 1)
    return states


def gaussian_data(n_seq: int, n_steps: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    means = rng.normal(scale=3.0, size=(K_GAUSS, D_GAUSS))
    states = _chain(rng, n_seq, n_steps, K_GAUSS).ravel()
    X = means[states] + rng.normal(size=(len(states), D_GAUSS))
    return X, np.full(n_seq, n_steps)


def categorical_data(n_seq: int, n_steps: int, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    emission = rng.dirichlet(np.full(N_SYMBOLS, 0.3), size=K_CAT)
    states = _chain(rng, n_seq, n_steps, K_CAT).ravel()
    cdf = np.cumsum(emission, axis=1)
    u = rng.random(len(states))[:, None]
    X = np.minimum((u > cdf[states]).sum(axis=1), N_SYMBOLS - 1)[:, None]
    return X, np.full(n_seq, n_steps)


def _count_states(rng: np.random.Generator, n_seq: int, n_steps: int) -> np.ndarray:
    return _chain(rng, n_seq, n_steps, K_COUNT).ravel()


def poisson_data(n_seq: int, n_steps: int, seed: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Counts (n_seq * n_steps, D_COUNT) from per-state rates between about 1 and 20."""
    rng = np.random.default_rng(seed)
    rates = rng.gamma(2.0, 3.0, size=(K_COUNT, D_COUNT))
    X = rng.poisson(rates[_count_states(rng, n_seq, n_steps)]).astype(float)
    return X, np.full(n_seq, n_steps)


def multinomial_data(n_seq: int, n_steps: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Counts of D_COUNT outcomes over N_TRIALS trials per frame (integers, as hmmlearn needs)."""
    rng = np.random.default_rng(seed)
    probs = rng.dirichlet(np.ones(D_COUNT), size=K_COUNT)
    states = _count_states(rng, n_seq, n_steps)
    X = np.stack([rng.multinomial(N_TRIALS, probs[s]) for s in states]).astype(np.int64)
    return X, np.full(n_seq, n_steps)


def _chain_init(model, k: int) -> None:
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = np.full((k, k), 0.5 / k) + 0.5 * np.eye(k)


def _gaussian_init(model, X: np.ndarray, covariance_type: str) -> None:
    rng = np.random.default_rng(5)
    k = K_GAUSS
    model.startprob_ = np.full(k, 1.0 / k)
    model.transmat_ = np.full((k, k), 0.5 / k) + 0.5 * np.eye(k)
    model.means_ = X[rng.choice(len(X), k, replace=False)]
    var = X.var(axis=0)
    model.covars_ = {"diag": np.tile(var, (k, 1)),
                     "full": np.tile(np.diag(var), (k, 1, 1))}[covariance_type]


def _categorical_init(model) -> None:
    rng = np.random.default_rng(6)
    model.startprob_ = np.full(K_CAT, 1.0 / K_CAT)
    model.transmat_ = np.full((K_CAT, K_CAT), 0.5 / K_CAT) + 0.5 * np.eye(K_CAT)
    model.emissionprob_ = rng.dirichlet(np.ones(N_SYMBOLS), size=K_CAT)


def one_blas_thread():
    """BLAS limited to one thread (a fresh limit per call: emkit's E-step sets its own
    and, leaving it, puts back the thread count the process started with)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


def _time(fn: Callable[[], object], repeats: int) -> float:
    samples = []
    for _ in range(repeats):
        with one_blas_thread():
            start = time.perf_counter()
            fn()
        samples.append(time.perf_counter() - start)
    return median(samples)


def _iteration_sample(make: Callable[[], object], X: np.ndarray, lengths: np.ndarray,
                      n_iter: int) -> float:
    """(time of a fit with 1 + n_iter iterations - time of a fit with 1) / n_iter.

    The difference removes what does not repeat per iteration: input checks,
    setup, and emkit's final E-step (the engine evaluates the log-likelihood
    after the last M-step; hmmlearn does not).
    """
    def fit_time(iterations: int) -> float:
        model = make()
        model.n_iter = iterations
        with one_blas_thread():
            start = time.perf_counter()
            model.fit(X, lengths)
        return time.perf_counter() - start

    return (fit_time(1 + n_iter) - fit_time(1)) / n_iter


def loglik_agreement(make_ours: Callable[[], object], make_peer: Callable[[], object],
                     X: np.ndarray, lengths: np.ndarray, n_iter: int) -> float:
    """Relative difference of the two libraries' log-likelihoods of the data after
    ``n_iter`` iterations from the same start (each model's ``score``)."""
    scores = []
    for make in (make_ours, make_peer):
        model = make()
        model.n_iter = n_iter
        with one_blas_thread():
            model.fit(X, lengths)
            scores.append(float(model.score(X, lengths)))
    return abs(scores[0] - scores[1]) / abs(scores[1])


def _per_iteration(make: Callable[[], object], X: np.ndarray, lengths: np.ndarray,
                   n_iter: int, repeats: int) -> float:
    """Median over ``repeats`` of :func:`_iteration_sample`."""
    return median(_iteration_sample(make, X, lengths, n_iter) for _ in range(repeats))


def _side_by_side(makers: list[Callable[[], object]], X: np.ndarray, lengths: np.ndarray,
                  n_iter: int, repeats: list[int]) -> list[float]:
    """Median seconds per iteration of each maker; repeat ``r`` samples every maker
    whose ``repeats`` exceeds ``r``, one after the other."""
    samples: list[list[float]] = [[] for _ in makers]
    for r in range(max(repeats)):
        for i, make in enumerate(makers):
            if r < repeats[i]:
                samples[i].append(_iteration_sample(make, X, lengths, n_iter))
    return [median(v) for v in samples]


_COMPILE_SNIPPET = """
import time, numpy as np
from emkit.gaussian import component_kernels as gk
from emkit.models.hmm import recursions as hk
from emkit.distributions import count_kernels as ck
from emkit.distributions import Gaussian
from emkit.models.hmm import gaussian_fused as fused
t1 = time.perf_counter()
lf = np.zeros((6, 2)); off = np.array([0, 3, 6]); p = np.full(2, .5); a = np.full((2, 2), .5)
from emkit.numerics import parallel
for parallel.PARALLEL_MIN_ROWS in (10**9, 0):  # the serial and the parallel variants
    hk.forward_backward(lf, off, p, a); hk.forward_loglik(lf, off, p, a)
    hk.viterbi(lf, off, p, a)
    for as_frame in (False, True):
        gk.diag_gaussian(np.zeros((6, 1)), np.zeros((2, 1)), np.ones((2, 1)), as_frame)
        ck.poisson_log_prob(np.zeros((6, 1)), np.ones((2, 1)), as_frame)
        ck.multinomial_log_prob(np.ones((6, 2)), np.full((2, 2), .5), as_frame)
    gk.full_gaussian_frame(np.zeros((6, 1)), np.zeros((2, 1)), np.ones((2, 1, 1)))
    gk.full_gaussian(np.zeros((6, 1)), np.zeros((2, 1)), np.ones((2, 1, 1)))
    gk.centred_diag_moments(np.zeros((6, 1)), lf, np.zeros((2, 1)))
    gk.centred_full_moments(np.zeros((6, 1)), lf, np.zeros((2, 1)))
    for ct, cov in (("diag", np.ones(1)), ("full", np.ones((1, 1)))):  # one-pass E-step
        fused.gaussian_e_step(np.zeros((6, 1)), off, None,
                              [Gaussian(np.zeros(1), cov, covariance_type=ct)] * 2, p, a)
from emkit.numerics.counts import weighted_code_counts
weighted_code_counts(np.zeros(6, dtype=np.int64), lf, 2)
print(time.perf_counter() - t1)
"""


def compile_seconds() -> tuple[float, float]:
    """(compile with an empty numba cache, load from the cache) in a child process."""
    env = dict(os.environ)
    out = []
    with tempfile.TemporaryDirectory() as cache:
        env["NUMBA_CACHE_DIR"] = cache
        for _ in range(2):  # first run compiles and writes the cache, second loads it
            res = subprocess.run([sys.executable, "-c", _COMPILE_SNIPPET], env=env,
                                 capture_output=True, text=True, check=True)
            out.append(float(res.stdout.strip().splitlines()[-1]))
    return out[0], out[1]


def _run(quick: bool) -> str:
    import logging

    from hmmlearn import hmm as hl

    import emkit
    from emkit.estimators.hmm import CategoricalHMM, GaussianHMM

    warnings.simplefilter("ignore", emkit.ConvergenceWarning)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)  # MultinomialHMM's notice
    n_seq_g, n_steps = (20, 500) if quick else (100, 1000)
    n_seq_c = 100 if quick else 1000
    n_iter, repeats = (2, 2) if quick else (3, 7)
    slow_repeats = 1 if quick else 3  # hmmlearn's full-covariance and log fits
    compile_s, load_s = compile_seconds()

    Xg, Lg = gaussian_data(n_seq_g, n_steps)
    Xc, Lc = categorical_data(n_seq_c, n_steps)
    Xp, Lp = poisson_data(n_seq_g, n_steps)
    Xm, Lm = multinomial_data(n_seq_g, n_steps)
    rng = np.random.default_rng(7)
    start_rates = rng.gamma(2.0, 3.0, size=(K_COUNT, D_COUNT))
    start_probs = rng.dirichlet(np.ones(D_COUNT), size=K_COUNT)
    rows = []

    def gauss(cls, ctype: str, **kw):
        def make():
            m = cls(K_GAUSS, ctype, init_params="", tol=0 if cls is GaussianHMM else -np.inf,
                    **kw)
            _gaussian_init(m, Xg, ctype)
            return m
        return make

    def cat(cls, **kw):
        def make():
            m = cls(K_CAT, init_params="", tol=0 if cls is CategoricalHMM else -np.inf, **kw)
            _categorical_init(m)
            return m
        return make

    def poisson_ours():
        m = emkit.HMM(emkit.distributions.Poisson(), K_COUNT, init_params="", tol=0)
        _chain_init(m, K_COUNT)
        m.emissions_ = [emkit.distributions.Poisson(rate=r) for r in start_rates]
        return m

    def poisson_peer(impl: str):
        def make():
            m = hl.PoissonHMM(K_COUNT, init_params="", tol=-np.inf, implementation=impl)
            _chain_init(m, K_COUNT)
            m.lambdas_ = start_rates.copy()
            return m
        return make

    def multinomial_ours():
        m = emkit.MultinomialHMM(K_COUNT, n_trials=N_TRIALS, init_params="", tol=0)
        _chain_init(m, K_COUNT)
        m.emissionprob_ = start_probs.copy()
        return m

    def multinomial_peer(impl: str):
        def make():
            m = hl.MultinomialHMM(K_COUNT, n_trials=N_TRIALS, init_params="", tol=-np.inf,
                                  implementation=impl)
            _chain_init(m, K_COUNT)
            m.emissionprob_ = start_probs.copy()
            return m
        return make

    size = f"{n_seq_g}x{n_steps}"
    cases = [
        (f"GaussianHMM diag, {K_GAUSS} states, {D_GAUSS} features, {size}",
         lambda impl: gauss(hl.GaussianHMM, "diag", implementation=impl),
         gauss(GaussianHMM, "diag"), Xg, Lg, "GaussianHMM diag"),
        (f"GaussianHMM full, {K_GAUSS} states, {D_GAUSS} features, {size}",
         lambda impl: gauss(hl.GaussianHMM, "full", implementation=impl),
         gauss(GaussianHMM, "full"), Xg, Lg, "GaussianHMM full"),
        (f"CategoricalHMM, {K_CAT} states, {N_SYMBOLS} symbols, {n_seq_c}x{n_steps}",
         lambda impl: cat(hl.CategoricalHMM, implementation=impl),
         cat(CategoricalHMM), Xc, Lc, None),
        (f"HMM(Poisson()) vs PoissonHMM, {K_COUNT} states, {D_COUNT} count features, {size}",
         poisson_peer, poisson_ours, Xp, Lp, "Poisson"),
        (f"MultinomialHMM, {K_COUNT} states, {D_COUNT} outcomes, {N_TRIALS} trials per "
         f"frame, {size}", multinomial_peer, multinomial_ours, Xm, Lm, "MultinomialHMM"),
    ]
    agreement = []
    for name, peer, ours, X, L, _ in cases:
        ours().fit(X, L)  # full size: the parallel kernels are loaded before timing
        slow = slow_repeats if "full" in name else repeats
        t_ours, t_log, t_scaling = _side_by_side(
            [ours, peer("log"), peer("scaling")], X, L, n_iter,
            [repeats, slow_repeats, slow])
        rows.append((name + " (s / iteration)", t_ours, t_log, t_scaling))
        agreement.append(loglik_agreement(ours, peer("scaling"), X, L, 1 + n_iter))

    fitted_ours = gauss(GaussianHMM, "diag")()
    fitted_ours.n_iter = 1
    fitted_ours.fit(Xg, Lg)
    peer_models = {}
    for impl in ("log", "scaling"):
        m = gauss(hl.GaussianHMM, "diag", implementation=impl)()
        for attr in ("startprob_", "transmat_", "means_"):
            setattr(m, attr, getattr(fitted_ours, attr))
        m.covars_ = fitted_ours._covars_
        peer_models[impl] = m
    t_v = [_time(lambda m=m: m.decode(Xg, Lg, algorithm="viterbi"), repeats)
           for m in (fitted_ours, peer_models["log"], peer_models["scaling"])]
    same = np.array_equal(fitted_ours.decode(Xg, Lg)[1], peer_models["log"].decode(Xg, Lg)[1])
    rows.append((f"Viterbi decode, GaussianHMM diag case (s / call; paths equal: {same})",
                 *t_v))

    targets = {"GaussianHMM diag": 0.12, "GaussianHMM full": 0.12, "Poisson": 0.25,
               "MultinomialHMM": 0.3}
    lines = [
        "## Hidden Markov models: emkit vs hmmlearn 0.3",
        "",
        "| case | emkit | hmmlearn log | hmmlearn scaling | emkit / faster hmmlearn | target "
        "| log-likelihood rel. diff |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    keys = [c[5] for c in cases] + [None]
    diffs = [f"{d:.1e}" for d in agreement] + [""]
    for (name, ours_t, log_, scaling), key, diff in zip(rows, keys, diffs, strict=True):
        ratio = ours_t / min(log_, scaling)
        target = targets.get(key) if key else None
        mark = "" if target is None else f"<= {target}" + (" (met)" if ratio <= target
                                                            else " (not met)")
        lines.append(f"| {name} | {ours_t:.4f} | {log_:.4f} | {scaling:.4f} | "
                     f"{ratio:.2f} | {mark} | {diff} |")
    lines += [
        "",
        f"numba compile time of the HMM kernels (empty cache): {compile_s:.1f} s; loading "
        f"them from the cache: {load_s:.2f} s (kernels use `cache=True`, so only the very "
        "first run compiles). Timed runs above use the cached kernels.",
        "",
        f"Notes: seconds per iteration = (time of a fit with {1 + n_iter} iterations - time "
        f"with 1) / {n_iter}, median of {repeats} repeats (hmmlearn's full-covariance fits "
        f"and its \"log\" implementation: {slow_repeats}), from identical initial "
        "parameters (`init_params=\"\"`), each repeat timing emkit and both hmmlearn "
        f"implementations back to back; numba uses {_threads()} thread(s) here. The target "
        "column is emkit's time over the faster hmmlearn implementation. The last column "
        f"is |emkit - hmmlearn| / |hmmlearn| of the data's log-likelihood (`score`) after "
        f"{1 + n_iter} iterations from the same start (hmmlearn's \"scaling\" fit). "
        "BLAS runs on one thread for both libraries (threadpoolctl around every timed "
        "call; emkit's E-step does so itself): on this busy machine hmmlearn's "
        "full-covariance fit with threaded BLAS (its 8 x 8 triangular solves) measured "
        "up to 25x slower, not faster."
        + (" Quick mode: smaller data." if quick else ""),
        "",
    ]
    return "\n".join(lines)


def _threads() -> int:
    import numba

    return int(numba.get_num_threads())


def _fit_seconds(make: Callable[[], object], X: np.ndarray, lengths: np.ndarray,
                 iterations: int) -> tuple[float, float]:
    """(wall, CPU) seconds of one fit with ``iterations`` iterations, BLAS on one thread."""
    model = make()
    model.n_iter = iterations
    with one_blas_thread():
        wall, cpu = time.perf_counter(), time.process_time()
        model.fit(X, lengths)
        return time.perf_counter() - wall, time.process_time() - cpu


def gaussian_side_by_side(repeats: int = 7, n_iter: int = 3) -> str:
    """The two GaussianHMM cases only, wall and CPU time, numba on 1 and on 2 threads.

    Each repeat times, back to back, emkit with one numba thread, emkit with two,
    and hmmlearn's "scaling" implementation (its faster one here); one sample is
    (fit with 1 + n_iter iterations - fit with 1) / n_iter, in wall time
    (``perf_counter``) and CPU time of the process (``process_time``, all threads).
    """
    import logging

    import numba
    from hmmlearn import hmm as hl

    import emkit
    from emkit.estimators.hmm import GaussianHMM

    warnings.simplefilter("ignore", emkit.ConvergenceWarning)
    logging.getLogger("hmmlearn").setLevel(logging.ERROR)
    X, L = gaussian_data(100, 1000)
    threads = numba.get_num_threads()
    lines = [
        "| case | numba threads | emkit wall s / it (min / median / max) | emkit CPU s / it "
        "(median) | hmmlearn scaling wall s / it (median) | ratio wall (min / median / max) "
        "| ratio CPU (median) |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    load = [os.getloadavg()[0]]
    for ctype in ("diag", "full"):
        def make(cls, ctype=ctype, **kw):
            def build():
                m = cls(K_GAUSS, ctype, init_params="",
                        tol=0 if cls is GaussianHMM else -np.inf, **kw)
                _gaussian_init(m, X, ctype)
                return m
            return build
        ours, peer = make(GaussianHMM), make(hl.GaussianHMM, implementation="scaling")
        ours().fit(X, L)  # load the compiled kernels (serial and parallel) before timing
        samples: dict[str, list[tuple[float, float]]] = {"1": [], "2": [], "peer": []}
        for _ in range(repeats):
            for key in ("1", "2", "peer"):
                if key != "peer":
                    numba.set_num_threads(min(int(key), threads))
                make_ = peer if key == "peer" else ours
                w1, c1 = _fit_seconds(make_, X, L, 1)
                wn, cn = _fit_seconds(make_, X, L, 1 + n_iter)
                samples[key].append(((wn - w1) / n_iter, (cn - c1) / n_iter))
            load.append(os.getloadavg()[0])
        numba.set_num_threads(threads)
        peer_wall = median(w for w, _ in samples["peer"])
        peer_cpu = median(c for _, c in samples["peer"])
        for key in ("1", "2"):
            if int(key) > threads:
                continue
            wall = sorted(w for w, _ in samples[key])
            cpu = median(c for _, c in samples[key])
            lines.append(
                f"| GaussianHMM {ctype}, {K_GAUSS} states, {D_GAUSS} features, 100x1000 | {key} "
                f"| {wall[0]:.4f} / {median(wall):.4f} / {wall[-1]:.4f} | {cpu:.4f} "
                f"| {peer_wall:.4f} | {wall[0] / peer_wall:.3f} / {median(wall) / peer_wall:.3f}"
                f" / {wall[-1] / peer_wall:.3f} | {cpu / peer_cpu:.3f} |")
    lines += [
        "",
        f"{repeats} interleaved repeats (emkit on 1 numba thread, on 2, hmmlearn), seconds per "
        f"iteration = (fit with {1 + n_iter} iterations - fit with 1) / {n_iter}; ratios are "
        "over hmmlearn's median; BLAS on one thread for both. 1-minute load average during "
        f"the run: {min(load):.1f}-{max(load):.1f} on {os.cpu_count()} cores.",
        "",
    ]
    return "\n".join(lines)


def main(quick: bool = False) -> str:
    """Run the benchmark and return its Markdown section."""
    return _run(quick)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller data, fewer repeats")
    parser.add_argument("--gaussian", action="store_true",
                        help="only the GaussianHMM cases, wall and CPU, 1 and 2 numba threads")
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    print(gaussian_side_by_side(args.repeats) if args.gaussian else main(quick=args.quick))
