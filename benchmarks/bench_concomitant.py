"""Latent class regression: ``MixtureModel.fit(X, concomitant=Z)`` vs StepMix's one-step model.

StepMix (``StepMix(n_steps=1, structural="covariate")``) is not a dependency of
emkit: it runs in a subprocess of a separate virtual environment,
``/tmp/stepmix-venv`` (``python -m venv /tmp/stepmix-venv;
/tmp/stepmix-venv/bin/pip install stepmix``), or ``$STEPMIX_PYTHON``. Without it
the section says so and shows emkit's figures alone.

Both fit the same data (100,000 rows, 3 classes, 2 covariates; a diagonal
Gaussian measurement model on 4 columns and a binary one on 6 items) from the
same start (k-means classes turned into component parameters, equal weights:
logit coefficients zero) to the same tolerance on the mean log-likelihood per
row (1e-8), each on one thread (BLAS limited to one thread in both processes,
numba to one in emkit's), and report the log-likelihood reached, the iterations, the wall time
of the fit (median of the repeats) and emkit's time over StepMix's.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from scipy.special import log_softmax

import emkit
from _common import markdown_table
from emkit.distributions import Bernoulli, Gaussian

#: One thread for both: BLAS (emkit and StepMix) and emkit's compiled kernels.
_ONE_THREAD = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
STEPMIX_PYTHON = os.environ.get("STEPMIX_PYTHON", "/tmp/stepmix-venv/bin/python")
TOL = 1e-8
COEF = np.array([[0.0, 0.0, 0.0], [0.6, 1.0, -0.7], [-0.3, -0.8, 1.2]])

# Runs inside the StepMix environment: python -c RUNNER data.npz out.json repeats
RUNNER = r"""
import json, sys, time, warnings
import numpy as np
import stepmix
from stepmix import StepMix

data = np.load(sys.argv[1])
X, Z, kind, repeats = data["X"], data["Z"], str(data["kind"]), int(sys.argv[3])
K = int(data["weights"].size)

class Started(StepMix):
    # StepMix starts from given parameters: the same start as emkit's
    def _initialize_parameters(self, X, random_state):
        self.weights_ = data["weights"].copy()
        self.log_resp_ = np.log(np.full((X.shape[0], K), 1.0 / K))
        self._initialize_parameters_measurement(X, random_state, init_emission=False)
        if kind == "gaussian":
            self._mm.set_parameters({"means": data["means"].copy(),
                                     "covariances": data["covariances"].copy()})
        else:
            self._mm.set_parameters({"pis": data["pis"].copy()})

    def _initialize_parameters_structural(self, Y, random_state=None, init_emission=True):
        super()._initialize_parameters_structural(Y, random_state, init_emission=False)
        self._sm.parameters["beta"] = np.zeros((K, Y.shape[1] + 1))

