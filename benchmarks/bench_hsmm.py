"""HSMM: emkit's fit per iteration against gaussian-hsmm, and emkit at 8 states x 200,000 frames.

Run ``python benchmarks/bench_hsmm.py [--quick]``.

**Peer.** ``gaussian-hsmm`` 0.1.0 (``GaussianHSMM``: Gaussian emissions, shifted
Poisson durations ``D = 1 + Poisson(mean - 1)`` truncated at ``max_duration``,
zero-diagonal transitions; NumPy/SciPy) is the one Python HSMM of the package
index's candidates that installs here (``chadhmm``, ``edhsmm``, ``hsmmlearn`` and
``pyhsmm`` were not installable). It is not a dependency: it runs in a subprocess
of ``/tmp/hsmm-venv`` (``python -m venv /tmp/hsmm-venv;
/tmp/hsmm-venv/bin/pip install gaussian-hsmm``) or ``$HSMM_PEER_PYTHON``; without
it the section says so. Both get the same data (3 states, one feature, Poisson
durations) and the same starting parameters, set on the peer's attributes (its
hmmlearn initialization is skipped); an iteration is one E-step and one M-step of
each (``_expectation_step`` + ``_maximization_step`` for the peer, the EM
model's ``e_step`` + ``m_step`` for emkit), median of the repeats, BLAS on one
thread in both processes.

**Agreement.** The two place the last segment differently: the peer makes it
end exactly at the last frame, emkit right-censors it (``P(duration >= observed
length)``). The peer's runner therefore also evaluates the censored likelihood from
its own forward variables (the segments ending before the last segment starts,
the survival of the last one and its frames' emissions), which must equal emkit's
``score`` at the same parameters. The M-steps differ too (the peer moment-matches
the untruncated Poisson mean; emkit solves the truncated, censoring-imputed mean
equation), so the fits' paths are not compared, only the time per iteration.

**Scale.** ``HSMM(Gaussian(), 8, duration="poisson", max_duration=100)`` on 100
sequences x 2,000 frames of one feature: seconds per EM iteration (E-step +
M-step of the fitted model, median of 3, after a one-iteration fit that compiles
and starts it) and peak memory (``VmHWM`` of a fresh process over the fit and
the iterations, and above its ``VmRSS`` once the data are loaded).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import markdown_table

PEER_PYTHON = os.environ.get("HSMM_PEER_PYTHON", "/tmp/hsmm-venv/bin/python")
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

# Runs in the peer's environment: python -c RUNNER data.npz out.json repeats
RUNNER = r"""
import json, sys, time
import numpy as np
from scipy.special import logsumexp
from gaussian_hsmm import GaussianHSMM

d = np.load(sys.argv[1]); repeats = int(sys.argv[3])
X, lengths = d["X"], d["lengths"]
K, dmax = int(d["startprob"].size), int(d["dmax"])

def started():
    m = GaussianHSMM(n_components=K, covariance_type="diag", max_duration=dmax,
                     min_covar=1e-12)
    m.n_features_ = X.shape[1]
    m.startprob_ = d["startprob"].copy(); m.transmat_ = d["transmat"].copy()
    m.means_ = d["means"].copy(); m.covars_ = d["covars"].copy()
    m.duration_means_ = d["rates"].copy() + 1.0
    m._update_duration_probabilities()
    return m

def censored_loglik(m):
    # the last segment right-censored, from the peer's own forward variables
    total = 0.0
    log_surv = np.log(np.cumsum(m.duration_probs_[:, :0:-1], axis=1)[:, ::-1])
    log_start = np.log(np.maximum(m.startprob_, np.finfo(float).tiny))
    with np.errstate(divide="ignore"):
        log_a = np.log(m.transmat_)
    b = 0
    for n in lengths:
        x = X[b:b + n]; b += n
        le = m._compute_log_emissions(x)
        alpha, _, cum = m._forward(le)
        terms = []
        for dur in range(1, min(dmax, n) + 1):
            s0 = n - dur
            seg = cum[n] - cum[s0] + log_surv[:, dur - 1]
            if s0 == 0:
                terms.append(seg + log_start)
            else:
                terms.append(seg + logsumexp(alpha[s0 - 1][:, None] + log_a, axis=0))
        total += float(logsumexp(np.concatenate(terms)))
    return total

m = started()
out = {"score_start": float(m.score(X, lengths)), "censored_start": censored_loglik(m)}
times, logliks = [], []
m = started()
for _ in range(repeats):
    t0 = time.perf_counter()
    stats = m._expectation_step(X, lengths)
    m._maximization_step(X, stats)
    times.append(time.perf_counter() - t0)
    logliks.append(float(stats["log_likelihood"]))
out["times"] = times; out["logliks"] = logliks
json.dump(out, open(sys.argv[2], "w"))
"""

SCALE_RUNNER = r"""
import json, sys, time, warnings
import numpy as np
sys.path.insert(0, sys.argv[3])
import emkit
from emkit.distributions import Gaussian
from emkit.estimators.hsmm import HSMM

def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key):
            return int(line.split()[1]) / 1024.0

d = np.load(sys.argv[1]); X, lengths = d["X"], d["lengths"]
warnings.simplefilter("ignore")
HSMM(Gaussian(), 8, duration="poisson", max_duration=100, n_iter=1,
     random_state=0).fit(X[:4000], [2000, 2000])  # compile
base = status("VmRSS")
m = HSMM(Gaussian(), 8, duration="poisson", max_duration=100, n_iter=1, tol=0.0,
         random_state=0).fit(X, lengths)
params = m._current_params()
model, data = m._model(X, params, total_rows=len(X)), m._sequences(X, lengths)
times = []
for _ in range(int(sys.argv[4])):
    t0 = time.perf_counter()
    stats, loglik = model.e_step(data, params)
    params = model.m_step(stats)
    times.append(time.perf_counter() - t0)
json.dump({"times": times, "rss_mb": base, "hwm_mb": status("VmHWM"), "loglik": loglik},
          open(sys.argv[2], "w"))