times, cpus, model = [], [], None
for _ in range(repeats):
    model = Started(n_components=K, n_steps=1, measurement="gaussian_diag" if kind ==
                    "gaussian" else "binary", structural="covariate", abs_tol=float(data["tol"]),
                    rel_tol=0.0, max_iter=5000, progress_bar=0, verbose=0, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(X, Z)
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
beta = model._sm.parameters["beta"]
json.dump({"seconds": times, "cpu": cpus, "loglik": float(model.score(X, Z)) * X.shape[0],
           "n_iter": int(model.n_iter_), "beta": (beta - beta[0]).tolist(),
           "version": stepmix.__version__}, open(sys.argv[2], "w"))
"""


def simulate(n: int, kind: str, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rows X, covariates Z (n, 2) and the true classes."""
    rng = np.random.default_rng(seed)
    Z = rng.normal(size=(n, 2))
    pi = np.exp(log_softmax(np.column_stack([np.ones(n), Z]) @ COEF.T, axis=1))
    labels = (rng.random(n)[:, None] > np.cumsum(pi, axis=1)).sum(axis=1)
    if kind == "gaussian":
        centres = np.array([[-2.0, 0.0, 1.0, -1.0], [0.0, 2.0, -1.0, 0.0],
                            [2.0, -1.0, 0.0, 1.5]])
        return centres[labels] + rng.normal(size=(n, 4)), Z, labels
    probs = np.array([[0.9, 0.8, 0.8, 0.2, 0.1, 0.2], [0.2, 0.2, 0.8, 0.9, 0.8, 0.1],
                      [0.1, 0.8, 0.1, 0.2, 0.9, 0.9]])
    return (rng.random((n, 6)) < probs[labels]).astype(float), Z, labels


def start(X: np.ndarray, kind: str) -> dict[str, np.ndarray]:
    """Component parameters from one k-means run (equal weights, zero logit)."""
    from sklearn.cluster import KMeans

    labels = KMeans(3, n_init=1, random_state=0).fit(X).labels_
    out = {"weights": np.full(3, 1.0 / 3)}
    if kind == "gaussian":
        out["means"] = np.stack([X[labels == k].mean(axis=0) for k in range(3)])
        out["covariances"] = np.stack([X[labels == k].var(axis=0) for k in range(3)])
    else:
        out["pis"] = np.clip(np.stack([X[labels == k].mean(axis=0) for k in range(3)]),
                             0.01, 0.99)
    return out


def fit_emkit(X: np.ndarray, Z: np.ndarray, kind: str, init: dict) -> emkit.MixtureModel:
    if kind == "gaussian":
        comps = [Gaussian(m, c, covariance_type="diag")
                 for m, c in zip(init["means"], init["covariances"], strict=True)]
    else:
        comps = [Bernoulli(p) for p in init["pis"]]
    return emkit.MixtureModel(comps, init_params="given", tol=TOL, max_iter=5000).fit(
        X, concomitant=Z)


def run_stepmix(X, Z, kind: str, init: dict, repeats: int) -> dict | None:
    """StepMix's figures from its own environment, or None when it is absent."""
    if not Path(STEPMIX_PYTHON).exists():
        return None
    with tempfile.TemporaryDirectory() as tmp:
        data, out = Path(tmp) / "data.npz", Path(tmp) / "out.json"
        np.savez(data, X=X, Z=Z, kind=kind, tol=TOL, **init)
        env = {**os.environ, **{name: "1" for name in _ONE_THREAD}}
        done = subprocess.run([STEPMIX_PYTHON, "-c", RUNNER, str(data), str(out),
                               str(repeats)], capture_output=True, text=True, env=env)
        if done.returncode != 0:
            print(done.stderr[-2000:], file=sys.stderr)
            return None
        return json.loads(out.read_text())


def _case(kind: str, n: int, repeats: int) -> tuple[list, str]:
    X, Z, _ = simulate(n, kind)
    init = start(X, kind)
    fit_emkit(X[:2000], Z[:2000], kind, start(X[:2000], kind))  # warm-up (first imports)
    times, cpus, model = [], [], None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        model = fit_emkit(X, Z, kind, init)
        times.append(time.perf_counter() - t0)
        cpus.append(time.process_time() - c0)
    assert model is not None
    em_s, em_cpu = float(np.median(times)), float(np.median(cpus))
    em_ll = model.score(X, concomitant=Z) * n
    ref = run_stepmix(X, Z, kind, init, repeats)
    label = "diagonal Gaussian, 4 columns" if kind == "gaussian" else "binary, 6 items"
    if ref is None:
        return [label, f"{em_ll:.3f}", "not run", model.n_iter_, "-", f"{em_s:.3f}", "-", "-",
                f"{em_cpu:.3f}", "-", "-", "-"], ""
    sm_s, sm_cpu = float(np.median(ref["seconds"])), float(np.median(ref["cpu"]))
    gap = np.abs(np.asarray(ref["beta"]) - model.concomitant_coef_).max()
    row = [label, f"{em_ll:.3f}", f"{ref['loglik']:.3f}", model.n_iter_, ref["n_iter"],
           f"{em_s:.3f}", f"{sm_s:.2f}", f"{em_s / sm_s:.3f}", f"{em_cpu:.3f}",
           f"{sm_cpu:.2f}", f"{em_cpu / sm_cpu:.3f}", f"{gap:.1e}"]
    return row, ref["version"]


def main(quick: bool = False) -> str:
    import numba
    from threadpoolctl import threadpool_limits

    threads = numba.get_num_threads()
    numba.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="blas"):
            return _run(quick)
    finally:
        numba.set_num_threads(threads)


def _run(quick: bool) -> str:
    n, repeats = (20_000, 1) if quick else (100_000, 3)
    rows, version = [], ""
    for kind in ("gaussian", "binary"):
        row, v = _case(kind, n, repeats)
        rows.append(row)
        version = v or version
    peer = (f"StepMix {version} (`{STEPMIX_PYTHON}`, a subprocess)" if version else
            f"StepMix was **not run**: no environment at `{STEPMIX_PYTHON}` (create it with "
            "`python -m venv /tmp/stepmix-venv && /tmp/stepmix-venv/bin/pip install stepmix`, "
            "or set `STEPMIX_PYTHON`)")
    table = markdown_table(
        ["measurement model", "emkit log-lik", "StepMix log-lik", "emkit iter",
         "StepMix iter", "emkit s", "StepMix s", "time ratio", "emkit CPU s", "StepMix CPU s",
         "CPU ratio", "max |coef diff|"], rows)
    return (
        "## Latent class regression: MixtureModel(concomitant=Z) vs StepMix's one-step model\n\n"
        f"{n:,} rows, 3 classes, 2 covariates (multinomial logit of the class), the same "
        "start for both (k-means classes as component parameters, equal weights, zero "
        f"logit coefficients), tolerance {TOL:g} on the mean log-likelihood per row, "
        f"median of {repeats} fit(s); {peer}. One thread each (BLAS, and emkit's "
        "compiled kernels); wall-clock and CPU seconds (`time.process_time` in each process: "
        "the machine is shared, and CPU time is what load does not inflate). "
        "`max |coef diff|`: the largest difference of "
        "the fitted logit coefficients (component 0 the reference). Target: time ratio "
        "<= 0.2.\n\n" + table + "\n"
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