"""


def _simulate(n_seq: int, n_frames: int, k: int, dmax: int, seed: int = 0
              ) -> tuple[np.ndarray, np.ndarray, dict]:
    """Frames of an HSMM with Poisson durations (means 8 .. 30) and unit-variance levels."""
    from emkit.distributions import Gaussian
    from emkit.estimators.hsmm import HSMM

    rng = np.random.default_rng(seed)
    truth = HSMM([Gaussian(mean=[2.0 * s], covariance=[[1.0]]) for s in range(k)], k,
                 duration="poisson", max_duration=dmax, init_params="")
    truth.startprob_ = np.full(k, 1.0 / k)
    A = rng.dirichlet(np.ones(k - 1), size=k)
    truth.transmat_ = np.array([np.insert(A[i], i, 0.0) for i in range(k)])
    truth.duration_params_ = np.linspace(8.0, min(30.0, dmax / 2), k)[:, None]
    truth.emissions_ = list(truth.emission)
    truth.n_features_in_ = 1
    truth._set_state(truth._get_state())
    X = np.vstack([truth.sample(n_frames, random_state=seed + 1 + i)[0]
                   for i in range(n_seq)])
    start = {"startprob": np.full(k, 1.0 / k),
             "transmat": (np.ones((k, k)) - np.eye(k)) / (k - 1),
             "means": np.linspace(X.min() + 1.0, X.max() - 1.0, k)[:, None],
             "covars": np.full((k, 1), 1.5), "rates": np.full(k, 5.0)}
    return X, np.full(n_seq, n_frames), start


def _emkit_model(X: np.ndarray, lengths: np.ndarray, start: dict, dmax: int):
    from emkit.distributions import Gaussian
    from emkit.estimators.hsmm import HSMM

    k = len(start["startprob"])
    est = HSMM([Gaussian(mean=start["means"][s], covariance=[[start["covars"][s, 0]]])
                for s in range(k)], k, duration="poisson", max_duration=dmax,
               init_params="", params="stde", n_iter=1)
    est.startprob_, est.transmat_ = start["startprob"], start["transmat"]
    est.duration_params_ = start["rates"][:, None]
    est.emissions_ = list(est.emission)
    est.n_features_in_ = 1
    est._set_state(est._get_state())
    data = est._sequences(X, lengths)
    params = est._current_params()
    return est, est._model(X, params, total_rows=len(X)), data, params


def _peer(X: np.ndarray, lengths: np.ndarray, start: dict, dmax: int, repeats: int
          ) -> dict | str:
    if not Path(PEER_PYTHON).exists():
        return f"gaussian-hsmm not found ({PEER_PYTHON} missing)"
    env = {**os.environ, **dict.fromkeys(_ONE_THREAD, "1")}
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp, "data.npz"), Path(tmp, "out.json")
        np.savez(data, X=X, lengths=lengths, dmax=dmax, **start)
        proc = subprocess.run([PEER_PYTHON, "-c", RUNNER, str(data), str(out), str(repeats)],
                              capture_output=True, text=True, env=env, timeout=3600)
        if proc.returncode != 0:
            return "gaussian-hsmm failed: " + proc.stderr.strip().splitlines()[-1]
        return json.loads(out.read_text())


def _peer_section(quick: bool) -> list[str]:
    from threadpoolctl import threadpool_limits

    n_seq, n_frames, dmax = (2, 300, 30) if quick else (4, 1000, 50)
    repeats = 3 if quick else 5
    X, lengths, start = _simulate(n_seq, n_frames, 3, dmax)
    peer = _peer(X, lengths, start, dmax, repeats)
    est, model, data, params = _emkit_model(X, lengths, start, dmax)
    score = est.score(X, lengths)
    times, p = [], params
    with threadpool_limits(1):
        model.e_step(data, p)  # compile
        for _ in range(repeats):
            t0 = time.perf_counter()
            stats, _ = model.e_step(data, p)
            p = model.m_step(stats)
            times.append(time.perf_counter() - t0)
    ours = statistics.median(times)
    lines = [f"### Against gaussian-hsmm ({n_seq} sequences x {n_frames} frames, K = 3, "
             f"max_duration {dmax})", ""]
    if isinstance(peer, str):
        lines += [f"{peer}: emkit alone, {ours * 1e3:.1f} ms per iteration; "
                  f"log-likelihood at the start {score:.6f}.", ""]
        return lines
    theirs = statistics.median(peer["times"])
    gap = abs(peer["censored_start"] - score)
    lines += [markdown_table(
        ["", "emkit", "gaussian-hsmm", "ratio"],
        [[f"seconds per iteration (E + M, median of {repeats})", f"{ours:.4f}",
          f"{theirs:.3f}", f"{ours / theirs:.4f}x"],
         ["log-likelihood at the start, last segment censored", f"{score:.8f}",
          f"{peer['censored_start']:.8f}", f"difference {gap:.1e}"],
         ["log-likelihood at the start, last segment ending at the last frame", "-",
          f"{peer['score_start']:.6f}", ""]]), ""]
    return lines


def _scale_section(quick: bool) -> list[str]:
    n_seq, n_frames = (10, 500) if quick else (100, 2000)
    X, lengths, _ = _simulate(n_seq, n_frames, 8, 100, seed=3)
    src = str(Path(__file__).resolve().parents[1] / "src")
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp, "data.npz"), Path(tmp, "out.json")
        np.savez(data, X=X, lengths=lengths)
        proc = subprocess.run([sys.executable, "-c", SCALE_RUNNER, str(data), str(out), src,
                               "3"],
                              capture_output=True, text=True, timeout=3600)
        if proc.returncode != 0:
            return ["scale run failed: " + proc.stderr.strip().splitlines()[-1]]
        r = json.loads(out.read_text())
    per = statistics.median(r["times"])
    return [f"### 8 states, max_duration 100, {n_seq} sequences x {n_frames} frames", "",
            markdown_table(["seconds per iteration (E + M, median of 3)", "peak RSS MB",
                            "RSS with the data loaded MB", "fit's own peak MB"],
                           [[f"{per:.2f}", f"{r['hwm_mb']:.0f}",
                             f"{r['rss_mb']:.0f}", f"{r['hwm_mb'] - r['rss_mb']:.0f}"]]),
            ""]


def main(quick: bool = False) -> str:
    """The HSMM section of benchmarks/RESULTS.md (Markdown)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        lines = ["## Hidden semi-Markov model (emkit.HSMM)", ""]
        lines += _peer_section(quick)
        lines += _scale_section(quick)
    lines += ["Measured on a shared 2-core machine under load from other jobs; "
              "ratios are of medians in one run."]
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
